/**
 * The `rest` adapter of the JulesClient port: Google's Jules REST API
 * (v1alpha) over undici, with retries and a circuit breaker from cockatiel.
 *
 * Load this module with `await import('./rest.js')` from the factory that
 * picks the Jules backend, so that commands which never call Jules do not
 * load undici and cockatiel.
 */
import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
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
import { Agent, type Dispatcher, request } from 'undici'
import type { z } from 'zod'
import { AuthenticationError, ConfigurationError, JulesConnectionError, OperationFailedError } from '../errors.js'
import { type Logger, silentLogger } from '../ports.js'
import type {
  CreateSessionRequest,
  JulesClient,
  ListActivitiesRequest,
  ListActivitiesResponse,
  ListSessionsResponse,
  ListSourcesRequest,
  ListSourcesResponse,
  PageRequest,
  Session,
  Source,
} from './client.js'
import { errorFromGoogle, parseRetryAfter, transientHttpStatuses } from './google-errors.js'
import { toSessionName, toSourceName } from './names.js'
import {
  activityPageSchema,
  googleErrorSchema,
  sessionPageSchema,
  sessionSchema,
  sourcePageSchema,
  sourceSchema,
  toActivity,
  toSession,
  toSource,
  withToken,
} from './wire-schemas.js'

export interface RestClientOptions {
  /** e.g. `https://jules.googleapis.com`; the client adds `/v1alpha`. */
  baseUrl: string
  /** Sent as `X-Goog-Api-Key`; never logged. */
  apiKey: string
  /** Deadline of one attempt (connect, headers and body), in ms. Default 30000. */
  timeoutMs?: number
  /** Attempts per call, the first included. Default 3. */
  maxAttempts?: number
  breaker?: {
    /** Consecutive failed calls that open the circuit. Default 5. */
    failureThreshold?: number
    /** How long the circuit stays open before one call may test Jules again, in ms. Default 30000. */
    cooldownMs?: number
  }
  logger?: Logger
  backoff?: {
    /** Default 500. */
    initialDelayMs?: number
    /** Cap of the exponential delay. Default 30000. */
    maxDelayMs?: number
    /**
     * A `Retry-After` longer than this is not waited for: the call fails at
     * once with the RateLimitedError (or JulesConnectionError for a 503) so
     * the caller can decide. Default 120000.
     */
    maxRetryAfterMs?: number
  }
  /** Sent as `User-Agent`; the composition root passes `jjm/<version>`. Default `jjm`. */
  userAgent?: string
  /** An undici dispatcher to use instead of the client's own Agent (tests, proxies). */
  dispatcher?: Dispatcher
}

const defaults = {
  timeoutMs: 30_000,
  maxAttempts: 3,
  failureThreshold: 5,
  cooldownMs: 30_000,
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 120_000,
} as const

// ---------------------------------------------------------------------------
// Failures: what the retry and the breaker need to know about an error.

interface FailureFacts {
  /** Worth sending again: a network failure or a transient HTTP status. */
  transient: boolean
  /** Jules itself is failing or unreachable (network, 5xx), as opposed to refusing (4xx). */
  outage: boolean
  /** The request certainly never reached Jules (connection refused, DNS). */
  notSent: boolean
  httpStatus?: number
  retryAfterMs?: number
}

const networkCodesNotSent = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'])
const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'])

/** The errno-style code of a network error, looking into `cause` and AggregateError members. */
function networkCode(error: unknown, depth = 0): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 3) return undefined
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') return code
  if (error instanceof AggregateError) {
    for (const member of error.errors) {
      const found = networkCode(member, depth + 1)
      if (found) return found
    }
  }
  return networkCode((error as { cause?: unknown }).cause, depth + 1)
}

function isTimeout(error: unknown, code: string | undefined): boolean {
  if (code && timeoutCodes.has(code)) return true
  return error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')
}

interface Call {
  /** Google's method name, e.g. `sessions.get`; used in errors and logs. */
  operation: string
  method: 'GET' | 'POST'
  /** Below `/v1alpha/`, e.g. `sessions/abc:approvePlan`. */
  path: string
  query?: Record<string, string | number | undefined>
  body?: unknown
  resource?: string
  /** Whether sending the request twice is harmless. */
  idempotent: boolean
}

/**
 * The JulesClient on Google's REST API. A missing API key is reported on the
 * first call, not at construction, so that commands which never reach Jules
 * (listing stored tasks, for example) work without one.
 */
