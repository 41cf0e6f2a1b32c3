/**
 * How jjm keeps within Jules' quotas: a token bucket caps requests per
 * minute, and a 429 from Jules pauses every request until Retry-After (or a
 * growing backoff when Jules gave none).
 *
 * The quota is Jules' per account, so the budget is too: with a cache backend
 * that shares state between processes (Redis), every process that calls the
 * same Jules account draws on one {@link JulesBudgetStore}, and a 429 that one
 * of them gets pauses them all.
 */
import { createHash } from 'node:crypto'
import type { JjmConfig } from './config.js'
import type { Clock, Logger } from './ports.js'

/** Waits `ms` of the clock's time; tests pass one that advances a ManualClock. */
export type Sleep = (ms: number) => Promise<void>

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

export interface TokenBucketOptions {
  /** Tokens added per minute: the sustained rate. */
  perMinute: number
  /** Tokens held at most: how many requests may go at once after a quiet spell. Default: 10 seconds' worth, at least 1. */
  burst?: number
  clock: Clock
}

/** A token bucket on an injectable clock; starts full. */
export class TokenBucket {
  readonly capacity: number
  private readonly perMs: number
  private tokens: number
  private refilledAt: number

  constructor(private readonly options: TokenBucketOptions) {
    if (!(options.perMinute > 0)) throw new RangeError(`perMinute must be above 0, got ${options.perMinute}`)
    this.perMs = options.perMinute / 60_000
    this.capacity = Math.max(1, options.burst ?? defaultBurst(options.perMinute))
    this.tokens = this.capacity
    this.refilledAt = options.clock.now()
  }

  /** Takes a token and returns 0, or returns how many ms until one is there (taking nothing). */
  tryTake(): number {
    this.refill()
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 0
    }
    return Math.max(1, Math.ceil((1 - this.tokens) / this.perMs))
  }

  private refill(): void {
    const now = this.options.clock.now()
    // A clock set backwards adds nothing rather than taking tokens away.
    const elapsed = Math.max(0, now - this.refilledAt)
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.perMs)
    this.refilledAt = now
  }
}

/** A token bucket's default burst: 10 seconds' worth of requests, at least 1. */
export function defaultBurst(perMinute: number): number {
  return Math.max(1, Math.ceil(perMinute / 6))
}

/** A pause that a 429 caused, as the monitor reports it. */
export interface RateLimitPause {
  /** RFC 3339: when requests resume. */
  until: string
  /** What Jules asked for, when it said. */
  retryAfterSeconds: number | null
}

/**
 * The Jules request budget, as the monitor and bulk creation use it: every
 * request to Jules waits in {@link acquire} and reports how it went.
 */
export interface JulesBudget {
  /** Resolves when a request may go: after any pause a 429 caused, and within the requests per minute. */
  acquire(): Promise<void>
  /** A request went through: the backoff starts small again at the next 429. */
  succeeded(): void
  /** Records a 429: every request (in every process sharing the budget) waits until the returned pause ends. */
  rateLimited(retryAfterSeconds?: number): RateLimitPause
  /** The pause in force now, if any. */
  currentPause(): RateLimitPause | null
  /**
   * The latest pause that was in force at some moment since `sinceMs` (clock
   * time), whoever got the 429: what a pass that waited on another process's
   * pause reports. Absent: only {@link currentPause} is known.
   */
  pausedSince?(sinceMs: number): RateLimitPause | null
  close?(): Promise<void>
}

/** A pause as every process sharing a budget sees it. */
export interface SharedPause {
  /** Milliseconds since the epoch, on the clocks of the processes (they share wall time). */
  untilMs: number
  retryAfterSeconds: number | null
}

/** What a {@link JulesBudgetStore} is opened for. */
export interface JulesBudgetStoreOptions {
  /** Which Jules account the budget belongs to ({@link julesAccountKey}); never a secret. */
  account: string
  /** Requests per minute, in the long run. */
  perMinute: number
  /** Requests that may go at once: the store grants at most this many per `burst / perMinute` minutes. */
  burst: number
}

/**
 * Where one Jules account's budget is kept when several processes share it,
 * provided by a cache backend whose state outlives the process (Redis). A
 * store that cannot reach its server should keep counting in the process
 * (never block, never grant without limit) and catch up when it is back.
 */
