import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { type Harness, openHarness } from './harness.js'

// Jules lags behind itself: activities.list answers 404 just after a create,
// and a session can stay IN_PROGRESS after its sessionCompleted activity.
// jjm's sync takes both in its stride.

async function eventTypes(h: Harness, taskId: string): Promise<string[]> {
  return (await h.storage.store.getEvents(taskId, { limit: 200 })).items.map((event) => event.type)
}

describe('syncing a session Jules is still catching up on', { timeout: 60_000 }, () => {
  let h: Harness
  beforeEach(async () => {
    h = await openHarness({ runSeconds: 20 })
  })
  afterEach(async () => {
    await h.close()
  })

  it('treats a 404 from activities just after the create as "nothing yet", not a failure or a deleted session', async () => {
    const task = await h.manager.createTask({ prompt: 'Add a health endpoint [sim:late]', repository: 'acme/api' })
    h.clock.advance(3_000)
    await assert.rejects(h.jules.listActivities(task.sessionName), /not found/i)
    const early = await h.monitor.syncOnce({ force: true })
    assert.deepEqual(early.errors, [])
    const waiting = await h.manager.getTask(task.id)
    assert.equal(waiting.state, 'planning', 'the state moved on even though no activity could be read')
    assert.deepEqual((await eventTypes(h, task.id)).sort(), ['created', 'state_changed'])

    h.clock.advance(30_000)
    await h.monitor.syncOnce({ force: true })
    const done = await h.manager.getTask(task.id)
    assert.equal(done.state, 'completed')
    const types = await eventTypes(h, task.id)
    assert.ok(types.includes('plan_generated'), 'the activities held back by the 404 were recorded later')
    assert.equal(types.filter((type) => type === 'completed').length, 1)
  })

  it('records the completion once when the state catches up with the sessionCompleted activity', async () => {
    const task = await h.manager.createTask({ prompt: 'Add a health endpoint [sim:linger]', repository: 'acme/api' })
    h.clock.advance(20_500)
    assert.equal((await h.jules.getSession(task.sessionName)).state, 'IN_PROGRESS')
    const lingeringPass = await h.monitor.syncOnce({ force: true })
    assert.deepEqual(lingeringPass.errors, [])
    const lingering = await h.manager.getTask(task.id)
    assert.notEqual(lingering.state, 'failed')

    h.clock.advance(5_000)
    await h.monitor.syncOnce({ force: true })
    await h.monitor.syncOnce({ force: true })
    const done = await h.manager.getTask(task.id)
    assert.equal(done.state, 'completed')
    assert.ok(done.completedAt)
    const types = await eventTypes(h, task.id)
    assert.equal(types.filter((type) => type === 'completed').length, 1)
    assert.ok(!types.includes('sync_error'))
  })
})
