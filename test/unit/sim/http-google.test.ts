import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ManualClock, OffsetClock } from '../../../src/core/clock.js'
import { Simulator } from '../../../src/sim/engine.js'
import { type SimServer, startSimServer } from '../../../src/sim/http.js'
import { MemorySimStateStore } from '../../../src/sim/memory-store.js'

// The simulator's HTTP server reads requests the way Google's front end does.

interface GoogleError {
  error: {
    code: number
    status: string
    message: string
    details?: Array<{ '@type': string; fieldViolations?: Array<{ field: string; description: string }> }>
  }
}

describe('startSimServer: requests read as Google reads them', { timeout: 60_000 }, () => {
  let server: SimServer
  let clock: OffsetClock

  before(async () => {
    clock = new OffsetClock(new ManualClock('2026-01-01T00:00:00.000Z'))
    const simulator = new Simulator({ store: new MemorySimStateStore(), clock, runSeconds: 20 })
    server = await startSimServer({ simulator, clock })
  })

  after(async () => {
    await server.close()
  })

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { 'X-Goog-Api-Key': 'sim-key', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: response.status, json: await response.json() }
  }

  function violations(json: unknown): string[] {
    const { error } = json as GoogleError
    assert.equal(error.status, 'INVALID_ARGUMENT')
    const detail = error.details?.find((item) => item['@type'] === 'type.googleapis.com/google.rpc.BadRequest')
    assert.ok(detail, 'a google.rpc.BadRequest detail')
    for (const violation of detail.fieldViolations ?? []) assert.match(violation.description, /Unknown name/)
    return (detail.fieldViolations ?? []).map((violation) => violation.field)
  }

  it('refuses unknown body fields, at any depth, with a BadRequest detail naming each', async () => {
    const answer = await call('POST', '/v1alpha/sessions', {
      prompt: 'Add a health endpoint',
      colour: 'blue',
      sourceContext: { source: 'sources/github/acme/api', githubRepoContext: { startingBranch: 'main', depth: 1 } },
    })
    assert.equal(answer.status, 400)
    assert.deepEqual(violations(answer.json), ['colour', 'sourceContext.githubRepoContext.depth'])
    const message = await call('POST', '/v1alpha/sessions/123:sendMessage', { prompt: 'hi', urgent: true })
    assert.equal(message.status, 400)
    assert.deepEqual(violations(message.json), ['urgent'])
  })

  it('refuses unknown query parameters, and accepts the system ones such as key and fields', async () => {
    const answer = await call('GET', '/v1alpha/sessions?pageSize=2&sort=newest')
    assert.equal(answer.status, 400)
    assert.deepEqual(violations(answer.json), ['sort'])
    const get = await call('GET', '/v1alpha/sources/github/acme/api?pageSize=2')
    assert.equal(get.status, 400)
    assert.deepEqual(violations(get.json), ['pageSize'])
    assert.equal((await call('GET', '/v1alpha/sources?key=sim-key&prettyPrint=false')).status, 200)
  })

  it('accepts proto field names in bodies and query parameters', async () => {
    const created = await call('POST', '/v1alpha/sessions', {
      prompt: 'Add a health endpoint',
      source_context: { source: 'sources/github/acme/api', github_repo_context: { starting_branch: 'develop' } },
      require_plan_approval: true,
      automation_mode: 'AUTO_CREATE_PR',
    })
    assert.equal(created.status, 200)
    const session = created.json as { name: string; sourceContext: { githubRepoContext: { startingBranch: string } } }
    assert.equal(session.sourceContext.githubRepoContext.startingBranch, 'develop')
    clock.advance(6_000)
    assert.equal(
      ((await call('GET', `/v1alpha/${session.name}`)).json as { state: string }).state,
      'AWAITING_PLAN_APPROVAL',
    )
    await call('POST', '/v1alpha/sessions', { prompt: 'second' })
    const page = await call('GET', '/v1alpha/sessions?page_size=1')
    assert.equal(page.status, 200)
    const { sessions, nextPageToken } = page.json as { sessions: unknown[]; nextPageToken: string }
    assert.equal(sessions.length, 1)
    const next = await call('GET', `/v1alpha/sessions?page_size=1&page_token=${nextPageToken}`)
    assert.equal((next.json as { sessions: unknown[] }).sessions.length, 1)
  })

  it('serves :archive, :unarchive and DELETE with empty answers, and the archived filter', async () => {
    const created = (await call('POST', '/v1alpha/sessions', { prompt: 'Archive me' })).json as { id: string }
    assert.deepEqual(await call('POST', `/v1alpha/sessions/${created.id}:archive`, {}), { status: 200, json: {} })
    const listed = async (query: string) =>
      ((await call('GET', `/v1alpha/sessions?pageSize=100${query}`)).json as { sessions?: Array<{ id: string }> })
        .sessions ?? []
    assert.ok(!(await listed('')).some((session) => session.id === created.id))
    assert.ok((await listed('&filter=archived%20%3D%20true')).some((session) => session.id === created.id))
    assert.deepEqual(await call('POST', `/v1alpha/sessions/${created.id}:unarchive`, {}), { status: 200, json: {} })
    assert.ok((await listed('')).some((session) => session.id === created.id))
    assert.deepEqual(await call('DELETE', `/v1alpha/sessions/${created.id}`), { status: 200, json: {} })
    assert.equal((await call('GET', `/v1alpha/sessions/${created.id}`)).status, 404)
    assert.equal((await call('DELETE', `/v1alpha/sessions/${created.id}`)).status, 404)
  })

  it('filters sources by name over HTTP', async () => {
    const answer = await call('GET', `/v1alpha/sources?filter=${encodeURIComponent('name=sources/github/acme/mobile')}`)
    assert.deepEqual(
      (answer.json as { sources: Array<{ name: string }> }).sources.map((source) => source.name),
      ['sources/github/acme/mobile'],
    )
  })
})
