/**
 * Google's own TypeScript SDK (@google/jules-sdk) against `jjm sim serve`: if
 * the official client works against the simulator as its README documents,
 * the simulator speaks the Jules API the way Jules does.
 *
 * The SDK polls on real timers and compares activity times with its own wall
 * clock (`session.ask()` waits for an agent reply newer than the moment it
 * asked), so this test runs the simulator on real time with short sessions
 * (--run-seconds 4) and never moves the simulator's clock.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import {
  connect,
  JulesApiError,
  JulesAuthenticationError,
  type JulesClient,
  MemorySessionStorage,
  MemoryStorage,
  type SessionClient,
  SourceNotFoundError,
} from '@google/jules-sdk'
import { root, runJs } from '../support/cli.js'

const apiKey = 'sdk-key'

/** Starts `jjm sim serve` on a free port and resolves its URL from the --json object it prints at once. */
async function startSimServe(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [runJs, 'sim', 'serve', '--port', '0', '--run-seconds', '4', '--api-key', apiKey, '--json'],
    { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: dir, JJM_LOG_LEVEL: 'warn' }, stdio: 'pipe' },
  )
  const lines = createInterface({ input: child.stdout })
  let text = ''
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`jjm sim serve exited with ${code}`)))
    lines.on('line', (line) => {
      text += line
      try {
        resolve((JSON.parse(text) as { url: string }).url)
      } catch {
        // not the whole object yet
      }
    })
  })
  return { child, url }
}

/** An SDK client on the simulator, caching in memory (the SDK's default writes under $HOME/.jules). */
function sdkClient(url: string, key = apiKey): JulesClient {
  return connect({
    apiKey: key,
    // The SDK's own spelling: the version is part of its baseUrl.
    baseUrl: `${url}/v1alpha`,
    config: { pollingIntervalMs: 100, requestTimeoutMs: 10_000 },
    storageFactory: { session: () => new MemorySessionStorage(), activity: () => new MemoryStorage() },
  } as Parameters<typeof connect>[0])
}

/** Collects a session's stream up to its sessionCompleted activity. */
async function streamUntilDone(session: SessionClient): Promise<Array<{ type: string; [key: string]: unknown }>> {
  const seen: Array<{ type: string; [key: string]: unknown }> = []
  for await (const activity of session.stream()) {
    seen.push(activity as unknown as { type: string })
    if (activity.type === 'sessionCompleted' || activity.type === 'sessionFailed') break
  }
  return seen
}

