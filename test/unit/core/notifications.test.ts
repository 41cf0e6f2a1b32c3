import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import { describeConfig, loadConfig } from '../../../src/core/config.js'
import { ConfigurationError } from '../../../src/core/errors.js'
import { createIdGenerator } from '../../../src/core/ids.js'
import { JobManager } from '../../../src/core/manager.js'
import { Metrics } from '../../../src/core/metrics.js'
import { Monitor } from '../../../src/core/monitor.js'
import {
  deliverNotifications,
  NotificationCenter,
  NotificationDeliveryError,
  notificationBackoffMs,
  routeEvent,
  routeId,
  routeNames,
} from '../../../src/core/notifications.js'
import { NotifyingTaskStore } from '../../../src/core/notifying-store.js'
import type {
  LogContext,
  Logger,
  Notification,
  NotificationOutbox,
  Notifier,
  OutboxEntry,
} from '../../../src/core/ports.js'
import { silentLogger } from '../../../src/core/ports.js'
import type { Task } from '../../../src/core/task.js'
import { openSqlStore } from '../../../src/plugins/storage-sql/sql-store.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { Simulator } from '../../../src/sim/engine.js'
import { buildTask } from '../../../src/testing/build-task.js'

const at = '2026-11-25T10:00:00.000Z'

function stateChanged(to: string) {
  return { type: 'state_changed', data: { from: 'planning', to }, at }
}

