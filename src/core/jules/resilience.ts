/**
 * Retries with backoff and a circuit breaker, shared by the Jules adapters
 * that talk to something outside the process (`rest` over HTTP, `mcp` over a
 * server's stdio), so both behave alike when Jules, or the way to it, fails.
 *
 * An adapter turns each failure into a JjmError and tells this module, with
 * {@link JulesResilience.mark}, what the failure means: worth retrying, an
 * outage (counts towards opening the circuit), certainly not applied by Jules
 * (safe to send again even when the call is not idempotent).
 *
 * Load this module only from adapters that are themselves loaded lazily: it
 * imports cockatiel.
 */
import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  decorrelatedJitterGenerator,
  ExponentialBackoff,
  handleWhen,
  type IBackoff,
  type IBackoffFactory,
  type IRetryBackoffContext,
  retry,
} from 'cockatiel'
import { type JulesConnectionError, markJulesDidNotAct } from '../errors.js'
import type { Logger } from '../ports.js'
import type { CircuitStatus } from './client.js'

/** What the retry and the breaker need to know about a failure. */
export interface FailureFacts {
  /** Worth sending again: a network failure, a dead server, a transient status. */
  transient: boolean
  /** Jules itself (or the way to it) is failing, as opposed to refusing this request. */
  outage: boolean
  /**
   * Jules certainly did not act on the request (it was never sent, or Jules
   * answered 429 or 503), so even a call that is not idempotent may be sent again.
   */
  notApplied: boolean
  httpStatus?: number
  retryAfterMs?: number
}

export interface ResilienceOptions {
  /** Attempts per call, the first included. Default 3. */
  maxAttempts?: number
  breaker?: {
    /** Consecutive failed calls that open the circuit. Default 5. */
    failureThreshold?: number
    /** How long the circuit stays open before one call may test Jules again, in ms. Default 30000. */
    cooldownMs?: number
  }
  backoff?: {
    /** Default 500. */
    initialDelayMs?: number
    /** Cap of the exponential delay. Default 30000. */
    maxDelayMs?: number
    /**
     * A `Retry-After` longer than this is not waited for: the call fails at
     * once so the caller can decide. Default 120000.
     */
    maxRetryAfterMs?: number
  }
}

export const resilienceDefaults = {
  maxAttempts: 3,
  failureThreshold: 5,
  cooldownMs: 30_000,
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 120_000,
} as const

/** One call to Jules, as the policies see it. */
export interface GuardedCall {
  /** Google's method name, e.g. `sessions.get`; used in errors and logs. */
  operation: string
  resource?: string
  /**
   * Whether sending the call again after a failure that leaves open whether
   * Jules applied it is harmless (or the adapter checks before resending).
   * When false, only failures marked `notApplied` are retried.
   */
  idempotent: boolean
}

export interface ResilienceSetup extends ResilienceOptions {
  logger: Logger
  /** The error a call gets at once while the circuit is open. */
  openCircuitError(
    call: GuardedCall,
    details: { retryInSeconds: number; failureThreshold: number },
  ): JulesConnectionError
}

/**
 * The retry policy (per call) inside the circuit breaker (across calls) of
 * one adapter instance.
 *
 * The breaker wraps the retry, so one call, with all its retries, counts
 * once. The retry already absorbs short blips; the breaker is for Jules being
 * down across calls, and counting each attempt would let one unlucky call
 * (3 attempts) nearly open it alone. While open, nothing is retried: every
 * call fails at once. Only outages count (network errors, timeouts, 5xx, a
 * server that died): a 4xx or a 429 means Jules is up and answering, so those
 * neither open the circuit nor, when they answer the half-open test call,
 * keep it open.
 */
export class JulesResilience {
  readonly maxAttempts: number
  private readonly initialDelayMs: number
  private readonly maxDelayMs: number
  private readonly maxRetryAfterMs: number
  private readonly cooldownMs: number
  private readonly failureThreshold: number
  private readonly logger: Logger
  private readonly openCircuitError: ResilienceSetup['openCircuitError']
  private readonly breaker: CircuitBreakerPolicy
  private readonly failures = new WeakMap<Error, FailureFacts>()
  private openedAt = 0

  constructor(setup: ResilienceSetup) {
    this.maxAttempts = Math.max(1, setup.maxAttempts ?? resilienceDefaults.maxAttempts)
    this.initialDelayMs = setup.backoff?.initialDelayMs ?? resilienceDefaults.initialDelayMs
    this.maxDelayMs = setup.backoff?.maxDelayMs ?? resilienceDefaults.maxDelayMs
    this.maxRetryAfterMs = setup.backoff?.maxRetryAfterMs ?? resilienceDefaults.maxRetryAfterMs
    this.cooldownMs = setup.breaker?.cooldownMs ?? resilienceDefaults.cooldownMs
    this.failureThreshold = setup.breaker?.failureThreshold ?? resilienceDefaults.failureThreshold
    this.logger = setup.logger
    this.openCircuitError = setup.openCircuitError

    this.breaker = circuitBreaker(
      handleWhen((error) => this.failures.get(error)?.outage === true),
      { halfOpenAfter: this.cooldownMs, breaker: new ConsecutiveBreaker(this.failureThreshold) },
    )
    this.breaker.onBreak(() => {
      this.openedAt = Date.now()
      this.logger.warn('Jules keeps failing: circuit breaker opened; calls fail fast until the cooldown ends', {
        failureThreshold: this.failureThreshold,
        cooldownMs: this.cooldownMs,
      })
    })
    this.breaker.onHalfOpen(() => this.logger.info('Circuit breaker half-open: testing Jules with one call'))
    this.breaker.onReset(() => this.logger.info('Circuit breaker closed: Jules answers again'))
  }

