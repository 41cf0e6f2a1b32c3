import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { ManualClock, OffsetClock } from '../../../../src/core/clock.js'
import { OperationFailedError } from '../../../../src/core/errors.js'
import type { JulesClient } from '../../../../src/core/jules/client.js'
import { apiRootOf, createRestClient } from '../../../../src/core/jules/rest.js'
import { Simulator } from '../../../../src/sim/engine.js'
import { type SimServer, startSimServer } from '../../../../src/sim/http.js'
import { MemorySimStateStore } from '../../../../src/sim/memory-store.js'

// The rest adapter against the simulator's HTTP server, for the parts of the
// Jules API of today: base URL spellings, sessions on no repository, new
// fields, list filters, archive/unarchive/delete.

describe('rest adapter: the Jules API of today', { timeout: 60_000 }, () => {
  let server: SimServer
  let clock: OffsetClock
  const clients: JulesClient[] = []

  before(async () => {
    clock = new OffsetClock(new ManualClock('2026-01-01T00:00:00.000Z'))
    const simulator = new Simulator({ store: new MemorySimStateStore(), clock, runSeconds: 20 })
    server = await startSimServer({ simulator, clock })
  })

  after(async () => {
    for (const client of clients) await client.close?.()
    await server.close()
  })

  function client(baseUrl = server.url): JulesClient {
    const made = createRestClient({ baseUrl, apiKey: 'sim-key', maxAttempts: 1 })
    clients.push(made)
    return made
  }

  it('accepts the base URL with or without /v1alpha and a trailing slash', async () => {
    assert.equal(apiRootOf('https://jules.googleapis.com'), 'https://jules.googleapis.com/v1alpha')
    assert.equal(apiRootOf('https://jules.googleapis.com/'), 'https://jules.googleapis.com/v1alpha')
    assert.equal(apiRootOf('https://jules.googleapis.com/v1alpha'), 'https://jules.googleapis.com/v1alpha')
    assert.equal(apiRootOf('https://jules.googleapis.com/v1alpha/'), 'https://jules.googleapis.com/v1alpha')
    for (const baseUrl of [server.url, `${server.url}/`, `${server.url}/v1alpha`, `${server.url}/v1alpha/`]) {
      const page = await client(baseUrl).listSources()
      assert.ok(page.sources.length > 0, `sources through ${baseUrl}`)
    }
  })

  it('creates a session on no repository, and reads its change set from outputs', async () => {
    const jules = client()
    const created = await jules.createSession({ prompt: 'Summarise the release notes' })
    assert.equal(created.sourceContext, undefined)
    clock.advance(20_000)
    const done = await jules.getSession(created.name)
    assert.equal(done.state, 'COMPLETED')
    assert.equal(done.sourceContext, undefined)
    const changeSet = done.outputs?.[0]?.changeSet
    assert.match(changeSet?.gitPatch?.unidiffPatch ?? '', /^diff --git /)
    assert.ok(changeSet?.gitPatch?.suggestedCommitMessage)
    assert.ok(changeSet?.gitPatch?.baseCommitId)
  })

  it('keeps the new fields: workingBranch, environmentVariablesEnabled, archived, pull request refs', async () => {
    const jules = client()
    const created = await jules.createSession({
      prompt: 'Add a health endpoint',
      sourceContext: {
        source: 'sources/github/acme/api',
        githubRepoContext: { startingBranch: 'develop' },
        workingBranch: 'jules/health',
        environmentVariablesEnabled: true,
      },
      automationMode: 'AUTO_CREATE_PR',
    })
    assert.equal(created.sourceContext?.workingBranch, 'jules/health')
    assert.equal(created.sourceContext?.environmentVariablesEnabled, true)
    clock.advance(20_000)
    const done = await jules.getSession(created.id)
    const pullRequest = done.outputs?.find((output) => output.pullRequest)?.pullRequest
    assert.deepEqual([pullRequest?.baseRef, pullRequest?.headRef], ['develop', 'jules/health'])
    assert.ok(done.outputs?.some((output) => output.changeSet?.source === 'sources/github/acme/api'))
    await jules.archiveSession?.(created.name)
    assert.equal((await jules.getSession(created.name)).archived, true)
  })

  it('filters sources and sessions, hiding archived sessions by default', async () => {
    const jules = client()
    const sources = await jules.listSources({
      filter: 'name=sources/github/acme/web OR name=sources/github/acme/infra',
    })
    assert.deepEqual(sources.sources.map((source) => source.id).sort(), ['github/acme/infra', 'github/acme/web'])
    const session = await jules.createSession({ prompt: 'Tidy the changelog' })
    await jules.archiveSession?.(session.name)
    const visible = await jules.listSessions({ pageSize: 100 })
    assert.ok(!visible.sessions.some((candidate) => candidate.id === session.id))
    const archived = await jules.listSessions({ filter: 'archived = true', pageSize: 100 })
    assert.ok(archived.sessions.some((candidate) => candidate.id === session.id))
    await jules.unarchiveSession?.(session.name)
    const again = await jules.listSessions({ pageSize: 100 })
    assert.ok(again.sessions.some((candidate) => candidate.id === session.id))
  })

  it('deletes a session, and treats deleting one already gone as done', async () => {
    const jules = client()
    const session = await jules.createSession({ prompt: 'Remove dead code' })
    await jules.deleteSession?.(session.name)
    await jules.deleteSession?.(session.name)
    await assert.rejects(
      jules.getSession(session.name),
      (error: unknown) => error instanceof OperationFailedError && error.code === 'JJM_JULES_NOT_FOUND',
    )
  })
})

