import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Task } from '../../../src/core/task.js'
import { startTestDaemon, type TestDaemon } from '../../support/api.js'

describe('the REST API under plan quotas', { timeout: 60_000 }, () => {
  let api: TestDaemon
  before(async () => {
    api = await startTestDaemon({
      env: { JJM_JULES_LIMITS_CONCURRENT: '1', JJM_JULES_LIMITS_DAILY: '10' },
      metrics: true,
    })
  })
  after(async () => {
    await api.close()
  })

  const create = async (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    api.call('POST', '/api/v1/tasks', { body: { repository: 'acme/api', ...body }, headers })

  it('accepts a task beyond the limit as pending, and shows its place in the queue on GET', async () => {
    const running = await create({ prompt: 'Runs now' })
    assert.equal(running.status, 201, running.text)
    assert.equal((running.body as Task).state, 'queued')
    const waiting = await create({ prompt: 'Waits', priority: 3 }, { 'idempotency-key': 'quota-waits-1' })
    assert.equal(waiting.status, 201, waiting.text)
    const task = waiting.body as Task
    assert.equal(task.state, 'pending')
    assert.equal(task.sessionName, '')
    assert.equal(task.priority, 3)

    const fetched = await api.call('GET', `/api/v1/tasks/${task.id}`)
    assert.deepEqual(fetched.body.queue, {
      position: 1,
      reason: 'concurrent_limit',
      nextSlotAt: null,
      running: 1,
      concurrentLimit: 1,
      startedToday: 1,
      dailyLimit: 10,
    })
    const listed = await api.call('GET', '/api/v1/tasks?state=pending')
    assert.deepEqual(
      listed.body.items.map((item: Task) => item.id),
      [task.id],
    )
    assert.equal(listed.body.items[0].queue, undefined, 'a list does not compute places')

    const replay = await create({ prompt: 'Waits', priority: 3 }, { 'idempotency-key': 'quota-waits-1' })
    assert.equal(replay.status, 200)
    assert.equal(replay.body.id, task.id)
    const reused = await create({ prompt: 'Waits', priority: 4 }, { 'idempotency-key': 'quota-waits-1' })
    assert.equal(reused.status, 422, 'another priority is another request')

    const message = await api.call('POST', `/api/v1/tasks/${task.id}/message`, { body: { text: 'hello?' } })
    assert.equal(message.status, 409)
    assert.match(message.body.detail, /is pending/)

    const { text } = await api.scrape()
    assert.match(text, /^jjm_tasks_pending 1$/m)
  })

  it('refuses a priority that is not a whole number from -1000 to 1000', async () => {
    for (const priority of ['high', 1.5, 5000]) {
      const answer = await create({ prompt: 'Bad priority', priority })
      assert.equal(answer.status, 400, `${JSON.stringify(priority)}: ${answer.text}`)
      assert.equal(answer.body.errors[0].field, 'body.priority')
    }
  })
})