export class RestJulesClient implements JulesClient {
  readonly kind = 'rest'

  private readonly baseUrl: string
  private readonly host: string
  private readonly apiKey: string
  private readonly timeoutMs: number
  private readonly maxAttempts: number
  private readonly initialDelayMs: number
  private readonly maxDelayMs: number
  private readonly maxRetryAfterMs: number
  private readonly cooldownMs: number
  private readonly failureThreshold: number
  private readonly userAgent: string
  private readonly logger: Logger
  private readonly dispatcher: Dispatcher
  private readonly ownsDispatcher: boolean
  private readonly breaker: CircuitBreakerPolicy
  private readonly failures = new WeakMap<Error, FailureFacts>()
  private openedAt = 0

  constructor(options: RestClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.host = hostOf(this.baseUrl)
    this.apiKey = options.apiKey
    this.timeoutMs = options.timeoutMs ?? defaults.timeoutMs
    this.maxAttempts = Math.max(1, options.maxAttempts ?? defaults.maxAttempts)
    this.initialDelayMs = options.backoff?.initialDelayMs ?? defaults.initialDelayMs
    this.maxDelayMs = options.backoff?.maxDelayMs ?? defaults.maxDelayMs
    this.maxRetryAfterMs = options.backoff?.maxRetryAfterMs ?? defaults.maxRetryAfterMs
    this.cooldownMs = options.breaker?.cooldownMs ?? defaults.cooldownMs
    this.failureThreshold = options.breaker?.failureThreshold ?? defaults.failureThreshold
    this.userAgent = options.userAgent ?? 'jjm'
    this.logger = (options.logger ?? silentLogger).child({ julesBackend: 'rest', julesHost: this.host })
    this.ownsDispatcher = options.dispatcher === undefined
    this.dispatcher =
      options.dispatcher ??
      new Agent({ headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, connect: { timeout: this.timeoutMs } })

    // The breaker wraps the retry, so one call, with all its retries, counts
    // once. The retry already absorbs short blips; the breaker is for Jules
    // being down across calls, and counting each attempt would let one unlucky
    // call (3 attempts) nearly open it alone. While open, nothing is retried:
    // every call fails at once. Only outages count (network errors, timeouts,
    // 5xx): a 4xx or a 429 means Jules is up and answering, so those neither
    // open the circuit nor, when they answer the half-open test call, keep it open.
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

  async listSources(request: ListSourcesRequest = {}): Promise<ListSourcesResponse> {
    const answer = await this.call({
      operation: 'sources.list',
      method: 'GET',
      path: 'sources',
      query: { filter: request.filter, pageSize: request.pageSize, pageToken: request.pageToken },
      idempotent: true,
    })
    const page = this.validate(sourcePageSchema, answer, 'sources.list')
    return withToken({ sources: (page.sources ?? []).map(toSource) }, page.nextPageToken)
  }

  async getSource(name: string): Promise<Source> {
    const resource = toSourceName(name)
    const answer = await this.call({
      operation: 'sources.get',
      method: 'GET',
      path: resource,
      resource,
      idempotent: true,
    })
    return toSource(this.validate(sourceSchema, answer, 'sources.get', resource))
  }

  async createSession(request: CreateSessionRequest): Promise<Session> {
    const body: CreateSessionRequest = {
      ...request,
      sourceContext: { ...request.sourceContext, source: toSourceName(request.sourceContext.source) },
    }
    const answer = await this.call({
      operation: 'sessions.create',
      method: 'POST',
      path: 'sessions',
      body,
      resource: body.sourceContext.source,
      idempotent: false,
    })
    const session = toSession(this.validate(sessionSchema, answer, 'sessions.create'))
    // Input-only fields are not echoed by Jules; jjm knows what it sent.
    return {
      ...session,
      requirePlanApproval: session.requirePlanApproval ?? request.requirePlanApproval,
      automationMode: session.automationMode ?? request.automationMode,
    }
  }

  async getSession(name: string): Promise<Session> {
    const resource = toSessionName(name)
    const answer = await this.call({
      operation: 'sessions.get',
      method: 'GET',
      path: resource,
      resource,
      idempotent: true,
    })
    return toSession(this.validate(sessionSchema, answer, 'sessions.get', resource))
  }

  async listSessions(request: PageRequest = {}): Promise<ListSessionsResponse> {
    const answer = await this.call({
      operation: 'sessions.list',
      method: 'GET',
      path: 'sessions',
      query: { pageSize: request.pageSize, pageToken: request.pageToken },
      idempotent: true,
    })
    const page = this.validate(sessionPageSchema, answer, 'sessions.list')
    return withToken({ sessions: (page.sessions ?? []).map(toSession) }, page.nextPageToken)
  }

  async listActivities(session: string, request: ListActivitiesRequest = {}): Promise<ListActivitiesResponse> {
    const resource = toSessionName(session)
    const answer = await this.call({
      operation: 'sessions.activities.list',
      method: 'GET',
      path: `${resource}/activities`,
      query: { pageSize: request.pageSize, pageToken: request.pageToken, filter: request.filter },
      resource,
      idempotent: true,
    })
    const page = this.validate(activityPageSchema, answer, 'sessions.activities.list', resource)
    return withToken({ activities: (page.activities ?? []).map(toActivity) }, page.nextPageToken)
  }

  async sendMessage(session: string, prompt: string): Promise<void> {
    const resource = toSessionName(session)
    // Not idempotent in principle (the agent could read the message twice),
    // but Jules answers it only after recording it, and a lost message is the
    // worse outcome for a person waiting on the agent; retried like a read.
    await this.call({
      operation: 'sessions.sendMessage',
      method: 'POST',
      path: `${resource}:sendMessage`,
      body: { prompt },
      resource,
      idempotent: true,
    })
  }

  async approvePlan(session: string): Promise<void> {
    const resource = toSessionName(session)
    await this.call({
      operation: 'sessions.approvePlan',
      method: 'POST',
      path: `${resource}:approvePlan`,
      body: {},
      resource,
      idempotent: true,
    })
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close()
  }

  // -------------------------------------------------------------------------

  private async call(call: Call): Promise<unknown> {
    if (!this.apiKey) {
      throw new AuthenticationError(
        'No Jules API key is configured. Set JULES_API_KEY (create a key at https://jules.google.com/settings#api), or use --jules sim.',
        { context: { operation: call.operation } },
      )
    }
    if (!URL.canParse(this.baseUrl)) {
      throw new ConfigurationError(
        `The Jules API URL "${this.baseUrl}" is not a URL. Set JULES_API_URL to e.g. https://jules.googleapis.com.`,
        { context: { operation: call.operation } },
      )
    }
    const retryPolicy = retry(
      handleWhen((error) => this.shouldRetry(error, call)),
      { maxAttempts: this.maxAttempts - 1, backoff: this.backoffFactory() },
    )
    retryPolicy.onRetry((event) => {
      const error = 'error' in event ? event.error : undefined
      const facts = error instanceof Error ? this.failures.get(error) : undefined
      this.logger.warn('Retrying Jules request', {
        operation: call.operation,
        resource: call.resource,
        attempt: event.attempt,
        maxAttempts: this.maxAttempts,
        delayMs: Math.round(event.delay),
        status: facts?.httpStatus,
        error: error instanceof Error ? error.message : undefined,
      })
    })
    try {
      return await this.breaker.execute(() => retryPolicy.execute(() => this.attempt(call)))
    } catch (error) {
      if (error instanceof BrokenCircuitError) throw this.breakerOpenError(call)
      throw error
    }
  }

  /**
   * sessions.create is not idempotent: a create that reached Jules but whose
   * answer was lost (reset, timeout, 500) may have started a session, and
   * sending it again would start a second one, spending the user's daily
   * quota. So it is retried only when Jules certainly did not act on it: the
   * connection was refused or the name did not resolve (never sent), or Jules
   * explicitly refused it (429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE).
   */
  private shouldRetry(error: Error, call: Call): boolean {
    const facts = this.failures.get(error)
    if (!facts?.transient) return false
    if (facts.retryAfterMs !== undefined && facts.retryAfterMs > this.maxRetryAfterMs) return false
    if (call.idempotent) return true
    return facts.notSent || facts.httpStatus === 429 || facts.httpStatus === 503
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
      return (error instanceof Error ? this.failures.get(error)?.retryAfterMs : undefined) ?? 0
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

  private breakerOpenError(call: Call): JulesConnectionError {
    const retryInSeconds = Math.max(1, Math.ceil((this.openedAt + this.cooldownMs - Date.now()) / 1000))
    return new JulesConnectionError(
      `Jules at ${this.host} has failed ${this.failureThreshold} times in a row; jjm stopped calling it and will try again after ${retryInSeconds} s. Check https://status.cloud.google.com and your network.`,
      { context: { breaker: 'open', retryInSeconds, operation: call.operation, resource: call.resource } },
    )
  }

  /** One HTTP exchange; resolves to the parsed JSON answer (undefined when empty). */
  private async attempt(call: Call): Promise<unknown> {
    const url = this.urlOf(call)
    const headers: Record<string, string> = {
      'x-goog-api-key': this.apiKey,
      accept: 'application/json',
      'user-agent': this.userAgent,
    }
    if (call.body !== undefined) headers['content-type'] = 'application/json'

    let statusCode: number
    let retryAfterHeader: string | undefined
    let text: string
    try {
      const response = await request(url, {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        dispatcher: this.dispatcher,
        signal: AbortSignal.timeout(this.timeoutMs),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      })
      statusCode = response.statusCode
      const retryAfter = response.headers['retry-after']
      retryAfterHeader = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter
      text = await response.body.text()
    } catch (error) {
      throw this.networkError(error, call)
    }

    if (statusCode >= 200 && statusCode < 300) {
      if (text.trim() === '') return undefined
      try {
        return JSON.parse(text) as unknown
      } catch (error) {
        throw protocolError(call.operation, call.resource, `a body that is not JSON (HTTP ${statusCode})`, {
          cause: error,
          bodyStart: text.slice(0, 120),
        })
      }
    }
    throw this.httpError(call, statusCode, text, retryAfterHeader)
  }

  private httpError(call: Call, httpStatus: number, text: string, retryAfterHeader: string | undefined): Error {
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = undefined // an HTML page from a proxy, say: the status still tells what happened
    }
    const parsed = googleErrorSchema.safeParse(body)
    const retryAfterSeconds = parseRetryAfter(retryAfterHeader)
    const error = errorFromGoogle({
      httpStatus,
      status: parsed.success ? parsed.data.error.status : undefined,
      message: parsed.success ? parsed.data.error.message : undefined,
      retryAfterSeconds,
      operation: call.operation,
      resource: call.resource,
    })
    this.failures.set(error, {
      transient: transientHttpStatuses.has(httpStatus),
      outage: httpStatus >= 500,
      notSent: false,
      httpStatus,
      retryAfterMs: retryAfterSeconds === undefined ? undefined : retryAfterSeconds * 1000,
    })
    return error
  }

  private networkError(error: unknown, call: Call): Error {
    const code = networkCode(error)
    const timedOut = isTimeout(error, code)
    const what = timedOut
      ? `Jules at ${this.host} did not answer ${call.operation} within ${this.timeoutMs} ms`
      : `Could not reach Jules at ${this.host} for ${call.operation}${code ? ` (${code})` : ''}`
    const wrapped = new JulesConnectionError(
      `${what}. Check JULES_API_URL (now ${this.baseUrl}) and your network connection.`,
      {
        cause: error,
        context: { operation: call.operation, resource: call.resource, host: this.host, code, timedOut },
      },
    )
    this.failures.set(wrapped, {
      transient: true,
      outage: true,
      notSent: code !== undefined && networkCodesNotSent.has(code),
    })
    return wrapped
  }

  private urlOf(call: Call): string {
    const params = new URLSearchParams()
    for (const [key, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined && value !== '') params.set(key, String(value))
    }
    const query = params.toString()
    return `${this.baseUrl}/v1alpha/${call.path}${query ? `?${query}` : ''}`
  }

  private validate<T extends z.ZodType>(schema: T, answer: unknown, operation: string, resource?: string): z.output<T> {
    const parsed = schema.safeParse(answer)
    if (parsed.success) return parsed.data
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    throw protocolError(operation, resource, `an answer jjm cannot read (${issues.join('; ')})`, { issues })
  }
}

function protocolError(
  operation: string,
  resource: string | undefined,
  what: string,
  extra: { cause?: unknown } & Record<string, unknown>,
): OperationFailedError {
  const { cause, ...context } = extra
  return new OperationFailedError(
    `Jules answered ${operation} with ${what}. Check that JULES_API_URL points at the Jules API; if it does, the API may have changed: please report it.`,
    { cause, context: { operation, resource, ...context } },
    'JJM_JULES_PROTOCOL',
  )
}

function hostOf(baseUrl: string): string {
  try {
    return new URL(baseUrl).host
  } catch {
    return baseUrl
  }
}

/** Creates the `rest` JulesClient. See {@link RestClientOptions}. */
export function createRestClient(options: RestClientOptions): JulesClient {
  return new RestJulesClient(options)
}
