import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { CachedTaskStore } from '../../../src/core/cached-store.js'
import { silentLogger } from '../../../src/core/ports.js'
import { KeyvCache } from '../../../src/plugins/cache-keyv/keyv-cache.js'
import { openSqlStore, type SqlStorage } from '../../../src/plugins/storage-sql/sql-store.js'
import { buildTask, describeTaskStoreContract } from '../../../src/testing/index.js'
import { redis } from '../../support/services.js'
import { RecordingLogger } from '../../unit/plugins/cache-keyv/support.js'
import { deleteKeys, TcpProxy } from './redis-keys.js'

describeTaskStoreContract('sqlite behind CachedTaskStore on Redis', async (t) => {
  const service = await redis(t)
  if (service === undefined) return undefined
  const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
  const cache = await KeyvCache.redis({ url: service.url, prefix: service.prefix, logger: silentLogger })
  return {
    store: new CachedTaskStore(storage.store, cache),
    async close() {
      await cache.close()
      await storage.close()
      await deleteKeys(service.url, service.prefix)
    },
  }
})

/** Two jjm processes: each its own connection to one SQLite file and its own connection to one Redis. */
interface TwoProcesses {
  first: CachedTaskStore
  second: CachedTaskStore
  url: string
  prefix: string
  close(): Promise<void>
}

async function twoProcesses(t: TestContext): Promise<TwoProcesses | undefined> {
  const service = await redis(t)
  if (service === undefined) return undefined
  const dir = await mkdtemp(join(tmpdir(), 'jjm-cache-'))
  const path = join(dir, 'jjm.sqlite')
  const storages: SqlStorage[] = []
  const caches: KeyvCache[] = []
  const open = async (): Promise<CachedTaskStore> => {
    const storage = await openSqlStore({ dialect: 'sqlite', path })
    storages.push(storage)
    const cache = await KeyvCache.redis({ url: service.url, prefix: service.prefix, logger: silentLogger })
    caches.push(cache)
    return new CachedTaskStore(storage.store, cache)
  }
  const first = await open()
  const second = await open()
  return {
    first,
    second,
    url: service.url,
    prefix: service.prefix,
    async close() {
      await Promise.all(caches.map((cache) => cache.close()))
      await Promise.all(storages.map((storage) => storage.close()))
      await deleteKeys(service.url, service.prefix)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

describe('CachedTaskStore on Redis shared by two processes', () => {
  it('shows a write through one process to a read through the other, for tasks and lists', async (t) => {
    const processes = await twoProcesses(t)
    if (processes === undefined) return
    const { first, second } = processes
    try {
      const task = buildTask({ state: 'queued' })
      await first.createTask(task, [])
      // The second process caches the task and a list page…
      assert.equal((await second.getTask(task.id))?.state, 'queued')
      assert.equal((await second.listTasks({ states: ['queued'] })).items.length, 1)
      assert.equal((await second.getTask(task.id))?.state, 'queued')
      assert.equal(second.stats().hits, 1)

      // …then the first one changes it.
      await first.updateTask({ ...task, state: 'awaiting_plan_approval' }, [], { expectedVersion: 1 })
      assert.equal((await second.getTask(task.id))?.state, 'awaiting_plan_approval')
      assert.deepEqual((await second.listTasks({ states: ['queued'] })).items, [])

      const created = buildTask()
      await first.createTask(created, [])
      assert.equal((await second.listTasks({})).items[0]?.id, created.id)

      await first.deleteTask(task.id)
      assert.equal(await second.getTask(task.id), undefined)
      assert.deepEqual(
        (await second.listTasks({})).items.map((item) => item.id),
        [created.id],
      )
    } finally {
      await processes.close()
    }
  })

  it('answers a read through the second process from what the first one cached', async (t) => {
    const processes = await twoProcesses(t)
    if (processes === undefined) return
    const { first, second } = processes
    try {
      const task = buildTask()
      await first.createTask(task, [])
      await first.getTask(task.id)
      await first.listTasks({})

      await second.getTask(task.id)
      await second.listTasks({})
      assert.deepEqual(second.stats(), { hits: 2, misses: 0, errors: 0 })
    } finally {
      await processes.close()
    }
  })
})

describe('CachedTaskStore when Redis goes away and comes back', () => {
  it('keeps answering from the store with one warning, then replays missed invalidations for everyone', async (t) => {
    const service = await redis(t)
    if (service === undefined) return
    const proxy = await TcpProxy.start(service.url)
    const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
    const logger = new RecordingLogger()
    const viaProxy = await KeyvCache.redis({ url: proxy.url, prefix: service.prefix, logger: silentLogger })
    const direct = await KeyvCache.redis({ url: service.url, prefix: service.prefix, logger: silentLogger })
    const cached = new CachedTaskStore(storage.store, viaProxy, { logger, retryIntervalMs: 200 })
    // Another process, whose own path to Redis never broke.
    const other = new CachedTaskStore(storage.store, direct)
    try {
      const task = buildTask({ state: 'queued' })
      await cached.createTask(task, [])
      await cached.getTask(task.id)
      await cached.listTasks({ states: ['queued'] })

      await proxy.cut()
      const started = Date.now()
      for (let call = 0; call < 20; call++) {
        assert.equal((await cached.getTask(task.id))?.id, task.id)
        assert.equal((await cached.listTasks({})).items.length, 1)
      }
      await cached.updateTask({ ...task, state: 'paused' }, [], { expectedVersion: 1 })
      assert.equal((await cached.getTask(task.id))?.state, 'paused', 'this process never reads its own stale copy')
      assert.ok(Date.now() - started < 5000, 'calls during the outage were slowed down by the dead cache')
      assert.equal(logger.at('warn').length, 1)
      assert.ok(cached.stats().errors >= 1)
      assert.equal(cached.cacheAvailable, false)

      await proxy.restore()
      const deadline = Date.now() + 15_000
      while (!cached.cacheAvailable && Date.now() < deadline) {
        await cached.getTask(task.id)
        await sleep(100)
      }
      assert.equal(cached.cacheAvailable, true, 'the cache was not used again after Redis came back')
      assert.equal(logger.at('info').length, 1)
      assert.equal(logger.at('warn').length, 1)

      assert.equal((await other.getTask(task.id))?.state, 'paused')
      assert.deepEqual((await other.listTasks({ states: ['queued'] })).items, [])
      assert.equal((await cached.getTask(task.id))?.state, 'paused')
    } finally {
      await viaProxy.close()
      await direct.close()
      await proxy.close()
      await storage.close()
      await deleteKeys(service.url, service.prefix)
    }
  })
})
