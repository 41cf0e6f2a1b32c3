import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { JulesConnectionError } from '../../../src/core/errors.js'
import type { CreateSessionRequest } from '../../../src/core/jules/client.js'
import { startTestDaemon, type TestDaemon } from '../../support/api.js'

describe('the REST API: Idempotency-Key on POST /api/v1/tasks', () => {
  let api: TestDaemon
  before(async () => {
    api = await startTestDaemon()
  })
  after(async () => {
    await api.close()
  })

  const sessions = async (): Promise<number> => (await api.core.jules.listSessions({ pageSize: 100 })).sessions.length

  it('starts one Jules session for ten concurrent duplicates, and replays the task afterwards', async () => {
    const before = await sessions()
    const body = { prompt: 'Only once', repository: 'acme/api' }
    const headers = { 'idempotency-key': 'concurrent-1' }
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => api.call('POST', '/api/v1/tasks', { body, headers })),
    )
    const statuses = answers.map((answer) => answer.status)
    assert.ok(
      statuses.every((status) => status === 201 || status === 200 || status === 409),
      `only created, replayed or in progress: ${statuses}`,
    )
    assert.equal(statuses.filter((status) => status === 201).length, 1, `exactly one created: ${statuses}`)
    const ids = new Set(answers.filter((answer) => answer.status < 300).map((answer) => answer.body.id))
    assert.equal(ids.size, 1, 'every success names the same task')
    for (const conflict of answers.filter((answer) => answer.status === 409)) {
      assert.equal(conflict.body.code, 'JJM_IDEMPOTENCY_CONFLICT')
    }
    assert.equal(await sessions(), before + 1, 'one session at Jules')

    const replay = await api.call('POST', '/api/v1/tasks', { body, headers })
    assert.equal(replay.status, 200)
    assert.equal(replay.body.id, [...ids][0])
    assert.equal(replay.headers.location, `/api/v1/tasks/${replay.body.id}`)
    assert.equal(await sessions(), before + 1)
  })

  it('answers 409 to a retry while the first request is still running', async () => {
    const jules = api.core.jules
    const original = jules.createSession
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    jules.createSession = async (request) => {
      await gate
      return original(request)
    }
    try {
      const body = { prompt: 'Slow one', repository: 'acme/api' }
      const headers = { 'idempotency-key': 'slow-1' }
      const first = api.call('POST', '/api/v1/tasks', { body, headers })
      await new Promise((resolve) => setTimeout(resolve, 100))
      const second = await api.call('POST', '/api/v1/tasks', { body, headers })
      assert.equal(second.status, 409)
      assert.equal(second.body.code, 'JJM_IDEMPOTENCY_CONFLICT')
      release()
      assert.equal((await first).status, 201)
    } finally {
      release()
      jules.createSession = original
    }
  })

  it('answers 422 to the same key with another body, and 400 to a key that is not visible ASCII', async () => {
    const headers = { 'idempotency-key': 'reuse-1' }
    assert.equal(
      (await api.call('POST', '/api/v1/tasks', { body: { prompt: 'A', repository: 'acme/api' }, headers })).status,
      201,
    )
    const other = await api.call('POST', '/api/v1/tasks', { body: { prompt: 'B', repository: 'acme/api' }, headers })
    assert.equal(other.status, 422)
    assert.equal(other.body.code, 'JJM_IDEMPOTENCY_KEY_REUSED')
    const bad = await api.call('POST', '/api/v1/tasks', {
      body: { prompt: 'A', repository: 'acme/api' },
      headers: { 'idempotency-key': 'x'.repeat(300) },
    })
    assert.equal(bad.status, 400)
  })
})

describe('the REST API: a create that timed out, retried on another daemon', () => {
  let dir: string
  let first: TestDaemon
  let second: TestDaemon
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jjm-api-ambiguous-'))
    // Two daemons on one database (and the simulator kept in it); jjm waits 2 s for Jules.
    const env = { JJM_JULES_TIMEOUT_MS: '2000', JJM_JULES_CREATE_GRACE_MS: '60000' }
    first = await startTestDaemon({ dir, env })
    second = await startTestDaemon({ dir, env })
  })
  after(async () => {
    await first?.close()
    await second?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('answers 503 then 409 with Retry-After, and after that adopts the one session Jules made', async () => {
    const jules = first.core.jules
    const original = jules.createSession
    const late: CreateSessionRequest[] = []
    // Jules takes 4 s to create; the first daemon gives up after 2 s.
    jules.createSession = async (request) => {
      late.push(request)
      throw new JulesConnectionError('Jules did not answer sessions.create within 2000 ms.', {
        context: { operation: 'sessions.create', timedOut: true },
      })
    }
    const body = { prompt: 'Made slowly', repository: 'acme/api' }
    const headers = { 'idempotency-key': 'timed-out-1' }
    try {
      const timedOut = await first.call('POST', '/api/v1/tasks', { body, headers })
      assert.equal(timedOut.status, 503)
      assert.match(timedOut.body.detail, /jjm could not tell whether Jules started the session/)
      assert.match(timedOut.body.detail, /after 62 s/)
      assert.equal(timedOut.headers['retry-after'], '62')

      const conflict = await second.call('POST', '/api/v1/tasks', { body, headers })
      assert.equal(conflict.status, 409)
      assert.equal(conflict.body.code, 'JJM_IDEMPOTENCY_CONFLICT')
      assert.equal(conflict.headers['retry-after'], '62')
      assert.match(conflict.body.detail, /after 62 s/)
    } finally {
      jules.createSession = original
    }
    for (const request of late) await original(request)

    second.clock.advance(62_000)
    const adopted = await second.call('POST', '/api/v1/tasks', { body, headers })
    assert.equal(adopted.status, 201)
    const sessions = (await second.core.jules.listSessions({ pageSize: 100 })).sessions.filter(
      (session) => session.prompt === 'Made slowly',
    )
    assert.equal(sessions.length, 1, 'one session at Jules')
    assert.equal(adopted.body.sessionName, sessions[0]?.name)
    const tasks = await second.call('GET', '/api/v1/tasks')
    assert.equal(tasks.body.items.filter((task: { prompt: string }) => task.prompt === 'Made slowly').length, 1)

    const replay = await first.call('POST', '/api/v1/tasks', { body, headers })
    assert.equal(replay.status, 200)
    assert.equal(replay.body.id, adopted.body.id)
  })
})
