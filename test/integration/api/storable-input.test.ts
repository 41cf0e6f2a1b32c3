import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { toProblem } from '../../../src/api/problem.js'
import { MigrationRequiredError, StorageError } from '../../../src/core/errors.js'
import { type Answer, startTestDaemon, type TestDaemon } from '../../support/api.js'
import { postgres } from '../../support/services.js'

// Issue 10: what jjm cannot store is a 400 naming the field, before any call
// to Jules; never a 503 after the session was started, never a 500, and no
// problem detail names the database file.

interface Backend {
  name: string
  /** Starts a daemon on this backend in `dir`; undefined when the service is absent (skipped). */
  start(t: TestContext, dir: string): Promise<{ api: TestDaemon; close(): Promise<void> } | undefined>
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    async start(_t, dir) {
      const api = await startTestDaemon({ dir })
      return { api, close: () => api.close() }
    },
  },
  {
    name: 'PostgreSQL',
    async start(t, dir) {
      const service = await postgres(t)
      if (service === undefined) return undefined
      const database = await service.createDatabase()
      const api = await startTestDaemon({ dir, env: { JJM_STORAGE: 'postgresql', DATABASE_URL: database.url } })
      return {
        api,
        async close() {
          await api.close()
          await database.drop()
        },
      }
    },
  },
]

/** `{"k":{"k":…}}` `levels` deep, as JSON text (JSON.stringify of it would overflow the stack). */
function deepJson(levels: number): string {
  return `${'{"k":'.repeat(levels)}1${'}'.repeat(levels)}`
}

function assertRefused(answer: Answer, field: string, why: string): void {
  assert.equal(answer.status, 400, `${why}: ${answer.text}`)
  assert.equal(answer.body.code, 'JJM_VALIDATION', why)
  assert.ok(String(answer.body.detail).includes(field), `${why}: "${answer.body.detail}" names ${field}`)
}

for (const backend of backends) {
  describe(`the REST API on ${backend.name}: input jjm cannot store`, () => {
    it('answers 400 naming the field, before Jules starts a session, for create, update, message, filters and ids', {
      timeout: 120_000,
    }, async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'jjm-storable-'))
      const started = await backend.start(t, dir)
      if (started === undefined) {
        await rm(dir, { recursive: true, force: true })
        return
      }
      const { api } = started
      try {
        const sessions = async (): Promise<number> =>
          (await api.core.jules.listSessions({ pageSize: 100 })).sessions.length
        const json = { 'content-type': 'application/json' }

        // Create: a NUL in the prompt, and every retry under the same key, is refused before Jules.
        for (const attempt of [1, 2, 3]) {
          const answer = await api.call('POST', '/api/v1/tasks', {
            body: { prompt: 'a\u0000b', repository: 'acme/api' },
            headers: { 'idempotency-key': 'nul-prompt' },
          })
          assertRefused(answer, 'prompt', `NUL prompt, attempt ${attempt}`)
        }
        assertRefused(
          await api.call('POST', '/api/v1/tasks', { body: { prompt: 'ok', repository: 'acme/api', title: 'x\u0000' } }),
          'title',
          'NUL title',
        )
        assertRefused(
          await api.call('POST', '/api/v1/tasks', {
            body: { prompt: 'ok', repository: 'acme/api', metadata: { constructor: 'x' } },
          }),
          'metadata.constructor',
          'constructor key',
        )
        assertRefused(
          await api.call('POST', '/api/v1/tasks', {
            rawBody: '{"prompt":"ok","repository":"acme/api","metadata":{"__proto__":{"admin":true}}}',
            headers: json,
          }),
          'metadata.__proto__',
          '__proto__ key',
        )
        assertRefused(
          await api.call('POST', '/api/v1/tasks', {
            rawBody: `{"prompt":"ok","repository":"acme/api","metadata":${deepJson(5_000)}}`,
            headers: json,
          }),
          'nested more than 32 levels',
          'metadata 5,000 deep',
        )
        assert.equal(await sessions(), 0, 'Jules started no session')

        // The same key, with storable input, creates the task: the refusals spent nothing.
        const created = await api.call('POST', '/api/v1/tasks', {
          body: { prompt: 'ab', repository: 'acme/api', metadata: { ticket: 'OPS-1' } },
          headers: { 'idempotency-key': 'nul-prompt' },
        })
        assert.equal(created.status, 201, created.text)
        const id = String(created.body.id)
        assert.equal(await sessions(), 1)

        // Update: PATCH and PUT.
        assertRefused(
          await api.call('PATCH', `/api/v1/tasks/${id}`, { body: { title: 'New\u0000' } }),
          'title',
          'PATCH NUL title',
        )
        assertRefused(
          await api.call('PATCH', `/api/v1/tasks/${id}`, {
            rawBody: `{"metadata":${deepJson(5_000)}}`,
            headers: json,
          }),
          'nested more than 32 levels',
          'PATCH metadata 5,000 deep',
        )
        assertRefused(
          await api.call('PUT', `/api/v1/tasks/${id}`, {
            rawBody: '{"title":"T","labels":[],"metadata":{"__proto__":1}}',
            headers: json,
          }),
          'metadata.__proto__',
          'PUT __proto__ key',
        )
        const unchanged = await api.call('GET', `/api/v1/tasks/${id}`)
        assert.deepEqual(unchanged.body.metadata, { ticket: 'OPS-1' })

        // Messages.
        assertRefused(
          await api.call('POST', `/api/v1/tasks/${id}/message`, { body: { text: 'yes\u0000please' } }),
          'message',
          'NUL message',
        )

        // Filters and ids.
        assertRefused(await api.call('GET', '/api/v1/tasks?q=a%00b'), 'search', 'NUL search')
        const missing = await api.call('GET', '/api/v1/tasks/abc%00def')
        assert.equal(missing.status, 404, missing.text)
        assert.equal(missing.body.code, 'JJM_TASK_NOT_FOUND')
        assert.ok(!missing.text.includes(dir), 'the answer does not name the data directory')
        assert.equal(await sessions(), 1, 'still one session at Jules')
      } finally {
        await started.close()
        await rm(dir, { recursive: true, force: true })
      }
    })
  })
}

describe('problem details of storage errors', () => {
  it('never name the database file or server, only what to do and the request id', { timeout: 5_000 }, () => {
    const request = { id: 'req-1', originalUrl: '/api/v1/tasks/abc', url: '/api/v1/tasks/abc' }
    const storage = toProblem(
      new StorageError('Could not read task in the database /var/lib/jjm/secret-team/jjm.db: disk I/O error.', {
        context: { path: '/var/lib/jjm/secret-team/jjm.db' },
      }),
      request,
    )
    assert.equal(storage.status, 503)
    assert.equal(storage.code, 'JJM_STORAGE')
    assert.ok(!storage.detail.includes('/var/lib'), storage.detail)
    assert.match(storage.detail, /req-1/)
    const migration = toProblem(
      new MigrationRequiredError('The database postgresql://jjm@db.internal:5432/jjm needs 2 migrations.'),
      request,
    )
    assert.equal(migration.status, 503)
    assert.ok(!migration.detail.includes('db.internal'), migration.detail)
    assert.match(migration.detail, /jjm migrate up/)
  })
})
