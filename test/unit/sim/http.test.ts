import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { ManualClock, OffsetClock } from '../../../src/core/clock.js'
import { Simulator } from '../../../src/sim/engine.js'
import { type SimServer, startSimServer } from '../../../src/sim/http.js'
import { MemorySimStateStore } from '../../../src/sim/memory-store.js'

const key = 'sim-key'

describe('startSimServer', () => {
  let server: SimServer
  let simulator: Simulator
  let clock: OffsetClock

  before(async () => {
    // An OffsetClock over a ManualClock: only /_sim/clock:advance (or the test) moves time.
    clock = new OffsetClock(new ManualClock('2026-01-01T00:00:00.000Z'))
    simulator = new Simulator({ store: new MemorySimStateStore(), clock, runSeconds: 20 })
    server = await startSimServer({ simulator, clock })
  })

  after(async () => {
    await server.close()
  })

  beforeEach(() => {
    simulator.clearFaults()
  })

  async function call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = { 'X-Goog-Api-Key': key },
  ): Promise<{ status: number; headers: Headers; text: string; json: unknown }> {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    const text = await response.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: response.status, headers: response.headers, text, json }
  }

  async function createSession(extra: Record<string, unknown> = {}): Promise<{ name: string; id: string }> {
    const created = await call('POST', '/v1alpha/sessions', {
      prompt: 'Add a health endpoint',
      sourceContext: { source: 'sources/github/acme/api', githubRepoContext: { startingBranch: 'main' } },
      ...extra,
    })
    assert.equal(created.status, 200)
    const session = created.json as { name: string; id: string }
    return session
  }

  it('refuses a missing or unknown key with a Google 401 body', async () => {
    const attempts: Array<Record<string, string>> = [{}, { 'X-Goog-Api-Key': 'wrong' }]
    for (const headers of attempts) {
      const answer = await call('GET', '/v1alpha/sessions', undefined, headers)
      assert.equal(answer.status, 401)
      const body = answer.json as { error: { code: number; message: string; status: string } }
      assert.equal(body.error.code, 401)
      assert.equal(body.error.status, 'UNAUTHENTICATED')
      assert.equal(typeof body.error.message, 'string')
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'status'])
    }
  })

  it('accepts the key as a query parameter too', async () => {
    const answer = await call('GET', `/v1alpha/sources?key=${key}`, undefined, {})
    assert.equal(answer.status, 200)
  })

  it('marks every answer as simulated JSON', async () => {
    for (const answer of [
      await call('GET', '/v1alpha/sources'),
      await call('GET', '/v1alpha/sessions', undefined, {}),
      await call('GET', '/nowhere'),
      await call('GET', '/_sim/health', undefined, {}),
    ]) {
      assert.equal(answer.headers.get('x-jules-simulator'), 'true')
      assert.equal(answer.headers.get('content-type'), 'application/json')
      assert.notEqual(answer.json, undefined)
    }
  })

  it('answers 404 with a Google body for an unknown session and an unknown route', async () => {
    const unknown = await call('GET', '/v1alpha/sessions/nope')
    assert.equal(unknown.status, 404)
    assert.deepEqual((unknown.json as { error: { status: string; code: number } }).error.status, 'NOT_FOUND')
    assert.equal((unknown.json as { error: { code: number } }).error.code, 404)
    const route = await call('GET', '/v1alpha/widgets')
    assert.equal(route.status, 404)
    assert.equal((route.json as { error: { status: string } }).error.status, 'NOT_FOUND')
  })

  it('refuses a malformed JSON body with INVALID_ARGUMENT', async () => {
    const answer = await call('POST', '/v1alpha/sessions', '{"prompt": ')
    assert.equal(answer.status, 400)
    assert.equal((answer.json as { error: { status: string } }).error.status, 'INVALID_ARGUMENT')
  })

  it('creates, gets, lists and pages sessions and activities over HTTP', async () => {
    const session = await createSession()
    const got = await call('GET', `/v1alpha/${session.name}`)
    assert.equal(got.status, 200)
    assert.equal((got.json as { state: string }).state, 'QUEUED')
    clock.advance(60_000)
    const page = await call('GET', `/v1alpha/${session.name}/activities?pageSize=3`)
    const body = page.json as { activities: Array<{ name: string }>; nextPageToken?: string }
    assert.equal(body.activities.length, 3)
    assert.ok(body.nextPageToken)
    const rest = await call(
      'GET',
      `/v1alpha/${session.name}/activities?pageSize=100&pageToken=${encodeURIComponent(body.nextPageToken)}`,
    )
    assert.equal((rest.json as { nextPageToken?: string }).nextPageToken, undefined)
    const first = body.activities[0]
    assert.ok(first)
    assert.equal((await call('GET', `/v1alpha/${first.name}`)).status, 200)
    const list = await call('GET', '/v1alpha/sessions?pageSize=1')
    assert.equal((list.json as { sessions: unknown[] }).sessions.length, 1)
    const bad = await call('GET', '/v1alpha/sessions?pageToken=garbage!')
    assert.equal(bad.status, 400)
    const source = await call('GET', '/v1alpha/sources/github/acme/web')
    assert.equal((source.json as { name: string }).name, 'sources/github/acme/web')
  })

  it('serves the custom methods :approvePlan and :sendMessage with empty answers', async () => {
    const session = await createSession({ requirePlanApproval: true })
    const early = await call('POST', `/v1alpha/sessions/${session.id}:approvePlan`, {})
    assert.equal(early.status, 400)
    assert.equal((early.json as { error: { status: string } }).error.status, 'FAILED_PRECONDITION')
    clock.advance(6_000)
    const approved = await call('POST', `/v1alpha/sessions/${session.id}:approvePlan`)
    assert.equal(approved.status, 200)
    assert.deepEqual(approved.json, {})
    const escaped = await call('POST', `/v1alpha/sessions/${session.id}%3AsendMessage`, { prompt: 'Use port 8080' })
    assert.equal(escaped.status, 200)
    assert.deepEqual(escaped.json, {})
    const state = await call('GET', `/v1alpha/sessions/${session.id}`)
    assert.equal((state.json as { state: string }).state, 'IN_PROGRESS')
    clock.advance(60_000)
    const late = await call('POST', `/v1alpha/sessions/${session.id}:sendMessage`, { prompt: 'one more thing' })
    assert.equal(late.status, 400)
    assert.equal((late.json as { error: { status: string } }).error.status, 'FAILED_PRECONDITION')
  })

  it('fails twice with 503, then answers', async () => {
    const queued = await call('POST', '/_sim/faults', { status: 503, count: 2, methods: ['sources.list'] }, {})
    assert.equal(queued.status, 200)
    for (let attempt = 0; attempt < 2; attempt++) {
      const failed = await call('GET', '/v1alpha/sources')
      assert.equal(failed.status, 503)
      assert.equal((failed.json as { error: { status: string } }).error.status, 'UNAVAILABLE')
    }
    assert.equal((await call('GET', '/v1alpha/sources')).status, 200)
  })

  it('answers 429 with Retry-After', async () => {
    await call('POST', '/_sim/faults', { status: 429, retryAfterSeconds: 7 }, {})
    const limited = await call('GET', '/v1alpha/sessions')
    assert.equal(limited.status, 429)
    assert.equal(limited.headers.get('retry-after'), '7')
    assert.equal((limited.json as { error: { status: string } }).error.status, 'RESOURCE_EXHAUSTED')
  })

  it('answers a malformed body, and slowly, on demand; DELETE clears the queue', async () => {
    await call('POST', '/_sim/faults', { status: 200, malformed: true, delayMs: 20 }, {})
    const started = Date.now()
    const broken = await call('GET', '/v1alpha/sources')
    assert.ok(Date.now() - started >= 15)
    assert.equal(broken.status, 200)
    assert.equal(broken.json, undefined)
    assert.ok(broken.text.length > 0)
    await call('POST', '/_sim/faults', { status: 500, count: 5 }, {})
    assert.equal((await call('DELETE', '/_sim/faults', undefined, {})).status, 200)
    assert.equal((await call('GET', '/v1alpha/sources')).status, 200)
    const refused = await call('POST', '/_sim/faults', { count: 2 }, {})
    assert.equal(refused.status, 400)
  })

  it('advances the clock through the control API, and sessions move with it', async () => {
    const session = await createSession()
    const before = clock.now()
    const advanced = await call('POST', '/_sim/clock:advance', { seconds: 30 }, {})
    assert.equal(advanced.status, 200)
    assert.equal(clock.now() - before, 30_000)
    assert.equal((advanced.json as { now: string }).now, new Date(clock.now()).toISOString())
    const state = await call('GET', `/v1alpha/${session.name}`)
    assert.equal((state.json as { state: string }).state, 'COMPLETED')
  })

  it('sets a scenario through the control API', async () => {
    const session = await createSession()
    const set = await call('POST', `/_sim/sessions/${session.id}:scenario`, { scenario: 'fail' }, {})
    assert.equal(set.status, 200)
    clock.advance(30_000)
    const state = await call('GET', `/v1alpha/${session.name}`)
    assert.equal((state.json as { state: string }).state, 'FAILED')
    const unknown = await call('POST', `/_sim/sessions/${session.id}:scenario`, { scenario: 'explode' }, {})
    assert.equal(unknown.status, 400)
  })

  it('reports health without a key', async () => {
    const health = await call('GET', '/_sim/health', undefined, {})
    assert.equal(health.status, 200)
    assert.equal((health.json as { status: string; simulated: boolean }).simulated, true)
  })
})