describe('@google/jules-sdk against jjm sim serve', { timeout: 120_000 }, () => {
  let dir: string
  let server: { child: ChildProcess; url: string }
  let jules: JulesClient

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    dir = await mkdtemp(join(tmpdir(), 'jjm-sdk-'))
    server = await startSimServe(dir)
    jules = sdkClient(server.url)
  })

  after(async () => {
    server?.child.kill('SIGTERM')
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('lists sources and gets one by its GitHub name', async () => {
    const names: string[] = []
    for await (const source of jules.sources()) {
      assert.equal(source.type, 'githubRepo')
      names.push(`${source.githubRepo.owner}/${source.githubRepo.repo}`)
    }
    assert.deepEqual(names.sort(), ['acme/api', 'acme/infra', 'acme/mobile', 'acme/web'])
    const api = await jules.sources.get({ github: 'acme/api' })
    assert.equal(api?.name, 'sources/github/acme/api')
    assert.equal(api?.githubRepo.defaultBranch, 'main')
    assert.equal(await jules.sources.get({ github: 'acme/nope' }), undefined)
    await assert.rejects(
      jules.session({ prompt: 'x', source: { github: 'acme/nope', baseBranch: 'main' } }),
      SourceNotFoundError,
    )
  })

  it('reports a key the simulator does not accept as JulesAuthenticationError', async () => {
    await assert.rejects(
      sdkClient(server.url, 'wrong-key').sources.get({ github: 'acme/api' }),
      JulesAuthenticationError,
    )
  })

  it('creates a session, streams it, approves its plan, asks after its question, and reads the result', async () => {
    const session = await jules.session({
      prompt: 'Add a health endpoint [sim:feedback]',
      source: { github: 'acme/api', baseBranch: 'main' },
    })
    const streamed = streamUntilDone(session)

    await session.waitFor('awaitingPlanApproval')
    await session.approve()
    await session.waitFor('awaitingUserFeedback')
    const reply = await session.ask('Only the code, please.')
    assert.equal(reply.type, 'agentMessaged')
    assert.match(reply.message, /Thanks for the answer/)

    const outcome = await session.result()
    assert.equal(outcome.state, 'completed')
    assert.match(outcome.pullRequest?.url ?? '', /^https:\/\/github\.simulated\.invalid\/acme\/api\/pull\/\d+$/)
    const parsed = outcome.changeSet()?.parsed()
    assert.deepEqual(parsed?.files.map((file) => file.path).sort(), ['README.md', 'src/index.ts', 'test/index.test.ts'])
    assert.equal(parsed?.summary.created, 1)

    const types = (await streamed).map((activity) => activity.type)
    for (const type of ['planGenerated', 'planApproved', 'agentMessaged', 'userMessaged', 'progressUpdated']) {
      assert.ok(types.includes(type), `the stream had a ${type} activity: ${types.join(', ')}`)
    }
    assert.equal(types.at(-1), 'sessionCompleted')

    const snapshot = await session.snapshot()
    assert.equal(snapshot.state, 'completed')
    assert.equal(snapshot.pr?.url, outcome.pullRequest?.url)
    // Each activity once, in the stream as in the snapshot.
    assert.deepEqual(
      snapshot.activities.map((activity) => activity.type),
      types,
    )
    const changeSetActivity = snapshot.activities.find((activity) =>
      activity.artifacts.some((artifact) => artifact.type === 'changeSet'),
    )
    const artifact = changeSetActivity?.artifacts.find((candidate) => candidate.type === 'changeSet')
    assert.ok(artifact && artifact.type === 'changeSet')
    assert.equal(artifact.parsed().files.length, 3)
  })

  it('runs a session on no repository to a change set and no pull request', async () => {
    const run = await jules.run({ prompt: 'Write a haiku about queues' })
    const outcome = await run.result()
    assert.equal(outcome.state, 'completed')
    assert.equal(outcome.pullRequest, undefined)
    assert.ok(outcome.outputs.some((output) => output.type === 'changeSet'))
    assert.equal(outcome.changeSet()?.parsed().files.length, 3)
    assert.ok(outcome.generatedFiles().get('test/index.test.ts'))
  })

  it('streams a run whose activities answer 404 at first, as the SDK expects of Jules', async () => {
    const run = await jules.run({
      prompt: 'Add a health endpoint [sim:late]',
      source: { github: 'acme/api', baseBranch: 'main' },
    })
    const early = await fetch(`${server.url}/v1alpha/sessions/${run.id}/activities`, {
      headers: { 'X-Goog-Api-Key': apiKey },
    })
    assert.equal(early.status, 404)
    const types: string[] = []
    for await (const activity of run.stream()) {
      types.push(activity.type)
      if (activity.type === 'sessionCompleted') break
    }
    assert.equal(types[0], 'planGenerated')
    assert.equal((await run.result()).state, 'completed')
  })

  it('archives and unarchives: archived sessions leave the default list and show under archived = true', async () => {
    const session = await jules.session({
      prompt: 'Tidy the changelog',
      source: { github: 'acme/web', baseBranch: 'main' },
    })
    await session.archive()
    const listed = async (filter?: string) =>
      (await jules.sessions({ pageSize: 100, persist: false, ...(filter ? { filter } : {}) }).all()).map(
        (candidate) => candidate.id,
      )
    assert.ok(!(await listed()).includes(session.id))
    assert.ok((await listed('archived = true')).includes(session.id))
    assert.equal((await sdkClient(server.url).session(session.id).info()).archived, true)
    await session.unarchive()
    assert.ok((await listed()).includes(session.id))
  })

  it('deletes a session the way the SDK does (DELETE sessions/{id}); afterwards the SDK gets a 404', async () => {
    const session = await jules.session({ prompt: 'Remove dead code' })
    // @google/jules-sdk 0.2.0 on npm has no session.delete(); its repository's next
    // version sends exactly this request and treats a 404 as already deleted.
    const remove = () =>
      fetch(`${server.url}/v1alpha/sessions/${session.id}`, { method: 'DELETE', headers: { 'X-Goog-Api-Key': apiKey } })
    assert.equal((await remove()).status, 200)
    assert.equal((await remove()).status, 404)
    await assert.rejects(sdkClient(server.url).session(session.id).info(), (error: unknown) => {
      return error instanceof JulesApiError && error.status === 404
    })
  })
})
