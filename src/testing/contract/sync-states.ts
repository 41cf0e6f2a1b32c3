/**
 * The SyncStates contract suite: what every SyncStates implementation does:
 * sync commits (all or nothing, compare-and-set on the task, only under a live
 * lease) and the sync leases themselves. It arranges its tests through the
 * other ports named in `SyncStatesContractStore`, so a store implements those
 * first (start with TaskRecords and TaskEventLog).
 */
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import type { SyncStates, TaskConversation, TaskEventLog, TaskRecords } from '../../core/ports.js'
import type { Task } from '../../core/task.js'
import { buildTask } from '../build-task.js'
import {
  type ContractOptions,
  chatMessage,
  commitAsSync,
  committed,
  createTasks,
  describeContract,
  minuteOf,
  type OpenStore,
  type StoreTest,
  syncCursor,
  syncHolder,
} from './support.js'

/** The ports the SyncStates suite calls. */
export type SyncStatesContractStore = TaskRecords & TaskEventLog & TaskConversation & SyncStates

/** Declares the SyncStates tests inside the current describe block (describeTaskStoreContract runs them with every other port's). */
export function declareSyncStatesTests(storeTest: StoreTest<SyncStatesContractStore>): void {
  describe('sync writes', () => {
    storeTest('writes the cursor, messages and files of a sync together with the task', async (store) => {
      const task = buildTask({ state: 'planning' })
      await createTasks(store, [task])
      assert.deepEqual(
        await store.getSyncState(task.id),
        {
          cursor: null,
          lastSyncedAt: null,
          leaseHolder: null,
          leaseUntil: null,
          lastActivityAt: null,
          stalledSince: null,
        },
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
      await store.addChatMessages(task.id, [{ role: 'user', text: 'Only the code', activityId: null, at: minuteOf(2) }])
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

    storeTest(
      'marks a stall with a sync, shows it on the task and in lists, and clears it with the activity that ends it',
      async (store) => {
        const [quiet, busy] = [buildTask({ state: 'in_progress' }), buildTask({ state: 'in_progress' })]
        await createTasks(store, [quiet, busy])
        const marked = committed(
          await commitAsSync(
            store,
            {
              taskId: quiet.id,
              events: [{ type: 'stalled', data: { state: 'in_progress' }, at: minuteOf(31) }],
              cursor: syncCursor(1, []),
              stalledSince: minuteOf(31),
            },
            31,
          ),
        )
        assert.equal(marked.stalledSince, minuteOf(31), 'the commit answers with the task as stalled')
        assert.equal(marked.version, 1, 'a stall writes no task row')
        assert.equal((await store.getTask(quiet.id))?.stalledSince, minuteOf(31))
        assert.equal((await store.getSyncState(quiet.id))?.stalledSince, minuteOf(31))
        assert.deepEqual(
          (await store.listTasks({ stalled: true })).items.map((task) => task.id),
          [quiet.id],
        )
        assert.deepEqual(
          (await store.listTasks({ stalled: false })).items.map((task) => task.id),
          [busy.id],
        )
        // A sync that changes the row keeps the mark it does not touch.
        const edited = committed(
          await commitAsSync(
            store,
            {
              taskId: quiet.id,
              task: { ...quiet, url: 'https://jules.example/s/1' },
              events: [],
              cursor: syncCursor(1, []),
            },
            32,
          ),
        )
        assert.equal(edited.stalledSince, minuteOf(31))
        const cleared = committed(
          await commitAsSync(
            store,
            {
              taskId: quiet.id,
              events: [{ type: 'unstalled', data: { state: 'in_progress' }, at: minuteOf(40) }],
              cursor: syncCursor(2, ['sessions/1/activities/p2']),
              activityAt: minuteOf(40),
              stalledSince: null,
            },
            40,
          ),
        )
        assert.equal(cleared.stalledSince, null)
        const state = await store.getSyncState(quiet.id)
        assert.equal(state?.stalledSince, null)
        assert.equal(state?.lastActivityAt, minuteOf(40))
        assert.deepEqual((await store.listTasks({ stalled: true })).items, [])
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

    storeTest('records nothing of a sync computed from a stale task, and returns the task as stored', async (store) => {
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
    })
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
      assert.deepEqual([...(a ?? []), ...(b ?? [])].sort(), [...ids].sort(), 'every task claimed by exactly one holder')
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
        lastActivityAt: null,
        stalledSince: null,
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
}

/**
 * Declares, with node:test, the suite every SyncStates implementation must pass.
 * Each test opens its own store through `open` and closes it, pass or fail.
 */
export function describeSyncStatesContract(
  name: string,
  open: OpenStore<SyncStatesContractStore>,
  options: ContractOptions = {},
): void {
  describeContract(`SyncStates contract: ${name}`, open, options, declareSyncStatesTests)
}
