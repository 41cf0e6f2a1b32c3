import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { JulesConnectionError } from '../../../src/core/errors.js'
import { startTestDaemon, type TestDaemon } from '../../support/api.js'

describe('the REST API: keys, scopes and problem documents', () => {
  let api: TestDaemon
  before(async () => {
    api = await startTestDaemon({ env: { JJM_API_CORS_ORIGINS: '["https://dash.example.com"]' } })
  })
  after(async () => {
    await api.close()
  })

  it('keeps the health endpoints public', async () => {
    const health = await api.call('GET', '/health', { key: null })
    assert.equal(health.status, 200)
    assert.equal(health.body.status, 'healthy')
    assert.equal(health.body.checks.database.status, 'pass')
    assert.equal((await api.call('GET', '/health/live', { key: null })).status, 200)
    assert.deepEqual((await api.call('GET', '/health/ready', { key: null })).body, { status: 'ready' })
  })

  it('refuses a request without a key with 401 and a problem document that says how to get one', async () => {
    const answer = await api.call('GET', '/api/v1/tasks', { key: null })
    assert.equal(answer.status, 401)
    assert.match(answer.headers['content-type'] ?? '', /^application\/problem\+json/)
    assert.equal(answer.body.code, 'JJM_UNAUTHORIZED')
    assert.equal(answer.body.status, 401)
    assert.equal(answer.body.instance, '/api/v1/tasks')
    assert.match(answer.body.detail, /jjm api-keys create/)
    assert.equal(answer.body.type, '/docs#problem-unauthorized', 'the type points at its explanation')
    const docs = await api.call('GET', '/docs', { key: null })
    assert.match(docs.text, /id="problem-unauthorized"/)
  })

  it('accepts the key in X-API-Key as well as Authorization: Bearer', async () => {
    const answer = await api.call('GET', '/api/v1/tasks', { key: null, headers: { 'x-api-key': api.keys.read } })
    assert.equal(answer.status, 200)
    assert.deepEqual(answer.body, { items: [], nextCursor: '' })
  })

  it('refuses a forged key and a key with the right prefix but the wrong secret', async () => {
    assert.equal((await api.call('GET', '/api/v1/tasks', { key: 'not-a-key' })).status, 401)
    const forged = `${api.keys.read.slice(0, 13)}${'A'.repeat(43)}`
    assert.equal((await api.call('GET', '/api/v1/tasks', { key: forged })).status, 401)
  })

  it('answers 403 when the key lacks the scope, naming the scope needed', async () => {
    const answer = await api.call('POST', '/api/v1/tasks', {
      key: api.keys.read,
      body: { prompt: 'x', repository: 'acme/api' },
    })
    assert.equal(answer.status, 403)
    assert.equal(answer.body.code, 'JJM_FORBIDDEN')
    assert.match(answer.body.detail, /needs write/)
    assert.equal((await api.call('GET', '/api/v1/api-keys', { key: api.keys.write })).status, 403)
  })

  it('answers 400 with every field at fault for an invalid body, and for malformed JSON', async () => {
    const invalid = await api.call('POST', '/api/v1/tasks', { body: { title: 5, labels: 'x' } })
    assert.equal(invalid.status, 400)
    assert.equal(invalid.body.code, 'JJM_VALIDATION')
    const fields = invalid.body.errors.map((error: { field: string }) => error.field)
    for (const field of ['body.prompt', 'body.title', 'body.labels'])
      assert.ok(fields.includes(field), `${field} in ${fields}`)
    const malformed = await api.call('POST', '/api/v1/tasks', {
      rawBody: '{"prompt": ',
      headers: { 'content-type': 'application/json' },
    })
    assert.equal(malformed.status, 400)
    assert.match(malformed.body.detail, /not valid JSON/)
  })

  it('answers 415 for a body that is not JSON and 413 for one over the size limit', async () => {
    const text = await api.call('POST', '/api/v1/tasks', {
      rawBody: 'prompt=x',
      headers: { 'content-type': 'text/plain' },
    })
    assert.equal(text.status, 415)
    const huge = await api.call('POST', '/api/v1/tasks', {
      body: { prompt: 'x'.repeat(1_100_000), repository: 'acme/api' },
    })
    assert.equal(huge.status, 413)
    assert.equal(huge.body.code, 'JJM_PAYLOAD_TOO_LARGE')
  })

  it('answers 404 for an unknown task and an unknown path, 405 with Allow for a wrong method', async () => {
    const task = await api.call('GET', '/api/v1/tasks/01ZZZZZZZZZZZZZZZZZZZZZZZZ')
    assert.equal(task.status, 404)
    assert.equal(task.body.code, 'JJM_TASK_NOT_FOUND')
    assert.equal((await api.call('GET', '/api/v2/nothing')).status, 404)
    const wrong = await api.call('PUT', '/api/v1/tasks')
    assert.equal(wrong.status, 405)
    assert.equal(wrong.headers.allow, 'GET, POST')
  })

  it('answers 409 when the task is not in the state the operation needs', async () => {
    const created = await api.call('POST', '/api/v1/tasks', { body: { prompt: 'x', repository: 'acme/api' } })
    const answer = await api.call('POST', `/api/v1/tasks/${created.body.id}/approve`)
    assert.equal(answer.status, 409)
    assert.equal(answer.body.code, 'JJM_INVALID_STATE')
    assert.match(answer.body.detail, /queued/)
  })

  it('answers 503 when Jules is unreachable, and never shows a stack trace for an unexpected error', async () => {
    const jules = api.core.jules
    const original = jules.createSession
    jules.createSession = async () => {
      throw new JulesConnectionError('Jules did not answer within 30 s.')
    }
    try {
      const down = await api.call('POST', '/api/v1/tasks', { body: { prompt: 'x', repository: 'acme/api' } })
      assert.equal(down.status, 503)
      assert.equal(down.body.code, 'JJM_JULES_UNAVAILABLE')
      jules.createSession = async () => {
        throw new TypeError('secret internals at /srv/jjm/src/x.ts:12')
      }
      const broken = await api.call('POST', '/api/v1/tasks', { body: { prompt: 'x', repository: 'acme/api' } })
      assert.equal(broken.status, 500)
      assert.equal(broken.body.code, 'JJM_INTERNAL')
      assert.doesNotMatch(broken.text, /secret internals|\.ts:\d+|at /)
      assert.match(broken.body.detail, new RegExp(broken.body.requestId))
    } finally {
      jules.createSession = original
    }
  })

  it('echoes a request id it is given and makes one otherwise', async () => {
    const given = await api.call('GET', '/health/live', { headers: { 'x-request-id': 'trace-42' } })
    assert.equal(given.headers['x-request-id'], 'trace-42')
    const made = await api.call('GET', '/health/live')
    assert.match(made.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/)
    const problem = await api.call('GET', '/api/v1/tasks', { key: null, headers: { 'x-request-id': 'trace-43' } })
    assert.equal(problem.body.requestId, 'trace-43')
  })

  it('lets configured origins call from a browser, and no others', async () => {
    const allowed = await api.call('OPTIONS', '/api/v1/tasks', {
      key: null,
      headers: { origin: 'https://dash.example.com', 'access-control-request-method': 'POST' },
    })
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://dash.example.com')
    const other = await api.call('GET', '/health/live', { key: null, headers: { origin: 'https://evil.example.com' } })
    assert.equal(other.headers['access-control-allow-origin'], undefined)
  })
})

