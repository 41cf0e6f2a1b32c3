import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ConfigurationError } from '../../../../src/core/errors.js'
import { silentLogger } from '../../../../src/core/ports.js'
import { KeyvCache, LruMap } from '../../../../src/plugins/cache-keyv/keyv-cache.js'
import { describeCacheContract } from './cache-contract.js'

describeCacheContract('memory', async () => {
  const cache = await KeyvCache.memory()
  return { cache, close: () => cache.close() }
})

describe('KeyvCache on memory', () => {
  it('forgets the least recently used keys beyond its bound', async () => {
    const cache = await KeyvCache.memory({ maxEntries: 3 })
    await cache.set('a', 1, 60_000)
    await cache.set('b', 2, 60_000)
    await cache.set('c', 3, 60_000)
    await cache.get('a')
    await cache.set('d', 4, 60_000)

    assert.equal(await cache.get('b'), undefined, 'b was the least recently used')
    assert.equal(await cache.get('a'), 1)
    assert.equal(await cache.get('c'), 3)
    assert.equal(await cache.get('d'), 4)
  })
})

describe('LruMap', () => {
  it('never holds more than its bound', () => {
    const map = new LruMap<number, number>(100)
    for (let i = 0; i < 1000; i++) map.set(i, i)
    assert.equal(map.size, 100)
    assert.equal(map.get(899), undefined)
    assert.equal(map.get(900), 900)
  })

  it('refuses a bound that is not a positive whole number', () => {
    assert.throws(() => new LruMap(0), RangeError)
    assert.throws(() => new LruMap(1.5), RangeError)
  })
})

describe('KeyvCache on Redis that is not running', () => {
  // Nothing listens on this port: the same as a Redis that is down.
  const deadUrl = 'redis://127.0.0.1:6390'

  it('opens without waiting long, fails each call at once, and closes', async () => {
    const started = Date.now()
    const cache = await KeyvCache.redis({ url: deadUrl, logger: silentLogger, connectTimeoutMs: 300 })
    assert.ok(Date.now() - started < 2000, 'open waited too long')
    try {
      for (const call of [
        () => cache.get('task:1'),
        () => cache.set('task:1', { id: '1' }, 1000),
        () => cache.delete(['task:1']),
        () => cache.increment('tasks:list:gen'),
      ]) {
        const callStarted = Date.now()
        await assert.rejects(call())
        assert.ok(Date.now() - callStarted < 1500, 'a call to a dead Redis took too long to fail')
      }
    } finally {
      await cache.close()
    }
  })

  it('keeps the process alive through connection errors (no unhandled error event)', async () => {
    const cache = await KeyvCache.redis({ url: deadUrl, logger: silentLogger, connectTimeoutMs: 100 })
    // Several reconnection attempts fail in this time; an unlistened 'error' would crash the test runner.
    await sleep(600)
    await cache.close()
  })

  it('refuses a URL that is not a Redis URL with a configuration error naming the setting', async () => {
    await assert.rejects(
      KeyvCache.redis({ url: 'http://127.0.0.1:6379', logger: silentLogger }),
      (error: unknown) => error instanceof ConfigurationError && /REDIS_URL/.test(error.message),
    )
  })
})