export interface JulesBudgetStore {
  /** Counts one request: 0 when it may go now, otherwise the ms until one may (nothing counted). */
  take(): Promise<number>
  /** The pause in force for every process, if one is recorded. */
  pause(): Promise<SharedPause | null>
  /** Records a pause for every process, kept about `ttlMs`; a pause recorded that ends later is kept instead. */
  pauseUntil(pause: SharedPause, ttlMs: number): Promise<void>
  close?(): Promise<void>
}

/**
 * The name of the Jules account that `config` calls, for keying its shared
 * budget: a hash of the URL and the API key (the key itself never leaves the
 * process), the MCP server's command line, or `sim` for the built-in simulator.
 */
export function julesAccountKey(jules: Pick<JjmConfig['jules'], 'backend' | 'apiUrl' | 'apiKey' | 'mcp'>): string {
  const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32)
  switch (jules.backend) {
    case 'rest':
      return `rest-${digest(`${jules.apiUrl}\n${jules.apiKey ?? ''}`)}`
    case 'mcp':
      return `mcp-${digest(JSON.stringify([jules.mcp?.command ?? '', ...(jules.mcp?.args ?? [])]))}`
    default:
      return jules.backend
  }
}

export interface ThrottleOptions {
  /** Requests per minute to Jules. */
  perMinute: number
  burst?: number
  clock: Clock
  sleep?: Sleep
  /** The first pause after a 429 without Retry-After; doubles with each one in a row. Default 10 s. */
  backoffMs?: number
  /** The longest pause, whatever Jules says. Default 10 minutes. */
  maxPauseMs?: number
  /**
   * The budget shared with other processes (see {@link JulesBudgetStore});
   * absent: this process only. Requests are then counted there, and pauses
   * both recorded there and read from there.
   */
  shared?: JulesBudgetStore
  /** Where a failure to reach the shared store is reported (once until it answers again). */
  logger?: Logger
}

/**
 * The {@link JulesBudget}: every request to Jules passes
 * {@link JulesThrottle.acquire}, which waits out a pause after a 429, then
 * for a token. One throttle per process, so a 429 seen by one task slows all
 * of them; with a {@link ThrottleOptions.shared} store, one budget for every
 * process on it. Time is the injected clock's; waits go through the injected sleep.
 */
export class JulesThrottle implements JulesBudget {
  readonly bucket: TokenBucket
  private readonly sleep: Sleep
  private pausedUntil = 0
  private strikes = 0
  private lastPause: RateLimitPause | null = null
  /** Pauses on their way to the shared store. */
  private sharing: Promise<void> = Promise.resolve()
  /** The shared store failed and has not answered since: said once, not at every request. */
  private sharedDown = false

  /**
   * Time slept that the clock did not show: a clock that stands still (a
   * test's ManualClock with real sleeps) must not keep every request waiting forever.
   */
  private unseenMs = 0

  constructor(private readonly options: ThrottleOptions) {
    this.bucket = new TokenBucket({
      perMinute: options.perMinute,
      clock: { now: () => this.now() },
      ...(options.burst === undefined ? {} : { burst: options.burst }),
    })
    this.sleep = options.sleep ?? realSleep
  }

  async acquire(): Promise<void> {
    for (;;) {
      await this.adoptSharedPause()
      const paused = this.pausedUntil - this.now()
      if (paused > 0) {
        await this.wait(paused)
        continue
      }
      const wait = await this.take()
      if (wait === 0) return
      await this.wait(wait)
    }
  }

  /** Resolves once the pauses recorded so far have reached the shared store (or failed to). */
  async flush(): Promise<void> {
    await this.sharing
  }

  async close(): Promise<void> {
    await this.flush()
    await this.options.shared?.close?.()
  }

  private async take(): Promise<number> {
    const shared = this.options.shared
    if (shared === undefined) return this.bucket.tryTake()
    try {
      // Not proof that the store is up: it may have counted in its own insurance.
      return await shared.take()
    } catch (error) {
      // Neither block every request nor let them all through: count in this process until the store is back.
      this.sharedFailed(error)
      return this.bucket.tryTake()
    }
  }

  /** Another process's 429 pauses this one too. */
  private async adoptSharedPause(): Promise<void> {
    const shared = this.options.shared
    if (shared === undefined) return
    let pause: SharedPause | null
    try {
      pause = await shared.pause()
      this.sharedUp()
    } catch (error) {
      this.sharedFailed(error)
      return
    }
    if (pause === null) return
    const until = pause.untilMs + this.unseenMs
    if (until <= this.pausedUntil) return
    this.pausedUntil = until
    this.lastPause = { until: new Date(pause.untilMs).toISOString(), retryAfterSeconds: pause.retryAfterSeconds }
  }

