import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import { createIdGenerator } from '../../../src/core/ids.js'
import { JobManager } from '../../../src/core/manager.js'
import { Monitor } from '../../../src/core/monitor.js'
import { NotificationCenter } from '../../../src/core/notifications.js'
import { NotifyingTaskStore } from '../../../src/core/notifying-store.js'
import { type Notification, silentLogger, type TaskStore } from '../../../src/core/ports.js'
import { defaultStalledAfter } from '../../../src/core/synchronizer.js'
import type { Task, TaskEvent } from '../../../src/core/task.js'
import { openSqlStore, type SqlStorage } from '../../../src/plugins/storage-sql/sql-store.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { Simulator } from '../../../src/sim/engine.js'

const minute = 60_000
/**
 * A simulated session of 9600 s (2 h 40 min). In progress from 0.28 (44.8 min),
 * its agent reports at 0.30, 0.40, 0.65, 0.80 and 0.90 and completes at 1.00:
 * the one gap over 30 minutes is 0.40 → 0.65 (64 → 104 min), 40 minutes.
 */
const runSeconds = 9600

interface Setup {
  clock: ManualClock
  storage: SqlStorage
  store: TaskStore
  manager: JobManager
  simulator: Simulator
  monitor(options?: { stalledAfter?: Record<string, number | null>; nudgeMessage?: string; holder?: string }): Monitor
  delivered: Notification[]
  center: NotificationCenter
}

const opened: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of opened.splice(0)) await close()
})

async function setup(options: { autoApproveSeconds?: number } = {}): Promise<Setup> {
  const clock = new ManualClock('2026-12-01T09:00:00.000Z')
  const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
  const simulator = new Simulator({
    store: storage.sim,
    clock,
    runSeconds,
    autoApproveSeconds: options.autoApproveSeconds ?? 600,
  })
  const jules = createSimClient(simulator)
  const delivered: Notification[] = []
  const center = new NotificationCenter({
    routes: [{ backend: 'memory', name: 'oncall', events: ['stalled'] }],
    openNotifiers: async () =>
      new Map([
        ['oncall', { name: 'oncall', send: async (notification: Notification) => void delivered.push(notification) }],
      ]),
    store: storage.store,
    clock,
    logger: silentLogger,
  })
  const store = new NotifyingTaskStore(storage.store, center)
  const monitors: Monitor[] = []
  opened.push(async () => {
    for (const monitor of monitors) monitor.close()
    await storage.close()
  })
  return {
    clock,
    storage,
    store,
    simulator,
    delivered,
    center,
    manager: new JobManager({ jules, store, clock, logger: silentLogger, newId: createIdGenerator() }),
    monitor: (settings = {}) => {
      const monitor = new Monitor({
        jules,
        store,
        clock,
        logger: silentLogger,
        concurrency: 4,
        requestsPerMinute: 10_000,
        notifications: center,
        sleep: async (ms) => clock.advance(ms),
        ...(settings.holder === undefined ? {} : { leaseHolder: settings.holder }),
        ...(settings.stalledAfter === undefined ? {} : { stalledAfter: settings.stalledAfter }),
        ...(settings.nudgeMessage === undefined ? {} : { nudgeMessage: settings.nudgeMessage }),
      })
      monitors.push(monitor)
      return monitor
    },
  }
}

async function eventsOf(store: TaskStore, taskId: string, types?: string[]): Promise<TaskEvent[]> {
  return (await store.getEvents(taskId, { limit: 200, ...(types ? { types } : {}) })).items.reverse()
}

/** One forced pass every minute until `untilMs` after the start: a monitor that never misses a task. */
async function passEveryMinute(s: Setup, monitor: Monitor, startedAt: number, untilMs: number): Promise<void> {
  while (s.clock.now() - startedAt < untilMs) {
    s.clock.set(startedAt + Math.floor((s.clock.now() - startedAt) / minute + 1) * minute)
    await monitor.syncOnce({ force: true })
  }
}

const inProgressOnly = { queued: null, planning: null, in_progress: 30 * minute }