describe('routeEvent', () => {
  const task = buildTask({ title: 'Fix login', repository: 'acme/api', url: 'https://jules.google.com/session/1' })
  const routes = [{ backend: 'webhook', url: 'https://example.com/hook' }]
  const hook = routeId({ backend: 'webhook', url: 'https://example.com/hook' })

  it('sends the default situations: plan approval, feedback, completion with a PR, failure', () => {
    const withPr: Task = {
      ...task,
      pullRequest: { url: 'https://github.com/acme/api/pull/7', title: 'x', description: '' },
    }
    const routed = [
      routeEvent(task, stateChanged('awaiting_plan_approval'), routes),
      routeEvent(task, stateChanged('awaiting_user_feedback'), routes),
      routeEvent(withPr, { type: 'completed', data: { pullRequestUrl: withPr.pullRequest?.url ?? null }, at }, routes),
      routeEvent(task, { type: 'failed', data: { reason: 'tests broke' }, at }, routes),
    ]
    assert.deepEqual(
      routed.map((list) => list.map((item) => [item.notifier, item.payload.eventType])),
      [
        [[hook, 'awaiting_plan_approval']],
        [[hook, 'awaiting_user_feedback']],
        [[hook, 'completed_with_pr']],
        [[hook, 'failed']],
      ],
    )
    const [pr] = routed[2] ?? []
    assert.equal(pr?.payload.url, 'https://github.com/acme/api/pull/7', 'a completion links to the pull request')
    assert.match(pr?.payload.title ?? '', /Pull request ready: Fix login/)
    const [failed] = routed[3] ?? []
    assert.match(failed?.payload.text ?? '', /failed: tests broke/)
    assert.equal(failed?.payload.url, task.url, 'other notifications link to the session')
    assert.equal(failed?.payload.at, at)
    assert.deepEqual(failed?.payload.task, task)
  })

  it('sends nothing by default for other events, or a completion without a pull request', () => {
    assert.deepEqual(routeEvent(task, stateChanged('in_progress'), routes), [])
    assert.deepEqual(routeEvent(task, { type: 'created', data: {}, at }, routes), [])
    assert.deepEqual(routeEvent(task, { type: 'completed', data: { pullRequestUrl: null }, at }, routes), [])
    assert.deepEqual(routeEvent(task, { type: 'failed', data: {}, at }, []), [], 'no routes, no notifications')
  })

  it('sends what a route asks for: situations, raw event types, or everything', () => {
    const custom = [
      { backend: 'slack', url: 'https://hooks.slack.com/x', events: ['completed', 'pull_request'] },
      { backend: 'console', events: ['*'] },
      { backend: 'pagerduty', routingKey: 'k', events: ['failed'] },
    ]
    const slack = routeId({ backend: 'slack', url: 'https://hooks.slack.com/x' })
    const completed = routeEvent(task, { type: 'completed', data: { pullRequestUrl: null }, at }, custom)
    assert.deepEqual(
      completed.map((item) => [item.notifier, item.payload.eventType]),
      [
        [slack, 'completed'],
        ['console', 'completed'],
      ],
    )
    const pr = routeEvent(
      task,
      { type: 'pull_request', data: { url: 'https://github.com/acme/api/pull/8' }, at },
      custom,
    )
    assert.deepEqual(
      pr.map((item) => [item.notifier, item.payload.eventType, item.payload.url]),
      [
        [slack, 'pull_request', 'https://github.com/acme/api/pull/8'],
        ['console', 'pull_request', 'https://github.com/acme/api/pull/8'],
      ],
    )
  })

  it('sends a stall only to the routes that ask for it, saying how long Jules was quiet and what to do', () => {
    const stalled = {
      type: 'stalled',
      data: { state: 'in_progress', lastActivityAt: at, quietSeconds: 1800, stalledAfterSeconds: 1800 },
      at,
    }
    assert.deepEqual(routeEvent(task, stalled, routes), [], 'not a default event: it needs no one to act at once')
    const oncall = [
      { backend: 'slack', name: 'oncall', url: 'https://hooks.slack.com/x', events: ['stalled'] },
      ...routes,
    ]
    const [sent, ...others] = routeEvent(task, stalled, oncall)
    assert.deepEqual(others, [])
    assert.equal(sent?.notifier, 'oncall')
    assert.equal(sent?.payload.eventType, 'stalled')
    assert.equal(sent?.payload.title, 'Stalled: Fix login')
    assert.equal(
      sent?.payload.text,
      `Jules has shown no activity on acme/api (main) for 30 min (in progress). Nudge it with: jjm message ${task.id} "…"`,
    )
    assert.equal(sent?.payload.url, task.url)
  })

  it('identifies an unnamed route by its backend and target, whatever its position in the list', () => {
    const hookA = { backend: 'webhook', url: 'https://a.example.com/hook', secret: 'one' }
    const hookB = { backend: 'webhook', url: 'https://b.example.com/hook' }
    const named = { backend: 'slack', name: 'team-channel', url: 'https://hooks.slack.com/x' }
    const ids = routeNames([hookA, hookB, named, { backend: 'console' }])
    assert.deepEqual(
      routeNames([{ backend: 'console' }, named, hookB, hookA]),
      [...ids].reverse(),
      'order changes nothing',
    )
    assert.match(ids[0] ?? '', /^webhook-[0-9a-f]{8}$/)
    assert.notEqual(ids[0], ids[1], 'another url is another target')
    assert.deepEqual(ids.slice(2), ['team-channel', 'console'], 'a name wins; a route with no target is its backend')
    assert.equal(
      routeId({ ...hookA, secret: 'rotated', events: ['*'] }),
      ids[0],
      'secrets and events are not the target',
    )
    assert.notEqual(routeId({ ...hookA, url: 'https://a.example.com/other' }), ids[0])
  })

  it('sends one event once to a target that two routes share', () => {
    const routed = routeEvent(task, { type: 'failed', data: {}, at }, [
      { backend: 'webhook', url: 'https://example.com/hook', events: ['failed'] },
      { backend: 'webhook', url: 'https://example.com/hook', events: ['*'] },
    ])
    assert.deepEqual(
      routed.map((item) => item.notifier),
      [hook],
    )
  })
})

/** An outbox in memory, enough to drive deliverNotifications. */
class MemoryOutbox implements NotificationOutbox {
  readonly entries: Array<
    OutboxEntry & { nextAttemptAt: string; delivered: boolean; failed: boolean; errors: string[] }
  > = []

