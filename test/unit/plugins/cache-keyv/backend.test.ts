import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type JjmConfig, loadConfig } from '../../../../src/core/config.js'
import { ConfigurationError } from '../../../../src/core/errors.js'
import { InProcessEventBus } from '../../../../src/core/event-bus.js'
import { silentLogger } from '../../../../src/core/ports.js'
import {
  cacheBackends,
  memoryCacheBackend,
  noCacheBackend,
  redisCacheBackend,
} from '../../../../src/plugins/cache-keyv/backend.js'
import { KeyvCache } from '../../../../src/plugins/cache-keyv/keyv-cache.js'

describe('cache backends', () => {
  let dir: string
  let config: JjmConfig

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jjm-cache-backend-'))
    config = await loadConfig({ configDir: dir, dataDir: dir, env: {} })
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('registers memory, redis and none as cache backends', () => {
    assert.deepEqual(
      cacheBackends.map((backend) => [backend.kind, backend.name]),
      [
        ['cache', 'memory'],
        ['cache', 'redis'],
        ['cache', 'none'],
      ],
    )
  })

  it('memory opens a Keyv cache and an in-process event bus', async () => {
    const handle = await memoryCacheBackend.open({ config, logger: silentLogger })
    try {
      assert.ok(handle.cache instanceof KeyvCache)
      assert.ok(handle.bus instanceof InProcessEventBus)
      await handle.cache.set('k', 'v', 1000)
      assert.equal(await handle.cache.get('k'), 'v')
    } finally {
      await handle.close()
    }
  })

  it('none opens no cache, only an in-process event bus', async () => {
    const handle = await noCacheBackend.open({ config, logger: silentLogger })
    try {
      assert.equal(handle.cache, undefined)
      assert.ok(handle.bus instanceof InProcessEventBus)
    } finally {
      await handle.close()
    }
  })

  it('redis without a URL is a configuration error that names REDIS_URL and cache.url', async () => {
    await assert.rejects(
      redisCacheBackend.open({ config: { ...config, cache: { backend: 'redis' } }, logger: silentLogger }),
      (error: unknown) =>
        error instanceof ConfigurationError && /REDIS_URL/.test(error.message) && /cache\.url/.test(error.message),
    )
  })
})
