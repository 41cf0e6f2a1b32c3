/**
 * The TaskRecords contract suite: what every TaskRecords implementation does
 * with tasks: create, read, find, list, version-checked update, delete. Its
 * tests also read events, add messages and files, and sync, to see what lists
 * and deletes do with them. It arranges its tests through the other ports
 * named in `TaskRecordsContractStore`.
 */
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import {
  StorageError,
  TaskNotFoundError,
  TaskVersionConflictError,
  toJjmError,
  ValidationError,
} from '../../core/errors.js'
import type { SyncStates, TaskConversation, TaskEventLog, TaskRecords } from '../../core/ports.js'
import type { Task } from '../../core/task.js'
import { buildTask } from '../build-task.js'
import {
  type ContractOptions,
  chatMessage,
  commitAsSync,
  createTasks,
  describeContract,
  listIds,
  minuteOf,
  type OpenStore,
  refusedAs,
  type StoreTest,
  syncCursor,
} from './support.js'

/** The ports the TaskRecords suite calls. */
export type TaskRecordsContractStore = TaskRecords & TaskEventLog & TaskConversation & SyncStates

/** Declares the TaskRecords tests inside the current describe block (describeTaskStoreContract runs them with every other port's). */
export function declareTaskRecordsTests(storeTest: StoreTest<TaskRecordsContractStore>): void {
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

    storeTest('refuses an update made with a stale version and writes nothing, not even its events', async (store) => {
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
    })
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

    storeTest('keeps a task archived by an update, and lists archived tasks only when asked', async (store) => {
      const kept = buildTask()
      const putAway = buildTask()
      const createdArchived = buildTask({ archived: true })
      await createTasks(store, [kept, putAway, createdArchived])
      const archived = await store.updateTask({ ...putAway, archived: true }, [{ type: 'archived', data: {} }], {
        expectedVersion: putAway.version,
      })
      assert.equal(archived.archived, true)
      assert.equal((await store.getTask(putAway.id))?.archived, true, 'a lookup still finds an archived task')
      assert.equal((await store.findTask(putAway.sessionName))?.id, putAway.id)
      const ids = listIds(store)
      assert.deepEqual(await ids({}), [createdArchived.id, putAway.id, kept.id], 'no filter: every task')
      assert.deepEqual(await ids({ archived: false }), [kept.id])
      assert.deepEqual(await ids({ archived: true }), [createdArchived.id, putAway.id])
      const restored = await store.updateTask({ ...archived, archived: false }, [{ type: 'unarchived', data: {} }], {
        expectedVersion: archived.version,
      })
      assert.equal(restored.archived, false)
      assert.deepEqual(await ids({ archived: false }), [putAway.id, kept.id])
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
}

/**
 * Declares, with node:test, the suite every TaskRecords implementation must pass.
 * Each test opens its own store through `open` and closes it, pass or fail.
 */
export function describeTaskRecordsContract(
  name: string,
  open: OpenStore<TaskRecordsContractStore>,
  options: ContractOptions = {},
): void {
  describeContract(`TaskRecords contract: ${name}`, open, options, declareTaskRecordsTests)
}
