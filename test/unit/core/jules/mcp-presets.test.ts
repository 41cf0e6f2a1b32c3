import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { ManualClock } from '../../../../src/core/clock.js'
import { loadConfig } from '../../../../src/core/config.js'
import { ConfigurationError, isJjmError, UnsupportedOperationError } from '../../../../src/core/errors.js'
import { julesCheck } from '../../../../src/core/health.js'
import type { JulesClient, Session } from '../../../../src/core/jules/client.js'
import { createMcpClient, mcpClientOptions } from '../../../../src/core/jules/mcp.js'
import {
  detectPreset,
  julesState,
  normaliseAnswer,
  toolArguments,
  withMapping,
} from '../../../../src/core/jules/mcp-presets.js'
import { silentLogger } from '../../../../src/core/ports.js'
import { Simulator } from '../../../../src/sim/engine.js'
import { MemorySimStateStore } from '../../../../src/sim/memory-store.js'
import { julesMcpServerStandIn, serveOverHttp } from '../../../support/mcp-stand-ins.js'

const root = new URL('../../../..', import.meta.url).pathname
const standInScript = join(root, 'test', 'support', 'mcp-stand-in-server.ts')
const quickBackoff = { initialDelayMs: 10, maxDelayMs: 50 }

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  assert.fail('expected the call to fail')
}

/** Reads the session until it reaches `state`, on the real clock (the stand-in runs in another process). */
async function waitForState(client: JulesClient, name: string, state: string): Promise<Session> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const session = await client.getSession(name)
    if (session.state === state) return session
    if (Date.now() > deadline) assert.fail(`session ${name} stayed ${session.state}, never reached ${state}`)
    await sleep(100)
  }
}

function stdioStandIn(preset: string, options: { configured?: boolean } = {}): Promise<JulesClient> {
  return createMcpClient({
    command: process.execPath,
    args: ['--import', 'tsx', standInScript, '--preset', preset, '--run-seconds', '2'],
    cwd: root,
    timeoutMs: 20_000,
    backoff: quickBackoff,
    ...(options.configured ? { preset } : {}),
  })
}

describe('answers of Jules MCP servers, as Jules JSON', { timeout: 10_000 }, () => {
  it('turns snake_case fields into the Jules fields at every depth, and drops nulls', () => {
    const answer = normaliseAnswer({
      name: 'sessions/1',
      source_context: { source: 'sources/github/acme/api', github_repo_context: { starting_branch: 'dev' } },
      create_time: '2026-01-01T00:00:00Z',
      automation_mode: null,
      outputs: [{ pull_request: { url: 'https://github.com/acme/api/pull/1' } }],
      nextPageToken: null,
    })
    assert.deepEqual(answer, {
      name: 'sessions/1',
      sourceContext: { source: 'sources/github/acme/api', githubRepoContext: { startingBranch: 'dev' } },
      createTime: '2026-01-01T00:00:00Z',
      outputs: [{ pullRequest: { url: 'https://github.com/acme/api/pull/1' } }],
    })
  })

  it('renames the fields a declared mapping names before anything else', () => {
    assert.deepEqual(normaliseAnswer({ session_state: 'QUEUED', repo: 'x' }, { session_state: 'state' }), {
      state: 'QUEUED',
      repo: 'x',
    })
  })

  it('spells camelCase states the way Jules does', () => {
    assert.equal(julesState('awaitingPlanApproval'), 'AWAITING_PLAN_APPROVAL')
    assert.equal(julesState('inProgress'), 'IN_PROGRESS')
    assert.equal(julesState('COMPLETED'), 'COMPLETED')
  })

  it('tells each server from its tool list', () => {
    assert.equal(detectPreset(['jules_create_session', 'jules_list_sessions']).name, 'jules-mcp-server')
    assert.equal(
      detectPreset(['create_session', 'get_session_state', 'send_reply_to_session']).name,
      'google-jules-mcp',
    )
    assert.equal(detectPreset(['create_session', 'get_session', 'send_session_message']).name, 'jules-mcp')
    assert.equal(detectPreset(['create_session', 'get_session', 'send_message']).name, 'jjm')
  })

  it('fills a tool argument with a literal written as =text', () => {
    assert.deepEqual(
      toolArguments({ tool: 'reply', args: { sessionId: 'id', action: '=approve', note: 'prompt' } }, { id: '42' }),
      { sessionId: '42', action: 'approve' },
    )
  })

  it('refuses a mapping that names an unknown method or an input jjm does not have, saying what it has', () => {
    const preset = detectPreset([])
    assert.throws(() => withMapping(preset, { startTask: { tool: 'x' } }, undefined), ConfigurationError)
    const error = (() => {
      try {
        withMapping(preset, { createSession: { tool: 'start', args: { text: 'body' } } }, undefined)
      } catch (caught) {
        return caught as Error
      }
      return undefined
    })()
    assert.ok(error instanceof ConfigurationError)
    assert.match(error.message, /jules\.mcp\.tools\.createSession\.args\.text/)
    assert.match(error.message, /prompt, sourceContext, source/)
  })
})

