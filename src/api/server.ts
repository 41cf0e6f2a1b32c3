/**
 * The daemon's HTTP face: a Polka app on an `http.Server` that jjm owns, so
 * that shutdown can stop accepting, let in-flight requests finish, end the
 * live streams and close idle keep-alive connections within a deadline.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Core } from '../core/core.js'
import type { HealthRunner } from '../core/health.js'
import type { Metrics } from '../core/metrics.js'
import type { Logger } from '../core/ports.js'
import { type Authenticator, createAuthenticator } from './auth.js'
import type { ApiRequest, ApiResponse, Middleware, Next } from './http.js'
import { queryValue } from './http.js'
import { HttpError, headersOf, sendProblem, toProblem } from './problem.js'
import type { RateLimits } from './rate-limit.js'
import type { Route } from './route.js'
import { apiKeyRoutes } from './routes/api-keys.js'
import { type HealthState, healthRoutes } from './routes/health.js'
import { metricsRoutes } from './routes/metrics.js'
import { monitoringRoutes } from './routes/monitoring.js'
import { operationRoutes } from './routes/operations.js'
import { taskActionRoutes } from './routes/task-actions.js'
import { taskRoutes } from './routes/tasks.js'
import { StreamHub } from './stream.js'

export interface ApiServerOptions {
  core: Core
  logger: Logger
  version: string
  rateLimits: RateLimits
  /** Origins allowed by CORS; empty: no cross-origin browser access. `*` allows any. */
  corsOrigins: string[]
  bodyLimitBytes: number
  /** Whose last results /health and /health/ready serve; the caller starts and stops it. */
  healthRunner: HealthRunner
  heartbeatMs?: number
  pollIntervalMs?: number
  /** Records every request (duration and count by route template) and every problem answered. */
  metrics?: Metrics
  /** Also serve `/metrics` here (public), beside the metrics port. */
  metricsOnApiPort?: boolean
}

export interface ApiServer {
  server: Server
  routes: Route[]
  health: HealthState
  streams: StreamHub
  /** Listens; resolves with the address actually bound (port 0 picks a free one). */
  listen(port: number, host: string): Promise<AddressInfo>
  /**
   * Stops accepting, ends live streams, waits for in-flight requests up to
   * `deadlineMs`, then drops whatever connection is left.
   */
  close(deadlineMs: number): Promise<void>
}

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/

export async function createApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { core, logger, rateLimits, metrics } = options
  const [{ default: polka }, { default: cors }] = await Promise.all([import('polka'), import('cors')])
  const health: HealthState = { version: options.version, startedAt: Date.now(), shuttingDown: false }
  const auth = createAuthenticator(() => core.apiKeys(), rateLimits)
  const streams = new StreamHub({
    core,
    logger: logger.child({ component: 'stream' }),
    heartbeatMs: options.heartbeatMs ?? 15_000,
    pollIntervalMs: options.pollIntervalMs ?? 2_000,
  })
  const context = { core, bodyLimitBytes: options.bodyLimitBytes }
  const routes: Route[] = [
    ...healthRoutes(options.healthRunner, health),
    ...taskRoutes(context),
    ...operationRoutes(context),
    ...taskActionRoutes(context),
    ...monitoringRoutes(context),
    ...apiKeyRoutes(context),
    ...streamRoutes(streams),
    ...(metrics && options.metricsOnApiPort ? metricsRoutes(metrics) : []),
  ]
  const { openApiRoutes } = await import('./openapi.js')
  routes.push(...openApiRoutes(routes, options.version))

  const server = createServer({ requestTimeout: 60_000, headersTimeout: 30_000 })
  const app = polka({
    server,
    onError: (error, req, res) => answerError(error, req as ApiRequest, res, logger, metrics),
    onNoMatch: (req, res) => answerNoMatch(req as ApiRequest, res, routes, metrics),
  })
  app.use(requestContext(logger, metrics) as never)
  app.use(corsMiddleware(cors, options.corsOrigins) as never)
  for (const route of routes) {
    const method = route.method.toLowerCase() as 'get' | 'post' | 'put' | 'patch' | 'delete'
    app[method](route.path, ((req: ApiRequest, res: ApiResponse, next: Next) => {
      req.route = route.path
      try {
        // `sessions%2F123` names a session: path parameters arrive encoded.
        for (const [name, value] of Object.entries(req.params)) req.params[name] = decodeURIComponent(value)
      } catch {
        next(new HttpError(400, 'JJM_VALIDATION', `The path ${req.path} is not correctly percent-encoded.`))
        return
      }
      handle(route, auth, req, res).catch(next)
    }) as never)
  }
  server.on('request', app.handler)
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrade(req, socket, head, auth, streams, logger)
  })

  return {
    server,
    routes,
    health,
    streams,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => {
          server.off('error', reject)
          resolve(server.address() as AddressInfo)
        })
      })
    },
    async close(deadlineMs) {
      health.shuttingDown = true
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      streams.closeAll()
      server.closeIdleConnections()
      const deadline = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), deadlineMs).unref())
      if ((await Promise.race([closed, deadline])) === 'late') {
        logger.warn('Requests still running at the shutdown deadline were cut off', { deadlineMs })
        server.closeAllConnections()
        await closed
      }
    },
  }
}