  private sharedFailed(error: unknown): void {
    if (this.sharedDown) return
    this.sharedDown = true
    this.options.logger?.warn(
      'The shared Jules request budget is unreachable; this process counts its own requests until it is back',
      { error: error instanceof Error ? error.message : String(error) },
    )
  }

  private sharedUp(): void {
    if (!this.sharedDown) return
    this.sharedDown = false
    this.options.logger?.info('The shared Jules request budget answers again')
  }

  private now(): number {
    return this.options.clock.now() + this.unseenMs
  }

  private async wait(ms: number): Promise<void> {
    const before = this.options.clock.now()
    await this.sleep(ms)
    this.unseenMs += Math.max(0, ms - (this.options.clock.now() - before))
  }

  /** Records a 429: every request waits until the returned pause ends. */
  rateLimited(retryAfterSeconds?: number): RateLimitPause {
    const maxPauseMs = this.options.maxPauseMs ?? 600_000
    this.strikes += 1
    const backoff = (this.options.backoffMs ?? 10_000) * 2 ** Math.min(this.strikes - 1, 16)
    const pauseMs = Math.min(
      maxPauseMs,
      retryAfterSeconds !== undefined && retryAfterSeconds >= 0 ? retryAfterSeconds * 1000 : backoff,
    )
    const until = Math.max(this.pausedUntil, this.now() + pauseMs)
    this.pausedUntil = until
    this.lastPause = {
      until: new Date(until - this.unseenMs).toISOString(),
      retryAfterSeconds: retryAfterSeconds ?? null,
    }
    const shared = this.options.shared
    if (shared !== undefined) {
      const pause = { untilMs: until - this.unseenMs, retryAfterSeconds: this.lastPause.retryAfterSeconds }
      // Not awaited: the caller is handling a failed request; the next acquire anywhere reads it.
      this.sharing = this.sharing.then(() =>
        shared.pauseUntil(pause, until - this.now()).then(
          () => this.sharedUp(),
          (error: unknown) => this.sharedFailed(error),
        ),
      )
    }
    return this.lastPause
  }

  /** A request went through: the backoff starts small again at the next 429. */
  succeeded(): void {
    this.strikes = 0
  }

  pausedSince(sinceMs: number): RateLimitPause | null {
    return this.pausedUntil - this.unseenMs > sinceMs ? this.lastPause : null
  }

  /** The pause in force now, if any. */
  currentPause(): RateLimitPause | null {
    return this.pausedUntil > this.now() ? this.lastPause : null
  }
}

type Flexible = typeof import('rate-limiter-flexible')
/** A rate-limiter-flexible limiter (the Redis one has the same methods). */
export type FlexibleLimiter = InstanceType<Flexible['RateLimiterMemory']>

export interface FlexibleLimiterOptions {
  keyPrefix: string
  points: number
  /** Seconds, whole: the Redis limiter sets expiries in whole seconds. */
  duration: number
  blockDuration?: number
  /** A node-redis client shared by the processes that count together; absent: this process only. */
  redis?: object
}

/**
 * A fixed-window limiter from rate-limiter-flexible (`flexible`, imported
 * lazily by the caller): in memory, or in Redis with an in-memory insurance
 * limiter that counts while Redis is unreachable, so that an outage neither
 * blocks every request nor lets them all through. Used for the API's
 * per-key limits and for the shared Jules budget.
 */
export function flexibleLimiter(flexible: Flexible, options: FlexibleLimiterOptions): FlexibleLimiter {
  const { RateLimiterMemory, RateLimiterRedis } = flexible
  const { keyPrefix, points, duration } = options
  const blockDuration = options.blockDuration ?? 0
  const memory = new RateLimiterMemory({ keyPrefix, points, duration, blockDuration })
  if (options.redis === undefined) return memory
  return new RateLimiterRedis({
    storeClient: options.redis,
    useRedisPackage: true,
    rejectIfRedisNotReady: true,
    keyPrefix,
    points,
    duration,
    blockDuration,
    insuranceLimiter: memory,
  }) as unknown as FlexibleLimiter
}
