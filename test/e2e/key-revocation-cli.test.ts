/**
 * Daemons keep the API keys they verified in a cache (src/core/api-key-cache.ts);
 * a revocation reaches every daemon on the shared Redis over the event bus,
 * also when it comes from the CLI, a process of its own (the REST revoke is in
 * test/integration/api/key-revocation.test.ts).
 * The daemons here run on a manual clock that never moves, so the cache's TTL
 * never expires: only the revocation message can make them refuse the key.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { startTestDaemon, untilRefused, withinMs } from '../support/api.js'
import { jjm } from '../support/cli.js'
import { postgres, redis } from '../support/services.js'

describe('revoking with `jjm api-keys revoke` an API key shared by two daemons on one PostgreSQL and one Redis', {
  timeout: 90_000,
}, () => {
  it('is refused by both daemons within one second of `jjm api-keys revoke`', async (t) => {
    const pg = await postgres(t)
    const rd = await redis(t)
    if (!pg || !rd) return
    const database = await pg.createDatabase()
    const env = { DATABASE_URL: database.url, REDIS_URL: rd.url, JJM_CACHE_NAMESPACE: rd.prefix.slice(0, -1) }
    const home = await mkdtemp(join(tmpdir(), 'jjm-revoke-'))
    const first = await startTestDaemon({ env })
    const second = await startTestDaemon({ env })
    try {
      const { key } = await first.core.apiKeys().create({ name: 'ci-bot', scopes: ['read'] })
      for (const daemon of [first, second, first, second]) {
        assert.equal((await daemon.call('GET', '/api/v1/tasks?limit=1', { key })).status, 200)
      }

      const cliEnv = {
        ...env,
        HOME: home,
        XDG_CONFIG_HOME: join(home, 'config'),
        XDG_DATA_HOME: join(home, 'data'),
        XDG_CACHE_HOME: join(home, 'cache'),
        JJM_JULES: 'sim',
        JJM_LOG_LEVEL: 'warn',
      }
      const run = await jjm(['api-keys', 'revoke', 'ci-bot'], cliEnv)
      assert.equal(run.code, 0, run.stderr)
      // Measured from the moment the command has finished, which is when a user knows the key is revoked.
      const since = performance.now()
      for (const daemon of [first, second]) {
        const { answer, elapsedMs } = await untilRefused(daemon, key, since)
        assert.equal(answer.status, 401, `still accepted after ${Math.round(elapsedMs)} ms`)
        assert.ok(elapsedMs <= withinMs, `refused after ${Math.round(elapsedMs)} ms, not within ${withinMs} ms`)
      }
    } finally {
      await first.close()
      await second.close()
      await database.drop()
      await rm(home, { recursive: true, force: true })
    }
  })
})
