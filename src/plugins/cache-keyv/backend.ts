import { type CacheBackend, type CacheHandle, cacheNamespace } from '../../core/backends.js'
import { ConfigurationError } from '../../core/errors.js'
import { InProcessEventBus } from '../../core/event-bus.js'
import type { Logger } from '../../core/ports.js'
import type { JulesBudgetStoreOptions } from '../../core/rate-limit.js'

/** The default: a bounded cache in this process, and in-process live updates. */
export const memoryCacheBackend: CacheBackend = {
  kind: 'cache',
  name: 'memory',
  description: 'In-process cache (the default): one process only, nothing to run',
  async open({ logger }) {
    // Keyv loads only when a cache is opened, never for --help.
    const { KeyvCache } = await import('./keyv-cache.js')
    const cache = await KeyvCache.memory()
    const bus = inProcessBus(logger)
    return {
      cache,
      bus,
      async close() {
        await Promise.allSettled([bus.close(), cache.close()])
      },
    }
  },
}

/** Redis: one cache and one event bus shared by every jjm process that points at it. */
export const redisCacheBackend: CacheBackend = {
  kind: 'cache',
  name: 'redis',
  description: 'Redis cache and pub/sub shared by several jjm processes: REDIS_URL or cache.url',
  async open({ config, logger }): Promise<CacheHandle> {
    const url = config.cache.url
    if (url === undefined || url.trim() === '') {
      throw new ConfigurationError(
        'The redis cache needs a Redis URL. Set REDIS_URL (or cache.url in the config file), e.g. redis://127.0.0.1:6379, or choose another cache with --cache memory.',
        { context: { key: 'cache.url', env: 'REDIS_URL' } },
      )
    }
    const [{ KeyvCache }, { createRedisEventBus }] = await Promise.all([
      import('./keyv-cache.js'),
      import('./redis-bus.js'),
    ])
    const namespace = cacheNamespace(config)
    const child = logger.child({ cache: 'redis', namespace })
    const [cache, bus] = await Promise.allSettled([
      // One namespace per database: deployments sharing a Redis never see each other's pages or updates.
      KeyvCache.redis({ url, logger: child, prefix: `jjm:${namespace}:cache:` }),
      // A short connect wait: a CLI command must not hang on a dead Redis; the bus reconnects in the background.
      createRedisEventBus({ url, logger: child, connectTimeoutMs: 1000, prefix: `jjm:${namespace}:` }),
    ])
    if (cache.status === 'rejected' || bus.status === 'rejected') {
      // Do not leave the half that opened reconnecting in the background.
      await Promise.allSettled([
        cache.status === 'fulfilled' ? cache.value.close() : undefined,
        bus.status === 'fulfilled' ? bus.value.close() : undefined,
      ])
      throw cache.status === 'rejected' ? cache.reason : (bus as PromiseRejectedResult).reason
    }
    const client = cache.value.redisClient
    return {
      cache: cache.value,
      bus: bus.value,
      ping: () => cache.value.ping(),
      // Jules' quota is per account: every process on this Redis draws on one budget, through the cache's connection.
      ...(client === undefined
        ? {}
        : {
            async julesBudgetStore(options: JulesBudgetStoreOptions) {
              const { openRedisJulesBudget } = await import('./redis-jules-budget.js')
              return openRedisJulesBudget({ ...options, client })
            },
          }),
      async close() {
        await Promise.allSettled([bus.value.close(), cache.value.close()])
      },
    }
  },
}

/** No cache: every read goes to the store. Live updates stay in-process. */
export const noCacheBackend: CacheBackend = {
  kind: 'cache',
  name: 'none',
  description: 'No cache: every read goes to the store (live updates in-process only)',
  async open({ logger }) {
    const bus = inProcessBus(logger)
    return {
      bus,
      async close() {
        await bus.close()
      },
    }
  },
}

export const cacheBackends: CacheBackend[] = [memoryCacheBackend, redisCacheBackend, noCacheBackend]

function inProcessBus(logger: Logger): InProcessEventBus {
  // A listener that throws (an SSE client gone away) must not stop the others, but should be seen.
  return new InProcessEventBus((error) =>
    logger.warn('A live-update listener failed', { error: error instanceof Error ? error.message : String(error) }),
  )
}
