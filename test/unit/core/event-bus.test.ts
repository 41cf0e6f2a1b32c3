import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { allTasksChannel, InProcessEventBus, taskChannel } from '../../../src/core/event-bus.js'
import type { TaskUpdate } from '../../../src/core/ports.js'
import { buildTask } from '../../../src/testing/build-task.js'

function update(taskId: string, type = 'state_changed'): TaskUpdate {
  return { taskId, type, at: '2026-01-01T00:00:00.000Z' }
}

describe('InProcessEventBus', () => {
  it('names the all-tasks channel task:updates and a task channel task:updates:{id}', () => {
    assert.equal(allTasksChannel, 'task:updates')
    assert.equal(taskChannel('01ABC'), 'task:updates:01ABC')
  })

  it('gives a task listener only the updates of its task', async () => {
    const bus = new InProcessEventBus()
    const seen: string[] = []
    await bus.subscribe({ taskId: 'a' }, (u) => seen.push(u.taskId))
    await bus.publish(update('a'))
    await bus.publish(update('b'))
    await bus.publish(update('a', 'completed'))
    assert.deepEqual(seen, ['a', 'a'])
  })

  it('gives an all-tasks listener every update, in publishing order', async () => {
    const bus = new InProcessEventBus()
    const seen: string[] = []
    await bus.subscribe({}, (u) => seen.push(`${u.taskId}:${u.type}`))
    await bus.publish(update('a'))
    await bus.publish(update('b', 'created'))
    assert.deepEqual(seen, ['a:state_changed', 'b:created'])
  })

  it('delivers an update once to a task listener and once to an all-tasks listener', async () => {
    const bus = new InProcessEventBus()
    let perTask = 0
    let all = 0
    await bus.subscribe({ taskId: 'a' }, () => perTask++)
    await bus.subscribe({}, () => all++)
    await bus.publish(update('a'))
    assert.equal(perTask, 1)
    assert.equal(all, 1)
  })

  it('stops delivering to a listener once it unsubscribed, and keeps delivering to the others', async () => {
    const bus = new InProcessEventBus()
    const first: string[] = []
    const second: string[] = []
    const unsubscribe = await bus.subscribe({}, (u) => first.push(u.taskId))
    await bus.subscribe({}, (u) => second.push(u.taskId))
    await bus.publish(update('a'))
    await unsubscribe()
    await bus.publish(update('b'))
    assert.deepEqual(first, ['a'])
    assert.deepEqual(second, ['a', 'b'])
  })

  it('still delivers to the other listeners when one throws, and reports the error', async () => {
    const errors: unknown[] = []
    const bus = new InProcessEventBus((error) => errors.push(error))
    const seen: string[] = []
    await bus.subscribe({}, () => {
      throw new Error('listener broke')
    })
    await bus.subscribe({}, (u) => seen.push(u.taskId))
    await bus.publish(update('a'))
    assert.deepEqual(seen, ['a'])
    assert.equal(errors.length, 1)
    assert.match(String(errors[0]), /listener broke/)
  })

  it('never rejects a publish because a listener threw', async () => {
    const bus = new InProcessEventBus()
    await bus.subscribe({ taskId: 'a' }, () => {
      throw new Error('listener broke')
    })
    await assert.doesNotReject(bus.publish(update('a')))
  })

  it('gives each listener its own copy, so a listener that changes it does not affect another or the publisher', async () => {
    const bus = new InProcessEventBus()
    const published: TaskUpdate = { ...update('a'), task: buildTask({ id: 'a', title: 'original' }) }
    const received: TaskUpdate[] = []
    await bus.subscribe({}, (u) => {
      u.type = 'tampered'
      if (u.task) {
        u.task.title = 'tampered'
        u.task.labels.push('tampered')
      }
      received.push(u)
    })
    await bus.subscribe({}, (u) => received.push(u))
    await bus.publish(published)
    assert.equal(received[1]?.type, 'state_changed')
    assert.equal(received[1]?.task?.title, 'original')
    assert.deepEqual(received[1]?.task?.labels, ['flaky'])
    assert.equal(published.task?.title, 'original')
    assert.notEqual(received[0], received[1])
  })

  it('is always healthy and delivers nothing after close', async () => {
    const bus = new InProcessEventBus()
    assert.equal(bus.healthy, true)
    let delivered = 0
    await bus.subscribe({}, () => delivered++)
    await bus.close()
    await bus.publish(update('a'))
    assert.equal(delivered, 0)
  })
})