  add(notifier: string, id: string): void {
    const task = buildTask()
    this.entries.push({
      id,
      notifier,
      taskId: task.id,
      eventType: 'failed',
      payload: { taskId: task.id, eventType: 'failed', title: 'Failed', text: 'It failed.', task, at },
      attempts: 0,
      nextAttemptAt: at,
      delivered: false,
      failed: false,
      errors: [],
    })
  }

  /** Delivery passes that read the outbox. */
  claims = 0

  async claimNotifications(limit: number, now: string): Promise<OutboxEntry[]> {
    this.claims += 1
    return this.entries
      .filter((entry) => !entry.delivered && !entry.failed && Date.parse(entry.nextAttemptAt) <= Date.parse(now))
      .slice(0, limit)
      .map(({ id, notifier, taskId, eventType, payload, attempts }) => ({
        id,
        notifier,
        taskId,
        eventType,
        payload,
        attempts,
      }))
  }

  async markNotificationDelivered(id: string): Promise<void> {
    const entry = this.entries.find((candidate) => candidate.id === id)
    if (entry) entry.delivered = true
  }

  /** The entry the real stores would hand out next, marked delivered or not. */
  pending(): number {
    return this.entries.filter((entry) => !entry.delivered && !entry.failed).length
  }

  async markNotificationFailed(id: string, error: string, nextAttemptAt: string | null): Promise<void> {
    const entry = this.entries.find((candidate) => candidate.id === id)
    if (!entry) return
    entry.attempts += 1
    entry.errors.push(error)
    if (nextAttemptAt === null) entry.failed = true
    else entry.nextAttemptAt = nextAttemptAt
  }
}

function recordingLogger(): Logger & { lines: Array<[string, string, LogContext | undefined]> } {
  const lines: Array<[string, string, LogContext | undefined]> = []
  const logger = {
    lines,
    debug: (message: string, context?: LogContext) => lines.push(['debug', message, context]),
    info: (message: string, context?: LogContext) => lines.push(['info', message, context]),
    warn: (message: string, context?: LogContext) => lines.push(['warn', message, context]),
    error: (message: string, context?: LogContext) => lines.push(['error', message, context]),
    child: () => logger,
  }
  return logger
}

/** A notifier that fails with the given errors, in order, then succeeds. */
function scriptedNotifier(name: string, failures: Error[]): Notifier & { sent: Notification[] } {
  const sent: Notification[] = []
  return {
    name,
    sent,
    async send(notification) {
      const failure = failures.shift()
      if (failure) throw failure
      sent.push(notification)
    },
  }
}