  /**
   * The breaker's state without calling Jules. cockatiel leaves an expired
   * open circuit `Open` until the next call; that call is the half-open test,
   * so it is reported as `half_open` (a health check may make it).
   */
  status(): CircuitStatus {
    const state = this.breaker.state
    if (state === CircuitState.Closed) return { state: 'closed' }
    if (state === CircuitState.HalfOpen) return { state: 'half_open' }
    const remainingMs = this.openedAt + this.cooldownMs - Date.now()
    if (state === CircuitState.Open && remainingMs <= 0) return { state: 'half_open' }
    return { state: 'open', retryInSeconds: Math.max(1, Math.ceil(remainingMs / 1000)) }
  }

  /** Records what `error` means for the policies; returns it, for `throw resilience.mark(...)`. */
  mark<E extends Error>(error: E, facts: FailureFacts): E {
    this.failures.set(error, facts)
    // Callers outside the adapter (the creation of a task under an idempotency key) need this one fact too.
    if (facts.notApplied) markJulesDidNotAct(error)
    return error
  }

  factsOf(error: unknown): FailureFacts | undefined {
    return error instanceof Error ? this.failures.get(error) : undefined
  }

  /** Runs `attempt` (numbered from 1) under the retry and the breaker. */
  async execute<T>(call: GuardedCall, attempt: (attemptNumber: number) => Promise<T>): Promise<T> {
    const retryPolicy = retry(
      handleWhen((error) => this.shouldRetry(error, call)),
      { maxAttempts: this.maxAttempts - 1, backoff: this.backoffFactory() },
    )
    retryPolicy.onRetry((event) => {
      const error = 'error' in event ? event.error : undefined
      this.logger.warn('Retrying Jules request', {
        operation: call.operation,
        resource: call.resource,
        attempt: event.attempt,
        maxAttempts: this.maxAttempts,
        delayMs: Math.round(event.delay),
        status: this.factsOf(error)?.httpStatus,
        error: error instanceof Error ? error.message : undefined,
      })
    })
    try {
      return await this.breaker.execute(() => retryPolicy.execute((context) => attempt(context.attempt + 1)))
    } catch (error) {
      if (error instanceof BrokenCircuitError) {
        const retryInSeconds = Math.max(1, Math.ceil((this.openedAt + this.cooldownMs - Date.now()) / 1000))
        // Nothing was sent while the circuit is open.
        throw markJulesDidNotAct(
          this.openCircuitError(call, { retryInSeconds, failureThreshold: this.failureThreshold }),
        )
      }
      throw error
    }
  }

  /**
   * A call that is not idempotent (sessions.create: a create that reached
   * Jules but whose answer was lost may have started a session, and sending
   * it again would start a second one, spending the user's daily quota) is
   * retried only when Jules certainly did not act on it.
   */
  private shouldRetry(error: Error, call: GuardedCall): boolean {
    const facts = this.failures.get(error)
    if (!facts?.transient) return false
    if (facts.retryAfterMs !== undefined && facts.retryAfterMs > this.maxRetryAfterMs) return false
    return call.idempotent || facts.notApplied
  }

  /**
   * Exponential backoff with decorrelated jitter, capped at maxDelayMs; when
   * Jules said `Retry-After`, at least that long. A Retry-After may exceed
   * maxDelayMs (up to maxRetryAfterMs; beyond, shouldRetry gives up) because
   * asking again sooner only earns another 429.
   */
  private backoffFactory(): IBackoffFactory<IRetryBackoffContext<unknown>> {
    const exponential = new ExponentialBackoff({
      generator: decorrelatedJitterGenerator,
      initialDelay: this.initialDelayMs,
      maxDelay: this.maxDelayMs,
    })
    const retryAfterOf = (context: IRetryBackoffContext<unknown>): number => {
      const error = 'error' in context.result ? context.result.error : undefined
      return this.factsOf(error)?.retryAfterMs ?? 0
    }
    const wrap = (
      inner: IBackoff<unknown>,
      context: IRetryBackoffContext<unknown>,
    ): IBackoff<IRetryBackoffContext<unknown>> => ({
      duration: Math.max(inner.duration, retryAfterOf(context)),
      next: (nextContext) => wrap(inner.next(nextContext), nextContext),
    })
    return { next: (context) => wrap(exponential.next(), context) }
  }
}
