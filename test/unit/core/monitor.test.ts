import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { ExitCode, StorageError } from '../../../src/core/errors.js'
import type { JulesClient } from '../../../src/core/jules/client.js'
import { Monitor, type MonitorReport, monitorExitCode } from '../../../src/core/monitor.js'
import { type Clock, type SyncCommit, silentLogger, type TaskStore } from '../../../src/core/ports.js'
import type { Task } from '../../../src/core/task.js'
import { createSimClient } from '../../../src/sim/adapter.js'
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
    assert.deepEqual(last.changes[0]?.events.slice(-3), ['state_changed', 'pull_request', 'completed'])
    assert.equal(last.changes[0]?.events[0], 'plan_generated', 'the activities come first, in creation order')
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

  it('logs one warning per pass while Jules is down, not one per task', async () => {
    for (let i = 0; i < 20; i++) await h.manager.createTask({ prompt: `task ${i}`, repository: 'acme/api' })
    const warnings: Array<{ message: string; context: Record<string, unknown> | undefined }> = []
    const logger = {
      ...silentLogger,
      warn: (message: string, context?: Record<string, unknown>) => warnings.push({ message, context }),
      child: () => logger,
    }
    const monitor = new Monitor({
      jules: h.jules,
      store: h.storage.store,
      clock: h.clock,
      logger,
      concurrency: 4,
      requestsPerMinute: 100_000,
      sleep: async (ms) => h.clock.advance(ms),
    })
    h.simulator.injectFault({ status: 503, count: 1_000, methods: ['sessions.get'] })
    for (let pass = 0; pass < 3; pass++) {
      h.clock.advance(10_000)
      const report = await monitor.syncOnce({ force: true })
      assert.equal(report.errors.length, 20)
    }
    monitor.close()
    assert.equal(warnings.length, 3, warnings.map((warning) => warning.message).join('\n'))
    assert.match(warnings[0]?.message ?? '', /20 tasks could not be synced/)
    assert.equal(warnings[0]?.context?.code, 'JJM_JULES_UNAVAILABLE')
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

/** A Jules client that records each call: method, session and clock time. */
function countingClient(jules: JulesClient, clock: Clock) {
  const calls: Array<{ method: string; session: string | undefined; at: number }> = []
  const client = new Proxy(jules, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        calls.push({
          method: String(property),
          session: typeof args[0] === 'string' ? args[0] : undefined,
          at: clock.now(),
        })
        return Reflect.apply(value, target, args)
      }
    },
  })
  return { client, calls }
}

/** A store whose sync commits with events fail `times` times, as a crash mid-sync would. */
function failingStore(store: TaskStore, times: number): TaskStore {
  let left = times
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      if (property === 'commitSync') {
        return (commit: SyncCommit) => {
          if (commit.events.length > 0 && left > 0) {
            left -= 1
            return Promise.reject(new StorageError('the database went away (simulated)'))
          }
          return target.commitSync(commit)
        }
      }
      return value.bind(target)
    },
  })
}

async function eventTypes(h: Harness, taskId: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>()
  for (const event of (await h.storage.store.getEvents(taskId, { limit: 100 })).items) {
    counts.set(event.type, (counts.get(event.type) ?? 0) + 1)
  }
  return counts
}