describe('configuration of the mcp backend', { timeout: 10_000 }, () => {
  it('reads the preset, URL, headers, server environment and mapping from the environment', async () => {
    const config = await loadConfig({
      env: {
        JJM_JULES: 'mcp',
        JJM_JULES_MCP_URL: 'http://127.0.0.1:3323/mcp/',
        JJM_JULES_MCP_HEADERS: '{"Authorization":"Bearer t"}',
        JJM_JULES_MCP_PRESET: 'jules-mcp-server',
        JJM_JULES_MCP_TOOLS: '{"getSession":{"tool":"fetch_session","args":{"session_id":"id"}}}',
        JJM_JULES_MCP_FIELDS: '{"session_state":"state"}',
      },
      configDir: '/nonexistent',
      dataDir: '/tmp',
    })
    const options = mcpClientOptions(config.jules, silentLogger, 'test')
    assert.equal(options.url, 'http://127.0.0.1:3323/mcp')
    assert.deepEqual(options.headers, { Authorization: 'Bearer t' })
    assert.equal(options.preset, 'jules-mcp-server')
    assert.deepEqual(options.tools, { getSession: { tool: 'fetch_session', args: { session_id: 'id' } } })
    assert.deepEqual(options.fields, { session_state: 'state' })
    assert.equal(options.command, undefined)
  })

  it('refuses a preset it does not know, naming the ones it does', async () => {
    await assert.rejects(
      loadConfig({
        env: { JJM_JULES: 'mcp', JJM_JULES_MCP_PRESET: 'julesmcp' },
        configDir: '/nonexistent',
        dataDir: '/tmp',
      }),
      (error: Error) => error instanceof ConfigurationError && /jules-mcp-server/.test(error.message),
    )
  })

  it('asks for a command or a URL when neither names the server', () => {
    assert.throws(
      () => mcpClientOptions({ timeoutMs: 1000, maxAttempts: 1, breaker: undefined }, silentLogger, 'test'),
      (error: Error) => error instanceof ConfigurationError && /jules\.mcp\.url/.test(error.message),
    )
  })
})

