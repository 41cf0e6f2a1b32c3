import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { watchTaskUpdates } from '../../../src/core/polling-fallback.js'
import type { EventBus, LogContext, Logger, TaskUpdate } from '../../../src/core/ports.js'

const intervalMs = 10

function update(taskId: string, type = 'state_changed'): TaskUpdate {
  return { taskId, type, at: '2026-01-01T00:00:00.000Z' }
}

/** A bus whose health the test switches, and whose subscribe can be made to fail. */
class FakeBus implements EventBus {
  healthy = true
  refuseSubscribe = false
  subscribeCalls: Array<{ taskId?: string }> = []
  readonly listeners = new Set<(update: TaskUpdate) => void>()

  async publish(u: TaskUpdate): Promise<void> {
    for (const listener of this.listeners) listener(u)
  }

  async subscribe(filter: { taskId?: string }, listener: (update: TaskUpdate) => void): Promise<() => Promise<void>> {
    this.subscribeCalls.push(filter)
    if (this.refuseSubscribe) throw new Error('subscribe refused')
    this.listeners.add(listener)
    return async () => {
      this.listeners.delete(listener)
    }
  }

  async close(): Promise<void> {}
}

/** A store stand-in: `poll()` hands out what the test queued, and counts the calls. */
class FakeStore {
  calls = 0
  fail = false
  private pending: TaskUpdate[] = []

  queue(...updates: TaskUpdate[]): void {
    this.pending.push(...updates)
  }

  poll = async (): Promise<TaskUpdate[]> => {
    this.calls++
    if (this.fail) throw new Error('database unreachable')
    const updates = this.pending
    this.pending = []
    return updates
  }
}

class RecordingLogger implements Logger {
  readonly entries: Array<{ level: string; message: string; context?: LogContext }> = []
  debug(message: string, context?: LogContext): void {
    this.entries.push({ level: 'debug', message, context })
  }
  info(message: string, context?: LogContext): void {
    this.entries.push({ level: 'info', message, context })
  }
  warn(message: string, context?: LogContext): void {
    this.entries.push({ level: 'warn', message, context })
  }
  error(message: string, context?: LogContext): void {
    this.entries.push({ level: 'error', message, context })
  }
  child(): Logger {
    return this
  }
  count(level: string, pattern: RegExp): number {
    return this.entries.filter((e) => e.level === level && pattern.test(e.message)).length
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await sleep(2)
  }
}

function setUp(options: { healthy?: boolean; taskId?: string } = {}) {
  const bus = new FakeBus()
  bus.healthy = options.healthy ?? true
  const store = new FakeStore()
  const logger = new RecordingLogger()
  const delivered: string[] = []
  const watch = watchTaskUpdates({
    bus,
    poll: store.poll,
    intervalMs,
    onUpdate: (u) => delivered.push(`${u.taskId}:${u.type}`),
    taskId: options.taskId,
    logger,
  })
  return { bus, store, logger, delivered, watch }
}

