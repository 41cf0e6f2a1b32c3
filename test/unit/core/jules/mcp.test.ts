import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../../../src/core/config.js'
import { createJulesClient } from '../../../../src/core/core.js'
import {
  ConfigurationError,
  InvalidStateError,
  isJjmError,
  JulesConnectionError,
  OperationFailedError,
  RateLimitedError,
  ValidationError,
} from '../../../../src/core/errors.js'
import type { JulesClient, Session } from '../../../../src/core/jules/client.js'
import { createMcpClient, type McpClientOptions, mcpTools } from '../../../../src/core/jules/mcp.js'
import { type LogContext, type Logger, silentLogger } from '../../../../src/core/ports.js'
import { builtinRegistry } from '../../../support/registry.js'

const root = new URL('../../../..', import.meta.url).pathname
const fixture = join(root, 'test', 'support', 'mcp-sim-server.ts')

/** A logger that keeps what the server printed on stderr (the client logs it at debug level). */
function recordingLogger(lines: string[]): Logger {
  const logger: Logger = {
    ...silentLogger,
    debug: (_message: string, context?: LogContext) => {
      if (typeof context?.line === 'string') lines.push(context.line)
    },
    child: () => logger,
  }
  return logger
}

/** Backoffs small enough for tests; the policy is the same as in production. */
const quickBackoff = { initialDelayMs: 10, maxDelayMs: 50 }

/** The MCP client, talking to the simulator fixture started with `fixtureArgs`. */
function startFixture(
  fixtureArgs: string[] = [],
  options: Partial<McpClientOptions> & { logger?: Logger } = {},
): Promise<JulesClient> {
  return createMcpClient({
    command: process.execPath,
    args: ['--import', 'tsx', fixture, ...fixtureArgs],
    cwd: root,
    timeoutMs: 20_000,
    backoff: quickBackoff,
    ...options,
  })
}