describe('the jules-mcp-server preset, against its stand-in over streamable HTTP', { timeout: 60_000 }, () => {
  let clock: ManualClock
  let simulator: Simulator
  let served: Awaited<ReturnType<typeof serveOverHttp>>
  let client: JulesClient

  before(async () => {
    clock = new ManualClock(Date.parse('2026-03-01T10:00:00Z'))
    simulator = new Simulator({ store: new MemorySimStateStore(), clock, runSeconds: 100, autoApproveSeconds: 0 })
    served = await serveOverHttp(() => julesMcpServerStandIn(simulator))
    // No preset configured: jjm tells the server from its tools.
    client = await createMcpClient({ url: served.url, timeoutMs: 10_000, backoff: quickBackoff })
  })

  after(async () => {
    await client?.close?.()
    await served?.close()
  })

  it('creates, monitors to completion, approves and messages a session', async () => {
    const created = await client.createSession({
      prompt: 'Add a health check',
      sourceContext: { source: 'sources/github/acme/api', githubRepoContext: { startingBranch: 'main' } },
      requirePlanApproval: true,
    })
    assert.match(created.name, /^sessions\/\d+$/)
    assert.equal(created.sourceContext?.source, 'sources/github/acme/api')
    assert.equal(created.state, 'QUEUED')

    clock.advance(30_000)
    // The server has no single-session read: jjm finds the session in its session list.
    const waiting = await client.getSession(created.name)
    assert.equal(waiting.state, 'AWAITING_PLAN_APPROVAL')
    const activities = await client.listActivities(created.name)
    assert.ok(activities.activities.some((activity) => activity.planGenerated?.plan?.steps?.length))

    await client.approvePlan(created.name)
    await client.sendMessage(created.name, 'Use the /healthz path')
    const after = await client.listActivities(created.name, { pageSize: 100 })
    assert.ok(after.activities.some((activity) => activity.userMessaged?.userMessage === 'Use the /healthz path'))

    clock.advance(200_000)
    const done = await client.getSession(created.id)
    assert.equal(done.state, 'COMPLETED')
    assert.equal(done.sourceContext?.githubRepoContext?.startingBranch, 'main')
    assert.ok(done.createTime !== '')
  })

  it('reads a source by finding it among the listed ones', async () => {
    const source = await client.getSource('sources/github/acme/web')
    assert.equal(source.name, 'sources/github/acme/web')
    const missing = await rejection(client.getSource('sources/github/acme/nothing'))
    assert.ok(isJjmError(missing))
    assert.equal(missing.code, 'JJM_JULES_NOT_FOUND')
  })

  it('retries a read the HTTP server refused with 503, and names the status when it keeps refusing', async () => {
    let refusals = 1
    const flaky = await serveOverHttp(() => julesMcpServerStandIn(simulator), {
      refuse: (method) => (method === 'tools/call' && refusals-- > 0 ? 503 : undefined),
    })
    const flakyClient = await createMcpClient({ url: flaky.url, timeoutMs: 10_000, backoff: quickBackoff })
    try {
      const page = await flakyClient.listSessions()
      assert.ok(page.sessions.length > 0, 'the second attempt got through')
      refusals = 10
      const error = await rejection(flakyClient.listSessions())
      assert.ok(isJjmError(error))
      assert.equal(error.code, 'JJM_JULES_UNAVAILABLE')
      assert.match(error.message, /\(jules-mcp-server\) answered HTTP 503 to jules_list_sessions \(sessions\.list\)/)
    } finally {
      await flakyClient.close?.()
      await flaky.close()
    }
  })

  it('offers no archive or delete, so core names them as unavailable', () => {
    assert.equal(client.archiveSession, undefined)
    assert.equal(client.deleteSession, undefined)
  })
})

