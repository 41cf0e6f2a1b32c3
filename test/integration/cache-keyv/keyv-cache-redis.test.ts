import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { silentLogger } from '../../../src/core/ports.js'
import { KeyvCache } from '../../../src/plugins/cache-keyv/keyv-cache.js'
import { redis } from '../../support/services.js'
import { describeCacheContract } from '../../unit/plugins/cache-keyv/cache-contract.js'
import { deleteKeys, listKeys } from './redis-keys.js'

describeCacheContract('Redis', async (t) => {
  const service = await redis(t)
  if (service === undefined) return undefined
  const open = () => KeyvCache.redis({ url: service.url, prefix: service.prefix, logger: silentLogger })
  const cache = await open()
  return {
    cache,
    openPeer: open,
    async close() {
      await cache.close()
      await deleteKeys(service.url, service.prefix)
    },
  }
})

describe('KeyvCache on Redis', () => {
  it('writes every key, counters included, under its prefix and nowhere else', async (t) => {
    const service = await redis(t)
    if (service === undefined) return
    const cache = await KeyvCache.redis({ url: service.url, prefix: service.prefix, logger: silentLogger })
    try {
      await cache.set('task:T1', { id: 'T1' }, 60_000)
      await cache.increment('tasks:list:gen')

      assert.deepEqual(await listKeys(service.url, service.prefix), [
        `${service.prefix}task:T1`,
        `${service.prefix}tasks:list:gen`,
      ])
    } finally {
      await cache.close()
      assert.equal(await deleteKeys(service.url, service.prefix), 2)
    }
  })

  it('lets Redis expire a value by its time to live rather than keeping it forever', async (t) => {
    const service = await redis(t)
    if (service === undefined) return
    const cache = await KeyvCache.redis({ url: service.url, prefix: service.prefix, logger: silentLogger })
    const { createClient } = await import('@keyv/redis')
    const client = createClient({ url: service.url })
    client.on('error', () => {})
    await client.connect()
    try {
      await cache.set('page', { items: [] }, 60_000)
      const ttl = await client.pTTL(`${service.prefix}page`)
      assert.ok(ttl > 50_000 && ttl <= 60_000, `PTTL was ${ttl}`)
    } finally {
      await client.close()
      await cache.close()
      await deleteKeys(service.url, service.prefix)
    }
  })
})