async function rejectsWith(
  promise: Promise<unknown>,
  type: abstract new (...args: never) => Error,
  code?: string,
): Promise<Error> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`)
    if (code !== undefined) assert.equal(isJjmError(error) ? error.code : undefined, code)
    return error as Error
  }
  assert.fail(`expected ${type.name}, but the call succeeded`)
}

async function waitForState(client: JulesClient, name: string, state: string): Promise<Session> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const session = await client.getSession(name)
    if (session.state === state) return session
    if (Date.now() > deadline) assert.fail(`session ${name} stayed ${session.state}, never reached ${state}`)
    await sleep(50)
  }
}

describe('the mcp Jules adapter against the simulator as an MCP server', { timeout: 60_000 }, () => {
  let client: JulesClient
  let session: Session

  before(async () => {
    // 2 simulated seconds: the plan waits for approval from 0.56 s after creation on.
    client = await startFixture(['--run-seconds', '2'])
  })

  after(async () => {
    await client?.close?.()
  })

  it('says it is the mcp adapter', () => {
    assert.equal(client.kind, 'mcp')
  })

  it('lists sources and gets one by any of its name forms', async () => {
    const page = await client.listSources()
    assert.ok(page.sources.some((source) => source.name === 'sources/github/acme/api'))
    assert.equal(page.nextPageToken, undefined)
    const source = await client.getSource('github/acme/web')
    assert.equal(source.name, 'sources/github/acme/web')
    assert.equal(source.githubRepo?.repo, 'web')
  })

  it('creates a session and remembers the input-only fields it sent', async () => {
    session = await client.createSession({
      prompt: 'Add a health endpoint',
      sourceContext: { source: 'sources/github/acme/api', githubRepoContext: { startingBranch: 'develop' } },
      requirePlanApproval: true,
    })
    assert.match(session.name, /^sessions\/\w+$/)
    assert.equal(session.id, session.name.slice('sessions/'.length))
    assert.equal(session.state, 'QUEUED')
    assert.equal(session.requirePlanApproval, true)
    assert.equal(session.sourceContext?.githubRepoContext?.startingBranch, 'develop')
  })

  it('refuses to approve a plan that is not awaiting approval with an InvalidStateError', async () => {
    const error = await rejectsWith(client.approvePlan(session.name), InvalidStateError, 'JJM_INVALID_STATE')
    assert.match(error.message, /sessions\.approvePlan/)
  })

  it('gets and lists the session', async () => {
    const got = await client.getSession(session.id)
    assert.equal(got.name, session.name)
    assert.equal(got.prompt, 'Add a health endpoint')
    const page = await client.listSessions({ pageSize: 10 })
    assert.ok(page.sessions.some((candidate) => candidate.name === session.name))
  })

  it('lists activities, approves the plan once it waits, and sends a message', async () => {
    await waitForState(client, session.name, 'AWAITING_PLAN_APPROVAL')
    const before = await client.listActivities(session.name)
    assert.ok(before.activities.some((activity) => activity.planGenerated !== undefined))

    await client.approvePlan(session.name)
    assert.notEqual((await client.getSession(session.name)).state, 'AWAITING_PLAN_APPROVAL')

    await client.sendMessage(session.name, 'Please also add a test')
    const after = await client.listActivities(session.name, { pageSize: 100 })
    assert.ok(after.activities.some((activity) => activity.planApproved !== undefined))
    assert.ok(after.activities.some((activity) => activity.userMessaged?.userMessage === 'Please also add a test'))
    for (const activity of after.activities) assert.match(activity.name, /^sessions\/\w+\/activities\/\w+$/)
  })

  it('maps Google error bodies from failed tools to the same errors as the rest adapter', async () => {
    await rejectsWith(client.getSession('sessions/nope'), OperationFailedError, 'JJM_JULES_NOT_FOUND')
    await rejectsWith(
      client.createSession({ prompt: 'x', sourceContext: { source: 'sources/github/acme/unknown' } }),
      OperationFailedError,
      'JJM_JULES_NOT_FOUND',
    )
    await rejectsWith(
      client.createSession({ prompt: '  ', sourceContext: { source: 'sources/github/acme/api' } }),
      ValidationError,
      'JJM_VALIDATION',
    )
  })
})

describe('the mcp Jules adapter against servers that differ', { timeout: 60_000 }, () => {
  it('reads answers given only as JSON text content', async () => {
    const client = await startFixture(['--text-only'])
    try {
      assert.ok((await client.listSources()).sources.length > 0)
      const session = await client.createSession({
        prompt: 'Text only',
        sourceContext: { source: 'sources/github/acme/api' },
      })
      assert.equal((await client.getSession(session.name)).name, session.name)
    } finally {
      await client.close?.()
    }
  })

  it('reports a tool the server lacks by name, listing what it offers, and still serves the rest', async () => {
    const client = await startFixture(['--omit', 'approve_plan'])
    try {
      const error = await rejectsWith(
        client.approvePlan('sessions/123'),
        OperationFailedError,
        'JJM_JULES_MCP_TOOL_MISSING',
      )
      assert.match(error.message, /approve_plan/)
      assert.match(error.message, /It offers: .*create_session/)
      assert.ok((await client.listSources()).sources.length > 0)
    } finally {
      await client.close?.()
    }
  })

  it('maps a rate-limited tool to a RateLimitedError and an unreadable answer to a protocol error', async () => {
    // Three 429s: more than the one call's attempts (maxAttempts 2).
    const client = await startFixture(['--fault', '429:sessions.list:3', '--fault', 'malformed:sources.list'], {
      maxAttempts: 2,
    })
    try {
      await rejectsWith(client.listSessions(), RateLimitedError, 'JJM_RATE_LIMITED')
      await rejectsWith(client.listSources(), OperationFailedError, 'JJM_JULES_PROTOCOL')
      // The third 429 hits the next call, which retries it; the malformed answer hit once.
      assert.deepEqual((await client.listSessions()).sessions, [])
      assert.ok((await client.listSources()).sources.length > 0)
    } finally {
      await client.close?.()
    }
  })

  it('ends the server process on close', async () => {
    const lines: string[] = []
    const client = await startFixture([], { logger: recordingLogger(lines) })
    const pid = Number(/ready pid=(\d+)/.exec(lines.join('\n'))?.[1])
    assert.ok(pid > 0, `the fixture did not say its pid: ${lines.join(' | ')}`)
    assert.equal(process.kill(pid, 0), true)
    await client.close?.()
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' })
    // A call after close is a connection error, not a hang.
    await rejectsWith(client.listSources(), JulesConnectionError, 'JJM_JULES_UNAVAILABLE')
  })

  it('names a command that does not exist in a JulesConnectionError', async () => {
    const error = await rejectsWith(
      createMcpClient({ command: 'jjm-no-such-mcp-server', args: ['serve'], timeoutMs: 5000 }),
      JulesConnectionError,
      'JJM_JULES_UNAVAILABLE',
    )
    assert.match(error.message, /`jjm-no-such-mcp-server serve`/)
    assert.match(error.message, /not found/)
  })

  it('reports a server that exits at start-up with its last words', async () => {
    const error = await rejectsWith(
      createMcpClient({ command: process.execPath, args: [join(root, 'no-such-server.js')], timeoutMs: 10_000 }),
      JulesConnectionError,
      'JJM_JULES_UNAVAILABLE',
    )
    assert.match(error.message, /exited before completing the MCP handshake/)
    assert.match(error.message, /Cannot find module/)
  })

  it('defines one tool per JulesClient method, each with a jules_ alias', () => {
    const tools = Object.values(mcpTools)
    assert.equal(tools.length, 8)
    assert.equal(new Set(tools.map((spec) => spec.tool)).size, 8)
    for (const spec of tools) assert.ok(spec.aliases.includes(`jules_${spec.tool}`))
  })
})

describe('the mcp Jules adapter when its server fails', { timeout: 120_000 }, () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jjm-mcp-failing-'))
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  /** A fresh state file and marker prefix per test, so that tests do not see each other's sessions. */
  let counter = 0
  function paths(): { db: string; marker: string } {
    counter += 1
    return { db: join(dir, `sim-${counter}.sqlite`), marker: join(dir, `died-${counter}`) }
  }

  function pidsIn(lines: string[]): number[] {
    return [...lines.join('\n').matchAll(/ready pid=(\d+)/g)].map((match) => Number(match[1]))
  }

  async function untilDead(pid: number): Promise<void> {
    const deadline = Date.now() + 10_000
    for (;;) {
      try {
        process.kill(pid, 0)
      } catch {
        return
      }
      if (Date.now() > deadline) assert.fail(`process ${pid} did not end`)
      await sleep(20)
    }
  }

  function userMessages(activities: Array<{ userMessaged?: { userMessage?: string } }>, text: string): number {
    return activities.filter((activity) => activity.userMessaged?.userMessage === text).length
  }

  it('starts a killed server again on the next call, which succeeds and sees the same sessions', async () => {
    const { db } = paths()
    const lines: string[] = []
    const client = await startFixture(['--db', db], { logger: recordingLogger(lines) })
    try {
      const session = await client.createSession({
        prompt: 'Survive a crash',
        sourceContext: { source: 'sources/github/acme/api' },
      })
      const [first] = pidsIn(lines)
      assert.ok(first, lines.join(' | '))
      process.kill(first, 'SIGKILL')
      await untilDead(first)

      assert.equal((await client.getSession(session.name)).name, session.name)
      const pids = pidsIn(lines)
      assert.equal(pids.length, 2, `expected one restart: ${lines.join(' | ')}`)
      assert.notEqual(pids[1], first)
    } finally {
      await client.close?.()
    }
  })

  it('retries a read whose server died before answering it', async () => {
    const { marker } = paths()
    const client = await startFixture(['--exit', `after:list_sources:${marker}`])
    try {
      assert.ok((await client.listSources()).sources.length > 0)
    } finally {
      await client.close?.()
    }
  })

  it('does not send a message twice when the server died after delivering it', async () => {
    const { db, marker } = paths()
    const client = await startFixture(['--db', db, '--run-seconds', '60', '--exit', `after:send_message:${marker}`])
    try {
      const session = await client.createSession({
        prompt: 'Talk',
        sourceContext: { source: 'sources/github/acme/api' },
      })
      await client.sendMessage(session.name, 'Only once, please')
      const { activities } = await client.listActivities(session.name, { pageSize: 100 })
      assert.equal(userMessages(activities, 'Only once, please'), 1)
    } finally {
      await client.close?.()
    }
  })

  it('sends a message again when the server died before delivering it', async () => {
    const { db, marker } = paths()
    const client = await startFixture(['--db', db, '--run-seconds', '60', '--exit', `before:send_message:${marker}`])
    try {
      const session = await client.createSession({
        prompt: 'Talk',
        sourceContext: { source: 'sources/github/acme/api' },
      })
      await client.sendMessage(session.name, 'Do not lose me')
      const { activities } = await client.listActivities(session.name, { pageSize: 100 })
      assert.equal(userMessages(activities, 'Do not lose me'), 1)
    } finally {
      await client.close?.()
    }
  })

  it('approves a plan once when the server died after approving it', async () => {
    const { db, marker } = paths()
    const client = await startFixture(['--db', db, '--run-seconds', '2', '--exit', `after:approve_plan:${marker}`])
    try {
      const session = await client.createSession({
        prompt: 'Plan first',
        sourceContext: { source: 'sources/github/acme/api' },
        requirePlanApproval: true,
      })
      await waitForState(client, session.name, 'AWAITING_PLAN_APPROVAL')
      await client.approvePlan(session.name)
      assert.notEqual((await client.getSession(session.name)).state, 'AWAITING_PLAN_APPROVAL')
      const { activities } = await client.listActivities(session.name, { pageSize: 100 })
      assert.equal(activities.filter((activity) => activity.planApproved !== undefined).length, 1)
    } finally {
      await client.close?.()
    }
  })

  it('does not create a second session when the server died after creating one', async () => {
    const { db, marker } = paths()
    const client = await startFixture(['--db', db, '--exit', `after:create_session:${marker}`])
    try {
      const error = await rejectsWith(
        client.createSession({ prompt: 'Once', sourceContext: { source: 'sources/github/acme/api' } }),
        JulesConnectionError,
        'JJM_JULES_UNAVAILABLE',
      )
      assert.match(error.message, /stopped during create_session/)
      assert.match(error.message, /exiting after create_session on purpose/)
      // The restarted server has exactly the one session the dead one created.
      assert.equal((await client.listSessions()).sessions.length, 1)
    } finally {
      await client.close?.()
    }
  })

  it('retries a create that Jules refused with 503, which certainly created nothing', async () => {
    const { db } = paths()
    const client = await startFixture(['--db', db, '--fault', '503:sessions.create'])
    try {
      await client.createSession({ prompt: 'After a 503', sourceContext: { source: 'sources/github/acme/api' } })
      assert.equal((await client.listSessions()).sessions.length, 1)
    } finally {
      await client.close?.()
    }
  })

  it('retries a tool error that is transient and not one that is not', async () => {
    // Two faults each: a retried call uses both up, so the next call tells which ones were retried.
    const client = await startFixture(['--fault', '503:sessions.get:2', '--fault', '400:sessions.list:2'])
    try {
      await rejectsWith(client.getSession('sessions/nope'), OperationFailedError, 'JJM_JULES_NOT_FOUND')
      await rejectsWith(client.listSessions(), ValidationError, 'JJM_VALIDATION')
      await rejectsWith(client.listSessions(), ValidationError, 'JJM_VALIDATION')
      assert.deepEqual((await client.listSessions()).sessions, [])
    } finally {
      await client.close?.()
    }
  })

  it('retries a read that timed out', async () => {
    const client = await startFixture(['--fault', 'slow:sources.list'], { timeoutMs: 4000 })
    try {
      assert.ok((await client.listSources()).sources.length > 0)
    } finally {
      await client.close?.()
    }
  })

  it('stops calling a failing server once the circuit opens, naming the server', async () => {
    const client = await startFixture(['--fault', '503:sessions.list:20'], {
      maxAttempts: 1,
      breaker: { failureThreshold: 2, cooldownMs: 60_000 },
    })
    try {
      for (let call = 0; call < 2; call++) await rejectsWith(client.listSessions(), JulesConnectionError)
      const open = await rejectsWith(client.listSessions(), JulesConnectionError, 'JJM_JULES_UNAVAILABLE')
      assert.equal((open as JulesConnectionError).context.breaker, 'open')
      assert.match(open.message, /Jules MCP server .* has failed 2 times in a row/)
    } finally {
      await client.close?.()
    }
  })

  it('gives up on a server that exits at every start after a bounded number of starts, quoting it', async () => {
    const starts = join(dir, 'starts.log')
    const script = `require('node:fs').appendFileSync(${JSON.stringify(starts)}, 'x\\n'); process.stderr.write('fatal error: JULES_API_KEY is not set\\n'); process.exit(3)`
    const begun = Date.now()
    const error = await rejectsWith(
      createMcpClient({ command: process.execPath, args: ['-e', script], maxAttempts: 3, backoff: quickBackoff }),
      JulesConnectionError,
      'JJM_JULES_UNAVAILABLE',
    )
    assert.match(error.message, /exited before completing the MCP handshake \(3 starts in a row failed\)/)
    assert.match(error.message, /JULES_API_KEY is not set/)
    assert.equal((await readFile(starts, 'utf8')).split('\n').filter(Boolean).length, 3)
    assert.ok(Date.now() - begun < 15_000, 'the attempts should be quick with small backoffs')
  })
})

describe('the mcp backend in configuration', () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jjm-mcp-config-'))
    await mkdir(join(dir, 'config'), { recursive: true })
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const sources = (env: Record<string, string> = {}) => ({
    configDir: join(dir, 'config'),
    dataDir: join(dir, 'data'),
    env,
  })

  it('reads jules.mcp.command and jules.mcp.args from the config file', async () => {
    await writeFile(
      join(dir, 'config', 'config.yaml'),
      'jules:\n  backend: mcp\n  mcp:\n    command: jjm\n    args: [mcp, serve]\n',
    )
    try {
      const config = await loadConfig(sources())
      assert.deepEqual(config.jules.mcp, { command: 'jjm', args: ['mcp', 'serve'] })
      // The environment overrides the file, the arguments as a JSON array.
      const overridden = await loadConfig(
        sources({ JJM_JULES_MCP_COMMAND: 'jules-mcp', JJM_JULES_MCP_ARGS: '["--stdio"]' }),
      )
      assert.deepEqual(overridden.jules.mcp, { command: 'jules-mcp', args: ['--stdio'] })
    } finally {
      await rm(join(dir, 'config', 'config.yaml'), { force: true })
    }
  })

  it('refuses arguments that are not a list of strings, naming the variable', async () => {
    for (const bad of ['mcp serve', '[1, 2]', '{"a": "b"}']) {
      await assert.rejects(loadConfig(sources({ JJM_JULES_MCP_ARGS: bad })), (error: unknown) => {
        assert.ok(error instanceof ConfigurationError)
        assert.match(error.message, /JJM_JULES_MCP_ARGS/)
        return true
      })
    }
  })

  it('leaves jules.mcp out of the config when nothing sets it', async () => {
    assert.equal((await loadConfig(sources())).jules.mcp, undefined)
  })

  it('asks for the server command when the mcp backend has none', async () => {
    const config = await loadConfig(sources({ JJM_JULES: 'mcp' }))
    await assert.rejects(
      createJulesClient(await builtinRegistry(), { config, logger: silentLogger }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigurationError)
        assert.match(error.message, /jules\.mcp\.command/)
        assert.match(error.message, /JJM_JULES_MCP_COMMAND/)
        return true
      },
    )
  })

  it('builds the mcp client from the configured command', async () => {
    const config = await loadConfig(
      sources({
        JJM_JULES: 'mcp',
        JJM_JULES_MCP_COMMAND: process.execPath,
        JJM_JULES_MCP_ARGS: JSON.stringify(['--import', 'tsx', fixture]),
      }),
    )
    const client = await createJulesClient(await builtinRegistry(), { config, logger: silentLogger })
    try {
      assert.equal(client.kind, 'mcp')
      assert.ok((await client.listSources()).sources.length > 0)
    } finally {
      await client.close?.()
    }
  })
})