describe('the jules-mcp preset (Python), against its stand-in over stdio', { timeout: 90_000 }, () => {
  let client: JulesClient

  before(async () => {
    client = await stdioStandIn('jules-mcp')
  })

  after(async () => {
    await client?.close?.()
  })

  it('keeps the repository, times and outputs of its snake_case answers through a whole session', async () => {
    const created = await client.createSession({
      prompt: 'Fix the flaky test',
      sourceContext: { source: 'sources/github/acme/web', githubRepoContext: { startingBranch: 'develop' } },
      title: 'Flaky test',
      requirePlanApproval: true,
    })
    assert.equal(created.sourceContext?.source, 'sources/github/acme/web')
    assert.equal(created.sourceContext?.githubRepoContext?.startingBranch, 'develop')
    assert.match(created.createTime, /^\d{4}-/)
    assert.equal(created.title, 'Flaky test')

    await waitForState(client, created.name, 'AWAITING_PLAN_APPROVAL')
    const planned = await client.listActivities(created.name)
    const plan = planned.activities.find((activity) => activity.planGenerated)
    assert.ok(plan?.planGenerated?.plan?.id, 'the plan, with its id, is read from plan_generated')
    assert.match(plan.createTime, /^\d{4}-/)

    await client.approvePlan(created.name)
    await client.sendMessage(created.name, 'Keep the retries at 3')
    const done = await waitForState(client, created.name, 'COMPLETED')
    assert.match(done.updateTime, /^\d{4}-/)
    const activities = await client.listActivities(created.name, { pageSize: 100 })
    assert.ok(activities.activities.some((activity) => activity.userMessaged?.userMessage === 'Keep the retries at 3'))
    const patch = activities.activities
      .flatMap((activity) => activity.artifacts ?? [])
      .find((artifact) => artifact.changeSet?.gitPatch?.unidiffPatch)
    assert.ok(patch, 'change_set.git_patch.unidiff_patch arrives as changeSet.gitPatch.unidiffPatch')
    // The last page says nextPageToken: null, which means none.
    assert.equal(activities.nextPageToken, undefined)
    const listed = await client.listSessions()
    assert.equal(listed.nextPageToken, undefined)
    assert.ok(listed.sessions.some((session) => session.name === created.name))
  })

  it('reads a source through get_source', async () => {
    const source = await client.getSource('sources/github/acme/api')
    assert.equal(source.name, 'sources/github/acme/api')
  })

  it('says which field it cannot read when the server answers what is not a Jules session', async () => {
    const error = await rejection(client.getSession('sessions/does-not-exist'))
    assert.ok(isJjmError(error))
    assert.equal(error.code, 'JJM_JULES_NOT_FOUND')
  })
})

describe('the google-jules-mcp preset (@google/jules-mcp), against its stand-in over stdio', {
  timeout: 90_000,
}, () => {
  let client: JulesClient

  before(async () => {
    client = await stdioStandIn('google-jules-mcp')
  })

  after(async () => {
    await client?.close?.()
  })

  it('creates from an answer that only names the id, then monitors, approves and messages to completion', async () => {
    const created = await client.createSession({
      prompt: 'Document the API',
      sourceContext: { source: 'sources/github/acme/api', githubRepoContext: { startingBranch: 'main' } },
      requirePlanApproval: true,
      automationMode: 'AUTO_CREATE_PR',
    })
    assert.match(created.name, /^sessions\/\d+$/)
    assert.equal(created.sourceContext?.source, 'sources/github/acme/api')

    // list_sessions says `awaitingPlanApproval`; jjm reads Jules' AWAITING_PLAN_APPROVAL.
    await waitForState(client, created.name, 'AWAITING_PLAN_APPROVAL')
    const dashboard = await client.listActivities(created.name)
    assert.ok(dashboard.activities.some((activity) => activity.planGenerated?.plan?.id))

    await client.approvePlan(created.name)
    await client.sendMessage(created.name, 'Mention the rate limits')
    const replied = await client.listActivities(created.name)
    assert.ok(replied.activities.some((activity) => activity.agentMessaged?.agentMessage))

    const done = await waitForState(client, created.name, 'COMPLETED')
    assert.ok(done.outputs?.some((output) => output.pullRequest?.url))
  })

  it('names what it cannot do through this server, and what still works', async () => {
    const error = await rejection(client.getSource('sources/github/acme/api'))
    assert.ok(error instanceof UnsupportedOperationError)
    assert.match(error.message, /unavailable through the @google\/jules-mcp MCP server/)
    assert.match(error.message, /create, list, monitor, message and approve work/)
    assert.match(error.message, /--branch/)
    assert.equal(client.archiveSession, undefined)
  })

  it('is healthy though it cannot list sources: it started and answered', async () => {
    const outcome = await julesCheck(client).run(new AbortController().signal)
    assert.equal(outcome.status, 'pass')
    assert.match(outcome.message, /cannot list sources/)
  })
})

