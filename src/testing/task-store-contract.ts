/**
 * The behaviour every TaskStore has, whatever it stores into: jjm's own
 * backends (SQLite, PostgreSQL, JSON) and every third-party storage plugin run
 * this same suite against themselves, the way keyv's adapters share one test
 * suite.
 *
 * ```ts
 * import { describeTaskStoreContract } from 'jjm/testing'
 * describeTaskStoreContract('my store', async () => {
 *   const store = await openMyStore()
 *   return { store, close: () => store.close() }
 * })
 * ```
 */
import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import {
  StorageError,
  TaskNotFoundError,
  TaskVersionConflictError,
  toJjmError,
  ValidationError,
} from '../core/errors.js'
import type {
  CreationLease,
  NewChatMessage,
  NewNotification,
  SyncCommit,
  SyncCommitResult,
  SyncCursor,
  TaskStore,
} from '../core/ports.js'
import type { Task, TaskFilter } from '../core/task.js'
import { buildTask } from './build-task.js'

/** A store opened for one test, and how to dispose of it afterwards. */
export interface OpenedTaskStore {
  store: TaskStore
  /** Closes the store and removes what the test left behind (a file, a database). */
  close(): Promise<void>
}

/**
 * Opens a fresh, empty store for one test. A backend that needs a service
 * which is not running calls `t.skip(reason)` and returns undefined: the test
 * is then reported as skipped (or throws, to fail it, e.g. in CI).
 */
export type OpenTaskStore = (t: TestContext) => Promise<OpenedTaskStore | undefined>

export interface TaskStoreContractOptions {
  /** Skips the whole suite, with this reason. */
  skip?: string
}

/**
 * Checks a refusal by the jjm error it stands for: a plugin without a runtime
 * dependency on jjm throws plain errors carrying jjm's `code`, which jjm maps
 * to its classes exactly like this (toJjmError).
 */
function refusedAs(expected: abstract new (...args: never[]) => Error): (error: unknown) => boolean {
  return (error) => {
    const mapped = toJjmError(error)
    assert.ok(mapped instanceof expected, `expected a ${expected.name}, got ${String(error)}`)
    return true
  }
}

/**
 * Declares, with node:test, the suite every TaskStore must pass. Each test
 * opens its own store through `open` and closes it, pass or fail.
 */
