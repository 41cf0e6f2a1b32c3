import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Task } from '../../../src/core/task.js'
import { startTestDaemon, type TestDaemon } from '../../support/api.js'

describe('the REST API: archive, bulk actions, delete at Jules, the patch and task details', {
  timeout: 120_000,
}, () => {
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

  const ids = async (query: string): Promise<string[]> => {
    const answer = await api.call('GET', `/api/v1/tasks?${query}`)
    assert.equal(answer.status, 200, answer.text)
    return answer.body.items.map((task: Task) => task.id)
  }

  it('archives and unarchives a task with POST …/archive and …/unarchive; lists hide it unless archived=true', async () => {
    const task = await create({ labels: ['arch-1'] })
    const archived = await api.call('POST', `/api/v1/tasks/${task.id}/archive`)
    assert.equal(archived.status, 200, archived.text)
    assert.equal(archived.body.outcome, 'done')
    assert.equal(archived.body.task.archived, true)
    assert.deepEqual(await ids('label=arch-1'), [])
    assert.deepEqual(await ids('label=arch-1&archived=true'), [task.id])
    assert.equal((await api.call('GET', `/api/v1/tasks/${task.id}`)).body.archived, true)

    const back = await api.call('POST', `/api/v1/tasks/${task.id}/unarchive`)
    assert.equal(back.status, 200, back.text)
    assert.deepEqual(await ids('label=arch-1'), [task.id])
  })

  it('needs a write key for archiving and bulk actions', async () => {
    const task = await create()
    const read = await api.call('POST', `/api/v1/tasks/${task.id}/archive`, { key: api.keys.read })
    assert.equal(read.status, 403, read.text)
    const bulk = await api.call('POST', '/api/v1/tasks/bulk', {
      key: api.keys.read,
      body: { action: 'archive', taskIds: [task.id] },
    })
    assert.equal(bulk.status, 403, bulk.text)
  })

  it('runs one action on the tasks a filter picks, dry first, reporting each task', async () => {
    const a = await create({ labels: ['bulk-1'] })
    const b = await create({ labels: ['bulk-1'] })
    const dry = await api.call('POST', '/api/v1/tasks/bulk', {
      body: { action: 'archive', filter: { label: 'bulk-1', state: ['queued'] }, dryRun: true },
    })
    assert.equal(dry.status, 200, dry.text)
    assert.equal(dry.body.count, 2)
    assert.deepEqual(
      dry.body.results.map((result: { taskId: string; status: string }) => [result.taskId, result.status]),
      [
        [b.id, 'matched'],
        [a.id, 'matched'],
      ],
    )
    assert.deepEqual(await ids('label=bulk-1&archived=true'), [])

    const done = await api.call('POST', '/api/v1/tasks/bulk', {
      body: { action: 'archive', filter: { label: 'bulk-1' } },
    })
    assert.equal(done.status, 200, done.text)
    assert.deepEqual([done.body.succeeded, done.body.failed], [2, 0])
    assert.deepEqual(await ids('label=bulk-1&archived=true'), [b.id, a.id])

    const everything = await api.call('POST', '/api/v1/tasks/bulk', { body: { action: 'delete', filter: {} } })
    assert.equal(everything.status, 400, everything.text)
    assert.match(everything.body.detail, /never acts on every task/)
    const unknown = await api.call('POST', '/api/v1/tasks/bulk', { body: { action: 'explode', taskIds: [a.id] } })
    assert.equal(unknown.status, 400)
  })

  it('deletes the Jules session too with DELETE ?remote=true', async () => {
    const task = await create()
    const answer = await api.call('DELETE', `/api/v1/tasks/${task.id}?remote=true`)
    assert.equal(answer.status, 204, answer.text)
    assert.equal((await api.call('GET', `/api/v1/tasks/${task.id}`)).status, 404)
    const events = await api.call('GET', `/api/v1/tasks/${task.id}/events`)
    assert.equal(events.status, 404, 'a deleted task is gone from the API')
  })

  it('answers the change set as text/x-diff, and 409 before there is one', async () => {
    const task = await create()
    const early = await api.call('GET', `/api/v1/tasks/${task.id}/patch`)
    assert.equal(early.status, 409, early.text)
    assert.match(early.body.detail, /has no change set yet/)
    api.clock.advance(30_000)
    await api.core.monitor.syncOnce({ force: true })
    const patch = await api.call('GET', `/api/v1/tasks/${task.id}/patch`)
    assert.equal(patch.status, 200, patch.text)
    assert.match(patch.headers['content-type'] ?? '', /^text\/x-diff/)
    assert.match(patch.text, /^diff --git a\/README.md b\/README.md/)
  })

  it('adds details to a task with include=details, and leaves the plain task as it was', async () => {
    const task = await create()
    api.clock.advance(30_000)
    await api.core.monitor.syncOnce({ force: true })
    const plain = await api.call('GET', `/api/v1/tasks/${task.id}`)
    assert.equal(plain.body.details, undefined)
    const full = await api.call('GET', `/api/v1/tasks/${task.id}?include=details`)
    assert.equal(full.status, 200, full.text)
    const { details, ...fields } = full.body
    assert.deepEqual(fields, plain.body)
    assert.ok(details.plan.steps.length > 0)
    assert.ok(details.sourceFiles.length > 0)
    assert.ok(details.events.length > 0)
    assert.equal((await api.call('GET', `/api/v1/tasks/${task.id}?include=everything`)).status, 400)
  })

  it('lists the attempts of one group with group=ID', async () => {
    const grouped = await create({ labels: ['group:g-7'] })
    await create()
    assert.deepEqual(await ids('group=g-7'), [grouped.id])
    assert.equal((await api.call('GET', '/api/v1/tasks?group=g-7&label=x')).status, 400)
  })
})
