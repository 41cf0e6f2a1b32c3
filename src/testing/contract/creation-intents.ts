/**
 * The CreationIntents contract suite: what every CreationIntents
 * implementation does with idempotency keys: claiming, holding, releasing,
 * failing and completing a creation intent. It arranges its tests through the
 * other ports named in `CreationIntentsContractStore`, so a store implements
 * those first (start with TaskRecords and TaskEventLog).
 */
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { StorageError } from '../../core/errors.js'
import type { CreationIntents, TaskEventLog, TaskRecords } from '../../core/ports.js'
import { buildTask } from '../build-task.js'
import {
  type ContractOptions,
  describeContract,
  hashA,
  hashB,
  leaseOf,
  minuteOf,
  type OpenStore,
  refusedAs,
  type StoreTest,
} from './support.js'

/** The ports the CreationIntents suite calls. */
export type CreationIntentsContractStore = TaskRecords & TaskEventLog & CreationIntents

/** Declares the CreationIntents tests inside the current describe block (describeTaskStoreContract runs them with every other port's). */
export function declareCreationIntentsTests(storeTest: StoreTest<CreationIntentsContractStore>): void {
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

    storeTest('lets exactly one of many concurrent attempts take over an intent whose lease ran out', async (store) => {
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
    })

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

    storeTest(
      'binds a pending task to its key with no session, and marks its start’s key done with the session',
      async (store) => {
        await store.beginCreation('create-1', hashA, minuteOf(1), leaseOf('attempt-1', 2))
        const pending = buildTask({ sessionName: '', state: 'pending', url: null })
        await store.createTask(pending, [{ type: 'queued_locally', data: {} }], { idempotencyKey: 'create-1' })
        const created = await store.beginCreation('create-1', hashA, minuteOf(2), leaseOf('attempt-2', 3))
        assert.equal(created.intent.state, 'done')
        assert.equal(created.intent.taskId, pending.id)
        assert.equal(created.intent.sessionName, null, 'no session yet')

        await store.beginCreation('start-1', hashB, minuteOf(3), leaseOf('attempt-3', 4))
        const started = { ...pending, sessionName: 'sessions/999', state: 'queued' }
        await store.startTask(started, [], { expectedVersion: 1, startedAt: minuteOf(4), idempotencyKey: 'start-1' })
        const start = await store.beginCreation('start-1', hashB, minuteOf(5), leaseOf('attempt-4', 6))
        assert.equal(start.claimed, false)
        assert.equal(start.intent.state, 'done')
        assert.equal(start.intent.taskId, pending.id)
        assert.equal(start.intent.sessionName, 'sessions/999')
      },
    )

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
      await assert.rejects(store.noteCreationSession('never-begun', 'sessions/1', minuteOf(1)), refusedAs(StorageError))
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
}

/**
 * Declares, with node:test, the suite every CreationIntents implementation must pass.
 * Each test opens its own store through `open` and closes it, pass or fail.
 */
export function describeCreationIntentsContract(
  name: string,
  open: OpenStore<CreationIntentsContractStore>,
  options: ContractOptions = {},
): void {
  describeContract(`CreationIntents contract: ${name}`, open, options, declareCreationIntentsTests)
}