describe('Monitor activity sync', () => {
  let h: Harness
  beforeEach(async () => {
    h = await openHarness({ runSeconds: 20 })
  })
  afterEach(async () => {
    await h.close()
  })

  /** Runs `passes` passes, `stepMs` of clock apart. */
  async function run(monitor: Monitor, passes: number, stepMs: number): Promise<MonitorReport[]> {
    const reports: MonitorReport[] = []
    for (let pass = 0; pass < passes; pass++) {
      reports.push(await monitor.syncOnce())
      h.clock.advance(stepMs)
    }
    return reports
  }

  it('records every activity of a default run exactly once across many passes', async () => {
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api', automationMode: 'AUTO_CREATE_PR' })
    const reports = await run(h.monitor, 40, 700)
    assert.deepEqual(
      reports.flatMap((report) => report.errors),
      [],
    )
    const counts = await eventTypes(h, task.id)
    assert.deepEqual(Object.fromEntries(counts), {
      created: 1,
      state_changed: 3,
      plan_generated: 1,
      plan_approved: 1,
      agent_message: 1,
      progress: 4,
      pull_request: 1,
      completed: 1,
    })
    const plan = (await h.storage.store.getEvents(task.id, { types: ['plan_generated'] })).items[0]
    const steps = plan?.data.steps as Array<Record<string, unknown>> | undefined
    assert.equal(steps?.length, 3)
    assert.deepEqual(Object.keys(steps?.[0] ?? {}), ['title', 'description'])
    const approved = (await h.storage.store.getEvents(task.id, { types: ['plan_approved'] })).items[0]
    assert.equal(approved?.data.by, 'system', 'a plan nobody had to approve was approved by Jules')
    assert.equal(approved?.data.planId, plan?.data.planId)

    const files = await h.storage.store.listSourceFiles(task.id)
    assert.deepEqual(files.map((file) => [file.path, file.changeType]).sort(), [
      ['README.md', 'modified'],
      ['src/index.ts', 'modified'],
      ['test/index.test.ts', 'added'],
    ])
    const chat = await h.storage.store.listChatMessages(task.id)
    assert.deepEqual(
      chat.items.map((message) => message.role),
      ['agent'],
    )
  })

  it('repeats an interrupted sync whole, recording everything once', async () => {
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api' })
    const monitor = new Monitor({
      jules: createSimClient(h.simulator),
      store: failingStore(h.storage.store, 1),
      clock: h.clock,
      logger: silentLogger,
      concurrency: 4,
    })
    h.clock.advance(30_000)
    const interrupted = await monitor.syncOnce()
    assert.equal(interrupted.errors[0]?.code, 'JJM_STORAGE')
    assert.deepEqual(Object.fromEntries(await eventTypes(h, task.id)), { created: 1 }, 'nothing of it was written')

    const repeated = await monitor.syncOnce()
    assert.deepEqual(repeated.errors, [])
    await monitor.syncOnce({ force: true })
    assert.deepEqual(Object.fromEntries(await eventTypes(h, task.id)), {
      created: 1,
      state_changed: 1,
      plan_generated: 1,
      plan_approved: 1,
      agent_message: 1,
      progress: 4,
      completed: 1,
    })
    assert.equal((await h.storage.store.listChatMessages(task.id)).items.length, 1)
    assert.equal((await h.storage.store.listSourceFiles(task.id)).length, 3)
  })

  it('treats a 404 from activities.list right after creation as no activities yet', async () => {
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api' })
    h.clock.advance(6_000)
    h.simulator.injectFault({ status: 404, methods: ['sessions.activities.list'], count: 1 })
    const first = await h.monitor.syncOnce()
    assert.deepEqual(first.errors, [], 'not an error')
    assert.equal((await eventTypes(h, task.id)).get('plan_generated'), undefined)
    assert.equal((await eventTypes(h, task.id)).get('sync_error'), undefined)

    // The session did not move since, but the activities were never read: the next pass reads them.
    await h.monitor.syncOnce()
    assert.equal((await eventTypes(h, task.id)).get('plan_generated'), 1)
    await h.monitor.syncOnce({ force: true })
    assert.equal((await eventTypes(h, task.id)).get('plan_generated'), 1)
  })

  it('records a failure once, with the reason from the sessionFailed activity', async () => {
    const task = await h.manager.createTask({ prompt: 'x [sim:fail]', repository: 'acme/api' })
    await run(h.monitor, 30, 600)
    const counts = await eventTypes(h, task.id)
    assert.equal(counts.get('failed'), 1)
    assert.equal(counts.get('completed'), undefined)
    assert.equal(counts.get('activity'), undefined, 'sessionFailed is not kept as a raw event')
    const failed = (await h.storage.store.getEvents(task.id, { types: ['failed'] })).items[0]
    assert.match(String(failed?.data.reason), /test suite kept failing/)
    assert.equal((await h.manager.getTask(task.id)).state, 'failed')
  })

  it('records the agent question as an agent message and the answer as a user chat message', async () => {
    const task = await h.manager.createTask({ prompt: 'x [sim:feedback]', repository: 'acme/api' })
    h.clock.advance(11_000)
    const asked = await h.monitor.syncOnce()
    assert.equal(asked.awaitingPerson[0]?.state, 'awaiting_user_feedback')
    const messages = (await h.storage.store.getEvents(task.id, { types: ['agent_message'] })).items
    assert.ok(messages.some((event) => /Should I also update the documentation/.test(String(event.data.text))))

    await createSimClient(h.simulator).sendMessage(task.sessionName, 'Only the code, please.')
    h.clock.advance(1_000)
    await h.monitor.syncOnce({ force: true })
    await h.monitor.syncOnce({ force: true })
    const chat = (await h.storage.store.listChatMessages(task.id)).items
    assert.deepEqual(
      chat.map((message) => [message.role, message.text.slice(0, 20)]),
      [
        ['agent', '[simulated] I have a'],
        ['agent', '[simulated] Should I'],
        ['user', 'Only the code, pleas'],
        // Jules replies to the answer before it goes on.
        ['agent', '[simulated] Thanks f'],
      ],
    )
    assert.equal((await eventTypes(h, task.id)).get('agent_message'), 3, 'a user message is not an agent_message')
    assert.equal((await h.manager.getTask(task.id)).state, 'in_progress')
  })

  it('keeps a message sent through jjm once when the sync reads it back from Jules', async () => {
    const task = await h.manager.createTask({ prompt: 'x [sim:feedback]', repository: 'acme/api' })
    h.clock.advance(11_000)
    await h.monitor.syncOnce()
    await h.manager.sendMessage(task.id, 'Only the code, please.')
    // The same words again later: a second message, not a repeat of the first.
    h.clock.advance(1_000)
    await h.manager.sendMessage(task.id, 'Only the code, please.')
    h.clock.advance(1_000)
    await h.monitor.syncOnce({ force: true })
    await h.monitor.syncOnce({ force: true })

    const user = (await h.storage.store.listChatMessages(task.id)).items.filter((message) => message.role === 'user')
    assert.equal(user.length, 2, 'each message sent is stored once')
    const activities = (await h.simulator.listActivities(task.sessionName, { pageSize: 100 })).activities
      .filter((activity) => activity.userMessaged)
      .map((activity) => activity.name)
    assert.deepEqual(
      user.map((message) => message.activityId),
      activities,
      'each bound to its own activity, in order',
    )
  })

  it('repeats an interrupted sync of a sent message whole, keeping the message once', async () => {
    const task = await h.manager.createTask({ prompt: 'x [sim:feedback]', repository: 'acme/api' })
    h.clock.advance(11_000)
    await h.monitor.syncOnce()
    await h.manager.sendMessage(task.id, 'Only the code, please.')
    h.clock.advance(1_000)
    const monitor = new Monitor({
      jules: createSimClient(h.simulator),
      store: failingStore(h.storage.store, 1),
      clock: h.clock,
      logger: silentLogger,
      concurrency: 4,
    })
    assert.equal((await monitor.syncOnce({ force: true })).errors[0]?.code, 'JJM_STORAGE')
    await monitor.syncOnce({ force: true })
    await monitor.syncOnce({ force: true })
    const user = (await h.storage.store.listChatMessages(task.id)).items.filter((message) => message.role === 'user')
    assert.deepEqual(
      user.map((message) => message.text),
      ['Only the code, please.'],
    )
    assert.ok(user[0]?.activityId, 'bound to its activity')
  })

  it('keeps requests to Jules under the per-minute ceiling', async () => {
    for (const repository of ['acme/api', 'acme/web', 'acme/infra']) {
      await h.manager.createTask({ prompt: 'x', repository })
    }
    const { client, calls } = countingClient(createSimClient(h.simulator), h.clock)
    const slept: number[] = []
    const monitor = new Monitor({
      jules: client,
      store: h.storage.store,
      clock: h.clock,
      logger: silentLogger,
      concurrency: 1,
      requestsPerMinute: 6,
      sleep: async (ms) => {
        slept.push(ms)
        h.clock.advance(ms)
      },
    })
    const start = h.clock.now()
    await monitor.syncOnce()
    assert.equal(calls[0]?.at, start, 'the first call goes at once')
    assert.ok(calls.length >= 6, `each task needs a get and an activities list, got ${calls.length}`)
    // 6 a minute with a burst of 1: one call every 10 s, never two closer.
    calls.slice(1).forEach((call, index) => {
      const gap = call.at - (calls[index]?.at ?? start)
      assert.ok(gap >= 10_000, `call ${index + 1} came ${gap} ms after the one before`)
    })
    assert.ok(slept.length > 0, 'the engine waited for tokens')
  })

  it('pauses every sync after a 429 for the Retry-After Jules gave, and reports it', async () => {
    const first = await h.manager.createTask({ prompt: 'x', repository: 'acme/api' })
    const second = await h.manager.createTask({ prompt: 'y', repository: 'acme/web' })
    const { client, calls } = countingClient(createSimClient(h.simulator), h.clock)
    const monitor = new Monitor({
      jules: client,
      store: h.storage.store,
      clock: h.clock,
      logger: silentLogger,
      concurrency: 1,
      sleep: async (ms) => h.clock.advance(ms),
    })
    h.simulator.injectFault({ status: 429, retryAfterSeconds: 30, methods: ['sessions.get'], count: 1 })
    const limitedAt = h.clock.now()
    const report = await monitor.syncOnce()
    assert.equal(report.errors.length, 1)
    assert.equal(report.errors[0]?.code, 'JJM_RATE_LIMITED')
    assert.equal(report.rateLimited?.retryAfterSeconds, 30)
    assert.equal(report.rateLimited?.until, new Date(limitedAt + 30_000).toISOString())
    const limited = report.errors[0]?.taskId
    const other = limited === first.id ? second : first
    const otherCall = calls.find((call) => call.method === 'getSession' && call.session === other.sessionName)
    assert.ok(otherCall && otherCall.at >= limitedAt + 30_000, 'the other task waited out the pause')

    const next = await monitor.syncOnce()
    assert.deepEqual(next.errors, [], 'the next pass goes through')
  })

  it('polls tasks waiting for a person less often than tasks in progress', async () => {
    const waiting = await h.manager.createTask({ prompt: 'x', repository: 'acme/api', requirePlanApproval: true })
    const working = await h.manager.createTask({ prompt: 'y [sim:slow]', repository: 'acme/web' })
    const { client, calls } = countingClient(createSimClient(h.simulator), h.clock)
    const monitor = new Monitor({
      jules: client,
      store: h.storage.store,
      clock: h.clock,
      logger: silentLogger,
      concurrency: 4,
      pollIntervalMs: 10_000,
    })
    h.clock.advance(30_000)
    const reports = await run(monitor, 7, 10_000)
    assert.equal((await h.manager.getTask(waiting.id)).state, 'awaiting_plan_approval')
    assert.equal((await h.manager.getTask(working.id)).state, 'in_progress')
    const gets = (task: Task) =>
      calls.filter((call) => call.method === 'getSession' && call.session === task.sessionName).length
    assert.equal(gets(working), 7, 'in progress: every pass')
    assert.equal(gets(waiting), 2, 'waiting: every 4 intervals')
    assert.ok(
      reports.every((report) => report.awaitingPerson.some((item) => item.taskId === waiting.id)),
      'a waiting task is reported by every pass, polled or not',
    )
    await monitor.syncOnce({ force: true })
    assert.equal(gets(waiting), 3, 'force polls every task')
  })
})
