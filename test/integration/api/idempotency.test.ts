import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
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