describe('rest adapter: reading answers of today', { timeout: 30_000 }, () => {
  /** A Jules that answers every request with `body`, recording the paths it was asked. */
  async function answering(body: unknown): Promise<{ url: string; paths: string[]; close(): Promise<void> }> {
    const paths: string[] = []
    const server = createServer((request, response) => {
      paths.push(`${request.method} ${request.url}`)
      request.resume()
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify(body))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    return { url, paths, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
  }

  it('keeps STATE_UNSPECIFIED, archived, change set outputs and pull request refs of a session', async () => {
    const jules = await answering({
      name: 'sessions/42',
      state: 'STATE_UNSPECIFIED',
      archived: true,
      outputs: [
        { pullRequest: { url: 'https://github.com/acme/api/pull/7', baseRef: 'main', headRef: 'jules/fix' } },
        { changeSet: { source: 'sources/github/acme/api', gitPatch: { unidiffPatch: 'diff --git a/x b/x\n' } } },
      ],
    })
    const client = createRestClient({ baseUrl: `${jules.url}/v1alpha/`, apiKey: 'k', maxAttempts: 1 })
    try {
      const session = await client.getSession('42')
      assert.deepEqual(jules.paths, ['GET /v1alpha/sessions/42'])
      assert.equal(session.state, 'STATE_UNSPECIFIED')
      assert.equal(session.archived, true)
      assert.equal(session.sourceContext, undefined, 'a session on no repository has no sourceContext')
      assert.deepEqual(session.outputs?.[0]?.pullRequest, {
        url: 'https://github.com/acme/api/pull/7',
        baseRef: 'main',
        headRef: 'jules/fix',
      })
      assert.equal(session.outputs?.[1]?.changeSet?.gitPatch?.unidiffPatch, 'diff --git a/x b/x\n')
    } finally {
      await client.close?.()
      await jules.close()
    }
  })

  it('reads media artifacts and activities without bashOutput', async () => {
    const jules = await answering({
      activities: [
        {
          name: 'sessions/42/activities/a1',
          createTime: '2026-01-01T00:00:00.123456Z',
          artifacts: [{ media: { data: 'iVBORw0KGgo=', mimeType: 'image/png' } }],
          progressUpdated: { title: 'Screenshot' },
        },
      ],
    })
    const client = createRestClient({ baseUrl: jules.url, apiKey: 'k', maxAttempts: 1 })
    try {
      const page = await client.listActivities('sessions/42')
      assert.deepEqual(page.activities[0]?.artifacts, [{ media: { data: 'iVBORw0KGgo=', mimeType: 'image/png' } }])
    } finally {
      await client.close?.()
      await jules.close()
    }
  })
})