describe('deliverNotifications', () => {
  it('retries a failing target with growing waits, then delivers', async () => {
    const outbox = new MemoryOutbox()
    outbox.add('webhook', 'n1')
    const clock = new ManualClock(at)
    const target = scriptedNotifier('webhook', [new Error('HTTP 500'), new NotificationDeliveryError('HTTP 503')])
    const notifiers = new Map([['webhook', target]])
    const logger = recordingLogger()
    const metrics = new Metrics({ version: 'x', processMetrics: false })
    const pass = () => deliverNotifications({ store: outbox, notifiers, clock, logger, metrics })

    assert.deepEqual(await pass(), { delivered: 0, retrying: 1, failed: [] })
    assert.deepEqual(await pass(), { delivered: 0, retrying: 0, failed: [] }, 'not due again before its backoff')
    clock.advance(notificationBackoffMs(1))
    assert.deepEqual(await pass(), { delivered: 0, retrying: 1, failed: [] })
    assert.equal(outbox.entries[0]?.nextAttemptAt, new Date(clock.now() + notificationBackoffMs(2)).toISOString())
    clock.advance(notificationBackoffMs(2))
    assert.deepEqual(await pass(), { delivered: 1, retrying: 0, failed: [] })
    assert.equal(target.sent[0]?.id, 'n1', 'the notification carries its outbox id, stable across retries')
    assert.deepEqual(outbox.entries[0]?.errors, ['HTTP 500', 'HTTP 503'])
    const text = (await metrics.expose()).body
    assert.match(text, /^jjm_notifications_failed_total\{notifier="webhook"\} 2$/m, 'every failed attempt counts')
    assert.match(text, /^jjm_notifications_sent_total\{notifier="webhook"\} 1$/m)
    assert.equal(logger.lines.filter(([level]) => level === 'warn').length, 2)
  })

  it('gives up at once on a permanent refusal and reports it', async () => {
    const outbox = new MemoryOutbox()
    outbox.add('webhook', 'n1')
    const logger = recordingLogger()
    const target = scriptedNotifier('webhook', [new NotificationDeliveryError('HTTP 400', { permanent: true })])
    const report = await deliverNotifications({
      store: outbox,
      notifiers: new Map([['webhook', target]]),
      clock: new ManualClock(at),
      logger,
    })
    assert.equal(report.failed.length, 1)
    assert.equal(report.failed[0]?.error, 'HTTP 400')
    assert.equal(outbox.entries[0]?.failed, true)
    assert.ok(logger.lines.some(([level, message]) => level === 'error' && /will not be retried/.test(message)))
  })

  it('gives up after maxAttempts failures, and on a notifier no longer configured', async () => {
    const outbox = new MemoryOutbox()
    outbox.add('webhook', 'n1')
    outbox.add('gone', 'n2')
    const clock = new ManualClock(at)
    const failures = Array.from({ length: 5 }, () => new Error('HTTP 502'))
    const notifiers = new Map([['webhook', scriptedNotifier('webhook', failures)]])
    const failed: string[] = []
    for (let pass = 0; pass < 5; pass += 1) {
      const report = await deliverNotifications({
        store: outbox,
        notifiers,
        clock,
        logger: silentLogger,
        maxAttempts: 3,
      })
      failed.push(...report.failed.map((entry) => entry.id))
      clock.advance(3_600_000)
    }
    assert.deepEqual(failed, ['n2', 'n1'])
    assert.equal(outbox.entries[0]?.attempts, 3)
    assert.equal(outbox.entries[1]?.attempts, 1)
  })
})

describe('notifications from task events', () => {
  it('writes a notification with the event that causes it and delivers it at the end of a monitor pass', async () => {
    const clock = new ManualClock(at)
    const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
    const simulator = new Simulator({ store: storage.sim, clock, runSeconds: 20 })
    const jules = createSimClient(simulator)
    const received = scriptedNotifier('webhook', [])
    const center = new NotificationCenter({
      routes: [{ backend: 'webhook', name: 'webhook', url: 'https://example.com/hook' }],
      openNotifiers: async () => new Map([['webhook', received]]),
      store: storage.store,
      clock,
      logger: silentLogger,
    })
    const store = new NotifyingTaskStore(storage.store, center)
    const manager = new JobManager({ jules, store, clock, logger: silentLogger, newId: createIdGenerator() })
    const monitor = new Monitor({
      jules,
      store,
      clock,
      logger: silentLogger,
      concurrency: 2,
      notifications: center,
      sleep: async (ms) => clock.advance(ms),
    })
    try {
      const task = await manager.createTask({
        prompt: 'Fix the login',
        repository: 'acme/api',
        requirePlanApproval: true,
      })
      for (let pass = 0; pass < 10 && received.sent.length === 0; pass += 1) {
        clock.advance(30_000)
        await monitor.syncOnce({ force: true })
      }
      assert.deepEqual(
        received.sent.map((notification) => [notification.taskId, notification.eventType]),
        [[task.id, 'awaiting_plan_approval']],
      )
      assert.match(received.sent[0]?.text ?? '', new RegExp(`jjm approve ${task.id}`))
      assert.deepEqual(await storage.store.claimNotifications(10, '2999-01-01T00:00:00.000Z'), [], 'delivered once')
    } finally {
      await store.close()
    }
  })
})

