import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { ExitCode } from '../../../src/core/errors.js'
import { monitorExitCode } from '../../../src/core/monitor.js'
import { type Harness, openHarness } from './harness.js'

describe('Monitor', () => {
  let h: Harness
  beforeEach(async () => {
    h = await openHarness({ runSeconds: 20 })
  })
  afterEach(async () => {
    await h.close()
  })

  it('records nothing when no session moved', async () => {
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api' })
    const report = await h.monitor.syncOnce()
    assert.equal(report.checked, 1)
    assert.deepEqual(report.changes, [])
    assert.equal(monitorExitCode(report), ExitCode.ok)
    const events = await h.manager.getEvents(task.id)
    assert.equal(events.items.length, 1)
    assert.ok((await h.manager.getTask(task.id)).lastSyncedAt)
  })

  it('records each state change once, then completion with the pull request', async () => {
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api', automationMode: 'AUTO_CREATE_PR' })
    h.clock.advance(3_000)
    const first = await h.monitor.syncOnce()
    assert.equal(first.changes[0]?.from, 'queued')
    assert.equal(monitorExitCode(first), ExitCode.monitorChanges)
    assert.deepEqual((await h.monitor.syncOnce()).changes, [], 'a repeated pass records nothing new')

    h.clock.advance(30_000)
    const last = await h.monitor.syncOnce()
    assert.equal(last.changes[0]?.to, 'completed')
    assert.deepEqual(last.changes[0]?.events, ['state_changed', 'pull_request', 'completed'])
    const stored = await h.manager.getTask(task.id)
    assert.equal(stored.state, 'completed')
    assert.ok(stored.pullRequest?.url)
    assert.ok(stored.completedAt)
    assert.equal((await h.monitor.syncOnce()).checked, 0, 'terminal tasks are not polled')
  })

  it('reports a task that waits for plan approval and exits 21', async () => {
    await h.manager.createTask({ prompt: 'x', repository: 'acme/api', requirePlanApproval: true })
    h.clock.advance(15_000)
    const report = await h.monitor.syncOnce()
    assert.equal(report.awaitingPerson[0]?.state, 'awaiting_plan_approval')
    assert.match(report.awaitingPerson[0]?.waitingFor ?? '', /jjm approve/)
    assert.equal(monitorExitCode(report), ExitCode.monitorNeedsPerson)
  })

  it('records the reason Jules gave when a session fails', async () => {
    const task = await h.manager.createTask({ prompt: 'x [sim:fail]', repository: 'acme/api' })
    h.clock.advance(120_000)
    const report = await h.monitor.syncOnce()
    assert.equal(report.changes[0]?.to, 'failed')
    const failed = (await h.manager.getEvents(task.id, { types: ['failed'] })).items[0]
    assert.ok(failed, 'a failed event')
    assert.equal(typeof failed.data.reason, 'string')
    assert.notEqual(failed.data.reason, '')
  })

  it('keeps syncing the other tasks when one fails, and exits 22', async () => {
    const ok = await h.manager.createTask({ prompt: 'x', repository: 'acme/api' })
    await h.manager.createTask({ prompt: 'y', repository: 'acme/web' })
    h.simulator.injectFault({ status: 503, count: 1, methods: ['sessions.get'] })
    h.clock.advance(30_000)
    const report = await h.monitor.syncOnce()
    assert.equal(report.errors.length, 1)
    assert.equal(report.errors[0]?.code, 'JJM_JULES_UNAVAILABLE')
    assert.equal(report.changes.length, 1)
    assert.equal(monitorExitCode(report), ExitCode.monitorErrors)
    const again = await h.monitor.syncOnce()
    assert.equal(again.errors.length, 0, 'the next pass recovers')
    assert.equal((await h.manager.getTask(ok.id)).state, 'completed')
  })

  it('publishes each change on the event bus with the task as stored', async () => {
    const updates: Array<{ taskId: string; type: string; state: string | undefined }> = []
    await h.bus.subscribe({}, (update) =>
      updates.push({ taskId: update.taskId, type: update.type, state: update.task?.state }),
    )
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api' })
    await h.monitor.syncOnce()
    h.clock.advance(30_000)
    await h.monitor.syncOnce()
    assert.deepEqual(updates, [
      { taskId: task.id, type: 'created', state: 'queued' },
      { taskId: task.id, type: 'completed', state: 'completed' },
    ])
  })
})
