import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Task } from '../../../src/core/task.js'
import { startTestDaemon, type TestDaemon } from '../../support/api.js'

describe('the REST API: tasks', () => {
  let api: TestDaemon
  before(async () => {
    api = await startTestDaemon()
  })
  after(async () => {
    await api.close()
  })

  const create = async (body: Record<string, unknown> = {}): Promise<Task> => {
    const answer = await api.call('POST', '/api/v1/tasks', {
      body: { prompt: 'Fix it', repository: 'acme/api', ...body },
    })
    assert.equal(answer.status, 201, answer.text)
    return answer.body as Task
  }

  it('creates a task with 201 and a Location that answers the same task', async () => {
    const answer = await api.call('POST', '/api/v1/tasks', {
      key: api.keys.write,
      body: { prompt: 'Add retries', repository: 'acme/web', labels: ['q4'], requirePlanApproval: true },
    })
    assert.equal(answer.status, 201)
    assert.equal(answer.headers.location, `/api/v1/tasks/${answer.body.id}`)
    assert.equal(answer.body.state, 'queued')
    assert.deepEqual(answer.body.labels, ['q4'])
    const fetched = await api.call('GET', answer.headers.location ?? '', { key: api.keys.read })
    assert.deepEqual(fetched.body, answer.body)
    const bySession = await api.call('GET', `/api/v1/tasks/${encodeURIComponent(answer.body.sessionName)}`)
    assert.equal(bySession.body.id, answer.body.id)
  })

  it('filters the list by state, repository and label', async () => {
    const labelled = await create({ repository: 'acme/infra', labels: ['needle'] })
    await create({ repository: 'acme/infra' })
    const byLabel = await api.call('GET', '/api/v1/tasks?label=needle')
    assert.deepEqual(
      byLabel.body.items.map((task: Task) => task.id),
      [labelled.id],
    )
    const byRepo = await api.call('GET', '/api/v1/tasks?repository=acme/infra&state=queued,planning')
    assert.equal(byRepo.body.items.length, 2)
    const none = await api.call('GET', '/api/v1/tasks?state=completed&repository=acme/infra')
    assert.deepEqual(none.body, { items: [], nextCursor: '' })
    const bad = await api.call('GET', '/api/v1/tasks?state=sleeping')
    assert.equal(bad.status, 400)
    assert.equal(bad.body.errors[0].field, 'query.state.0')
  })

  it('clamps an oversized limit to 200 and refuses a negative one', async () => {
    assert.equal((await api.call('GET', '/api/v1/tasks?limit=100000')).status, 200)
    const negative = await api.call('GET', '/api/v1/tasks?limit=-1')
    assert.equal(negative.status, 400)
    assert.equal(negative.body.errors[0].field, 'query.limit')
  })

  it('walks every page to the end exactly once while tasks are being created', async () => {
    const repository = 'acme/mobile'
    const existing = new Set<string>()
    for (let i = 0; i < 23; i++) existing.add((await create({ repository })).id)
    const seen: string[] = []
    let cursor = ''
    let pages = 0
    let inserting = true
    const inserts = (async () => {
      let made = 0
      while (inserting && made < 20) {
        await create({ repository })
        made++
      }
    })()
    do {
      const answer = await api.call(
        'GET',
        `/api/v1/tasks?repository=${repository}&limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      )
      assert.equal(answer.status, 200, answer.text)
      seen.push(...answer.body.items.map((task: Task) => task.id))
      cursor = answer.body.nextCursor
      pages++
    } while (cursor !== '' && pages < 100)
    inserting = false
    await inserts
    assert.equal(new Set(seen).size, seen.length, 'no task twice')
    for (const id of existing) assert.ok(seen.includes(id), `task ${id} created before the walk is on a page`)
  })

  it('changes title, labels and metadata with PATCH (merge) and PUT (replace)', async () => {
    const task = await create({ metadata: { ticket: 'OPS-1', owner: 'ana' } })
    const patched = await api.call('PATCH', `/api/v1/tasks/${task.id}`, {
      key: api.keys.write,
      body: { title: 'Renamed', metadata: { owner: null, sprint: 7 } },
    })
    assert.equal(patched.status, 200)
    assert.equal(patched.body.title, 'Renamed')
    assert.deepEqual(patched.body.metadata, { ticket: 'OPS-1', sprint: 7 })
    const put = await api.call('PUT', `/api/v1/tasks/${task.id}`, {
      body: { title: 'Whole', labels: ['a', 'b'], metadata: { only: true } },
    })
    assert.equal(put.status, 200)
    assert.deepEqual([put.body.title, put.body.labels, put.body.metadata], ['Whole', ['a', 'b'], { only: true }])
    const incomplete = await api.call('PUT', `/api/v1/tasks/${task.id}`, { body: { title: 'x' } })
    assert.equal(incomplete.status, 400)
    const unknownField = await api.call('PATCH', `/api/v1/tasks/${task.id}`, { body: { state: 'completed' } })
    assert.equal(unknownField.status, 400, 'state is not something a person sets')
  })

  it('gives every task an ETag, applies an edit made with the current one, and refuses a stale one with 412', async () => {
    const task = await create()
    const read = await api.call('GET', `/api/v1/tasks/${task.id}`)
    assert.equal(read.headers.etag, `"${task.version}"`)
    const first = await api.call('PATCH', `/api/v1/tasks/${task.id}`, {
      body: { title: 'Mine' },
      headers: { 'If-Match': read.headers.etag ?? '' },
    })
    assert.equal(first.status, 200, first.text)
    assert.equal(first.headers.etag, `"${task.version + 1}"`)
    assert.equal(first.body.version, task.version + 1)
    // A second client still holding the first ETag: its edit would overwrite the one above.
    const stale = await api.call('PUT', `/api/v1/tasks/${task.id}`, {
      body: { title: 'Theirs', labels: [], metadata: {} },
      headers: { 'If-Match': read.headers.etag ?? '' },
    })
    assert.equal(stale.status, 412, stale.text)
    assert.equal(stale.body.code, 'JJM_TASK_VERSION_CONFLICT')
    assert.match(stale.body.detail, /read it again/)
    assert.equal((await api.call('GET', `/api/v1/tasks/${task.id}`)).body.title, 'Mine', 'nothing was written')
    const unconditional = await api.call('PATCH', `/api/v1/tasks/${task.id}`, { body: { addLabels: ['later'] } })
    assert.equal(unconditional.status, 200, 'without If-Match the edit applies to the task as it is now')
    assert.equal(unconditional.body.title, 'Mine')
    const malformed = await api.call('PATCH', `/api/v1/tasks/${task.id}`, {
      body: { title: 'x' },
      headers: { 'If-Match': 'version-3' },
    })
    assert.equal(malformed.status, 400)
    assert.match(malformed.body.detail, /If-Match/)
  })

  it('deletes with 204, keeps the history, and purges on request', async () => {
    const task = await create()
    const deleted = await api.call('DELETE', `/api/v1/tasks/${task.id}`, { key: api.keys.write })
    assert.equal(deleted.status, 204)
    assert.equal(deleted.text, '')
    assert.equal((await api.call('GET', `/api/v1/tasks/${task.id}`)).status, 404)
    assert.equal((await api.call('DELETE', `/api/v1/tasks/${task.id}`)).status, 404)
    const other = await create()
    assert.equal((await api.call('DELETE', `/api/v1/tasks/${other.id}?purge=true`)).status, 204)
  })

  it('reports status and history, and operates on a task in the right state', async () => {
    const task = await create({ requirePlanApproval: true })
    api.clock.advance(15_000)
    await api.core.monitor.syncOnce({ force: true })
    const status = await api.call('GET', `/api/v1/tasks/${task.id}/status`, { key: api.keys.read })
    assert.equal(status.status, 200)
    assert.equal(status.body.state, 'awaiting_plan_approval')
    assert.match(status.body.waitingFor, /plan approval/)
    assert.equal(status.body.terminal, false)
    const approved = await api.call('POST', `/api/v1/tasks/${task.id}/approve`, { key: api.keys.write })
    assert.equal(approved.status, 200, approved.text)
    assert.equal(approved.body.operation, 'approve')
    assert.equal(approved.body.taskId, task.id)
    assert.ok(Date.parse(approved.body.at))
    const message = await api.call('POST', `/api/v1/tasks/${task.id}/message`, { body: { text: 'Also add tests' } })
    assert.equal(message.status, 200, message.text)
    const emptyMessage = await api.call('POST', `/api/v1/tasks/${task.id}/message`, { body: { text: '' } })
    assert.equal(emptyMessage.status, 400)
    const resume = await api.call('POST', `/api/v1/tasks/${task.id}/resume`, { body: {} })
    assert.equal(resume.status, 409, 'resume needs a paused task')

    const events = await api.call('GET', `/api/v1/tasks/${task.id}/events?limit=2`)
    assert.equal(events.status, 200)
    assert.equal(events.body.items.length, 2)
    assert.notEqual(events.body.nextCursor, '')
    const created = await api.call('GET', `/api/v1/tasks/${task.id}/events?type=created`)
    assert.deepEqual(
      created.body.items.map((event: { type: string }) => event.type),
      ['created'],
    )
  })
})

describe('the REST API: key management', () => {
  it('creates, lists and revokes keys with an admin key; a revoked key is refused at once', async () => {
    const api = await startTestDaemon()
    try {
      const created = await api.call('POST', '/api/v1/api-keys', {
        body: { name: 'ci-bot', scopes: ['read', 'write'] },
      })
      assert.equal(created.status, 201)
      assert.match(created.body.key, /^jjm_[a-z2-7]{8}_/)
      const listed = await api.call('GET', '/api/v1/api-keys')
      const entry = listed.body.items.find((key: { name: string }) => key.name === 'ci-bot')
      assert.deepEqual(entry.scopes, ['read', 'write'])
      assert.equal(entry.key, undefined, 'a list never shows a key')
      assert.doesNotMatch(listed.text, /keyHash|salt/)
      assert.equal((await api.call('GET', '/api/v1/tasks', { key: created.body.key })).status, 200)
      const revoked = await api.call('DELETE', '/api/v1/api-keys/ci-bot')
      assert.equal(revoked.status, 200)
      assert.ok(revoked.body.revokedAt)
      const refused = await api.call('GET', '/api/v1/tasks', { key: created.body.key })
      assert.equal(refused.status, 401)
      assert.match(refused.body.detail, /revoked/)
      const taken = await api.call('POST', '/api/v1/api-keys', { body: { name: 'ci-bot' } })
      assert.equal(taken.status, 400)
    } finally {
      await api.close()
    }
  })

  it('refuses an expired key', async () => {
    const api = await startTestDaemon()
    try {
      const { key } = await api.core.apiKeys().create({ name: 'short', scopes: ['read'], expiresInMs: 60_000 })
      assert.equal((await api.call('GET', '/api/v1/tasks', { key })).status, 200)
      api.clock.advance(61_000)
      const expired = await api.call('GET', '/api/v1/tasks', { key })
      assert.equal(expired.status, 401)
      assert.match(expired.body.detail, /expired/)
    } finally {
      await api.close()
    }
  })
})