async function handle(route: Route, auth: Authenticator, req: ApiRequest, res: ApiResponse): Promise<void> {
  if (route.scope !== 'public') await auth.require(req, res, route.scope)
  await route.handler(req, res)
}

function streamRoutes(streams: StreamHub): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/v1/stream',
      scope: 'read',
      tag: 'monitoring',
      summary: 'Every task update as Server-Sent Events (`event: task`); resumes from `Last-Event-ID` or `?since=`.',
      description:
        'The same updates over WebSocket: `GET /api/v1/ws` (optionally `?taskId=`), one JSON message per update.',
      responses: {
        200: {
          description: 'An event stream; the `data` of each `task` event is a TaskUpdate.',
          mediaType: 'text/event-stream',
          schema: 'TaskUpdate',
        },
      },
      handler: (req, res) => streams.serveSse(req, res, undefined),
    },
    {
      method: 'GET',
      path: '/api/v1/tasks/:id/stream',
      scope: 'read',
      tag: 'monitoring',
      summary: "One task's updates as Server-Sent Events; resumes from `Last-Event-ID` or `?since=`.",
      responses: {
        200: {
          description: 'An event stream; the `data` of each `task` event is a TaskUpdate.',
          mediaType: 'text/event-stream',
          schema: 'TaskUpdate',
        },
      },
      handler: (req, res) => streams.serveSse(req, res, req.params.id),
    },
  ]
}

/** Request id (accepted or generated, echoed), one structured log line per request, and its metrics. */
function requestContext(logger: Logger, metrics: Metrics | undefined): Middleware {
  const http = logger.child({ component: 'http' })
  return (req, res, next) => {
    const offered = req.headers['x-request-id']
    const candidate = Array.isArray(offered) ? offered[0] : offered
    req.id = candidate !== undefined && requestIdPattern.test(candidate) ? candidate : randomUUID()
    req.startedAt = performance.now()
    res.setHeader('X-Request-Id', req.id)
    res.once('close', () => {
      const seconds = (performance.now() - req.startedAt) / 1000
      // The route template, never the path: a path holds task ids, and anyone can send any path.
      metrics?.httpRequest({
        method: req.method ?? 'GET',
        route: req.route,
        status: res.statusCode,
        seconds,
        requestId: req.id,
      })
      // Never the key, nor the query string (it may carry a cursor or an access token).
      http.info('request', {
        requestId: req.id,
        method: req.method,
        path: req.path,
        route: req.route,
        status: res.statusCode,
        durationMs: Math.round(seconds * 10_000) / 10,
        keyId: req.apiKey?.id,
        aborted: !res.writableFinished || undefined,
      })
    })
    next()
  }
}