describe('the REST API: rate limits', () => {
  it('sends RateLimit headers and answers 429 with Retry-After past a key’s limit', async () => {
    const api = await startTestDaemon()
    try {
      const { key } = await api.core.apiKeys().create({ name: 'slow', scopes: ['read'], rateLimitPerMinute: 3 })
      const answers = []
      for (let i = 0; i < 4; i++) answers.push(await api.call('GET', '/api/v1/tasks', { key }))
      assert.deepEqual(
        answers.map((answer) => answer.status),
        [200, 200, 200, 429],
      )
      assert.equal(answers[0]?.headers['ratelimit-policy'], '"per-key";q=3;w=60')
      assert.match(answers[1]?.headers.ratelimit ?? '', /^"per-key";r=1;t=\d+$/)
      const limited = answers[3]
      assert.equal(limited?.body.code, 'JJM_RATE_LIMITED')
      assert.ok(Number(limited?.headers['retry-after']) >= 1)
      // Another key is not affected.
      assert.equal((await api.call('GET', '/api/v1/tasks', { key: api.keys.read })).status, 200)
    } finally {
      await api.close()
    }
  })

  it('refuses an address that keeps presenting bad keys, even with a good one, for a while', async () => {
    const api = await startTestDaemon({ env: {} })
    try {
      const statuses = []
      for (let i = 0; i < 11; i++) statuses.push((await api.call('GET', '/api/v1/tasks', { key: 'guess' })).status)
      assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401))
      assert.equal(statuses[10], 429)
      const good = await api.call('GET', '/api/v1/tasks', { key: api.keys.read })
      assert.equal(good.status, 429, 'the address is blocked, not just the bad key')
      assert.ok(Number(good.headers['retry-after']) > 60)
    } finally {
      await api.close()
    }
  })
})