describe('any other server, through a mapping declared in the config', { timeout: 60_000 }, () => {
  let clock: ManualClock
  let simulator: Simulator
  let served: Awaited<ReturnType<typeof serveOverHttp>>

  /** A server with its own names: `open_job{text, repo_name}`, `job_status{job}`, answers `{job_name, job_state, …}`. */
  function oddServer(malformed: () => boolean): McpServer {
    const server = new McpServer({ name: 'odd-jules', version: '1' })
    const job = (session: Session) => ({
      job_name: session.name,
      job_state: malformed() ? 42 : session.state,
      prompt: session.prompt,
      source_context: { source: session.sourceContext?.source },
      create_time: session.createTime,
    })
    const reply = (value: unknown) => ({ content: [{ type: 'text' as const, text: JSON.stringify(value) }] })
    server.tool('open_job', { text: z.string(), repo_name: z.string() }, async (args) =>
      reply(job(await simulator.createSession({ prompt: args.text, sourceContext: { source: args.repo_name } }))),
    )
    server.tool('job_status', { job: z.string() }, async (args) => reply(job(await simulator.getSession(args.job))))
    // Names a next page it cannot serve: it takes no page token.
    server.tool('recent_jobs', {}, async () =>
      reply({ sessions: (await simulator.listSessions()).sessions.map(job), nextPageToken: 'more' }),
    )
    return server
  }

  let broken = false
  before(async () => {
    clock = new ManualClock(Date.parse('2026-03-01T10:00:00Z'))
    simulator = new Simulator({ store: new MemorySimStateStore(), clock, runSeconds: 100 })
    served = await serveOverHttp(() => oddServer(() => broken))
  })

  after(async () => {
    await served?.close()
  })

  it('creates and reads sessions through the declared tools, arguments and answer fields', async () => {
    const client = await createMcpClient({
      url: served.url,
      backoff: quickBackoff,
      tools: {
        createSession: { tool: 'open_job', args: { text: 'prompt', repo_name: 'source' } },
        getSession: { tool: 'job_status', args: { job: 'id' } },
        listSessions: { tool: 'recent_jobs', args: {} },
      },
      fields: { job_name: 'name', job_state: 'state' },
    })
    try {
      const created = await client.createSession({
        prompt: 'Tidy up',
        sourceContext: { source: 'sources/github/acme/infra' },
      })
      assert.equal(created.state, 'QUEUED')
      assert.equal(created.sourceContext?.source, 'sources/github/acme/infra')
      clock.advance(500_000)
      const done = await client.getSession(created.name)
      assert.equal(done.state, 'COMPLETED')
      assert.equal(done.createTime, created.createTime)

      // A list tool without a page token has one page: following its token would loop on that page.
      const listed = await client.listSessions({ pageSize: 5 })
      assert.deepEqual(
        listed.sessions.map((session) => session.name),
        [created.name],
      )
      assert.equal(listed.nextPageToken, undefined)

      // The mapping is laid over jjm's own tool set, whose approve_plan this server lacks.
      const missing = await rejection(client.approvePlan(created.name))
      assert.ok(isJjmError(missing))
      assert.equal(missing.code, 'JJM_JULES_MCP_TOOL_MISSING')
      assert.match(missing.message, /no tool approve_plan/)
      assert.match(missing.message, /create and list work through it/)

      broken = true
      const unreadable = await rejection(client.getSession(created.name))
      assert.ok(isJjmError(unreadable))
      assert.equal(unreadable.code, 'JJM_JULES_PROTOCOL')
      assert.match(unreadable.message, /field state: .*got 42/)
    } finally {
      broken = false
      await client.close?.()
    }
  })
})
