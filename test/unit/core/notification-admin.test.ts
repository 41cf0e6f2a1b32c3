import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { describe, it } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import { loadConfig } from '../../../src/core/config.js'
import { ConfigurationError, InvalidStateError, NotificationNotFoundError } from '../../../src/core/errors.js'
import { Monitor } from '../../../src/core/monitor.js'
import { NotificationAdmin } from '../../../src/core/notification-admin.js'
import { NotificationCenter, type NotifierRoute, routeNames } from '../../../src/core/notifications.js'
import { NotifyingTaskStore } from '../../../src/core/notifying-store.js'
import type { Notifier, TaskStore } from '../../../src/core/ports.js'
import { silentLogger } from '../../../src/core/ports.js'
import { webhookNotifierBackend } from '../../../src/plugins/notifiers/backend.js'
import { openSqlStore } from '../../../src/plugins/storage-sql/sql-store.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { Simulator } from '../../../src/sim/engine.js'
import { MemorySimStateStore } from '../../../src/sim/memory-store.js'
import { buildTask } from '../../../src/testing/build-task.js'

const dayMs = 86_400_000

/** A real HTTP receiver on 127.0.0.1 that answers with the statuses it is given, in order (then 200). */
async function receiver(statuses: number[]) {
  const requests: Array<{ headers: IncomingHttpHeaders; body: string }> = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      requests.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') })
      response.statusCode = statuses.shift() ?? 200
      response.end(response.statusCode >= 400 ? 'nope' : 'ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

const backends = {
  sqlite: async (_clock: ManualClock) => openSqlStore({ dialect: 'sqlite', path: ':memory:' }),
}

/** The outbox wired as openCore wires it, over a real webhook notifier that posts to `url`. */
async function outboxWith(backend: keyof typeof backends, url: string) {
  // The SQL store stamps a give-up with the real time: the clock starts there.
  const clock = new ManualClock(Date.now())
  const storage = await backends[backend](clock)
  const config = await loadConfig({ configDir: tmpdir(), dataDir: tmpdir(), env: {} })
  const routes: NotifierRoute[] = [{ backend: 'webhook', url, events: ['*'] }]
  const [hookId = ''] = routeNames(routes)
  const center = new NotificationCenter({
    routes,
    store: storage.store,
    clock,
    logger: silentLogger,
    openNotifiers: async () => {
      const notifier = await webhookNotifierBackend.open({
        route: routes[0] as NotifierRoute,
        config,
        logger: silentLogger,
      })
      return new Map<string, Notifier>([[hookId, notifier]])
    },
  })
  const store: TaskStore = new NotifyingTaskStore(storage.store, center)
  const admin = new NotificationAdmin({
    store,
    deliver: () => center.deliver(),
    routeIds: [hookId],
    clock,
    logger: silentLogger,
    retention: { keepDeliveredDays: 7, keepFailedDays: 30 },
  })
  /** A finished task (nothing for a monitor to sync) whose creation sends one notification to the webhook. */
  const finishedTask = async () => {
    const task = buildTask({ state: 'completed' })
    await store.createTask(task, [{ type: 'created', data: {}, at: new Date(clock.now()).toISOString() }])
    await center.idle()
    return task
  }
  return { clock, store, center, admin, hookId, finishedTask, close: () => store.close() }
}

for (const backend of ['sqlite'] as const) {
  describe(`jjm notifications on ${backend}`, () => {
    it('retries a refused notification with its attempts reset and delivers it to the receiver at once', async () => {
      const hook = await receiver([404])
      const outbox = await outboxWith(backend, hook.url)
      try {
        const task = await outbox.finishedTask()
        const [failed] = (await outbox.admin.list({ states: ['failed'] })).items
        assert.ok(failed !== undefined, 'a 404 gives up at once')
        assert.deepEqual([failed.taskId, failed.attempts, failed.notifier], [task.id, 1, outbox.hookId])
        assert.match(failed.lastError ?? '', /HTTP 404/)

        const result = await outbox.admin.retry({ ids: [failed.id] })
        assert.deepEqual([result.delivered, result.pending, result.failed], [1, 0, 0])
        assert.deepEqual(
          result.items.map((record) => [record.id, record.state, record.attempts, record.lastError]),
          [[failed.id, 'delivered', 0, null]],
        )
        assert.equal(hook.requests.length, 2)
        assert.deepEqual(
          hook.requests.map((request) => request.headers['x-jjm-delivery']),
          [failed.id, failed.id],
          'the receiver can tell the retry is the same notification',
        )
        assert.deepEqual((await outbox.admin.list({ states: ['failed', 'pending'] })).items, [])
      } finally {
        await outbox.close()
        await hook.close()
      }
    })

    it('reports a retry that fails again as pending with a later attempt', async () => {
      const hook = await receiver([410, 503])
      const outbox = await outboxWith(backend, hook.url)
      try {
        await outbox.finishedTask()
        const [failed] = (await outbox.admin.list({ states: ['failed'] })).items
        const result = await outbox.admin.retry({ ids: [failed?.id ?? ''] })
        assert.deepEqual([result.delivered, result.pending, result.failed], [0, 1, 0])
        const [again] = result.items
        assert.deepEqual([again?.state, again?.attempts], ['pending', 1])
        assert.match(again?.lastError ?? '', /HTTP 503/)
        assert.ok(Date.parse(again?.nextAttemptAt ?? '') > outbox.clock.now(), 'retried later, with backoff')
      } finally {
        await outbox.close()
        await hook.close()
      }
    })

    it('retries every failed notification with --failed, leaving alone those whose notifier is gone', async () => {
      const hook = await receiver([404])
      const outbox = await outboxWith(backend, hook.url)
      try {
        const task = await outbox.finishedTask()
        // Written by an earlier config whose route is gone: its delivery gives up ("no notifier named …").
        await outbox.store.logEvent(
          task.id,
          { type: 'progress', data: {} },
          {
            notifications: [
              {
                notifier: 'removed-route',
                taskId: task.id,
                eventType: 'progress',
                payload: {
                  taskId: task.id,
                  eventType: 'progress',
                  title: 'Progress',
                  text: '…',
                  task,
                  at: task.createdAt,
                },
              },
            ],
          },
        )
        await outbox.center.idle()
        const failed = (await outbox.admin.list({ states: ['failed'] })).items
        assert.deepEqual(failed.map((record) => record.notifier).sort(), [outbox.hookId, 'removed-route'].sort())

        const result = await outbox.admin.retry({ failed: true })
        assert.deepEqual(
          result.items.map((record) => [record.notifier, record.state, record.attempts]),
          [[outbox.hookId, 'delivered', 0]],
        )
        assert.deepEqual(
          result.skipped.map((record) => record.notifier),
          ['removed-route'],
        )
        assert.deepEqual((await outbox.admin.retry({ failed: true })).items, [], 'nothing of ours left to retry')
      } finally {
        await outbox.close()
        await hook.close()
      }
    })

    it('refuses to retry an unknown id, a delivered notification, or one whose notifier is gone, changing nothing', async () => {
      const hook = await receiver([404])
      const outbox = await outboxWith(backend, hook.url)
      try {
        const task = await outbox.finishedTask()
        const [failed] = (await outbox.admin.list()).items
        assert.ok(failed !== undefined)
        await assert.rejects(outbox.admin.retry({ ids: [failed.id, 'NO-SUCH-ID'] }), (error: unknown) => {
          assert.ok(error instanceof NotificationNotFoundError)
          assert.equal(error.exitCode, 13)
          assert.deepEqual(error.context.notificationIds, ['NO-SUCH-ID'])
          assert.match(error.message, /jjm notifications list/)
          return true
        })
        assert.equal((await outbox.admin.list()).items[0]?.state, 'failed', 'the known one was not retried either')

        await outbox.admin.retry({ ids: [failed.id] })
        await assert.rejects(outbox.admin.retry({ ids: [failed.id] }), (error: unknown) => {
          assert.ok(error instanceof InvalidStateError)
          assert.match(error.message, /was delivered at .*only pending and failed/)
          return true
        })

        await outbox.store.logEvent(
          task.id,
          { type: 'progress', data: {} },
          {
            notifications: [
              {
                notifier: 'removed-route',
                taskId: task.id,
                eventType: 'progress',
                payload: {
                  taskId: task.id,
                  eventType: 'progress',
                  title: 'Progress',
                  text: '…',
                  task,
                  at: task.createdAt,
                },
              },
            ],
          },
        )
        await outbox.center.idle()
        const [orphan] = (await outbox.admin.list({ states: ['failed'] })).items
        await assert.rejects(outbox.admin.retry({ ids: [orphan?.id ?? ''] }), (error: unknown) => {
          assert.ok(error instanceof ConfigurationError)
          assert.match(error.message, /"removed-route", which no entry of notifiers: in the config is any more/)
          return true
        })
      } finally {
        await outbox.close()
        await hook.close()
      }
    })

    it('prunes delivered notifications after 7 days and failed ones after 30 at the end of a monitor pass, never pending ones', async () => {
      const hook = await receiver([404, 503])
      const outbox = await outboxWith(backend, hook.url)
      const simulator = new Simulator({ store: new MemorySimStateStore(), clock: outbox.clock })
      const monitor = new Monitor({
        jules: createSimClient(simulator),
        store: outbox.store,
        clock: outbox.clock,
        logger: silentLogger,
        concurrency: 1,
        outboxCleanup: outbox.admin,
      })
      try {
        await outbox.finishedTask() // 404: failed
        await outbox.finishedTask() // 503: pending, retried in 30 s
        await outbox.finishedTask() // delivered
        const states = async () => (await outbox.admin.list()).items.map((record) => record.state).sort()
        assert.deepEqual(await states(), ['delivered', 'failed', 'pending'])

        outbox.clock.advance(6 * dayMs)
        await monitor.syncOnce()
        assert.deepEqual(await states(), ['delivered', 'failed', 'pending'], 'nothing is old enough yet')
        outbox.clock.advance(2 * dayMs)
        await monitor.syncOnce()
        assert.deepEqual(await states(), ['failed', 'pending'], 'delivered more than 7 days ago: pruned')
        outbox.clock.advance(23 * dayMs)
        await monitor.syncOnce()
        assert.deepEqual(await states(), ['pending'], 'failed more than 30 days ago: pruned; pending: kept')
      } finally {
        await outbox.close()
        await hook.close()
      }
    })

    it('prunes on request with one age for delivered and failed notifications', async () => {
      const hook = await receiver([404])
      const outbox = await outboxWith(backend, hook.url)
      try {
        await outbox.finishedTask()
        await outbox.finishedTask()
        outbox.clock.advance(3_600_000)
        assert.deepEqual(
          await outbox.admin.prune({ olderThanMs: 2 * 3_600_000 }).then(({ delivered, failed }) => [delivered, failed]),
          [0, 0],
        )
        const result = await outbox.admin.prune({ olderThanMs: 60_000 })
        assert.deepEqual([result.delivered, result.failed], [1, 1])
        assert.equal(result.deliveredBefore, new Date(outbox.clock.now() - 60_000).toISOString())
        assert.deepEqual((await outbox.admin.list()).items, [])
      } finally {
        await outbox.close()
        await hook.close()
      }
    })
  })
}