export function describeTaskStoreContract(
  name: string,
  open: OpenTaskStore,
  options: TaskStoreContractOptions = {},
): void {
  const storeTest = (title: string, body: (store: TaskStore) => Promise<void>): void => {
    it(title, async (t) => {
      const opened = await open(t)
      if (opened === undefined) return
      try {
        await body(opened.store)
      } finally {
        await opened.close()
      }
    })
  }

  describe(`TaskStore contract: ${name}`, options.skip === undefined ? {} : { skip: options.skip }, () => {
    describe('tasks', () => {
      storeTest('returns every field of a created task exactly as given', async (store) => {
        const task = buildTask({
          pullRequest: { url: 'https://github.com/acme/api/pull/7', title: 'Fix upload', description: 'Retries.' },
          labels: ['flaky', 'ci', 'ünïcode'],
          metadata: { nested: { list: [1, 'two', null], flag: false }, empty: {} },
          state: 'completed',
          requirePlanApproval: false,
          automationMode: 'AUTOMATION_MODE_UNSPECIFIED',
          url: null,
          completedAt: '2026-02-03T04:05:06.789Z',
          lastSyncedAt: '2026-02-03T04:05:07.001Z',
        })
        await store.createTask(task, [{ type: 'created', data: { by: 'test' } }])
        assert.deepEqual(await store.getTask(task.id), task)
        assert.equal(await store.getTask('01NOSUCHTASK0000000000000'), undefined)
      })

      storeTest('refuses a second task with the same id or session name', async (store) => {
        const task = buildTask()
        await store.createTask(task, [])
        await assert.rejects(store.createTask(task, []), refusedAs(StorageError))
        const sameSession = buildTask({ sessionName: task.sessionName })
        await assert.rejects(store.createTask(sameSession, [{ type: 'created', data: {} }]), refusedAs(StorageError))
        // The failed create left no half-written history behind.
        assert.equal(await store.getTask(sameSession.id), undefined)
        assert.deepEqual((await store.getEvents(sameSession.id)).items, [])
      })

      storeTest('updates a task and appends its events in one go', async (store) => {
        const task = buildTask()
        await store.createTask(task, [{ type: 'created', data: {}, at: task.createdAt }])
        const changed: Task = {
          ...task,
          state: 'completed',
          pullRequest: { url: 'https://github.com/acme/api/pull/9', title: 'T', description: 'D' },
          labels: [],
          updatedAt: '2026-03-01T00:00:00.000Z',
          completedAt: '2026-03-01T00:00:00.000Z',
        }
        const stored = await store.updateTask(
          changed,
          [
            { type: 'state_changed', data: { from: 'queued', to: 'completed' }, at: '2026-03-01T00:00:00.000Z' },
            { type: 'completed', data: {}, at: '2026-03-01T00:00:00.000Z' },
          ],
          { expectedVersion: 1 },
        )
        assert.deepEqual(stored, { ...changed, version: 2 }, 'returns the task as stored, with its new version')
        assert.deepEqual(await store.getTask(task.id), { ...changed, version: 2 })
        const events = await store.getEvents(task.id)
        assert.deepEqual(
          events.items.map((event) => event.type),
          ['completed', 'state_changed', 'created'],
        )
      })

      storeTest('refuses to update an unknown task and writes nothing', async (store) => {
        const ghost = buildTask()
        await assert.rejects(
          store.updateTask(ghost, [{ type: 'progress', data: {} }], { expectedVersion: 1 }),
          refusedAs(TaskNotFoundError),
        )
        assert.equal(await store.getTask(ghost.id), undefined)
        assert.deepEqual((await store.getEvents(ghost.id)).items, [])
      })

      storeTest('keeps every write of concurrent callers that re-read on a version conflict', async (store) => {
        const task = buildTask()
        await store.createTask(task, [])
        // Each caller reads, changes and writes back, and on a conflict reads again: no write is lost.
        const edit = async (step: number): Promise<void> => {
          for (;;) {
            const current = await store.getTask(task.id)
            assert.ok(current)
            try {
              await store.updateTask(
                { ...current, labels: [...current.labels, `step-${step}`] },
                [{ type: 'updated', data: { step } }],
                { expectedVersion: current.version },
              )
              return
            } catch (error) {
              if (!(toJjmError(error) instanceof TaskVersionConflictError)) throw error
            }
          }
        }
        await Promise.all([
          ...Array.from({ length: 10 }, () => store.createTask(buildTask(), [{ type: 'created', data: {} }])),
          ...Array.from({ length: 10 }, (_, step) => edit(step)),
        ])
        assert.equal((await store.listTasks({})).items.length, 11)
        const final = await store.getTask(task.id)
        assert.equal(final?.version, 11)
        assert.deepEqual(
          [...(final?.labels ?? [])].sort(),
          ['flaky', ...Array.from({ length: 10 }, (_, step) => `step-${step}`)].sort(),
        )
        assert.equal((await store.getEvents(task.id)).items.length, 10, 'one event per write that went through')
      })

      storeTest('gives a new task version 1, whatever version it was given', async (store) => {
        const task = buildTask({ version: 7 })
        await store.createTask(task, [])
        assert.equal((await store.getTask(task.id))?.version, 1)
      })

      storeTest('bumps the version of an update made with the version it read, and returns it', async (store) => {
        const task = buildTask()
        await store.createTask(task, [])
        const first = await store.updateTask({ ...task, title: 'First' }, [], { expectedVersion: 1 })
        assert.equal(first.version, 2)
        const second = await store.updateTask({ ...first, title: 'Second' }, [], { expectedVersion: 2 })
        assert.equal(second.version, 3)
        assert.deepEqual(await store.getTask(task.id), second)
      })

      storeTest(
        'refuses an update made with a stale version and writes nothing, not even its events',
        async (store) => {
          const task = buildTask()
          await store.createTask(task, [{ type: 'created', data: {} }])
          await store.updateTask({ ...task, title: 'Theirs' }, [], { expectedVersion: 1 })
          await assert.rejects(
            store.updateTask({ ...task, title: 'Mine' }, [{ type: 'updated', data: {} }], { expectedVersion: 1 }),
            (error: unknown) => {
              const mapped = toJjmError(error)
              assert.ok(mapped instanceof TaskVersionConflictError, `expected a version conflict, got ${String(error)}`)
              assert.equal(mapped.code, 'JJM_TASK_VERSION_CONFLICT')
              assert.equal(mapped.httpStatus, 412)
              assert.deepEqual(mapped.context, { taskId: task.id, expectedVersion: 1, actualVersion: 2 })
              return true
            },
          )
          const stored = await store.getTask(task.id)
          assert.equal(stored?.title, 'Theirs')
          assert.equal(stored?.version, 2)
          assert.deepEqual(
            (await store.getEvents(task.id)).items.map((event) => event.type),
            ['created'],
          )
        },
      )
    })

    describe('findTask', () => {
      storeTest('finds a task by id, session name, bare session id and id prefix', async (store) => {
        const task = buildTask({ id: '01JTESTAAAAAAAAAAAAAAAAAAA', sessionName: 'sessions/987654321' })
        await createTasks(store, [task])
        assert.equal((await store.findTask(task.id))?.id, task.id)
        assert.equal((await store.findTask(task.id.toLowerCase()))?.id, task.id)
        assert.equal((await store.findTask('sessions/987654321'))?.id, task.id)
        assert.equal((await store.findTask('987654321'))?.id, task.id)
        assert.equal((await store.findTask('01jte'))?.id, task.id)
        assert.equal(await store.findTask('01J'), undefined, 'a prefix needs at least 4 characters')
        assert.equal(await store.findTask('01JX'), undefined)
        assert.equal(await store.findTask('sessions/1'), undefined)
        assert.equal(await store.findTask('  '), undefined)
      })

      storeTest('refuses an ambiguous prefix and lists the matches', async (store) => {
        const ids = ['01JAMBAAAAAAAAAAAAAAAAAAAA', '01JAMBBBBBBBBBBBBBBBBBBBBB']
        await createTasks(
          store,
          ids.map((id) => buildTask({ id })),
        )
        await assert.rejects(store.findTask('01JAMB'), (thrown: unknown) => {
          const error = toJjmError(thrown)
          assert.ok(error instanceof ValidationError)
          for (const id of ids) assert.match(error.message, new RegExp(id))
          assert.deepEqual(error.context.matches, ids)
          return true
        })
      })
    })

    describe('listTasks', () => {
      storeTest('lists newest first and filters by state, repository, label and title', async (store) => {
        const old = buildTask({ state: 'completed', labels: ['docs'], title: 'Write the README' })
        const api = buildTask({ state: 'in_progress', labels: ['flaky', 'ci'], title: 'Fix CI upload' })
        const web = buildTask({
          state: 'paused',
          repository: 'acme/web',
          source: 'sources/github/acme/web',
          labels: ['ci-extra'],
          title: 'Speed up the Build_2 at 100%',
        })
        await createTasks(store, [old, api, web])
        const ids = listIds(store)

        assert.deepEqual(await ids({}), [web.id, api.id, old.id])
        assert.deepEqual(await ids({ states: ['in_progress', 'paused'] }), [web.id, api.id])
        assert.deepEqual(await ids({ repository: 'acme/web' }), [web.id])
        assert.deepEqual(await ids({ label: 'ci' }), [api.id], 'a label matches whole labels only')
        assert.deepEqual(await ids({ search: 'BUILD' }), [web.id], 'search ignores case')
        assert.deepEqual(await ids({ search: '100%' }), [web.id])
        assert.deepEqual(await ids({ search: 'd_2' }), [web.id])
        assert.deepEqual(await ids({ search: '%' }), [web.id], 'search treats % literally')
        assert.deepEqual(await ids({ search: 'e_d' }), [], 'search treats _ literally')
        const windows = buildTask({ title: 'Clean C:\\Temp\\* and "quotes"', labels: ['needs "review"', "o'brien"] })
        await createTasks(store, [windows])
        assert.deepEqual(await ids({ search: 'c:\\temp\\*' }), [windows.id], 'search treats \\ and * literally')
        assert.deepEqual(await ids({ search: '"quotes"' }), [windows.id])
        assert.deepEqual(await ids({ search: 'C:\\Temp\\x' }), [])
        assert.deepEqual(await ids({ label: "o'brien" }), [windows.id])
        assert.deepEqual(await ids({ label: 'needs "review"' }), [windows.id])
        assert.deepEqual(await ids({ states: ['paused'], repository: 'acme/api' }), [])
        assert.equal((await store.listTasks({})).nextCursor || null, null)
      })

      storeTest('filters by creation and update time ranges, start included and end excluded', async (store) => {
        const day = (n: number): string => new Date(Date.UTC(2026, 1, n)).toISOString()
        const first = buildTask({ createdAt: day(1), updatedAt: day(10) })
        const second = buildTask({ createdAt: day(2), updatedAt: day(5) })
        const third = buildTask({ createdAt: day(3), updatedAt: day(3) })
        await createTasks(store, [first, second, third])
        const ids = listIds(store)

        assert.deepEqual(await ids({ since: day(2) }), [third.id, second.id])
        assert.deepEqual(await ids({ until: day(3) }), [second.id, first.id])
        assert.deepEqual(await ids({ since: day(2), until: day(3) }), [second.id])
        assert.deepEqual(await ids({ updatedSince: day(5) }), [second.id, first.id])
        assert.deepEqual(await ids({ updatedUntil: day(5) }), [third.id])
        assert.deepEqual(await ids({ updatedSince: day(4), updatedUntil: day(10) }), [second.id])
        for (const filter of [{ since: 'yesterday' }, { until: '2026-13-45' }, { updatedSince: 'x' }]) {
          await assert.rejects(store.listTasks(filter), refusedAs(ValidationError))
        }
      })

      storeTest('walks every page once even when tasks are added between pages', async (store) => {
        // Several tasks share a creation time so that the id breaks the tie.
        const sameInstant = '2026-05-05T05:05:05.000Z'
        const tasks = Array.from({ length: 23 }, (_, index) =>
          buildTask(index % 3 === 0 ? { createdAt: sameInstant, updatedAt: sameInstant } : {}),
        )
        await createTasks(store, tasks)
        const expected = (await store.listTasks({ limit: 200 })).items.map((task) => task.id)
        assert.equal(expected.length, 23)

        const seen: string[] = []
        let cursor: string | undefined
        let pages = 0
        do {
          const page = await store.listTasks({ limit: 5, cursor })
          seen.push(...page.items.map((task) => task.id))
          // A newer task arrives while the client pages: it belongs before the first page, not in a later one.
          await createTasks(store, [buildTask({ createdAt: '2027-01-01T00:00:00.000Z' })])
          cursor = page.nextCursor || undefined
          pages += 1
        } while (cursor !== undefined)
        assert.deepEqual(seen, expected)
        assert.equal(pages, 5)
      })

      storeTest('ends with an empty cursor when the last page is exactly full', async (store) => {
        await createTasks(store, [buildTask(), buildTask(), buildTask(), buildTask()])
        const first = await store.listTasks({ limit: 2 })
        assert.ok(first.nextCursor)
        const second = await store.listTasks({ limit: 2, cursor: first.nextCursor })
        assert.equal(second.items.length, 2)
        assert.equal(second.nextCursor || null, null)
      })

      storeTest('clamps an oversized limit to 200 and refuses a zero, negative or fractional one', async (store) => {
        await createTasks(
          store,
          Array.from({ length: 205 }, () => buildTask()),
        )
        const page = await store.listTasks({ limit: 10_000 })
        assert.equal(page.items.length, 200)
        assert.ok(page.nextCursor)
        assert.equal((await store.listTasks({})).items.length, 50, 'the default page holds 50')
        for (const limit of [0, -1, 2.5]) {
          await assert.rejects(store.listTasks({ limit }), refusedAs(ValidationError))
        }
      })

      storeTest('refuses a malformed cursor', async (store) => {
        const garbage = ['not a cursor', 'bm90IGpzb24', Buffer.from('{"createdAt":"x","id":"y"}').toString('base64url')]
        for (const cursor of garbage) {
          await assert.rejects(store.listTasks({ cursor }), refusedAs(ValidationError))
        }
      })

      storeTest('lists active tasks, never-synced first, then oldest sync', async (store) => {
        const syncedLate = buildTask({ state: 'in_progress', lastSyncedAt: '2026-06-01T00:00:00.000Z' })
        const syncedEarly = buildTask({ state: 'planning', lastSyncedAt: '2026-05-01T00:00:00.000Z' })
        const neverSynced = buildTask({ state: 'queued' })
        const done = buildTask({ state: 'completed' })
        const failed = buildTask({ state: 'failed' })
        await createTasks(store, [syncedLate, syncedEarly, neverSynced, done, failed])
        const active = await store.listActiveTasks()
        assert.deepEqual(
          active.map((task) => task.id),
          [neverSynced.id, syncedEarly.id, syncedLate.id],
        )
      })

      storeTest('orders active tasks by their last committed sync, and shows it in every read', async (store) => {
        const [first, second, third] = [buildTask(), buildTask(), buildTask()]
        await createTasks(store, [first, second, third])
        await commitAsSync(store, { taskId: first.id, events: [], cursor: syncCursor(9, []) }, 9)
        await commitAsSync(store, { taskId: third.id, events: [], cursor: syncCursor(4, []) }, 4)
        assert.deepEqual(
          (await store.listActiveTasks()).map((task) => [task.id, task.lastSyncedAt]),
          [
            [second.id, null],
            [third.id, minuteOf(4)],
            [first.id, minuteOf(9)],
          ],
        )
        const listed = (await store.listTasks({})).items.find((task) => task.id === first.id)
        assert.equal(listed?.lastSyncedAt, minuteOf(9))
        assert.equal((await store.findTask(first.sessionName))?.lastSyncedAt, minuteOf(9))
      })
    })

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

    describe('deleteTask', () => {
      storeTest('hides a deleted task from lookups and lists but keeps its history', async (store) => {
        const kept = buildTask({ state: 'in_progress' })
        const deleted = buildTask({
          id: '01JDELAAAAAAAAAAAAAAAAAAAA',
          state: 'in_progress',
          sessionName: 'sessions/555000111',
        })
        await createTasks(store, [kept, deleted])
        await store.addChatMessages(deleted.id, [chatMessage('a1', 'Hello')])

        assert.equal(await store.deleteTask(deleted.id), true)

        assert.equal(await store.getTask(deleted.id), undefined)
        assert.equal(await store.findTask(deleted.id), undefined)
        assert.equal(await store.findTask('sessions/555000111'), undefined)
        assert.equal(await store.findTask('01JDEL'), undefined)
        assert.deepEqual(await listIds(store)({}), [kept.id])
        assert.deepEqual(
          (await store.listActiveTasks()).map((task) => task.id),
          [kept.id],
        )
        const history = (await store.getEvents(deleted.id)).items
        assert.deepEqual(
          history.map((event) => event.type),
          ['deleted', 'created'],
        )
        await assert.rejects(
          store.updateTask({ ...deleted, state: 'failed' }, [], { expectedVersion: 1 }),
          refusedAs(TaskNotFoundError),
        )
        assert.equal(await store.deleteTask(deleted.id), false, 'a deleted task is not deleted twice')
      })

      storeTest('purges a task with all its history, messages and files', async (store) => {
        const task = buildTask()
        const other = buildTask()
        await createTasks(store, [task, other])
        await store.addChatMessages(task.id, [chatMessage('a1', 'Hello')])
        await store.setSourceFiles(task.id, [{ path: 'src/a.ts', changeType: 'modified' }])

        assert.equal(await store.deleteTask(task.id, { purge: true }), true)

        assert.equal(await store.getTask(task.id), undefined)
        assert.deepEqual((await store.getEvents(task.id)).items, [])
        assert.deepEqual((await store.listChatMessages(task.id)).items, [])
        assert.deepEqual(await store.listSourceFiles(task.id), [])
        assert.equal(await store.deleteTask(task.id, { purge: true }), false)
        assert.equal((await store.getEvents(other.id)).items.length, 1, 'other tasks keep their history')
      })

      storeTest('purges a task that was deleted before', async (store) => {
        const task = buildTask()
        await createTasks(store, [task])
        assert.equal(await store.deleteTask(task.id), true)
        assert.equal(await store.deleteTask(task.id, { purge: true }), true)
        assert.deepEqual((await store.getEvents(task.id)).items, [])
      })

      storeTest('answers false for a task that does not exist', async (store) => {
        assert.equal(await store.deleteTask('01NOSUCHTASK0000000000000'), false)
        assert.equal(await store.deleteTask('01NOSUCHTASK0000000000000', { purge: true }), false)
      })
    })

    describe('chat messages', () => {
      storeTest('records each activity once and says how many messages were new', async (store) => {
        const task = buildTask()
        await createTasks(store, [task])
        const first = [chatMessage('a1', 'Please add tests', 'user', 1), chatMessage('a2', 'Done: 3 tests', 'agent', 2)]
        assert.equal(await store.addChatMessages(task.id, first), 2)
        const again = [...first, chatMessage('a3', 'Thanks', 'user', 3)]
        assert.equal(await store.addChatMessages(task.id, again), 1, 'a sync that repeats records it once')
        assert.equal(await store.addChatMessages(task.id, []), 0)

        const messages = (await store.listChatMessages(task.id)).items
        assert.deepEqual(
          messages.map((message) => [message.activityId, message.role, message.text]),
          [
            ['a1', 'user', 'Please add tests'],
            ['a2', 'agent', 'Done: 3 tests'],
            ['a3', 'user', 'Thanks'],
          ],
        )
        assert.ok(messages.every((message) => message.taskId === task.id && message.id.length > 0))
        assert.equal(messages[0]?.at, chatMessage('a1', '', 'user', 1).at)
      })

      storeTest('keeps every message that has no activity id', async (store) => {
        const task = buildTask()
        await createTasks(store, [task])
        const note = { role: 'user' as const, text: 'Also fix the docs', activityId: null, at: minuteOf(1) }
        assert.equal(await store.addChatMessages(task.id, [note, note]), 2)
        assert.equal((await store.listChatMessages(task.id)).items.length, 2)
      })

      storeTest('lists messages oldest first, page by page', async (store) => {
        const task = buildTask()
        await createTasks(store, [task])
        await store.addChatMessages(
          task.id,
          Array.from({ length: 7 }, (_, index) => chatMessage(`a${index}`, `message ${index}`, 'agent', index)),
        )
        const texts: string[] = []
        let cursor: string | undefined
        let pages = 0
        do {
          const page = await store.listChatMessages(task.id, { limit: 3, cursor })
          texts.push(...page.items.map((message) => message.text))
          cursor = page.nextCursor || undefined
          pages += 1
        } while (cursor !== undefined)
        assert.deepEqual(
          texts,
          Array.from({ length: 7 }, (_, index) => `message ${index}`),
        )
        assert.equal(pages, 3)
      })

      storeTest('refuses messages for an unknown task', async (store) => {
        await assert.rejects(
          store.addChatMessages('01NOSUCHTASK0000000000000', [chatMessage('a1', 'Hi')]),
          refusedAs(TaskNotFoundError),
        )
      })
    })

    describe('source files', () => {
      storeTest('replaces the set of changed files as a whole', async (store) => {
        const task = buildTask()
        await createTasks(store, [task])
        await store.setSourceFiles(task.id, [
          { path: 'src/upload.ts', changeType: 'modified' },
          { path: 'README.md', changeType: 'added' },
        ])
        assert.deepEqual(await store.listSourceFiles(task.id), [
          { taskId: task.id, path: 'README.md', changeType: 'added' },
          { taskId: task.id, path: 'src/upload.ts', changeType: 'modified' },
        ])
        await store.setSourceFiles(task.id, [
          { path: 'src/upload.ts', changeType: 'deleted' },
          { path: 'test/upload.test.ts', changeType: 'added' },
        ])
        assert.deepEqual(await store.listSourceFiles(task.id), [
          { taskId: task.id, path: 'src/upload.ts', changeType: 'deleted' },
          { taskId: task.id, path: 'test/upload.test.ts', changeType: 'added' },
        ])
        await store.setSourceFiles(task.id, [])
        assert.deepEqual(await store.listSourceFiles(task.id), [])
      })

      storeTest('refuses files for an unknown task', async (store) => {
        await assert.rejects(
          store.setSourceFiles('01NOSUCHTASK0000000000000', [{ path: 'a', changeType: 'added' }]),
          refusedAs(TaskNotFoundError),
        )
      })
    })

    describe('sync writes', () => {
      storeTest('writes the cursor, messages and files of a sync together with the task', async (store) => {
        const task = buildTask({ state: 'planning' })
        await createTasks(store, [task])
        assert.deepEqual(
          await store.getSyncState(task.id),
          { cursor: null, lastSyncedAt: null, leaseHolder: null, leaseUntil: null },
          'no cursor before the first sync',
        )

        const first = syncCursor(1, ['sessions/1/activities/a1', 'sessions/1/activities/a2'])
        const changed: Task = { ...task, state: 'in_progress', updatedAt: minuteOf(1) }
        const stored = committed(
          await commitAsSync(store, {
            taskId: task.id,
            task: changed,
            events: [{ type: 'plan_generated', data: { steps: 2 }, at: minuteOf(1) }],
            cursor: first,
            chatMessages: [chatMessage('a1', 'Plan ready', 'agent', 1), chatMessage('a2', 'Go', 'user', 1)],
            sourceFiles: [{ path: 'src/a.ts', changeType: 'modified' }],
          }),
        )
        const expected = { ...changed, version: 2, lastSyncedAt: minuteOf(1) }
        assert.deepEqual(stored, expected, 'returns the task as stored, with its new version and sync')
        assert.deepEqual(await store.getTask(task.id), expected)
        assert.deepEqual((await store.getSyncState(task.id))?.cursor, first)
        assert.deepEqual((await store.getEvents(task.id)).items.map((event) => event.type).sort(), [
          'created',
          'plan_generated',
        ])
        assert.deepEqual(await store.listSourceFiles(task.id), [
          { taskId: task.id, path: 'src/a.ts', changeType: 'modified' },
        ])

        // The same activities again (an interrupted sync repeated) plus one new: recorded once each.
        const second = syncCursor(2, ['sessions/1/activities/a3'])
        await commitAsSync(
          store,
          {
            taskId: task.id,
            events: [],
            cursor: second,
            chatMessages: [chatMessage('a2', 'Go', 'user', 1), chatMessage('a3', 'Done', 'agent', 2)],
          },
          2,
        )
        assert.deepEqual(
          (await store.listChatMessages(task.id)).items.map((message) => message.activityId),
          ['a1', 'a2', 'a3'],
        )
        assert.deepEqual((await store.getSyncState(task.id))?.cursor, second)
        assert.equal((await store.listSourceFiles(task.id)).length, 1, 'files stay when the sync gives none')

        await commitAsSync(store, { taskId: task.id, events: [], cursor: second, sourceFiles: [] }, 3)
        assert.deepEqual(await store.listSourceFiles(task.id), [], 'an empty list of files replaces them')
      })

      storeTest('binds a message recorded without an activity to its activity, keeping it once', async (store) => {
        const task = buildTask({ state: 'awaiting_user_feedback' })
        await createTasks(store, [task])
        // As `jjm message` records it: before Jules has made an activity of it.
        await store.addChatMessages(task.id, [
          { role: 'user', text: 'Only the code', activityId: null, at: minuteOf(2) },
        ])
        const [sent] = (await store.listChatMessages(task.id)).items
        assert.ok(sent)

        const sync = {
          taskId: task.id,
          events: [],
          cursor: syncCursor(3, ['sessions/1/activities/a2']),
          chatMessages: [chatMessage('a2', 'Understood', 'agent', 3)],
          boundMessages: [{ messageId: sent.id, activityId: 'a1', at: minuteOf(1) }],
        }
        await commitAsSync(store, sync)
        const conversation = () =>
          store
            .listChatMessages(task.id)
            .then((page) => page.items.map(({ id, activityId, text, at }) => ({ id, activityId, text, at })))
        const bound = [
          { id: sent.id, activityId: 'a1', text: 'Only the code', at: minuteOf(1) },
          {
            id: (await store.listChatMessages(task.id)).items[1]?.id,
            activityId: 'a2',
            text: 'Understood',
            at: minuteOf(3),
          },
        ]
        assert.deepEqual(await conversation(), bound, 'bound in place, at the time of its activity')

        // The sync repeated, and the activity read again as a message: nothing changes.
        await commitAsSync(store, sync)
        await commitAsSync(store, {
          taskId: task.id,
          events: [],
          cursor: sync.cursor,
          chatMessages: [chatMessage('a1', 'Only the code', 'user', 1)],
        })
        assert.deepEqual(await conversation(), bound)
        // A message already bound keeps its activity.
        await commitAsSync(store, {
          ...sync,
          boundMessages: [{ messageId: sent.id, activityId: 'a9', at: minuteOf(9) }],
        })
        assert.deepEqual(await conversation(), bound)
      })

      storeTest('writes nothing of a sync whose event cannot be written', async (store) => {
        const task = buildTask({ state: 'planning' })
        await createTasks(store, [task])
        const before = syncCursor(1, ['sessions/1/activities/a1'])
        await commitAsSync(store, {
          taskId: task.id,
          events: [],
          cursor: before,
          chatMessages: [chatMessage('a1', 'Plan ready')],
          sourceFiles: [{ path: 'src/a.ts', changeType: 'added' }],
        })

        // No store can write a BigInt as JSON: the event fails after the other writes were prepared.
        const unwritable = { type: 'progress', data: { size: 1n } as unknown as Record<string, unknown> }
        await assert.rejects(
          commitAsSync(
            store,
            {
              taskId: task.id,
              task: { ...task, state: 'completed' },
              events: [unwritable],
              cursor: syncCursor(2, ['sessions/1/activities/a2']),
              chatMessages: [chatMessage('a2', 'Finished')],
              sourceFiles: [{ path: 'src/b.ts', changeType: 'added' }],
            },
            2,
          ),
        )
        const state = await store.getSyncState(task.id)
        assert.deepEqual(state?.cursor, before)
        assert.equal(state?.lastSyncedAt, minuteOf(1))
        const stored = await store.getTask(task.id)
        assert.equal(stored?.state, 'planning')
        assert.equal(stored?.version, 1)
        assert.deepEqual(
          (await store.listChatMessages(task.id)).items.map((message) => message.activityId),
          ['a1'],
        )
        assert.deepEqual(
          (await store.listSourceFiles(task.id)).map((file) => file.path),
          ['src/a.ts'],
        )
        assert.equal((await store.getEvents(task.id)).items.length, 1)
      })

      storeTest('claims no lease on an unknown task, and records nothing of its sync', async (store) => {
        const ghost = buildTask()
        assert.deepEqual(await store.claimSyncLeases([ghost.id], syncHolder, 60_000), [])
        const result = await store.commitSync({
          taskId: ghost.id,
          holder: syncHolder,
          events: [{ type: 'progress', data: {} }],
          cursor: syncCursor(1, []),
          syncedAt: minuteOf(1),
          chatMessages: [chatMessage('a1', 'Hi')],
        })
        assert.deepEqual(result, { outcome: 'lease_lost' })
        assert.equal(await store.getSyncState(ghost.id), undefined)
        assert.deepEqual((await store.listChatMessages(ghost.id)).items, [])
        assert.deepEqual((await store.getEvents(ghost.id)).items, [])
      })

      storeTest(
        'leaves the task row alone on a sync without a task, but records its events and moves lastSyncedAt',
        async (store) => {
          const task = buildTask({ state: 'in_progress' })
          await createTasks(store, [task])
          const result = committed(
            await commitAsSync(
              store,
              {
                taskId: task.id,
                events: [{ type: 'progress', data: { step: 1 }, at: minuteOf(5) }],
                cursor: syncCursor(5, ['sessions/1/activities/p1']),
              },
              5,
            ),
          )
          const expected = { ...task, lastSyncedAt: minuteOf(5) }
          assert.deepEqual(result, expected, 'the task as it was, with the new lastSyncedAt')
          const stored = await store.getTask(task.id)
          assert.deepEqual(stored, expected)
          assert.equal(stored?.version, 1, 'the version stays')
          assert.equal(stored?.updatedAt, task.updatedAt, 'updatedAt stays')
          assert.deepEqual((await store.getEvents(task.id)).items.map((event) => event.type).sort(), [
            'created',
            'progress',
          ])
          assert.equal((await store.getSyncState(task.id))?.lastSyncedAt, minuteOf(5))
        },
      )

      storeTest('never changes lastSyncedAt or the cursor on an update', async (store) => {
        const task = buildTask()
        await createTasks(store, [task])
        const cursor = syncCursor(3, ['sessions/1/activities/a1'])
        const synced = committed(await commitAsSync(store, { taskId: task.id, events: [], cursor }, 3))
        // An edit made from a copy read before the sync, and one that claims another lastSyncedAt.
        const edited = await store.updateTask({ ...task, title: 'Renamed', lastSyncedAt: minuteOf(9) }, [], {
          expectedVersion: synced.version,
        })
        assert.equal(edited.lastSyncedAt, minuteOf(3))
        assert.equal(edited.title, 'Renamed')
        const state = await store.getSyncState(task.id)
        assert.equal(state?.lastSyncedAt, minuteOf(3))
        assert.deepEqual(state?.cursor, cursor)
        assert.equal((await store.getTask(task.id))?.lastSyncedAt, minuteOf(3))
      })

      storeTest('records nothing for a holder whose lease ran out', async (store) => {
        const task = buildTask()
        await createTasks(store, [task])
        // A lease of 0 ms has run out as soon as it is taken, by the store's clock.
        assert.deepEqual(await store.claimSyncLeases([task.id], 'daemon-a', 0), [task.id])
        const result = await store.commitSync({
          taskId: task.id,
          holder: 'daemon-a',
          task: { ...task, state: 'completed' },
          events: [{ type: 'completed', data: {} }],
          cursor: syncCursor(2, ['sessions/1/activities/a2']),
          syncedAt: minuteOf(2),
        })
        assert.deepEqual(result, { outcome: 'lease_lost' })
        assert.deepEqual(await store.getTask(task.id), task)
        assert.deepEqual(
          (await store.getEvents(task.id)).items.map((event) => event.type),
          ['created'],
        )
        assert.equal((await store.getSyncState(task.id))?.cursor, null)
      })

      storeTest('records nothing for a holder whose lease another holder took over', async (store) => {
        const task = buildTask()
        await createTasks(store, [task])
        assert.deepEqual(await store.claimSyncLeases([task.id], 'daemon-a', 0), [task.id])
        assert.deepEqual(await store.claimSyncLeases([task.id], 'daemon-b', 60_000), [task.id])
        const stale = await store.commitSync({
          taskId: task.id,
          holder: 'daemon-a',
          events: [{ type: 'progress', data: {} }],
          cursor: syncCursor(2, []),
          syncedAt: minuteOf(2),
        })
        assert.deepEqual(stale, { outcome: 'lease_lost' })
        assert.equal((await store.getEvents(task.id)).items.length, 1)
        assert.equal((await store.getSyncState(task.id))?.lastSyncedAt, null)
        // The new holder's commit goes through.
        const result = await store.commitSync({
          taskId: task.id,
          holder: 'daemon-b',
          events: [],
          cursor: syncCursor(3, []),
          syncedAt: minuteOf(3),
        })
        assert.equal(result.outcome, 'committed')
      })

      storeTest(
        'records nothing of a sync computed from a stale task, and returns the task as stored',
        async (store) => {
          const task = buildTask({ state: 'in_progress' })
          await createTasks(store, [task])
          const before = syncCursor(1, ['sessions/1/activities/a1'])
          await commitAsSync(store, { taskId: task.id, events: [], cursor: before })
          // A person edits the task while the sync talks to Jules.
          const edited = await store.updateTask({ ...task, title: 'Edited' }, [], { expectedVersion: 1 })
          const result = await commitAsSync(
            store,
            {
              taskId: task.id,
              task: { ...task, state: 'completed' },
              events: [{ type: 'completed', data: {} }],
              cursor: syncCursor(2, ['sessions/1/activities/a2']),
              chatMessages: [chatMessage('a2', 'Finished')],
              sourceFiles: [{ path: 'src/b.ts', changeType: 'added' }],
            },
            2,
          )
          assert.deepEqual(result, { outcome: 'stale', task: edited })
          const state = await store.getSyncState(task.id)
          assert.deepEqual(state?.cursor, before, 'the cursor stays')
          assert.equal(state?.lastSyncedAt, minuteOf(1))
          assert.deepEqual(await store.getTask(task.id), edited)
          assert.deepEqual(
            (await store.getEvents(task.id)).items.map((event) => event.type),
            ['created'],
          )
          assert.deepEqual(
            (await store.listChatMessages(task.id)).items.map((message) => message.activityId),
            [],
          )
          assert.deepEqual(await store.listSourceFiles(task.id), [])
        },
      )
    })

    describe('sync leases', () => {
      storeTest('gives two holders claiming the same tasks disjoint sets', async (store) => {
        const tasks = Array.from({ length: 6 }, () => buildTask())
        await createTasks(store, tasks)
        const ids = tasks.map((task) => task.id)
        const [a, b] = await Promise.all([
          store.claimSyncLeases(ids, 'daemon-a', 60_000),
          store.claimSyncLeases([...ids].reverse(), 'daemon-b', 60_000),
        ])
        assert.deepEqual(
          [...(a ?? []), ...(b ?? [])].sort(),
          [...ids].sort(),
          'every task claimed by exactly one holder',
        )
        // While the leases live, the other holder gets none of them; the holder itself keeps its own.
        assert.deepEqual(await store.claimSyncLeases(a ?? [], 'daemon-b', 60_000), [])
        assert.deepEqual((await store.claimSyncLeases(a ?? [], 'daemon-a', 60_000)).sort(), [...(a ?? [])].sort())
        const state = await store.getSyncState(ids[0] ?? '')
        assert.ok(state?.leaseHolder === 'daemon-a' || state?.leaseHolder === 'daemon-b')
        assert.ok(state?.leaseUntil !== null && Date.parse(state?.leaseUntil ?? '') > 0)
      })

      storeTest('lets another holder take over a lease that ran out', async (store) => {
        const task = buildTask()
        await createTasks(store, [task])
        assert.deepEqual(await store.claimSyncLeases([task.id], 'daemon-a', 0), [task.id])
        assert.deepEqual(await store.claimSyncLeases([task.id], 'daemon-b', 60_000), [task.id])
        assert.equal((await store.getSyncState(task.id))?.leaseHolder, 'daemon-b')
        assert.deepEqual(await store.claimSyncLeases([task.id], 'daemon-a', 60_000), [])
      })

      storeTest('skips, with syncedBefore, a task synced at or after that instant', async (store) => {
        const [fresh, old, never] = [buildTask(), buildTask(), buildTask()]
        await createTasks(store, [fresh, old, never])
        await commitAsSync(store, { taskId: fresh.id, events: [], cursor: syncCursor(5, []) }, 5)
        await commitAsSync(store, { taskId: old.id, events: [], cursor: syncCursor(1, []) }, 1)
        await store.releaseSyncLeases([fresh.id, old.id], syncHolder)
        const claimed = await store.claimSyncLeases([fresh.id, old.id, never.id], 'daemon-a', 60_000, {
          syncedBefore: minuteOf(5),
        })
        assert.deepEqual([...claimed].sort(), [old.id, never.id].sort())
      })

      storeTest('renews only the leases the holder still holds', async (store) => {
        const [kept, lost] = [buildTask(), buildTask()]
        await createTasks(store, [kept, lost])
        assert.deepEqual(
          (await store.claimSyncLeases([kept.id, lost.id], 'daemon-a', 0)).sort(),
          [kept.id, lost.id].sort(),
        )
        assert.deepEqual(await store.claimSyncLeases([lost.id], 'daemon-b', 60_000), [lost.id])
        assert.deepEqual(await store.renewSyncLeases([kept.id, lost.id], 'daemon-a', 60_000), [kept.id])
        // Renewed: no longer free for another holder.
        assert.deepEqual(await store.claimSyncLeases([kept.id], 'daemon-b', 60_000), [])
        assert.equal((await store.getSyncState(lost.id))?.leaseHolder, 'daemon-b')
      })

      storeTest('frees a released lease for any holder, and releases only the holder’s own', async (store) => {
        const [mine, theirs] = [buildTask(), buildTask()]
        await createTasks(store, [mine, theirs])
        await store.claimSyncLeases([mine.id], 'daemon-a', 60_000)
        await store.claimSyncLeases([theirs.id], 'daemon-b', 60_000)
        await store.releaseSyncLeases([mine.id, theirs.id], 'daemon-a')
        assert.deepEqual(await store.getSyncState(mine.id), {
          cursor: null,
          lastSyncedAt: null,
          leaseHolder: null,
          leaseUntil: null,
        })
        assert.equal((await store.getSyncState(theirs.id))?.leaseHolder, 'daemon-b')
        assert.deepEqual(await store.claimSyncLeases([mine.id, theirs.id], 'daemon-c', 60_000), [mine.id])
      })

      storeTest('never claims a deleted task', async (store) => {
        const [kept, deleted] = [buildTask(), buildTask()]
        await createTasks(store, [kept, deleted])
        await store.deleteTask(deleted.id)
        assert.deepEqual(await store.claimSyncLeases([kept.id, deleted.id], 'daemon-a', 60_000), [kept.id])
        assert.equal(await store.getSyncState(deleted.id), undefined)
      })
    })

    describe('creation intents', () => {
      storeTest('records an intent once: the second begin returns it unchanged', async (store) => {
        const first = await store.beginCreation('key-1', hashA, minuteOf(1), leaseOf('attempt-1', 3))
        assert.equal(first.created, true)
        assert.equal(first.claimed, true)
        assert.deepEqual(first.intent, {
          key: 'key-1',
          requestHash: hashA,
          state: 'pending',
          sessionName: null,
          taskId: null,
          error: null,
          createdAt: minuteOf(1),
          updatedAt: minuteOf(1),
          leaseHolder: 'attempt-1',
          leaseExpiresAt: minuteOf(3),
        })
        const again = await store.beginCreation('key-1', hashA, minuteOf(2), leaseOf('attempt-2', 4))
        assert.deepEqual(again, { intent: first.intent, created: false, claimed: false })
        // Another request under the same key gets the first one back, for the caller to refuse.
        assert.deepEqual(await store.beginCreation('key-1', hashB, minuteOf(3), leaseOf('attempt-3', 5)), {
          intent: first.intent,
          created: false,
          claimed: false,
        })
        assert.equal((await store.beginCreation('key-2', hashB, minuteOf(3), leaseOf('attempt-4', 5))).created, true)
      })

      storeTest('lets exactly one of many concurrent begins with one key record and claim it', async (store) => {
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, index) =>
            store.beginCreation('race', hashA, minuteOf(index), leaseOf(`attempt-${index}`, 10)),
          ),
        )
        assert.equal(results.filter((result) => result.created).length, 1)
        assert.equal(results.filter((result) => result.claimed).length, 1)
        const winner = results.find((result) => result.created)
        assert.ok(results.every((result) => result.intent.createdAt === winner?.intent.createdAt))
        assert.ok(results.every((result) => result.intent.leaseHolder === winner?.intent.leaseHolder))
      })

      storeTest(
        'lets exactly one of many concurrent attempts take over an intent whose lease ran out',
        async (store) => {
          await store.beginCreation('race', hashA, minuteOf(1), leaseOf('dead', 3))
          await store.noteCreationSession('race', 'sessions/777', minuteOf(2))
          const results = await Promise.all(
            Array.from({ length: 8 }, (_, index) =>
              store.beginCreation('race', hashA, minuteOf(3), leaseOf(`attempt-${index}`, 5)),
            ),
          )
          const winners = results.filter((result) => result.claimed)
          assert.equal(winners.length, 1, 'the lease expiring at minute 3 is free at minute 3')
          assert.equal(results.filter((result) => result.created).length, 0, 'a take-over starts no new attempt')
          const intent = winners[0]?.intent
          assert.equal(intent?.state, 'session_created', 'the new holder finds what the dead one left')
          assert.equal(intent?.sessionName, 'sessions/777')
          assert.equal(intent?.createdAt, minuteOf(1))
          assert.equal(intent?.leaseExpiresAt, minuteOf(5))
          assert.ok(results.every((result) => result.intent.leaseHolder === intent?.leaseHolder))
        },
      )

      storeTest('keeps a live lease from everyone else until its holder releases it', async (store) => {
        await store.beginCreation('key-1', hashA, minuteOf(1), leaseOf('holder', 10))
        const refused = await store.beginCreation('key-1', hashA, minuteOf(9), leaseOf('other', 12))
        assert.equal(refused.claimed, false)
        assert.equal(refused.intent.leaseHolder, 'holder')

        await store.releaseCreation('key-1', 'other')
        assert.equal((await store.beginCreation('key-1', hashA, minuteOf(9), leaseOf('other', 12))).claimed, false)
        await store.releaseCreation('key-1', 'holder')
        const taken = await store.beginCreation('key-1', hashA, minuteOf(9), leaseOf('other', 12))
        assert.equal(taken.claimed, true, 'a released key is free before its lease would have run out')
        assert.equal(taken.created, false)
        assert.equal(taken.intent.state, 'pending')
        assert.equal(taken.intent.leaseHolder, 'other')
        // Releasing a key nobody holds, or nobody ever began, is harmless.
        await store.releaseCreation('key-1', 'holder')
        await store.releaseCreation('never-begun', 'holder')
        assert.equal((await store.beginCreation('key-1', hashA, minuteOf(11), leaseOf('third', 13))).claimed, false)
      })

      storeTest(
        'keeps a key held after an uncertain attempt locked until the hold ends, then lets it be taken over',
        async (store) => {
          await store.beginCreation('key-1', hashA, minuteOf(1), leaseOf('holder', 3))
          // Not the holder: nothing changes.
          await store.holdCreation('key-1', 'other', minuteOf(20))
          await store.holdCreation('never-begun', 'holder', minuteOf(20))
          await store.holdCreation('key-1', 'holder', minuteOf(8))
          const during = await store.beginCreation('key-1', hashA, minuteOf(5), leaseOf('retry', 6))
          assert.equal(during.claimed, false, 'locked past the lease it began with')
          assert.equal(during.intent.leaseExpiresAt, minuteOf(8))
          assert.equal(during.intent.state, 'pending')
          const after = await store.beginCreation('key-1', hashA, minuteOf(8), leaseOf('retry', 9))
          assert.equal(after.claimed, true)
          assert.equal(after.created, false, 'still pending: the taker looks for the earlier session first')
          assert.equal(after.intent.leaseHolder, 'retry')
        },
      )

      storeTest('follows an intent from pending to done, bound to its task in the same write', async (store) => {
        await store.beginCreation('key-1', hashA, minuteOf(1), leaseOf('attempt-1', 2))
        await store.noteCreationSession('key-1', 'sessions/777', minuteOf(2))
        const noted = await store.beginCreation('key-1', hashA, minuteOf(3), leaseOf('attempt-2', 4))
        assert.equal(noted.created, false)
        assert.equal(noted.intent.state, 'session_created')
        assert.equal(noted.intent.sessionName, 'sessions/777')

        const task = buildTask({ sessionName: 'sessions/777' })
        await store.createTask(task, [{ type: 'created', data: {} }], { idempotencyKey: 'key-1' })
        const done = await store.beginCreation('key-1', hashA, minuteOf(5), leaseOf('attempt-3', 6))
        assert.equal(done.claimed, false, 'a done intent is replayed, never claimed')
        assert.equal(done.intent.state, 'done')
        assert.equal(done.intent.taskId, task.id)
        assert.equal(done.intent.sessionName, 'sessions/777')
        assert.deepEqual(await store.getTask(task.id), task)

        // A late failure or session note does not undo a done intent.
        await store.failCreation('key-1', 'timed out', minuteOf(5))
        await store.noteCreationSession('key-1', 'sessions/888', minuteOf(5))
        assert.deepEqual(
          (await store.beginCreation('key-1', hashA, minuteOf(6), leaseOf('attempt-4', 7))).intent,
          done.intent,
        )
      })

      storeTest('refuses a second task under a done key, and a key never begun, recording no task', async (store) => {
        await store.beginCreation('key-1', hashA, minuteOf(1), leaseOf('attempt-1', 3))
        await store.createTask(buildTask(), [], { idempotencyKey: 'key-1' })
        const second = buildTask()
        await assert.rejects(
          store.createTask(second, [{ type: 'created', data: {} }], { idempotencyKey: 'key-1' }),
          refusedAs(StorageError),
        )
        assert.equal(await store.getTask(second.id), undefined)
        assert.deepEqual((await store.getEvents(second.id)).items, [])

        const third = buildTask()
        await assert.rejects(store.createTask(third, [], { idempotencyKey: 'never-begun' }), refusedAs(StorageError))
        assert.equal(await store.getTask(third.id), undefined)
        await assert.rejects(
          store.noteCreationSession('never-begun', 'sessions/1', minuteOf(1)),
          refusedAs(StorageError),
        )
        await assert.rejects(store.failCreation('never-begun', 'no', minuteOf(1)), refusedAs(StorageError))
      })

      storeTest('lets a failed intent be begun again with the same request', async (store) => {
        await store.beginCreation('key-1', hashA, minuteOf(1), leaseOf('attempt-1', 3))
        await store.failCreation('key-1', 'Jules refused: unknown repository', minuteOf(2))
        await store.releaseCreation('key-1', 'attempt-1')
        const failed = await store.beginCreation('key-1', hashB, minuteOf(3), leaseOf('attempt-2', 5))
        assert.equal(failed.created, false, 'another request does not take over a failed key')
        assert.equal(failed.claimed, false)
        assert.equal(failed.intent.state, 'failed')
        assert.equal(failed.intent.error, 'Jules refused: unknown repository')

        const retried = await store.beginCreation('key-1', hashA, minuteOf(4), leaseOf('attempt-3', 6))
        assert.equal(retried.created, true)
        assert.equal(retried.claimed, true)
        assert.equal(retried.intent.state, 'pending')
        assert.equal(retried.intent.error, null)
        assert.equal(retried.intent.createdAt, minuteOf(1))
        assert.equal(retried.intent.updatedAt, minuteOf(4))
        assert.equal(retried.intent.leaseHolder, 'attempt-3')
        assert.equal((await store.beginCreation('key-1', hashA, minuteOf(5), leaseOf('attempt-4', 7))).created, false)
      })

      storeTest('keeps the intent of a purged task, without its task', async (store) => {
        const task = buildTask()
        await store.beginCreation('key-1', hashA, minuteOf(1), leaseOf('attempt-1', 3))
        await store.createTask(task, [], { idempotencyKey: 'key-1' })
        assert.equal(await store.deleteTask(task.id, { purge: true }), true)
        const { intent, created, claimed } = await store.beginCreation('key-1', hashA, minuteOf(4), leaseOf('a-2', 5))
        assert.equal(created, false, 'a purge does not let the key create a second session')
        assert.equal(claimed, false)
        assert.equal(intent.state, 'done')
        assert.equal(intent.taskId, null)
      })
    })

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
      const outboxOfFour = async (store: TaskStore) => {
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
        assert.deepEqual(
          [untouched?.taskId, untouched?.attempts, untouched?.nextAttemptAt],
          [second.id, 0, minuteOf(3)],
        )

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

    describe('getRelations', () => {
      storeTest('loads the files and latest messages of many tasks at once', async (store) => {
        const busy = buildTask()
        const quiet = buildTask()
        const bare = buildTask()
        await createTasks(store, [busy, quiet, bare])
        await store.addChatMessages(
          busy.id,
          Array.from({ length: 5 }, (_, index) => chatMessage(`b${index}`, `busy ${index}`, 'agent', index)),
        )
        await store.addChatMessages(quiet.id, [chatMessage('q0', 'quiet 0', 'user', 0)])
        await store.setSourceFiles(busy.id, [
          { path: 'b.ts', changeType: 'added' },
          { path: 'a.ts', changeType: 'modified' },
        ])

        const relations = await store.getRelations([busy.id, quiet.id, bare.id])
        assert.deepEqual([...relations.keys()].sort(), [busy.id, quiet.id, bare.id].sort())
        assert.deepEqual(
          relations.get(busy.id)?.chatMessages.map((message) => message.text),
          ['busy 2', 'busy 3', 'busy 4'],
          'the latest three, oldest first',
        )
        assert.deepEqual(
          relations.get(busy.id)?.sourceFiles.map((file) => file.path),
          ['a.ts', 'b.ts'],
        )
        assert.deepEqual(
          relations.get(quiet.id)?.chatMessages.map((message) => message.text),
          ['quiet 0'],
        )
        assert.deepEqual(relations.get(bare.id), { sourceFiles: [], chatMessages: [] })

        const one = await store.getRelations([busy.id], { messagesPerTask: 1 })
        assert.deepEqual(
          one.get(busy.id)?.chatMessages.map((message) => message.text),
          ['busy 4'],
        )
        assert.equal((await store.getRelations([])).size, 0)
      })
    })
  })
}