function corsMiddleware(cors: typeof import('cors'), origins: string[]): Middleware {
  const allowAny = origins.includes('*')
  const handler = cors({
    origin: allowAny ? true : origins.length === 0 ? false : origins,
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['Authorization', 'X-API-Key', 'Content-Type', 'Idempotency-Key', 'X-Request-Id', 'Last-Event-ID'],
    exposedHeaders: ['Location', 'X-Request-Id', 'RateLimit', 'RateLimit-Policy', 'Retry-After'],
    maxAge: 600,
  })
  return (req, res, next) => handler(req, res, next as (error?: unknown) => void)
}

function answerError(
  error: unknown,
  req: ApiRequest,
  res: ServerResponse,
  logger: Logger,
  metrics: Metrics | undefined,
): void {
  req.id ??= randomUUID()
  const problem = toProblem(error, req)
  metrics?.error({ code: problem.code }, 'http')
  if (problem.status >= 500) {
    logger.error('Request failed', {
      requestId: req.id,
      method: req.method,
      path: req.path,
      code: problem.code,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    })
  }
  sendProblem(res, problem, headersOf(error))
}

function answerNoMatch(req: ApiRequest, res: ServerResponse, routes: Route[], metrics: Metrics | undefined): void {
  const allowed = routes.filter((route) => matches(route.path, req.path)).map((route) => route.method)
  if (allowed.length > 0) {
    const error = new HttpError(
      405,
      'JJM_METHOD_NOT_ALLOWED',
      `${req.method} is not allowed on ${req.path}; use ${allowed.join(', ')}.`,
      {
        headers: { Allow: allowed.join(', ') },
      },
    )
    metrics?.error(error, 'http')
    sendProblem(res, toProblem(error, req), error.headers)
    return
  }
  const error = new HttpError(
    404,
    'JJM_NOT_FOUND',
    `There is nothing at ${req.path}. The API lives under /api/v1; its description is /api/v1/openapi.json.`,
  )
  metrics?.error(error, 'http')
  sendProblem(res, toProblem(error, req))
}

function matches(pattern: string, path: string): boolean {
  const expression = new RegExp(`^${pattern.replace(/:[^/]+/g, '[^/]+')}/?$`)
  return expression.test(path)
}

/** WebSocket upgrades on /api/v1/ws, authenticated like any read request. */
function upgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  auth: Authenticator,
  streams: StreamHub,
  logger: Logger,
): void {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const request = req as ApiRequest
  request.id = randomUUID()
  request.path = url.pathname
  request.originalUrl = req.url ?? '/'
  request.query = Object.fromEntries(url.searchParams)
  const refuse = (error: unknown) => {
    const problem = toProblem(error, request)
    const body = JSON.stringify(problem)
    const extra =
      problem.retryAfterSeconds === undefined ? '' : `Retry-After: ${Math.ceil(problem.retryAfterSeconds)}\r\n`
    socket.end(
      `HTTP/1.1 ${problem.status} ${problem.title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
    )
  }
  if (url.pathname !== '/api/v1/ws') {
    refuse(new HttpError(404, 'JJM_NOT_FOUND', `No WebSocket endpoint at ${url.pathname}; use /api/v1/ws.`))
    return
  }
  // Browsers cannot set headers on a WebSocket: the key may come as ?access_token= too (never logged).
  const token = url.searchParams.get('access_token')
  if (token !== null && req.headers.authorization === undefined) req.headers.authorization = `Bearer ${token}`
  const sink = new ServerResponse(req)
  const run = async () => {
    await auth.require(request, sink, 'read')
    await streams.serveWebSocket(req, socket, head, queryValue(request, 'taskId'), sinceOf(request))
  }
  run().catch((error: unknown) => {
    if (!socket.writable) return
    logger.debug('WebSocket upgrade refused', {
      requestId: request.id,
      error: error instanceof Error ? error.message : String(error),
    })
    refuse(error)
  })
}

function sinceOf(req: ApiRequest): string | undefined {
  const since = queryValue(req, 'since')
  if (since === undefined) return undefined
  const at = Date.parse(since)
  if (Number.isNaN(at)) throw new HttpError(400, 'JJM_VALIDATION', `since "${since}" is not an RFC 3339 instant.`)
  return new Date(at).toISOString()
}
