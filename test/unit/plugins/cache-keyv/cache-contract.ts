/**
 * What every Cache must do, run against the memory cache here and against
 * the real Redis in test/integration/cache-keyv.
 */
import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Cache } from '../../../../src/core/ports.js'

export interface OpenedCache {
  cache: Cache
  /** A second connection to the same cache, as another process would have; absent for an in-process cache. */
  openPeer?(): Promise<Cache>
  close(): Promise<void>
}

/** Opens a fresh cache for one test; undefined when the test was skipped (service not running). */
export type OpenCache = (t: TestContext) => Promise<OpenedCache | undefined>

export function describeCacheContract(name: string, open: OpenCache): void {
  const cacheTest = (title: string, body: (opened: OpenedCache) => Promise<void>): void => {
    it(title, async (t) => {
      const opened = await open(t)
      if (opened === undefined) return
      try {
        await body(opened)
      } finally {
        await opened.close()
      }
    })
  }

  describe(`Cache contract: ${name}`, () => {
    cacheTest('returns what was set, as a copy', async ({ cache }) => {
      const value = { id: 'T1', labels: ['a'], nested: { n: 1 }, nothing: null }
      await cache.set('task:T1', value, 60_000)
      const read = await cache.get<typeof value>('task:T1')
      assert.deepEqual(read, value)
      assert.notEqual(read, value)
    })

    cacheTest('returns strings exactly as set, even those that start with a colon', async ({ cache }) => {
      const value = { title: ':base64:aGk=', prompt: '::two', labels: [':a', 'b:'], metadata: { note: 'é\n"' } }
      await cache.set('task:T2', value, 60_000)
      assert.deepEqual(await cache.get('task:T2'), value)
    })

    cacheTest('returns undefined for a key never set', async ({ cache }) => {
      assert.equal(await cache.get('task:missing'), undefined)
    })

    cacheTest('forgets a value once its time to live has passed', async ({ cache }) => {
      await cache.set('page:1', { items: [] }, 50)
      assert.deepEqual(await cache.get('page:1'), { items: [] })
      await sleep(120)
      assert.equal(await cache.get('page:1'), undefined)
    })

    cacheTest('deletes several keys at once and ignores keys that are not there', async ({ cache }) => {
      await cache.set('a', 1, 60_000)
      await cache.set('b', 2, 60_000)
      await cache.set('c', 3, 60_000)
      await cache.delete(['a', 'b', 'never-set'])
      await cache.delete([])
      assert.equal(await cache.get('a'), undefined)
      assert.equal(await cache.get('b'), undefined)
      assert.equal(await cache.get('c'), 3)
    })

    cacheTest('counts from 1 and reads a counter back as its number', async ({ cache }) => {
      assert.equal(await cache.get('tasks:list:gen'), undefined)
      assert.equal(await cache.increment('tasks:list:gen'), 1)
      assert.equal(await cache.increment('tasks:list:gen'), 2)
      assert.equal(await cache.get<number>('tasks:list:gen'), 2)
    })

    cacheTest('gives every concurrent increment its own number, across connections', async (opened) => {
      const peer = opened.openPeer === undefined ? opened.cache : await opened.openPeer()
      try {
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? opened.cache : peer).increment('counter')),
        )
        assert.equal(new Set(results).size, 50)
        assert.equal(Math.max(...results), 50)
      } finally {
        if (peer !== opened.cache) await peer.close()
      }
    })

    cacheTest('shows a value set through one connection to another', async (opened) => {
      if (opened.openPeer === undefined) return
      const peer = await opened.openPeer()
      try {
        await opened.cache.set('task:T2', { state: 'paused' }, 60_000)
        assert.deepEqual(await peer.get('task:T2'), { state: 'paused' })
        await peer.delete(['task:T2'])
        assert.equal(await opened.cache.get('task:T2'), undefined)
      } finally {
        await peer.close()
      }
    })
  })
}