/** The holder the suite's syncs commit as. */
const syncHolder = 'contract-sync'

/** Takes `syncHolder`'s lease on the task and commits `commit` under it, synced at `minuteOf(minute)`. */
async function commitAsSync(
  store: TaskStore,
  commit: Omit<SyncCommit, 'holder' | 'syncedAt'>,
  minute = 1,
): Promise<SyncCommitResult> {
  assert.deepEqual(await store.claimSyncLeases([commit.taskId], syncHolder, 60_000), [commit.taskId])
  return store.commitSync({ holder: syncHolder, syncedAt: minuteOf(minute), ...commit })
}

/** The task a committed sync returned; fails the test on any other outcome. */
function committed(result: SyncCommitResult): Task {
  assert.equal(result.outcome, 'committed')
  return (result as { task: Task }).task
}

async function createTasks(store: TaskStore, tasks: Task[]): Promise<void> {
  for (const task of tasks) await store.createTask(task, [{ type: 'created', data: {} }])
}

function listIds(store: TaskStore): (filter: TaskFilter) => Promise<string[]> {
  return async (filter) => (await store.listTasks(filter)).items.map((task) => task.id)
}

const hashA = 'a'.repeat(64)
const hashB = 'b'.repeat(64)

/** A lease for attempt `holder` that runs out at minute `until`. */
function leaseOf(holder: string, until: number): CreationLease {
  return { holder, expiresAt: minuteOf(until) }
}

function syncCursor(minute: number, names: string[]): SyncCursor {
  return { sessionUpdateTime: minuteOf(minute), lastActivityTime: minuteOf(minute), lastActivityNames: names }
}

function notification(task: Task, notifier: string, eventType: string, minute: number): NewNotification {
  return {
    notifier,
    taskId: task.id,
    eventType,
    payload: {
      taskId: task.id,
      eventType,
      title: `${eventType}: ${task.title}`,
      text: `Task ${task.id}: ${eventType}`,
      url: 'https://jules.google.com/session/1',
      task,
      at: minuteOf(minute),
    },
  }
}

function minuteOf(n: number): string {
  return new Date(Date.UTC(2026, 3, 1, 0, n)).toISOString()
}

function chatMessage(activityId: string, text: string, role: 'user' | 'agent' = 'agent', minute = 0): NewChatMessage {
  return { activityId, text, role, at: minuteOf(minute) }
}
