/**
 * The Cache port on Keyv 5: an in-process map (bounded) or Redis.
 *
 * keyv and @keyv/redis are imported inside the factories: importing this
 * module costs nothing, so `jjm --help` never loads a Redis client.
 */
import type { Keyv } from 'keyv'
import { ConfigurationError } from '../../core/errors.js'
import type { Cache, Logger } from '../../core/ports.js'

/** The memory cache holds at most this many keys by default; the least recently used go first. */
export const defaultMaxEntries = 10_000
/** Every Redis key starts with this unless told otherwise, so jjm can share a Redis with other software. */
export const defaultRedisPrefix = 'jjm:cache:'

export interface MemoryCacheOptions {
  maxEntries?: number
}

export interface RedisCacheOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` */
  url: string
  /** Prepended to every key. Default `jjm:cache:`. */
  prefix?: string
  logger: Logger
  /** How long a (re)connection attempt may take. Default 1000 ms. */
  connectTimeoutMs?: number
  /** How long one command may wait for its answer. Default 1000 ms. */
  commandTimeoutMs?: number
}

type RedisClient = ReturnType<typeof import('@keyv/redis').createClient>

/** What KeyvCache needs from the Redis client beyond Keyv. */
interface CounterBackend {
  /** The node-redis client, when the cache is Redis. */
  redis?: RedisClient
  increment(key: string): Promise<number>
  ping(): Promise<void>
  close(): Promise<void>
}

/**
 * A Map that forgets its least recently used key once it holds more than
 * `maxEntries`. Keyv keeps expiry inside the value and only notices it on a
 * read, so without a bound a busy process would keep every page it ever saw.
 */
export class LruMap<K, V> extends Map<K, V> {
  constructor(readonly maxEntries: number) {
    super()
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`maxEntries must be a whole number of at least 1, not ${maxEntries}`)
    }
  }

  override get(key: K): V | undefined {
    if (!super.has(key)) return undefined
    const value = super.get(key) as V
    // Re-inserting moves the key to the end of the Map's insertion order: the most recently used.
    super.delete(key)
    super.set(key, value)
    return value
  }

  override set(key: K, value: V): this {
    if (super.has(key)) super.delete(key)
    super.set(key, value)
    while (this.size > this.maxEntries) {
      const oldest = this.keys().next()
      if (oldest.done === true) break
      super.delete(oldest.value)
    }
    return this
  }
}

/**
 * `Cache` over Keyv. Values are JSON-serialised by Keyv, so a caller never
 * shares an object with the cache. A key written by {@link increment} reads
 * back through {@link get} as its number.
 *
 * Errors are thrown, never swallowed: the caller (CachedTaskStore) needs to
 * know the cache is down to go to the store instead.
 */
export class KeyvCache implements Cache {
  private constructor(
    private readonly keyv: Keyv,
    private readonly counters: CounterBackend,
  ) {}

  /** An in-process cache: one process only, bounded to `maxEntries` keys. */
  static async memory(options: MemoryCacheOptions = {}): Promise<KeyvCache> {
    const { Keyv } = await import('keyv')
    const map = new LruMap<string, unknown>(options.maxEntries ?? defaultMaxEntries)
    const keyv = new Keyv({
      store: map,
      useKeyPrefix: false,
      throwOnErrors: true,
      // Plain JSON: jjm caches JSON values only, and Keyv's default (a reviver run on every
      // string, for Buffers) made reading a cached page of 50 tasks the costliest step of a
      // GET /api/v1/tasks. Only this process reads these entries, so the format can differ
      // from what Redis holds for other jjm versions.
      serialize: JSON.stringify,
      deserialize: JSON.parse,
    })
    return new KeyvCache(keyv, {
      // One synchronous read-modify-write: nothing can interleave with it in one process.
      async increment(key) {
        const current = map.get(key)
        const next = typeof current === 'number' ? current + 1 : 1
        map.set(key, next)
        return next
      },
      async ping() {},
      async close() {
        map.clear()
      },
    })
  }

  /**
   * A cache shared by every process that uses the same Redis and prefix.
   * Resolves even when Redis is down (after at most `connectTimeoutMs`): the
   * client keeps reconnecting with backoff in the background, and meanwhile
   * every call fails fast instead of queueing, so a dead Redis never makes
   * jjm hang or crash.
   */
  static async redis(options: RedisCacheOptions): Promise<KeyvCache> {
    const { Keyv } = await import('keyv')
    const { default: KeyvRedis, createClient } = await import('@keyv/redis')
    const logger = options.logger.child({ cache: 'redis' })
    const prefix = options.prefix ?? defaultRedisPrefix
    const connectTimeoutMs = options.connectTimeoutMs ?? 1000
    let client: ReturnType<typeof createClient>
    try {
      client = createClient({
        url: options.url,
        // Queued commands would wait for a reconnection that may never come; fail them now instead.
        disableOfflineQueue: true,
        commandOptions: { timeout: options.commandTimeoutMs ?? 1000 },
        socket: {
          connectTimeout: connectTimeoutMs,
          // Never give up: Redis coming back must heal the cache without a restart. Jitter spreads many daemons' retries.
          reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 5000) + Math.floor(Math.random() * 100),
        },
      })
    } catch (error) {
      // node-redis throws a bare TypeError ("Invalid URL", "Invalid protocol") for a URL it cannot use.
      throw new ConfigurationError(
        `Invalid Redis URL ${redactUrl(options.url)} (${describe(error)}): expected redis://host:6379 or rediss://…; check REDIS_URL or cache.url.`,
        { context: { key: 'cache.url', value: redactUrl(options.url) } },
      )
    }
    // Without a listener an 'error' event would crash the process; outages are reported once by CachedTaskStore.
    client.on('error', (error: unknown) => logger.debug('Redis client error', { error: describe(error) }))

    const store = new KeyvRedis(client, {
      namespace: prefix,
      keyPrefixSeparator: '',
      throwOnErrors: true,
      throwOnConnectError: true,
    })
    // Keyv copies its namespace onto the adapter, so both must carry the prefix; Keyv itself adds none.
    const keyv = new Keyv({ store, namespace: prefix, useKeyPrefix: false, throwOnErrors: true })

    // connect() only settles once connected (it retries forever); waiting a bounded time avoids
    // failing the first calls of a healthy start-up, without blocking a start-up when Redis is down.
    const connected = client.connect().then(
      () => true,
      () => false,
    )
    let timer: NodeJS.Timeout | undefined
    const ready = await Promise.race([
      connected,
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), connectTimeoutMs)
      }),
    ])
    clearTimeout(timer)
    if (!ready) logger.debug('Redis not reachable yet; reconnecting in the background', { url: redactUrl(options.url) })

    return new KeyvCache(keyv, {
      redis: client,
      // INCR is atomic in Redis: two processes incrementing at once get two different numbers.
      async increment(key) {
        return Number(await client.incr(`${prefix}${key}`))
      },
      async ping() {
        // Offline commands fail at once (disableOfflineQueue), so a dead Redis answers fast.
        await client.ping()
      },
      async close() {
        if (!client.isOpen) return
        if (client.isReady) {
          await client.close().catch(() => client.destroy())
        } else {
          // QUIT would wait for a connection that is not there.
          client.destroy()
        }
      },
    })
  }

  async get<T>(key: string): Promise<T | undefined> {
    const raw: unknown = await this.keyv.get(key, { raw: true })
    // A counter is stored as a bare number, not as Keyv's { value, expires } envelope.
    if (typeof raw === 'number') return raw as T
    if (typeof raw === 'object' && raw !== null && 'value' in raw) return (raw as { value: T }).value
    return undefined
  }

  async set(key: string, value: unknown, ttlMs: number): Promise<void> {
    await this.keyv.set(key, value, ttlMs)
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length === 0) return
    await this.keyv.delete(keys)
  }

  async increment(key: string): Promise<number> {
    return this.counters.increment(key)
  }

  /** The cache's node-redis client (for other state shared through the same Redis); undefined in memory. */
  get redisClient(): RedisClient | undefined {
    return this.counters.redis
  }

  /** Resolves when the cache's server answers; rejects when it is unreachable. */
  async ping(): Promise<void> {
    await this.counters.ping()
  }

  async close(): Promise<void> {
    await this.counters.close()
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(not a URL)'
  }
}