describe('notifications from syncs', () => {
  it('notifies the events of a committed sync, with or without a task row, and nothing of a sync that recorded nothing', async () => {
    const clock = new ManualClock(at)
    const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
    const received = scriptedNotifier('webhook', [])
    const center = new NotificationCenter({
      routes: [{ backend: 'webhook', name: 'webhook', url: 'https://example.com/hook', events: ['*'] }],
      openNotifiers: async () => new Map([['webhook', received]]),
      store: storage.store,
      clock,
      logger: silentLogger,
    })
    const store = new NotifyingTaskStore(storage.store, center)
    const cursor = { sessionUpdateTime: at, lastActivityTime: null, lastActivityNames: [] }
    try {
      const task = buildTask({ state: 'planning' })
      await storage.store.createTask(task, [])
      await store.claimSyncLeases([task.id], 'daemon-a', 60_000)
      const waiting = { ...task, state: 'awaiting_plan_approval' }
      const changed = await store.commitSync({
        taskId: task.id,
        holder: 'daemon-a',
        task: waiting,
        events: [stateChanged('awaiting_plan_approval')],
        cursor,
        syncedAt: at,
      })
      assert.equal(changed.outcome, 'committed')
      const quiet = await store.commitSync({
        taskId: task.id,
        holder: 'daemon-a',
        events: [{ type: 'progress', data: { text: 'Reading the code' }, at }],
        cursor,
        syncedAt: at,
      })
      assert.equal(quiet.outcome, 'committed')
      // Stale (computed from version 1) and lease lost: nothing written, so nothing to send.
      const stale = await store.commitSync({
        taskId: task.id,
        holder: 'daemon-a',
        task: { ...task, state: 'failed' },
        events: [{ type: 'failed', data: {}, at }],
        cursor,
        syncedAt: at,
      })
      assert.equal(stale.outcome, 'stale')
      const lost = await store.commitSync({
        taskId: task.id,
        holder: 'daemon-b',
        events: [{ type: 'failed', data: {}, at }],
        cursor,
        syncedAt: at,
      })
      assert.equal(lost.outcome, 'lease_lost')
      await center.idle()
      assert.deepEqual(
        received.sent.map((notification) => [notification.eventType, notification.task.state]),
        [
          ['awaiting_plan_approval', 'awaiting_plan_approval'],
          ['progress', 'awaiting_plan_approval'],
        ],
      )
    } finally {
      await store.close()
    }
  })
})

describe('notifiers in the config', () => {
  async function configFrom(text: string) {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-notif-config-'))
    await writeFile(join(dir, 'config.yaml'), text)
    return loadConfig({ configDir: dir, dataDir: dir, env: {} })
  }

  it('reads the notifiers list with each backend settings, and none by default', async () => {
    const config = await configFrom(
      'notifiers:\n  - backend: webhook\n    url: https://example.com/hook\n    secret: s3cret-value\n    events: [failed]\n  - backend: console\n',
    )
    assert.deepEqual(config.notifiers, [
      { backend: 'webhook', url: 'https://example.com/hook', secret: 's3cret-value', events: ['failed'] },
      { backend: 'console' },
    ])
    assert.deepEqual((await configFrom('log:\n  level: info\n')).notifiers, [])
  })

  it('refuses an entry without a backend and never echoes its secrets', async () => {
    await assert.rejects(
      configFrom('notifiers:\n  - url: https://example.com/hook\n    secret: s3cret-value\n'),
      (error) => {
        assert.ok(error instanceof ConfigurationError)
        assert.match(error.message, /notifiers/)
        assert.doesNotMatch(JSON.stringify({ message: error.message, context: error.context }), /s3cret-value/)
        return true
      },
    )
  })

  it('hides secrets and credential URLs when the config is printed', async () => {
    const config = await configFrom(
      'notifiers:\n  - backend: slack\n    url: https://hooks.slack.com/services/T0/B0/XyZ\n  - backend: pagerduty\n    routingKey: R0UT1NG\n',
    )
    const printed = JSON.stringify(describeConfig(config))
    assert.doesNotMatch(printed, /XyZ|R0UT1NG/)
    assert.match(printed, /https:\/\/hooks\.slack\.com/)
  })
})

/** A notifier whose every send waits until the test opens it: a slow webhook. */
function slowNotifier(name: string): Notifier & { sent: Notification[]; started: number; open(): void } {
  const sent: Notification[] = []
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  const notifier = {
    name,
    sent,
    started: 0,
    open: () => open(),
    async send(notification: Notification) {
      notifier.started += 1
      await gate
      sent.push(notification)
    },
  }
  return notifier
}

