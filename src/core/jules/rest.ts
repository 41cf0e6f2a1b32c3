/**
 * The `rest` adapter of the JulesClient port: Google's Jules REST API
 * (v1alpha) over undici, with the retries and circuit breaker of ./resilience.ts.
 *
 * Load this module with `await import('./rest.js')` from the factory that
 * picks the Jules backend, so that commands which never call Jules do not
 * load undici and cockatiel.
 */
import { Agent, type Dispatcher, request } from 'undici'
import type { z } from 'zod'
import { AuthenticationError, ConfigurationError, JulesConnectionError, OperationFailedError } from '../errors.js'
import { type Logger, silentLogger } from '../ports.js'
import type {
  CircuitStatus,
  CreateSessionRequest,
  JulesClient,
  ListActivitiesRequest,
  ListActivitiesResponse,
  ListSessionsRequest,
  ListSessionsResponse,
  ListSourcesRequest,
  ListSourcesResponse,
  Session,
  Source,
} from './client.js'
import { errorFromGoogle, parseRetryAfter, transientHttpStatuses } from './google-errors.js'
import { toSessionName, toSourceName } from './names.js'
import { JulesResilience, type ResilienceOptions } from './resilience.js'
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

export interface RestClientOptions extends ResilienceOptions {
  /**
   * `https://jules.googleapis.com` or, as Google's docs and SDK write it,
   * `https://jules.googleapis.com/v1alpha` (a trailing slash either way): the
   * client adds `/v1alpha` only when the URL lacks it.
   */
  baseUrl: string
  /** Sent as `X-Goog-Api-Key`; never logged. */
  apiKey: string
  /** Deadline of one attempt (connect, headers and body), in ms. Default 30000. */
  timeoutMs?: number
  logger?: Logger
  /** Sent as `User-Agent`; the composition root passes `jjm/<version>`. Default `jjm`. */
  userAgent?: string
  /** An undici dispatcher to use instead of the client's own Agent (tests, proxies). */
  dispatcher?: Dispatcher
  /**
   * Told of every 429 the moment it arrives, before the client's own retry
   * waits it out: the composition root records it in the Jules budget that
   * every process on the account shares, so all of them pause at once.
   */
  onRateLimited?: (retryAfterSeconds: number | undefined) => void
}

const defaultTimeoutMs = 30_000

