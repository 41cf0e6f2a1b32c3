/**
 * The TaskEventLog contract suite: what every TaskEventLog implementation does
 * with a task's append-only history: reading it newest first, filtering,
 * paging, and appending to it. It creates its tasks through TaskRecords.
 */
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { TaskNotFoundError, ValidationError } from '../../core/errors.js'
import type { TaskEventLog, TaskRecords } from '../../core/ports.js'
import { buildTask } from '../build-task.js'
import { type ContractOptions, describeContract, type OpenStore, refusedAs, type StoreTest } from './support.js'

/** The ports the TaskEventLog suite calls. */
export type TaskEventLogContractStore = TaskRecords & TaskEventLog

/** Declares the TaskEventLog tests inside the current describe block (describeTaskStoreContract runs them with every other port's). */
export function declareTaskEventLogTests(storeTest: StoreTest<TaskEventLogContractStore>): void {
  describe('events', () => {
    storeTest('returns events newest first, filtered by type, page by page', async (store) => {
      const task = buildTask()
      const other = buildTask()
      await store.createTask(task, [{ type: 'created', data: {}, at: '2026-01-01T00:00:00.000Z' }])
      await store.createTask(other, [{ type: 'created', data: {} }])
      const updates = Array.from({ length: 7 }, (_, index) => ({
        type: index % 2 === 0 ? 'progress' : 'agent_message',
        data: { step: index },
        // Two events share each instant: the order they were written in breaks the tie.
        at: new Date(Date.UTC(2026, 0, 2, 0, 0, Math.floor(index / 2))).toISOString(),
      }))
      await store.updateTask(task, updates, { expectedVersion: 1 })

      const all = await store.getEvents(task.id)
      assert.deepEqual(
        all.items.map((event) => event.data.step),
        [6, 5, 4, 3, 2, 1, 0, undefined],
      )
      assert.ok(all.items.every((event) => event.taskId === task.id))
      assert.equal(all.nextCursor || null, null)

      const progress = await store.getEvents(task.id, { types: ['progress'] })
      assert.deepEqual(
        progress.items.map((event) => event.data.step),
        [6, 4, 2, 0],
      )

      const steps: unknown[] = []
      let cursor: string | undefined
      do {
        const page = await store.getEvents(task.id, { limit: 3, cursor })
        steps.push(...page.items.map((event) => event.data.step))
        cursor = page.nextCursor || undefined
      } while (cursor !== undefined)
      assert.deepEqual(steps, [6, 5, 4, 3, 2, 1, 0, undefined])
    })

    storeTest('filters events by time, start included and end excluded', async (store) => {
      const task = buildTask()
      const minute = (n: number): string => new Date(Date.UTC(2026, 2, 1, 0, n)).toISOString()
      await store.createTask(
        task,
        [1, 2, 3, 4].map((n) => ({ type: 'progress', data: { n }, at: minute(n) })),
      )
      const ns = async (query: { since?: string; until?: string; types?: string[] }): Promise<unknown[]> =>
        (await store.getEvents(task.id, query)).items.map((event) => event.data.n)
      assert.deepEqual(await ns({ since: minute(2) }), [4, 3, 2])
      assert.deepEqual(await ns({ until: minute(3) }), [2, 1])
      assert.deepEqual(await ns({ since: minute(2), until: minute(4), types: ['progress'] }), [3, 2])
      assert.deepEqual(await ns({ since: minute(2), types: ['created'] }), [])
      await assert.rejects(store.getEvents(task.id, { since: 'last week' }), refusedAs(ValidationError))
    })

    storeTest('stamps an event without a time with the current time and a fresh id', async (store) => {
      const before = Date.now()
      const task = buildTask()
      await store.createTask(task, [
        { type: 'created', data: {} },
        { type: 'progress', data: {} },
      ])
      const events = (await store.getEvents(task.id)).items
      assert.equal(events.length, 2)
      assert.equal(new Set(events.map((event) => event.id)).size, 2)
      for (const event of events) {
        assert.ok(event.id.length > 0)
        assert.ok(Date.parse(event.at) >= before - 1 && Date.parse(event.at) <= Date.now() + 1)
      }
    })

    storeTest('logs one event on an existing task and returns it as stored', async (store) => {
      const task = buildTask()
      await store.createTask(task, [{ type: 'created', data: {}, at: '2026-01-01T00:00:00.000Z' }])
      const logged = await store.logEvent(task.id, {
        type: 'sync_error',
        data: { message: 'Jules answered 503' },
        at: '2026-01-01T00:01:00.000Z',
      })
      assert.equal(logged.taskId, task.id)
      assert.equal(logged.type, 'sync_error')
      assert.equal(logged.at, '2026-01-01T00:01:00.000Z')
      const [newest] = (await store.getEvents(task.id)).items
      assert.deepEqual(newest, logged)

      const stamped = await store.logEvent(task.id, { type: 'progress', data: {} })
      assert.ok(Math.abs(Date.parse(stamped.at) - Date.now()) < 60_000)
      assert.notEqual(stamped.id, logged.id)
    })

    storeTest('refuses to log an event on an unknown task', async (store) => {
      await assert.rejects(
        store.logEvent('01NOSUCHTASK0000000000000', { type: 'progress', data: {} }),
        refusedAs(TaskNotFoundError),
      )
    })
  })
}

/**
 * Declares, with node:test, the suite every TaskEventLog implementation must pass.
 * Each test opens its own store through `open` and closes it, pass or fail.
 */
export function describeTaskEventLogContract(
  name: string,
  open: OpenStore<TaskEventLogContractStore>,
  options: ContractOptions = {},
): void {
  describeContract(`TaskEventLog contract: ${name}`, open, options, declareTaskEventLogTests)
}
