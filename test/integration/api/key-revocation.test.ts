/**
 * Daemons keep the API keys they verified in a cache (src/core/api-key-cache.ts);
 * a revocation reaches every daemon on the shared Redis over the event bus.
 * The daemons here run on a manual clock that never moves, so the cache's TTL
 * never expires: only the revocation message can make them refuse the key.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { startTestDaemon, untilRefused, withinMs } from '../../support/api.js'
import { postgres, redis } from '../../support/services.js'

describe('revoking an API key shared by two daemons on one PostgreSQL and one Redis', { timeout: 90_000 }, () => {
  it('is refused by the other daemon within one second of a revoke through the REST API', async (t) => {
    const pg = await postgres(t)
    const rd = await redis(t)
    if (!pg || !rd) return
    const database = await pg.createDatabase()
    const env = { DATABASE_URL: database.url, REDIS_URL: rd.url, JJM_CACHE_NAMESPACE: rd.prefix.slice(0, -1) }
    const first = await startTestDaemon({ env })
    const second = await startTestDaemon({ env })
    try {
      const { key } = await first.core.apiKeys().create({ name: 'shared', scopes: ['read'] })
      for (const daemon of [first, second, first, second]) {
        assert.equal((await daemon.call('GET', '/api/v1/tasks?limit=1', { key })).status, 200)
      }

      const since = performance.now()
      const revoked = await first.call('DELETE', '/api/v1/api-keys/shared')
      assert.equal(revoked.status, 200, revoked.text)
      assert.equal((await first.call('GET', '/api/v1/tasks?limit=1', { key })).status, 401, 'at once where revoked')
      const { answer, elapsedMs } = await untilRefused(second, key, since)
      assert.equal(answer.status, 401, `still accepted by the other daemon after ${Math.round(elapsedMs)} ms`)
      assert.ok(elapsedMs <= withinMs, `refused after ${Math.round(elapsedMs)} ms, not within ${withinMs} ms`)
      assert.match(answer.body.detail, /revoked/)
    } finally {
      await first.close()
      await second.close()
      await database.drop()
    }
  })
})