// ---------------------------------------------------------------------------
// Failures: what the retry and the breaker need to know about an error.

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
  method: 'GET' | 'POST' | 'DELETE'
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
  private readonly userAgent: string
  private readonly logger: Logger
  private readonly dispatcher: Dispatcher
  private readonly ownsDispatcher: boolean
  private readonly resilience: JulesResilience
  private readonly onRateLimited: ((retryAfterSeconds: number | undefined) => void) | undefined

  constructor(options: RestClientOptions) {
    this.onRateLimited = options.onRateLimited
    this.baseUrl = apiRootOf(options.baseUrl)
    this.host = hostOf(this.baseUrl)
    this.apiKey = options.apiKey
    this.timeoutMs = options.timeoutMs ?? defaultTimeoutMs
    this.userAgent = options.userAgent ?? 'jjm'
    this.logger = (options.logger ?? silentLogger).child({ julesBackend: 'rest', julesHost: this.host })
    this.ownsDispatcher = options.dispatcher === undefined
    this.dispatcher =
      options.dispatcher ??
      new Agent({ headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, connect: { timeout: this.timeoutMs } })

    this.resilience = new JulesResilience({
      maxAttempts: options.maxAttempts,
      breaker: options.breaker,
      backoff: options.backoff,
      logger: this.logger,
      openCircuitError: (call, { retryInSeconds, failureThreshold }) =>
        new JulesConnectionError(
          `Jules at ${this.host} has failed ${failureThreshold} times in a row; jjm stopped calling it and will try again after ${retryInSeconds} s. Check https://status.cloud.google.com and your network.`,
          { context: { breaker: 'open', retryInSeconds, operation: call.operation, resource: call.resource } },
        ),
    })
  }

  circuit(): CircuitStatus {
    return this.resilience.status()
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
    const body: CreateSessionRequest =
      request.sourceContext === undefined
        ? request
        : {
            ...request,
            sourceContext: { ...request.sourceContext, source: toSourceName(request.sourceContext.source) },
          }
    const answer = await this.call({
      operation: 'sessions.create',
      method: 'POST',
      path: 'sessions',
      body,
      resource: body.sourceContext?.source,
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

  async listSessions(request: ListSessionsRequest = {}): Promise<ListSessionsResponse> {
    const answer = await this.call({
      operation: 'sessions.list',
      method: 'GET',
      path: 'sessions',
      query: { filter: request.filter, pageSize: request.pageSize, pageToken: request.pageToken },
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

  async archiveSession(session: string): Promise<void> {
    await this.sessionAction(session, 'archive')
  }

  async unarchiveSession(session: string): Promise<void> {
    await this.sessionAction(session, 'unarchive')
  }

  /** sessions.delete; a 404 means the session is already gone, which is what was asked. */
  async deleteSession(session: string): Promise<void> {
    const resource = toSessionName(session)
    try {
      await this.call({ operation: 'sessions.delete', method: 'DELETE', path: resource, resource, idempotent: true })
    } catch (error) {
      if (error instanceof OperationFailedError && error.code === 'JJM_JULES_NOT_FOUND') return
      throw error
    }
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close()
  }

  // -------------------------------------------------------------------------

  /** `sessions/{id}:archive` and `:unarchive`: both idempotent (archiving twice leaves it archived). */
  private async sessionAction(session: string, action: 'archive' | 'unarchive'): Promise<void> {
    const resource = toSessionName(session)
    await this.call({
      operation: `sessions.${action}`,
      method: 'POST',
      path: `${resource}:${action}`,
      body: {},
      resource,
      idempotent: true,
    })
  }

  private async call(call: Call): Promise<unknown> {
    if (!this.apiKey) {
      throw new AuthenticationError(
        'No Jules API key is configured. Set JULES_API_KEY (create a key at https://jules.google.com/settings#api), or use --jules sim.',
        { context: { operation: call.operation } },
      )
    }
    if (!URL.canParse(this.baseUrl)) {
      throw new ConfigurationError(
        `The Jules API URL "${this.baseUrl}" is not a URL. Set JULES_API_URL to e.g. https://jules.googleapis.com/v1alpha.`,
        { context: { operation: call.operation } },
      )
    }
    return this.resilience.execute(call, () => this.attempt(call))
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
    const delivery = { started: false }
    try {
      const response = await request(url, {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        dispatcher: this.dispatcher.compose(notingRequestStart(delivery)),
        signal: AbortSignal.timeout(this.timeoutMs),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      })
      statusCode = response.statusCode
      const retryAfter = response.headers['retry-after']
      retryAfterHeader = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter
      text = await response.body.text()
    } catch (error) {
      throw this.networkError(error, call, delivery.started)
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
    if (httpStatus === 429) this.onRateLimited?.(retryAfterSeconds)
    // A 429 or a 503 is Jules refusing before acting: even a create may be sent again.
    this.resilience.mark(error, {
      transient: transientHttpStatuses.has(httpStatus),
      outage: httpStatus >= 500,
      notApplied: httpStatus === 429 || httpStatus === 503,
      httpStatus,
      retryAfterMs: retryAfterSeconds === undefined ? undefined : retryAfterSeconds * 1000,
    })
    return error
  }

  /** `started`: the request began to go out on a connection (see notingRequestStart). */
  private networkError(error: unknown, call: Call, started: boolean): Error {
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
    this.resilience.mark(wrapped, {
      transient: true,
      outage: true,
      // Connection refused, a name that did not resolve, a connection (or TLS
      // handshake) reset or timed out before the request went out: the request
      // never reached Jules. Once it started going out, a timeout or a reset
      // leaves open whether Jules acted on it.
      notApplied: !started || (code !== undefined && networkCodesNotSent.has(code)),
    })
    return wrapped
  }

  private urlOf(call: Call): string {
    const params = new URLSearchParams()
    for (const [key, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined && value !== '') params.set(key, String(value))
    }
    const query = params.toString()
    return `${this.baseUrl}/${call.path}${query ? `?${query}` : ''}`
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

/**
 * An undici interceptor that sets `delivery.started` when the request is
 * handed to a connected socket (undici calls onRequestStart right before it
 * writes the request): a failure before that point certainly never reached
 * Jules.
 */
function notingRequestStart(delivery: { started: boolean }): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) =>
    dispatch(
      options,
      new Proxy(handler, {
        get(target, property) {
          const value: unknown = Reflect.get(target, property)
          if (typeof value !== 'function') return value
          if (property !== 'onRequestStart') return value.bind(target)
          return (...args: unknown[]) => {
            delivery.started = true
            return value.apply(target, args)
          }
        },
      }),
    )
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

/**
 * The API root, version included: `https://jules.googleapis.com`,
 * `…/v1alpha` and `…/v1alpha/` all give `https://jules.googleapis.com/v1alpha`.
 */
export function apiRootOf(baseUrl: string): string {
  const trimmed = baseUrl.trim().replace(/\/+$/, '')
  return /\/v1(?:alpha|beta)?\d*$/.test(trimmed) ? trimmed : `${trimmed}/v1alpha`
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
