/**
 * How the monitor keeps within Jules' quotas: a token bucket caps requests
 * per minute, and a 429 from Jules pauses every request until Retry-After
 * (or a growing backoff when Jules gave none).
 */
import type { Clock } from './ports.js'

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
    this.capacity = Math.max(1, options.burst ?? Math.ceil(options.perMinute / 6))
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
}

/** A pause that a 429 caused, as the monitor reports it. */
export interface RateLimitPause {
  /** RFC 3339: when requests resume. */
  until: string
  /** What Jules asked for, when it said. */
  retryAfterSeconds: number | null
}

/**
 * Every request to Jules passes {@link JulesThrottle.acquire}: it waits out a
 * pause after a 429, then for a token. One throttle per engine, so a 429 seen
 * by one task slows all of them.
 */
export class JulesThrottle {
  readonly bucket: TokenBucket
  private readonly sleep: Sleep
  private pausedUntil = 0
  private strikes = 0
  private lastPause: RateLimitPause | null = null

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
      const paused = this.pausedUntil - this.now()
      if (paused > 0) {
        await this.wait(paused)
        continue
      }
      const wait = this.bucket.tryTake()
      if (wait === 0) return
      await this.wait(wait)
    }
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
  rateLimited(retryAfterSeconds: number | undefined): RateLimitPause {
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
    return this.lastPause
  }

  /** A request went through: the backoff starts small again at the next 429. */
  succeeded(): void {
    this.strikes = 0
  }

  /** The pause in force now, if any. */
  currentPause(): RateLimitPause | null {
    return this.pausedUntil > this.now() ? this.lastPause : null
  }
}
