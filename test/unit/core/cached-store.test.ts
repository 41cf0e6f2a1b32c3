import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { CachedTaskStore, listGenerationKey, listKey, taskKey } from '../../../src/core/cached-store.js'
import { ManualClock } from '../../../src/core/clock.js'
import { Metrics } from '../../../src/core/metrics.js'
import type { Cache } from '../../../src/core/ports.js'
import { KeyvCache } from '../../../src/plugins/cache-keyv/keyv-cache.js'
import { openSqlStore, type SqlStorage } from '../../../src/plugins/storage-sql/sql-store.js'
import { buildTask, describeTaskStoreContract } from '../../../src/testing/index.js'
import { ObservedStore, RecordingLogger, SwitchableCache } from '../plugins/cache-keyv/support.js'

const retryIntervalMs = 5000

describe('CachedTaskStore', () => {
  let storage: SqlStorage
  let observed: ObservedStore
  let memory: Cache
  let cache: SwitchableCache
  let clock: ManualClock
  let logger: RecordingLogger
  let cached: CachedTaskStore

  beforeEach(async () => {
    storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
    observed = new ObservedStore(storage.store)
    memory = await KeyvCache.memory()
    cache = new SwitchableCache(memory)
    clock = new ManualClock()
    logger = new RecordingLogger()
    cached = new CachedTaskStore(observed.store, cache, { clock, logger, retryIntervalMs, timeoutMs: 100 })
  })

  afterEach(async () => {
    await cache.close()
    await storage.close()
  })

  describe('reads', () => {
    it('answers a second read of a task from the cache, counting one miss then one hit', async () => {
      const task = buildTask()
      await cached.createTask(task, [])

      assert.deepEqual(await cached.getTask(task.id), task)
      assert.deepEqual(await cached.getTask(task.id), task)

      assert.equal(observed.count('getTask'), 1)
      assert.deepEqual(cached.stats(), { hits: 1, misses: 1, errors: 0 })
    })

    it('counts hits, misses and cache errors in jjm_cache_requests_total', async () => {
      const metrics = new Metrics({ version: 'x', processMetrics: false })
      const measured = new CachedTaskStore(observed.store, cache, { clock, retryIntervalMs, timeoutMs: 100, metrics })
      const task = buildTask()
      await measured.createTask(task, [])
      await measured.getTask(task.id)
      await measured.getTask(task.id)
      cache.mode = 'down'
      await measured.getTask(task.id)
      const text = (await metrics.expose()).body
      assert.match(text, /^jjm_cache_requests_total\{result="miss"\} 1$/m)
      assert.match(text, /^jjm_cache_requests_total\{result="hit"\} 1$/m)
      assert.match(text, /^jjm_cache_requests_total\{result="error"\} 1$/m)
    })

    it('hands out copies, so a caller that changes its task does not change the cached one', async () => {
      const task = buildTask({ title: 'Original' })
      await cached.createTask(task, [])
      const first = await cached.getTask(task.id)
      assert.ok(first)
      first.title = 'Changed by a caller'

      assert.equal((await cached.getTask(task.id))?.title, 'Original')
    })

    it('does not cache a task that does not exist, so creating it later needs no invalidation', async () => {
      const task = buildTask()
      assert.equal(await cached.getTask(task.id), undefined)
      await storage.store.createTask(task, [])

      assert.deepEqual(await cached.getTask(task.id), task)
    })

    it('answers the same list question asked with its filter keys and states in another order from one page', async () => {
      await cached.createTask(buildTask({ state: 'queued' }), [])
      await cached.createTask(buildTask({ state: 'paused' }), [])

      const first = await cached.listTasks({ states: ['queued', 'paused'], repository: 'acme/api', limit: 10 })
      const second = await cached.listTasks({ limit: 10, repository: 'acme/api', states: ['paused', 'queued'] })

      assert.deepEqual(second, first)
      assert.equal(first.items.length, 2)
      assert.equal(observed.count('listTasks'), 1)
      assert.deepEqual(cached.stats(), { hits: 1, misses: 1, errors: 0 })
    })

    it('keeps different filters on different pages', async () => {
      await cached.createTask(buildTask({ state: 'queued' }), [])
      await cached.createTask(buildTask({ state: 'paused' }), [])

      assert.equal((await cached.listTasks({ states: ['queued'] })).items.length, 1)
      assert.equal((await cached.listTasks({ states: ['queued', 'paused'] })).items.length, 2)
      assert.equal((await cached.listTasks({ states: ['paused'], cursor: undefined })).items.length, 1)
      assert.equal(observed.count('listTasks'), 3)
    })

    it('finds a task by its exact id through the cache but sends a prefix to the store', async () => {
      const task = buildTask()
      await cached.createTask(task, [])
      await cached.getTask(task.id)

      assert.deepEqual(await cached.findTask(task.id), task)
      assert.equal(observed.count('findTask'), 0)

      assert.deepEqual(await cached.findTask(task.id.slice(0, 12)), task)
      assert.equal(observed.count('findTask'), 1)
    })
  })

  describe('a write followed by a read', () => {
    it('returns the updated task and lists, never the cached copies', async () => {
      const task = buildTask({ state: 'queued' })
      await cached.createTask(task, [])
      await cached.getTask(task.id)
      await cached.listTasks({ states: ['queued'] })

      const updated = { ...task, state: 'in_progress', updatedAt: '2026-02-01T00:00:00.000Z' }
      await cached.updateTask(updated, [{ type: 'state_changed', data: { from: 'queued', to: 'in_progress' } }], {
        expectedVersion: 1,
      })

      assert.equal((await cached.getTask(task.id))?.state, 'in_progress')
      assert.deepEqual((await cached.listTasks({ states: ['queued'] })).items, [])
      assert.deepEqual(
        (await cached.listTasks({ states: ['in_progress'] })).items.map((item) => item.id),
        [task.id],
      )
    })

    it('invalidates on a sync that wrote the task, and never caches sync state, leases or creation intents', async () => {
      const task = buildTask({ state: 'queued' })
      await cached.beginCreation('key-1', 'a'.repeat(64), task.createdAt, { holder: 'test', expiresAt: task.createdAt })
      await cached.createTask(task, [], { idempotencyKey: 'key-1' })
      await cached.getTask(task.id)
      await cached.listTasks({ states: ['queued'] })

      const cursor = { sessionUpdateTime: task.updatedAt, lastActivityTime: null, lastActivityNames: [] }
      assert.deepEqual(await cached.claimSyncLeases([task.id], 'test', 60_000), [task.id])
      const result = await cached.commitSync({
        taskId: task.id,
        holder: 'test',
        task: { ...task, state: 'planning' },
        events: [],
        cursor,
        syncedAt: task.updatedAt,
      })
      assert.equal(result.outcome, 'committed')

      assert.equal((await cached.getTask(task.id))?.state, 'planning')
      assert.deepEqual((await cached.listTasks({ states: ['queued'] })).items, [])
      assert.deepEqual((await cached.getSyncState(task.id))?.cursor, cursor)
      assert.deepEqual((await cached.getSyncState(task.id))?.cursor, cursor)
      assert.equal(observed.count('getSyncState'), 2, 'every sync state read goes to the store')
      assert.deepEqual(await cached.claimSyncLeases([task.id], 'other', 60_000), [], 'leases are the store’s')
      const { intent, created } = await cached.beginCreation('key-1', 'a'.repeat(64), task.createdAt, {
        holder: 'test',
        expiresAt: task.createdAt,
      })
      assert.equal(created, false)
      assert.equal(intent.taskId, task.id)
    })

    it('invalidates nothing on a sync that did not write the task, nor on one that was stale', async () => {
      const task = buildTask({ state: 'in_progress' })
      await cached.createTask(task, [])
      await cached.getTask(task.id)
      await cached.listTasks({})
      const generation = await memory.get(listGenerationKey)
      const reads = { task: observed.count('getTask'), list: observed.count('listTasks') }

      await cached.claimSyncLeases([task.id], 'test', 60_000)
      const cursor = { sessionUpdateTime: task.updatedAt, lastActivityTime: null, lastActivityNames: [] }
      const quiet = await cached.commitSync({
        taskId: task.id,
        holder: 'test',
        events: [{ type: 'progress', data: {} }],
        cursor,
        syncedAt: '2026-02-01T00:00:00.000Z',
      })
      assert.equal(quiet.outcome, 'committed')
      // Someone else's edit, straight to the store: the sync below computed from the old version.
      await storage.store.updateTask({ ...task, title: 'Edited elsewhere' }, [], { expectedVersion: 1 })
      const stale = await cached.commitSync({
        taskId: task.id,
        holder: 'test',
        task: { ...task, state: 'completed' },
        events: [],
        cursor,
        syncedAt: '2026-02-01T00:01:00.000Z',
      })
      assert.equal(stale.outcome, 'stale')

      assert.equal(await memory.get(listGenerationKey), generation, 'the list generation stays')
      // Served from the cache: the quiet sync's lastSyncedAt shows once the entry expires (at most 300 s).
      assert.deepEqual(await cached.getTask(task.id), task)
      await cached.listTasks({})
      assert.deepEqual(
        { task: observed.count('getTask'), list: observed.count('listTasks') },
        reads,
        'both answered from the cache',
      )
    })

    it('shows a new task in a list that was cached before it was created', async () => {
      const before = await cached.listTasks({})
      const task = buildTask()
      await cached.createTask(task, [])

      const after = await cached.listTasks({})
      assert.equal(after.items.length, before.items.length + 1)
      assert.equal(after.items[0]?.id, task.id)
    })

    it('forgets a deleted task in reads and lists', async () => {
      const task = buildTask()
      await cached.createTask(task, [])
      await cached.getTask(task.id)
      await cached.listTasks({})

      assert.equal(await cached.deleteTask(task.id), true)

      assert.equal(await cached.getTask(task.id), undefined)
      assert.equal(await cached.findTask(task.id), undefined)
      assert.deepEqual((await cached.listTasks({})).items, [])
    })

    it('is seen through another decorator sharing the cache, as another process sharing Redis would', async () => {
      const other = new CachedTaskStore(storage.store, memory, { clock })
      const task = buildTask({ state: 'queued' })
      await cached.createTask(task, [])
      await other.getTask(task.id)
      await other.listTasks({ states: ['queued'] })

      await cached.updateTask({ ...task, state: 'paused' }, [], { expectedVersion: 1 })

      assert.equal((await other.getTask(task.id))?.state, 'paused')
      assert.deepEqual((await other.listTasks({ states: ['queued'] })).items, [])
    })

    it('is not spoiled by a read that fetched the old task before the write and cached it after', async () => {
      const task = buildTask({ state: 'queued' })
      await cached.createTask(task, [])

      // The reader has read the store (old copy) but not yet cached it when the write lands.
      const release = observed.hold('getTask')
      const slowRead = cached.getTask(task.id)
      await waitFor(() => observed.count('getTask') === 1)
      await cached.updateTask({ ...task, state: 'paused' }, [], { expectedVersion: 1 })
      release()
      assert.equal((await slowRead)?.state, 'queued')

      assert.equal((await cached.getTask(task.id))?.state, 'paused')
    })

    it('is not spoiled by a list read that fetched the old page before the write and cached it after', async () => {
      const task = buildTask({ state: 'queued' })
      await cached.createTask(task, [])

      const release = observed.hold('listTasks')
      const slowList = cached.listTasks({ states: ['queued'] })
      await waitFor(() => observed.count('listTasks') === 1)
      await cached.updateTask({ ...task, state: 'paused' }, [], { expectedVersion: 1 })
      release()
      assert.equal((await slowList).items.length, 1)

      assert.deepEqual((await cached.listTasks({ states: ['queued'] })).items, [])
    })
  })

  describe('what does not change lists', () => {
    it('keeps the cached pages when only events, messages or files are written', async () => {
      const task = buildTask()
      await cached.createTask(task, [])
      await cached.listTasks({})
      const generation = await memory.get<number>(listGenerationKey)

      await cached.logEvent(task.id, { type: 'progress', data: { step: 1 } })
      await cached.addChatMessages(task.id, [
        { role: 'agent', text: 'Working on it', activityId: 'a1', at: '2026-01-01T00:00:00.000Z' },
      ])
      await cached.setSourceFiles(task.id, [{ path: 'src/upload.ts', changeType: 'modified' }])
      await cached.listTasks({})

      assert.equal(await memory.get<number>(listGenerationKey), generation)
      assert.equal(observed.count('listTasks'), 1)
      assert.equal((await cached.getEvents(task.id)).items[0]?.type, 'progress')
      assert.equal((await cached.listChatMessages(task.id)).items.length, 1)
      assert.deepEqual(
        (await cached.listSourceFiles(task.id)).map((file) => file.path),
        ['src/upload.ts'],
      )
    })

    it('always asks the store for the active tasks, which the monitor needs fresh', async () => {
      await cached.createTask(buildTask({ state: 'in_progress' }), [])
      await cached.listActiveTasks()
      await cached.listActiveTasks()
      assert.equal(observed.count('listActiveTasks'), 2)
    })
  })

  describe('when the cache fails', () => {
    it('reads and writes through the store, logging one warning for many failed calls and counting each', async () => {
      const task = buildTask({ state: 'queued' })
      await cached.createTask(task, [])
      cache.mode = 'down'

      for (let round = 0; round < 5; round++) {
        assert.equal((await cached.getTask(task.id))?.id, task.id)
        assert.equal((await cached.listTasks({})).items.length, 1)
        // Past the retry interval, so every round tries the cache again and fails again.
        clock.advance(retryIntervalMs)
      }
      await cached.updateTask({ ...task, state: 'paused' }, [], { expectedVersion: 1 })
      assert.equal((await cached.getTask(task.id))?.state, 'paused')

      assert.equal(logger.at('warn').length, 1)
      assert.match(logger.at('warn')[0]?.message ?? '', /Cache unavailable/)
      // One failed try per retry interval: five rounds of reads, then the update.
      assert.equal(cached.stats().errors, 6)
      assert.equal(cached.cacheAvailable, false)
    })

    it('does not try the cache again before the retry interval has passed', async () => {
      cache.mode = 'down'
      await cached.listTasks({})
      await cached.listTasks({})
      await cached.listTasks({})
      assert.equal(cached.stats().errors, 1)
    })

    it('treats a cache that does not answer as failed instead of waiting for it', async () => {
      const task = buildTask()
      await cached.createTask(task, [])
      cache.mode = 'hang'

      const started = Date.now()
      assert.equal((await cached.getTask(task.id))?.id, task.id)
      assert.ok(Date.now() - started < 1000)
      assert.equal(cached.stats().errors, 1)
    })

    it('uses the cache again once it answers, logging the recovery once', async () => {
      const task = buildTask()
      await cached.createTask(task, [])
      cache.mode = 'down'
      await cached.getTask(task.id)
      cache.mode = 'up'
      clock.advance(retryIntervalMs)

      await cached.getTask(task.id)
      await cached.getTask(task.id)

      assert.equal(cached.cacheAvailable, true)
      assert.equal(logger.at('info').length, 1)
      assert.match(logger.at('info')[0]?.message ?? '', /Cache available again/)
      assert.deepEqual(cached.stats(), { hits: 1, misses: 1, errors: 1 })
    })

    it('does not serve, once the cache is back, what was cached before a write it missed', async () => {
      const task = buildTask({ state: 'queued' })
      await cached.createTask(task, [])
      await cached.getTask(task.id)
      await cached.listTasks({ states: ['queued'] })

      // The cache is unreachable from here but keeps its data, as a Redis behind a broken network does.
      cache.mode = 'down'
      await cached.updateTask({ ...task, state: 'paused' }, [], { expectedVersion: 1 })
      cache.mode = 'up'
      assert.equal((await cached.getTask(task.id))?.state, 'paused', 'before the retry interval: straight to the store')
      clock.advance(retryIntervalMs)

      const other = new CachedTaskStore(storage.store, memory)
      assert.equal((await cached.getTask(task.id))?.state, 'paused')
      assert.deepEqual((await cached.listTasks({ states: ['queued'] })).items, [])
      assert.equal((await other.getTask(task.id))?.state, 'paused', 'another process sees the replayed invalidation')
    })

    it('delivers missed invalidations when it closes, if the cache is back by then', async () => {
      const task = buildTask({ state: 'queued' })
      await cached.createTask(task, [])
      await cached.getTask(task.id)
      cache.mode = 'down'
      await cached.updateTask({ ...task, state: 'paused' }, [], { expectedVersion: 1 })
      cache.mode = 'up'

      observed.keepOpen = true
      const version = await memory.get<number>(`${taskKey(task.id)}:version`)
      await cached.close()
      assert.equal(await memory.get<number>(`${taskKey(task.id)}:version`), (version ?? 0) + 1)
      assert.equal(logger.at('warn').length, 1, 'only the outage warning, no undelivered-invalidations warning')
    })

    it('warns when it closes with invalidations it could not deliver', async () => {
      const task = buildTask()
      await cached.createTask(task, [])
      cache.mode = 'down'
      await cached.updateTask({ ...task, title: 'Renamed' }, [], { expectedVersion: 1 })

      observed.keepOpen = true
      await cached.close()
      assert.match(logger.at('warn')[1]?.message ?? '', /invalidations not delivered/)
    })
  })

  describe('listKey', () => {
    it('does not depend on the order of filter keys and states, nor on absent keys', () => {
      assert.equal(
        listKey(3, { states: ['paused', 'queued', 'queued'], repository: 'acme/api' }),
        listKey(3, { repository: 'acme/api', label: undefined, states: ['queued', 'paused'] }),
      )
    })

    it('changes with the generation and with every filter value', () => {
      const base = listKey(3, { repository: 'acme/api' })
      assert.notEqual(listKey(4, { repository: 'acme/api' }), base)
      assert.notEqual(listKey(3, { repository: 'acme/web' }), base)
      assert.notEqual(listKey(3, { repository: 'acme/api', cursor: 'abc' }), base)
      assert.notEqual(listKey(3, { repository: 'acme/api', limit: 5 }), base)
    })
  })
})

// The decorator must be invisible: the whole store contract passes through it.
describeTaskStoreContract('sqlite in memory behind CachedTaskStore on the memory cache', async () => {
  const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
  const cache = await KeyvCache.memory()
  return {
    store: new CachedTaskStore(storage.store, cache),
    async close() {
      await cache.close()
      await storage.close()
    },
  }
})

async function waitFor(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (condition()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error('condition not met')
}