describe('watchTaskUpdates', () => {
  it('delivers updates from the bus while it is healthy, without polling the store', async () => {
    const { bus, store, delivered, watch } = setUp()
    await until(() => bus.listeners.size === 1, 'subscribed')
    await bus.publish(update('a'))
    await sleep(intervalMs * 4)
    await watch.stop()
    assert.deepEqual(delivered, ['a:state_changed'])
    assert.equal(store.calls, 0)
  })

  it('subscribes to the one task it watches', async () => {
    const { bus, watch } = setUp({ taskId: 'a' })
    await until(() => bus.subscribeCalls.length === 1, 'subscribed')
    await watch.stop()
    assert.deepEqual(bus.subscribeCalls, [{ taskId: 'a' }])
  })

  it('polls the store every interval and delivers what it returns while the bus is unhealthy', async () => {
    const { store, logger, delivered, watch } = setUp({ healthy: false })
    store.queue(update('a'))
    await until(() => delivered.length === 1, 'the first poll delivered')
    store.queue(update('b'))
    await until(() => delivered.length === 2, 'a later poll delivered')
    await until(() => store.calls >= 4, 'polled repeatedly')
    await watch.stop()
    assert.deepEqual(delivered, ['a:state_changed', 'b:state_changed'])
    assert.equal(logger.count('warn', /polling every/), 1, 'one warning, not one per poll')
  })

  it('switches to polling when the bus turns unhealthy and back to the bus when it recovers, catching up once', async () => {
    const { bus, store, logger, delivered, watch } = setUp()
    await until(() => bus.listeners.size === 1, 'subscribed')
    await bus.publish(update('live-1'))

    bus.healthy = false
    await until(() => store.calls >= 1, 'polling started')
    // The subscription survives the outage (Redis resubscribes), but while
    // polling, the polls are what deliver: a bus message is not delivered twice.
    await bus.publish(update('ignored-while-polling'))
    store.queue(update('polled'))
    await until(() => delivered.includes('polled:state_changed'), 'the poll delivered')

    store.queue(update('changed-during-switch'))
    bus.healthy = true
    await until(() => delivered.includes('changed-during-switch:state_changed'), 'the catch-up poll delivered')
    const callsWhenLive = store.calls
    await bus.publish(update('live-2'))
    await sleep(intervalMs * 4)
    await watch.stop()

    assert.deepEqual(delivered, [
      'live-1:state_changed',
      'polled:state_changed',
      'changed-during-switch:state_changed',
      'live-2:state_changed',
    ])
    assert.equal(store.calls, callsWhenLive, 'no polling once live again')
    assert.equal(logger.count('warn', /polling every/), 1)
    assert.equal(logger.count('info', /are back/), 1)
    assert.equal(bus.subscribeCalls.length, 1, 'the one subscription is kept through the outage')
  })

  it('polls when subscribing fails although the bus says it is healthy, and goes live once subscribing works', async () => {
    const bus = new FakeBus()
    bus.refuseSubscribe = true
    const store = new FakeStore()
    const logger = new RecordingLogger()
    const delivered: string[] = []
    const watch = watchTaskUpdates({
      bus,
      poll: store.poll,
      intervalMs,
      onUpdate: (u) => delivered.push(u.taskId),
      logger,
    })
    store.queue(update('polled'))
    await until(() => delivered.length === 1, 'the poll delivered')
    await until(() => bus.subscribeCalls.length >= 3, 'subscribing was retried')
    assert.equal(logger.count('warn', /Could not subscribe/), 1, 'one warning for the run of failures')

    bus.refuseSubscribe = false
    await until(() => bus.listeners.size === 1, 'subscribed')
    await until(() => logger.count('info', /are back/) === 1, 'live again')
    await bus.publish(update('live'))
    await watch.stop()
    assert.deepEqual(delivered, ['polled', 'live'])
  })

  it('keeps polling while a subscription hangs, and releases it if it completes after stop', async () => {
    const bus = new FakeBus()
    let confirm: () => void = () => {}
    let released = false
    bus.subscribe = (_filter, listener) =>
      new Promise((resolve) => {
        confirm = () => {
          bus.listeners.add(listener)
          resolve(async () => {
            released = true
            bus.listeners.delete(listener)
          })
        }
      })
    const store = new FakeStore()
    const delivered: string[] = []
    const watch = watchTaskUpdates({
      bus,
      poll: store.poll,
      intervalMs,
      onUpdate: (u) => delivered.push(u.taskId),
      logger: new RecordingLogger(),
    })
    store.queue(update('polled'))
    await until(() => delivered.length === 1 && store.calls >= 3, 'polled while the subscription hangs')
    await watch.stop()
    confirm()
    await until(() => released, 'the late subscription was released')
    await bus.publish(update('after-stop'))
    assert.deepEqual(delivered, ['polled'])
  })

  it('delivers nothing after stop, not even what an unfinished poll returns', async () => {
    const bus = new FakeBus()
    bus.healthy = false
    const logger = new RecordingLogger()
    const delivered: TaskUpdate[] = []
    let release: (updates: TaskUpdate[]) => void = () => {}
    let polls = 0
    const watch = watchTaskUpdates({
      bus,
      poll: () => {
        polls++
        return new Promise<TaskUpdate[]>((resolve) => {
          release = resolve
        })
      },
      intervalMs,
      onUpdate: (u) => delivered.push(u),
      logger,
    })
    await until(() => polls === 1, 'a poll is running')
    const stopped = watch.stop()
    release([update('late')])
    await stopped
    await sleep(intervalMs * 3)
    assert.deepEqual(delivered, [])
    assert.equal(polls, 1, 'no poll after stop')
  })

  it('releases its subscription on stop, so later bus messages reach nobody', async () => {
    const { bus, delivered, watch } = setUp()
    await until(() => bus.listeners.size === 1, 'subscribed')
    await watch.stop()
    assert.equal(bus.listeners.size, 0)
    await bus.publish(update('after-stop'))
    assert.deepEqual(delivered, [])
  })

  it('keeps polling after a failed poll, warning once per run of failures', async () => {
    const { store, logger, delivered, watch } = setUp({ healthy: false })
    store.fail = true
    await until(() => store.calls >= 3, 'polled through failures')
    store.fail = false
    store.queue(update('a'))
    await until(() => delivered.length === 1, 'a poll delivered after the failures')
    await watch.stop()
    assert.equal(logger.count('warn', /Polling for task updates failed/), 1)
    assert.equal(logger.count('info', /works again/), 1)
  })

  it('keeps watching when the consumer throws on an update', async () => {
    const bus = new FakeBus()
    const logger = new RecordingLogger()
    const seen: string[] = []
    const watch = watchTaskUpdates({
      bus,
      poll: async () => [],
      intervalMs,
      onUpdate: (u) => {
        seen.push(u.taskId)
        if (u.taskId === 'bad') throw new Error('consumer broke')
      },
      logger,
    })
    await until(() => bus.listeners.size === 1, 'subscribed')
    await bus.publish(update('bad'))
    await bus.publish(update('good'))
    await watch.stop()
    assert.deepEqual(seen, ['bad', 'good'])
    assert.equal(logger.count('error', /consumer threw/), 1)
  })
})