describe('NotificationCenter: delivery passes for one process', () => {
  const routes = [{ backend: 'webhook', name: 'webhook', url: 'https://example.com/hook' }]

  it('coalesces a burst of writes behind a slow target into at most two passes, and delivers every one', async () => {
    const outbox = new MemoryOutbox()
    const target = slowNotifier('webhook')
    const center = new NotificationCenter({
      routes,
      openNotifiers: async () => new Map([['webhook', target]]),
      store: outbox,
      clock: new ManualClock(at),
      logger: silentLogger,
    })
    outbox.add('webhook', 'n0')
    center.kick()
    while (target.started === 0) await new Promise((resolve) => setImmediate(resolve))
    // 30 writes while the first delivery hangs on the target, each queueing its notification.
    for (let write = 1; write <= 30; write += 1) {
      outbox.add('webhook', `n${write}`)
      center.kick()
    }
    target.open()
    await center.idle()
    assert.equal(outbox.claims, 2, 'one pass running and one waiting, whatever the number of writes')
    assert.equal(target.sent.length, 31)
    assert.equal(outbox.pending(), 0)
  })

  it('lets a command exit after the idle bound while a target hangs, leaving the rest in the outbox', {
    timeout: 10_000,
  }, async () => {
    const outbox = new MemoryOutbox()
    const target = slowNotifier('webhook')
    const logger = recordingLogger()
    let waited: number | undefined
    let timeUp: () => void = () => {}
    const center = new NotificationCenter({
      routes,
      openNotifiers: async () => new Map([['webhook', target]]),
      store: outbox,
      clock: new ManualClock(at),
      logger,
      idleTimeoutMs: 5_000,
      sleep: (ms) => {
        waited = ms
        return new Promise((resolve) => {
          timeUp = resolve
        })
      },
    })
    outbox.add('webhook', 'n1')
    outbox.add('webhook', 'n2')
    center.kick()
    while (target.started === 0) await new Promise((resolve) => setImmediate(resolve))
    const idle = center.idle()
    timeUp() // the bound passes while the target still hangs
    await idle
    assert.equal(waited, 5_000)
    assert.ok(logger.lines.some(([level, message]) => level === 'warn' && /left in the outbox/.test(message)))
    target.open()
    await center.deliver()
    assert.equal(target.started, 1, 'the pass stops after the request in progress: n2 is not sent by this process')
    assert.equal(outbox.pending(), 1)
    const claims = outbox.claims
    await center.deliver()
    assert.equal(outbox.claims, claims, 'a pass after the exit claims nothing it would leave waiting')
  })

  it('records when a notification was given up on core’s clock, not the machine’s', async () => {
    const clock = new ManualClock('2030-06-01T12:00:00.000Z')
    const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
    try {
      const center = new NotificationCenter({
        routes: [{ backend: 'webhook', name: 'webhook', url: 'https://example.com/hook', events: ['*'] }],
        openNotifiers: async () =>
          new Map([
            ['webhook', scriptedNotifier('webhook', [new NotificationDeliveryError('HTTP 410', { permanent: true })])],
          ]),
        store: storage.store,
        clock,
        logger: silentLogger,
      })
      const task = buildTask({ createdAt: '2030-06-01T11:00:00.000Z', updatedAt: '2030-06-01T11:00:00.000Z' })
      await storage.store.createTask(task, [{ type: 'created', data: {}, at: task.createdAt }], {
        notifications: center.route(task, [{ type: 'created', data: {}, at: task.createdAt }]),
      })
      clock.advance(60_000)
      const report = await center.deliver()
      assert.equal(report?.failed.length, 1)
      const [record] = (await storage.store.listNotifications({})).items
      assert.equal(record?.state, 'failed')
      assert.equal(record?.failedAt, '2030-06-01T12:01:00.000Z')
    } finally {
      await storage.close()
    }
  })
})
