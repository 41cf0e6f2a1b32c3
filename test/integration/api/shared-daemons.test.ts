import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import WebSocket from 'ws'
import { startTestDaemon } from '../../support/api.js'
import { postgres, redis } from '../../support/services.js'

describe('two daemons sharing one PostgreSQL and one Redis', { timeout: 60_000 }, () => {
  it('refuses a key revoked on one daemon on the other too, counts rate limits together, and streams each other’s changes', async (t) => {
    const pg = await postgres(t)
    const rd = await redis(t)
    if (!pg || !rd) return
    const database = await pg.createDatabase()
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: rd.url,
      JJM_CACHE_NAMESPACE: rd.prefix.slice(0, -1),
    }
    const first = await startTestDaemon({ env })
    const second = await startTestDaemon({ env })
    try {
      const { key } = await first.core.apiKeys().create({ name: 'shared', scopes: ['write'], rateLimitPerMinute: 4 })
      assert.equal(
        (await second.call('GET', '/api/v1/tasks', { key })).status,
        200,
        'a key made through one daemon works on the other',
      )

      // The limit is one budget across both daemons: 4 requests in all, the 5th refused wherever it lands.
      assert.equal((await first.call('GET', '/api/v1/tasks', { key })).status, 200)
      assert.equal((await second.call('GET', '/api/v1/tasks', { key })).status, 200)
      assert.equal((await first.call('GET', '/api/v1/tasks', { key })).status, 200)
      const limited = await second.call('GET', '/api/v1/tasks', { key })
      assert.equal(limited.status, 429)
      assert.match(limited.headers.ratelimit ?? '', /r=0/)

      // A change made through the second daemon reaches a WebSocket on the first through Redis.
      const ws = new WebSocket(`${first.url.replace('http', 'ws')}/api/v1/ws`, {
        headers: { authorization: `Bearer ${first.keys.read}` },
      })
      const messages: Array<{ data?: { taskId: string } }> = []
      ws.on('message', (raw) => messages.push(JSON.parse(raw.toString())))
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve())
        ws.once('error', reject)
      })
      const created = await second.call('POST', '/api/v1/tasks', {
        key: second.keys.write,
        body: { prompt: 'Across daemons', repository: 'acme/api' },
      })
      assert.equal(created.status, 201, created.text)
      const deadline = Date.now() + 5_000
      while (!messages.some((message) => message.data?.taskId === created.body.id) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
      ws.close()
      assert.ok(
        messages.some((message) => message.data?.taskId === created.body.id),
        'the update crossed daemons',
      )

      // The other daemon's cache of verified keys hears of the revocation over Redis (test/integration/api/key-revocation.test.ts times it).
      const revoked = await first.call('DELETE', '/api/v1/api-keys/shared')
      assert.equal(revoked.status, 200)
      const refusedBy = Date.now() + 2_000
      let refused = await second.call('GET', '/api/v1/tasks', { key })
      while (refused.status !== 401 && Date.now() < refusedBy) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        refused = await second.call('GET', '/api/v1/tasks', { key })
      }
      assert.equal(refused.status, 401)
      assert.match(refused.body.detail, /revoked/)
    } finally {
      await first.close()
      await second.close()
      await database.drop()
    }
  })
})
