/**
 * Per-key request limits and a failed-authentication limiter per client
 * address, on rate-limiter-flexible: in memory for one daemon, in Redis when
 * several daemons share one (with an in-memory insurance limiter while Redis
 * is unreachable, so a Redis outage neither blocks nor un-limits the API).
 */

import { RateLimitedError } from '../core/errors.js'
import type { Metrics } from '../core/metrics.js'
import type { Logger } from '../core/ports.js'
import { type FlexibleLimiter, flexibleLimiter } from '../core/rate-limit.js'
import type { ApiResponse } from './http.js'

type Flexible = typeof import('rate-limiter-flexible')
type Limiter = FlexibleLimiter
type Outcome = InstanceType<Flexible['RateLimiterRes']>
/** A node-redis client (from @keyv/redis' createClient). */
export type RedisClientLike = object

export interface RateLimitsOptions {
  /** Requests per minute for a key that sets none of its own. */
  defaultPerMinute: number
  /** Failed authentications one address may make per minute before it is refused for `authBlockSeconds`. */
  authFailuresPerMinute: number
  authBlockSeconds?: number
  /** Shared counters across daemons; absent: in this process only. */
  redis?: RedisClientLike
  keyPrefix: string
  logger: Logger
  /** Counts refused requests (`jjm_rate_limited_requests_total{limiter}`); absent: nothing is recorded. */
  metrics?: Pick<Metrics, 'rateLimited'>
}

export interface RateDecision {
  limit: number
  remaining: number
  resetSeconds: number
}

const windowSeconds = 60

export class RateLimits {
  private readonly byRate = new Map<number, Limiter>()
  private auth: Limiter | undefined

  private constructor(
    private readonly flexible: Flexible,
    private readonly options: RateLimitsOptions,
  ) {}

  static async create(options: RateLimitsOptions): Promise<RateLimits> {
    const flexible = await import('rate-limiter-flexible')
    return new RateLimits(flexible, options)
  }

  /**
   * Counts one request of a key against its limit and sets the `RateLimit`
   * headers. @throws RateLimitedError (429, Retry-After) when over it.
   */
  async consumeRequest(res: ApiResponse, keyId: string, perMinute: number | null): Promise<void> {
    const limit = perMinute ?? this.options.defaultPerMinute
    const limiter = this.limiterFor(limit)
    let outcome: Outcome
    let allowed = true
    try {
      outcome = await limiter.consume(keyId)
    } catch (rejected) {
      if (rejected instanceof Error) throw rejected
      outcome = rejected as Outcome
      allowed = false
    }
    const decision = { limit, remaining: outcome.remainingPoints, resetSeconds: Math.ceil(outcome.msBeforeNext / 1000) }
    setRateLimitHeaders(res, decision)
    if (!allowed) {
      this.options.metrics?.rateLimited('api_key')
      throw new RateLimitedError(
        `This API key may make ${limit} requests a minute; wait ${decision.resetSeconds} s before the next one, or ask for a key with a higher --rate.`,
        { retryAfterSeconds: Math.max(1, decision.resetSeconds), context: { limit } },
      )
    }
  }

  /** @throws RateLimitedError when the address failed to authenticate too often lately. */
  async checkAuthAllowed(address: string): Promise<void> {
    const limiter = this.authLimiter()
    const outcome = await limiter.get(address)
    if (outcome !== null && outcome.remainingPoints <= 0 && outcome.msBeforeNext > 0) {
      // Counting this attempt too goes over the limit, which starts (or keeps) the block.
      const blocked = await limiter.consume(address).catch((rejected: unknown) => rejected)
      const ms = blocked instanceof this.flexible.RateLimiterRes ? blocked.msBeforeNext : outcome.msBeforeNext
      const seconds = Math.ceil(ms / 1000)
      this.options.metrics?.rateLimited('auth_failure')
      throw new RateLimitedError(
        `Too many requests with a missing or invalid API key from this address; try again in ${seconds} s.`,
        { retryAfterSeconds: seconds },
      )
    }
  }

  async recordAuthFailure(address: string): Promise<void> {
    await this.authLimiter()
      .consume(address)
      .catch((rejected: unknown) => {
        if (rejected instanceof Error)
          this.options.logger.warn('Could not count a failed authentication', { error: rejected.message })
      })
  }

  private limiterFor(perMinute: number): Limiter {
    let limiter = this.byRate.get(perMinute)
    if (limiter === undefined) {
      limiter = this.build(`${this.options.keyPrefix}:rate:${perMinute}`, perMinute, 0)
      this.byRate.set(perMinute, limiter)
    }
    return limiter
  }

  private authLimiter(): Limiter {
    this.auth ??= this.build(
      `${this.options.keyPrefix}:authfail`,
      this.options.authFailuresPerMinute,
      this.options.authBlockSeconds ?? 15 * 60,
    )
    return this.auth
  }

  private build(keyPrefix: string, points: number, blockDuration: number): Limiter {
    return flexibleLimiter(this.flexible, {
      keyPrefix,
      points,
      duration: windowSeconds,
      blockDuration,
      ...(this.options.redis === undefined ? {} : { redis: this.options.redis }),
    })
  }
}

/** `RateLimit-Policy` and `RateLimit` as the IETF httpapi draft writes them. */
export function setRateLimitHeaders(res: ApiResponse, decision: RateDecision): void {
  if (res.headersSent) return
  res.setHeader('RateLimit-Policy', `"per-key";q=${decision.limit};w=${windowSeconds}`)
  res.setHeader('RateLimit', `"per-key";r=${Math.max(0, decision.remaining)};t=${Math.max(0, decision.resetSeconds)}`)
}
