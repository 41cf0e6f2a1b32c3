/**
 * The NotificationOutbox contract suite: what every notification outbox does:
 * entries written with the events that cause them, claimed, delivered,
 * retried, listed, requeued and pruned (NotificationOutbox and
 * NotificationOutboxAdmin). It arranges its tests through the other ports
 * named in `NotificationOutboxContractStore`, so a store implements those
 * first (start with TaskRecords and TaskEventLog).
 */
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { TaskNotFoundError, TaskVersionConflictError, ValidationError } from '../../core/errors.js'
import type {
  NotificationOutbox,
  NotificationOutboxAdmin,
  SyncStates,
  TaskEventLog,
  TaskRecords,
} from '../../core/ports.js'
import type { Task } from '../../core/task.js'
import { buildTask } from '../build-task.js'
import {
  type ContractOptions,
  commitAsSync,
  createTasks,
  describeContract,
  minuteOf,
  notification,
  type OpenStore,
  refusedAs,
  type StoreTest,
  syncCursor,
} from './support.js'

/** The ports the NotificationOutbox suite calls. */
export type NotificationOutboxContractStore = TaskRecords &
  TaskEventLog &
  SyncStates &
  NotificationOutbox &
  NotificationOutboxAdmin

/** Declares the NotificationOutbox tests inside the current describe block (describeTaskStoreContract runs them with every other port's). */
export function declareNotificationOutboxTests(storeTest: StoreTest<NotificationOutboxContractStore>): void {
  describe('notification outbox', () => {
    storeTest(
      'keeps the notifications written with a creation, an update and a logged event until delivered',
      async (store) => {
        const task = buildTask({ state: 'planning' })
        await store.createTask(task, [{ type: 'created', data: {}, at: minuteOf(0) }], {
          notifications: [notification(task, 'webhook', 'created', 0)],
        })
        const waiting: Task = { ...task, state: 'awaiting_plan_approval', updatedAt: minuteOf(1) }
        await commitAsSync(store, {
          taskId: task.id,
          task: waiting,
          events: [
            { type: 'state_changed', data: { from: 'planning', to: 'awaiting_plan_approval' }, at: minuteOf(1) },
          ],
          cursor: syncCursor(1, []),
          notifications: [notification(waiting, 'webhook', 'awaiting_plan_approval', 1)],
        })
        await store.logEvent(
          task.id,
          { type: 'failed', data: { reason: 'boom' }, at: minuteOf(2) },
          { notifications: [notification(waiting, 'slack', 'failed', 2)] },
        )
        await store.updateTask(waiting, [{ type: 'progress', data: {}, at: minuteOf(3) }], { expectedVersion: 2 })

        assert.deepEqual(await store.claimNotifications(10, minuteOf(-1)), [], 'nothing is due before its event')
        const claimed = await store.claimNotifications(10, minuteOf(5))
        assert.deepEqual(
          claimed.map((entry) => [entry.notifier, entry.eventType, entry.taskId, entry.attempts]),
          [
            ['webhook', 'created', task.id, 0],
            ['webhook', 'awaiting_plan_approval', task.id, 0],
            ['slack', 'failed', task.id, 0],
          ],
        )
        assert.deepEqual(claimed[1]?.payload, notification(waiting, 'webhook', 'awaiting_plan_approval', 1).payload)
        assert.equal(new Set(claimed.map((entry) => entry.id)).size, 3, 'every entry has its own id')

        assert.deepEqual(await store.claimNotifications(10, minuteOf(6)), [], 'a claimed entry is held back')
        for (const entry of claimed.slice(0, 2)) await store.markNotificationDelivered(entry.id, minuteOf(6))
        // Past the lease, what was claimed but never marked is due again: at least once.
        const again = await store.claimNotifications(10, minuteOf(60))
        assert.deepEqual(
          again.map((entry) => entry.id),
          [claimed[2]?.id],
        )
      },
    )

    storeTest('counts failed attempts, retries when due, and gives up for good', async (store) => {
      const task = buildTask()
      await store.createTask(task, [{ type: 'created', data: {} }], {
        notifications: [notification(task, 'webhook', 'failed', 0), notification(task, 'webhook', 'failed', 0)],
      })
      const [first, second] = await store
        .claimNotifications(1, minuteOf(1))
        .then(async (one) => [...one, ...(await store.claimNotifications(5, minuteOf(1)))])
      assert.ok(first !== undefined && second !== undefined, 'the limit is respected and the rest claimed next')
      await store.markNotificationFailed(first.id, 'HTTP 500', minuteOf(20))
      await store.markNotificationFailed(second.id, 'HTTP 400', null)
      assert.deepEqual(await store.claimNotifications(10, minuteOf(19)), [])
      const retried = await store.claimNotifications(10, minuteOf(20))
      assert.deepEqual(
        retried.map((entry) => [entry.id, entry.attempts]),
        [[first.id, 1]],
      )
      await store.markNotificationDelivered(first.id, minuteOf(21))
      assert.deepEqual(await store.claimNotifications(10, minuteOf(600)), [], 'a given-up entry never comes back')
    })

    storeTest('writes no notification of an update that fails', async (store) => {
      const task = buildTask()
      await createTasks(store, [task])
      const unwritable = { type: 'progress', data: { size: 1n } as unknown as Record<string, unknown> }
      await assert.rejects(
        store.updateTask(task, [unwritable], {
          expectedVersion: 1,
          notifications: [notification(task, 'webhook', 'x', 0)],
        }),
      )
      await assert.rejects(
        store.updateTask(buildTask(), [], {
          expectedVersion: 1,
          notifications: [notification(task, 'webhook', 'x', 0)],
        }),
        refusedAs(TaskNotFoundError),
      )
      await assert.rejects(
        store.updateTask(task, [], { expectedVersion: 5, notifications: [notification(task, 'webhook', 'x', 0)] }),
        refusedAs(TaskVersionConflictError),
      )
      // Nor of a sync that records nothing: its lease ran out.
      await store.claimSyncLeases([task.id], 'daemon-a', 0)
      const lost = await store.commitSync({
        taskId: task.id,
        holder: 'daemon-a',
        events: [{ type: 'progress', data: {} }],
        cursor: syncCursor(1, []),
        syncedAt: minuteOf(1),
        notifications: [notification(task, 'webhook', 'x', 0)],
      })
      assert.equal(lost.outcome, 'lease_lost')
      assert.deepEqual(await store.claimNotifications(10, minuteOf(10)), [])
    })

    /** Three entries of `first` and one of `second`, each in its own write: delivered, given up, retrying, untouched. */
    const outboxOfFour = async (store: NotificationOutboxContractStore) => {
      const first = buildTask()
      const second = buildTask()
      await store.createTask(first, [{ type: 'created', data: {}, at: minuteOf(0) }], {
        notifications: [notification(first, 'webhook', 'awaiting_plan_approval', 0)],
      })
      await store.logEvent(
        first.id,
        { type: 'failed', data: {}, at: minuteOf(1) },
        { notifications: [notification(first, 'slack-team', 'failed', 1)] },
      )
      await store.logEvent(
        first.id,
        { type: 'progress', data: {}, at: minuteOf(2) },
        { notifications: [notification(first, 'webhook', 'progress', 2)] },
      )
      await store.createTask(second, [{ type: 'created', data: {}, at: minuteOf(3) }], {
        notifications: [notification(second, 'webhook', 'completed_with_pr', 3)],
      })
      const claimed = await store.claimNotifications(3, minuteOf(5))
      const [delivered, failed, retrying] = claimed.map((entry) => entry.id)
      assert.ok(delivered !== undefined && failed !== undefined && retrying !== undefined)
      await store.markNotificationDelivered(delivered, minuteOf(6))
      await store.markNotificationFailed(failed, 'HTTP 404 from the target', null)
      await store.markNotificationFailed(retrying, 'HTTP 503', minuteOf(20))
      const [untouched] = (await store.listNotifications({ taskId: second.id })).items.map((record) => record.id)
      assert.ok(untouched !== undefined)
      return { first, second, ids: { delivered, failed, retrying, untouched } }
    }

    storeTest('lists notifications newest first with their state, filtered and page by page', async (store) => {
      const { first, second, ids } = await outboxOfFour(store)
      const all = await store.listNotifications()
      assert.deepEqual(
        all.items.map((record) => [record.id, record.state]),
        [
          [ids.untouched, 'pending'],
          [ids.retrying, 'pending'],
          [ids.failed, 'failed'],
          [ids.delivered, 'delivered'],
        ],
      )
      assert.equal(all.nextCursor, null)
      const [untouched, retrying, failed, delivered] = all.items
      assert.deepEqual(
        { ...delivered, createdAt: undefined },
        {
          id: ids.delivered,
          taskId: first.id,
          eventType: 'awaiting_plan_approval',
          notifier: 'webhook',
          state: 'delivered',
          title: `awaiting_plan_approval: ${first.title}`,
          attempts: 0,
          lastError: null,
          nextAttemptAt: null,
          deliveredAt: minuteOf(6),
          failedAt: null,
          createdAt: undefined,
        },
      )
      assert.ok(!Number.isNaN(Date.parse(delivered?.createdAt ?? '')), 'createdAt is an instant')
      assert.equal(failed?.notifier, 'slack-team')
      assert.equal(failed?.attempts, 1)
      assert.equal(failed?.lastError, 'HTTP 404 from the target')
      assert.equal(failed?.nextAttemptAt, null)
      assert.ok(!Number.isNaN(Date.parse(failed?.failedAt ?? '')), 'failedAt is an instant')
      assert.deepEqual(
        [retrying?.attempts, retrying?.lastError, retrying?.nextAttemptAt, retrying?.failedAt],
        [1, 'HTTP 503', minuteOf(20), null],
      )
      assert.deepEqual([untouched?.taskId, untouched?.attempts, untouched?.nextAttemptAt], [second.id, 0, minuteOf(3)])

      const ofStates = await store.listNotifications({ states: ['failed', 'delivered'] })
      assert.deepEqual(
        ofStates.items.map((record) => record.id),
        [ids.failed, ids.delivered],
      )
      const ofFirst = await store.listNotifications({ taskId: first.id, states: ['pending'] })
      assert.deepEqual(
        ofFirst.items.map((record) => record.id),
        [ids.retrying],
      )
      const chosen = await store.listNotifications({ ids: [ids.delivered, ids.untouched, 'no-such-id'] })
      assert.deepEqual(
        chosen.items.map((record) => record.id),
        [ids.untouched, ids.delivered],
      )

      const page1 = await store.listNotifications({ limit: 3 })
      assert.equal(page1.items.length, 3)
      assert.ok(page1.nextCursor)
      const page2 = await store.listNotifications({ limit: 3, cursor: page1.nextCursor })
      assert.deepEqual(
        page2.items.map((record) => record.id),
        [ids.delivered],
      )
      assert.equal(page2.nextCursor, null)
      await assert.rejects(store.listNotifications({ cursor: 'not a cursor!' }), refusedAs(ValidationError))
    })

    storeTest(
      'retries failed and pending notifications at once with no attempts, never a delivered one',
      async (store) => {
        const { ids } = await outboxOfFour(store)
        const changed = await store.requeueNotifications(
          [ids.failed, ids.retrying, ids.delivered, 'no-such-id'],
          minuteOf(8),
        )
        assert.equal(changed, 2)
        const after = new Map((await store.listNotifications()).items.map((record) => [record.id, record]))
        for (const id of [ids.failed, ids.retrying]) {
          const record = after.get(id)
          assert.deepEqual(
            [record?.state, record?.attempts, record?.lastError, record?.failedAt, record?.nextAttemptAt],
            ['pending', 0, null, null, minuteOf(8)],
          )
        }
        assert.equal(after.get(ids.delivered)?.state, 'delivered')
        assert.deepEqual(
          (await store.claimNotifications(10, minuteOf(8))).map((entry) => [entry.id, entry.attempts]).sort(),
          [
            [ids.untouched, 0],
            [ids.failed, 0],
            [ids.retrying, 0],
          ].sort(),
          'requeued entries are due at once, the delivered one is not',
        )
      },
    )

    storeTest(
      'prunes old delivered and given-up notifications, a bounded batch at a time, never pending ones',
      async (store) => {
        const task = buildTask()
        await store.createTask(task, [{ type: 'created', data: {}, at: minuteOf(0) }], {
          notifications: [0, 1, 2, 3, 4].map((minute) => notification(task, 'webhook', 'failed', minute)),
        })
        const [old1, old2, recent, failed, pending] = (await store.claimNotifications(10, minuteOf(5))).map(
          (entry) => entry.id,
        )
        assert.ok(old1 && old2 && recent && failed && pending)
        await store.markNotificationDelivered(old1, minuteOf(10))
        await store.markNotificationDelivered(old2, minuteOf(11))
        await store.markNotificationDelivered(recent, minuteOf(100))
        await store.markNotificationFailed(failed, 'HTTP 410', null)
        await store.markNotificationFailed(pending, 'HTTP 500', minuteOf(6))
        const hourAgo = new Date(Date.now() - 3_600_000).toISOString()
        const future = new Date(Date.UTC(2100, 0, 1)).toISOString()
        const remaining = async () => (await store.listNotifications()).items.map((record) => record.id).sort()

        const keepFailed = { deliveredBefore: minuteOf(50), failedBefore: hourAgo }
        assert.deepEqual(await store.pruneNotifications({ ...keepFailed, limit: 1 }), { delivered: 1, failed: 0 })
        assert.deepEqual(await store.pruneNotifications({ ...keepFailed, limit: 5 }), { delivered: 1, failed: 0 })
        assert.deepEqual(await store.pruneNotifications({ ...keepFailed, limit: 5 }), { delivered: 0, failed: 0 })
        assert.deepEqual(await remaining(), [recent, failed, pending].sort())

        const everything = { deliveredBefore: future, failedBefore: future, limit: 5 }
        assert.deepEqual(await store.pruneNotifications(everything), { delivered: 1, failed: 1 })
        assert.deepEqual(await remaining(), [pending], 'a pending notification is never pruned, however old')
        assert.deepEqual(
          (await store.claimNotifications(10, minuteOf(6))).map((entry) => entry.id),
          [pending],
        )
      },
    )
  })
}

/**
 * Declares, with node:test, the suite every NotificationOutbox implementation must pass.
 * Each test opens its own store through `open` and closes it, pass or fail.
 */
export function describeNotificationOutboxContract(
  name: string,
  open: OpenStore<NotificationOutboxContractStore>,
  options: ContractOptions = {},
): void {
  describeContract(`NotificationOutbox contract: ${name}`, open, options, declareNotificationOutboxTests)
}