describe('stalled tasks', () => {
  it('marks a quiet in-progress task stalled once, after 30 minutes without activity, and clears it when the agent reports again', async () => {
    const s = await setup()
    const monitor = s.monitor({ stalledAfter: inProgressOnly })
    const start = s.clock.now()
    const task = await s.manager.createTask({
      prompt: 'Tidy the logger',
      repository: 'acme/api',
      requirePlanApproval: false,
    })

    // The agent's report at 64 min is the last for 40 minutes.
    await passEveryMinute(s, monitor, start, 93 * minute)
    assert.equal((await s.manager.getTask(task.id)).stalledSince, null, '29 minutes of quiet are not a stall')
    await passEveryMinute(s, monitor, start, 94 * minute)
    const stalledTask = await s.manager.getTask(task.id)
    assert.equal(stalledTask.stalledSince, new Date(start + 94 * minute).toISOString(), 'stalled at 30 minutes')
    assert.equal(stalledTask.state, 'in_progress')
    assert.equal(stalledTask.version, (await s.manager.getTask(task.id)).version, 'no task row written')
    assert.deepEqual(
      (await s.manager.listTasks({ stalled: true })).items.map((listed) => listed.id),
      [task.id],
    )

    await passEveryMinute(s, monitor, start, 103 * minute)
    const stalls = await eventsOf(s.store, task.id, ['stalled'])
    assert.equal(stalls.length, 1, 'recorded once, however many passes see it quiet')
    assert.deepEqual(stalls[0]?.data, {
      state: 'in_progress',
      lastActivityAt: new Date(start + 64 * minute).toISOString(),
      quietSeconds: 1800,
      stalledAfterSeconds: 1800,
    })

    // The agent reports at 104 min: the stall ends with it.
    await passEveryMinute(s, monitor, start, 104 * minute)
    assert.equal((await s.manager.getTask(task.id)).stalledSince, null)
    const unstalled = await eventsOf(s.store, task.id, ['unstalled'])
    assert.equal(unstalled.length, 1)
    assert.deepEqual(unstalled[0]?.data, {
      state: 'in_progress',
      stalledSince: new Date(start + 94 * minute).toISOString(),
      stalledSeconds: 600,
    })

    // To completion: the other gaps are shorter than 30 minutes; nothing more is marked.
    await passEveryMinute(s, monitor, start, 161 * minute)
    const finished = await s.manager.getTask(task.id)
    assert.equal(finished.state, 'completed')
    assert.equal((await eventsOf(s.store, task.id, ['stalled', 'unstalled'])).length, 2)

    // The notification route that asked for stalls got the one stall, with what to do.
    await s.center.deliver()
    assert.equal(s.delivered.length, 1)
    assert.equal(s.delivered[0]?.eventType, 'stalled')
    assert.equal(s.delivered[0]?.taskId, task.id)
    assert.match(s.delivered[0]?.text ?? '', /no activity .* for 30 min \(in progress\).*jjm message/)
  })

  it('marks a task still queued after 10 minutes by default, and never one that waits for a person', async () => {
    const s = await setup({ autoApproveSeconds: 0 })
    assert.deepEqual(defaultStalledAfter, { queued: 10 * minute, planning: 15 * minute, in_progress: 30 * minute })
    const monitor = s.monitor()
    const start = s.clock.now()
    // Planning starts at 0.10 of the run (16 min): queued until then.
    const queued = await s.manager.createTask({
      prompt: 'Slow to start',
      repository: 'acme/api',
      requirePlanApproval: true,
    })
    await passEveryMinute(s, monitor, start, 9 * minute)
    assert.equal((await s.manager.getTask(queued.id)).stalledSince, null)
    await passEveryMinute(s, monitor, start, 10 * minute)
    assert.equal((await s.manager.getTask(queued.id)).stalledSince, new Date(start + 10 * minute).toISOString())
    const [stall] = await eventsOf(s.store, queued.id, ['stalled'])
    assert.equal(stall?.data.state, 'queued')

    // Planning at 16 min is activity: the stall ends. Planning is quiet until the plan at 40 min: stalled
    // at 31 min (15 by default). The plan then waits for approval (never given here) for hours:
    // a task waiting for a person is never stalled.
    await passEveryMinute(s, monitor, start, 3 * 60 * minute)
    const waiting = await s.manager.getTask(queued.id)
    assert.equal(waiting.state, 'awaiting_plan_approval')
    assert.equal(waiting.stalledSince, null)
    const marks = await eventsOf(s.store, queued.id, ['stalled', 'unstalled'])
    assert.deepEqual(
      marks.map((event) => [event.type, event.data.state, (Date.parse(event.at) - start) / minute]),
      [
        ['stalled', 'queued', 10],
        ['unstalled', 'planning', 16],
        ['stalled', 'planning', 31],
        ['unstalled', 'awaiting_plan_approval', 40],
      ],
    )
  })

  it('nudges a stalled task once per stall through the message path, when asked to', async () => {
    const s = await setup()
    const nudgeMessage = 'Still there? Please continue.'
    const monitor = s.monitor({ stalledAfter: inProgressOnly, nudgeMessage })
    const start = s.clock.now()
    const task = await s.manager.createTask({
      prompt: 'Tidy the logger',
      repository: 'acme/api',
      requirePlanApproval: false,
    })

    await passEveryMinute(s, monitor, start, 94 * minute)
    const sent = await eventsOf(s.store, task.id, ['message_sent'])
    assert.deepEqual(
      sent.map((event) => event.data),
      [{ text: nudgeMessage, nudge: true }],
    )
    assert.equal(sent[0]?.at, new Date(start + 94 * minute).toISOString())
    // Jules got it, once.
    const activities = await s.simulator.listActivities(task.sessionName, { pageSize: 100 })
    const userMessages = activities.activities.filter((activity) => activity.userMessaged !== undefined)
    assert.deepEqual(
      userMessages.map((activity) => activity.userMessaged?.userMessage),
      [nudgeMessage],
    )
    // The conversation holds it once: recorded when sent, bound to its activity by the next sync.
    await passEveryMinute(s, monitor, start, 95 * minute)
    const conversation = (await s.store.listChatMessages(task.id, { limit: 100 })).items
    assert.equal(conversation.filter((message) => message.text === nudgeMessage).length, 1)
    // The simulated agent answers at once: that answer is activity, and ends the stall.
    assert.equal((await s.manager.getTask(task.id)).stalledSince, null)

    await passEveryMinute(s, monitor, start, 161 * minute)
    assert.equal((await s.manager.getTask(task.id)).state, 'completed')
    assert.equal(
      (await eventsOf(s.store, task.id, ['message_sent'])).length,
      (await eventsOf(s.store, task.id, ['stalled'])).length,
      'one nudge per stall',
    )
  })

  it("never nudges before a person's own message, even when the sync before it marks the stall", async () => {
    const s = await setup()
    const nudgeMessage = 'Still there?'
    const clock = s.clock
    const start = clock.now()
    // The manager's operations sync through a synchronizer that would nudge.
    const monitor = s.monitor({ stalledAfter: inProgressOnly, nudgeMessage })
    const manager = new JobManager({
      jules: createSimClient(s.simulator),
      store: s.store,
      clock,
      logger: silentLogger,
      newId: createIdGenerator(),
      synchronizer: monitor.synchronizer,
    })
    const task = await manager.createTask({
      prompt: 'Tidy the logger',
      repository: 'acme/api',
      requirePlanApproval: false,
    })
    await passEveryMinute(s, monitor, start, 64 * minute)
    clock.set(start + 95 * minute)
    await manager.sendMessage(task.id, 'How is it going?')
    assert.equal((await eventsOf(s.store, task.id, ['stalled'])).length, 1, 'the sync before the message marked it')
    assert.deepEqual(
      (await eventsOf(s.store, task.id, ['message_sent'])).map((event) => event.data.text),
      ['How is it going?'],
    )
  })

  it('does not nudge when monitor.nudgeStalled is off', async () => {
    const s = await setup()
    const monitor = s.monitor({ stalledAfter: inProgressOnly })
    const start = s.clock.now()
    const task = await s.manager.createTask({
      prompt: 'Tidy the logger',
      repository: 'acme/api',
      requirePlanApproval: false,
    })
    await passEveryMinute(s, monitor, start, 100 * minute)
    assert.equal((await eventsOf(s.store, task.id, ['stalled'])).length, 1)
    assert.deepEqual(await eventsOf(s.store, task.id, ['message_sent']), [])
  })

  it('records each stall and each nudge once when two monitors watch one database', async () => {
    const s = await setup()
    const nudgeMessage = 'Still there?'
    const monitors = [
      s.monitor({ stalledAfter: inProgressOnly, nudgeMessage, holder: 'daemon-a' }),
      s.monitor({ stalledAfter: inProgressOnly, nudgeMessage, holder: 'daemon-b' }),
    ]
    const start = s.clock.now()
    const polled: number[] = []
    const tasks: Task[] = []
    for (let index = 0; index < 6; index++) {
      tasks.push(
        await s.manager.createTask({ prompt: `Task ${index}`, repository: 'acme/api', requirePlanApproval: false }),
      )
    }
    while (s.clock.now() - start < 100 * minute) {
      s.clock.set(start + Math.floor((s.clock.now() - start) / minute + 1) * minute)
      const reports = await Promise.all(monitors.map((monitor) => monitor.syncOnce({ force: true })))
      reports.forEach((report, index) => {
        polled[index] = (polled[index] ?? 0) + (report.polled ?? 0)
      })
    }
    assert.ok(
      polled.every((count) => count > 0),
      `both monitors synced tasks (${polled.join(', ')})`,
    )
    for (const task of tasks) {
      assert.equal((await eventsOf(s.store, task.id, ['stalled'])).length, 1, `one stall of ${task.id}`)
      assert.equal((await eventsOf(s.store, task.id, ['message_sent'])).length, 1, `one nudge of ${task.id}`)
      const activities = await s.simulator.listActivities(task.sessionName, { pageSize: 100 })
      assert.equal(activities.activities.filter((activity) => activity.userMessaged !== undefined).length, 1)
    }
  })
})
