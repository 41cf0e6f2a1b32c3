/**
 * The simulator as an HTTP server speaking the Jules v1alpha REST API
 * (`jjm sim serve`, and the target of the `rest` adapter's tests).
 *
 * API routes (need `X-Goog-Api-Key` or `?key=`):
 *   GET  /v1alpha/sources                          sources.list
 *   GET  /v1alpha/sources/{github/o/r}             sources.get
 *   POST /v1alpha/sessions                         sessions.create
 *   GET  /v1alpha/sessions                         sessions.list
 *   GET  /v1alpha/sessions/{id}                    sessions.get
 *   POST /v1alpha/sessions/{id}:sendMessage        sessions.sendMessage  → {}
 *   POST /v1alpha/sessions/{id}:approvePlan        sessions.approvePlan  → {}
 *   POST /v1alpha/sessions/{id}:archive            sessions.archive      → {}
 *   POST /v1alpha/sessions/{id}:unarchive          sessions.unarchive    → {}
 *   DELETE /v1alpha/sessions/{id}                  sessions.delete       → {}
 *   GET  /v1alpha/sessions/{id}/activities         sessions.activities.list
 *   GET  /v1alpha/sessions/{id}/activities/{a}     sessions.activities.get
 *
 * Control routes (no key; for tests, demos and CI):
 *   POST   /_sim/clock:advance        {"seconds": n}   moves the OffsetClock forward
 *   GET    /_sim/faults                                the queued faults
 *   POST   /_sim/faults               SimFaultOptions  queues a fault
 *   DELETE /_sim/faults                                clears the queue
 *   POST   /_sim/sessions/{id}:scenario {"scenario": "fail"}
 *   GET    /_sim/health
 *
 * Requests are read as Google reads them: proto field names (`source_context`,
 * `page_size`) work beside the JSON names, and an unknown body field or query
 * parameter is 400 INVALID_ARGUMENT with a `google.rpc.BadRequest` detail.
 *
 * Every answer is `application/json` and carries `X-Jules-Simulator: true`.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { OffsetClock } from '../core/clock.js'
import { googleErrorBody } from '../core/jules/google-errors.js'
import { type Logger, silentLogger } from '../core/ports.js'
import {
  SimApiError,
  type SimFaultOptions,
  type SimMethod,
  type SimScenario,
  type Simulator,
  simScenarios,
} from './engine.js'
import {
  emptyShape,
  normaliseBody,
  normaliseQuery,
  type Shape,
  sendMessageShape,
  sessionShape,
} from './request-shape.js'

export interface SimServerOptions {
  simulator: Simulator
  /** Default 127.0.0.1. */
  host?: string
  /** 0 (the default) picks a free port. */
  port?: number
  /** Accepted `X-Goog-Api-Key` values; default `['sim-key']`. */
  apiKeys?: string[]
  /** The clock `POST /_sim/clock:advance` moves; that route answers 400 without one. */
  clock?: OffsetClock
  logger?: Logger
}

export interface SimServer {
  /** e.g. `http://127.0.0.1:43117`; the API lives under `${url}/v1alpha`. */
  url: string
  port: number
  close(): Promise<void>
}

const maxBodyBytes = 1024 * 1024

interface Answer {
  status: number
  body: unknown
  headers?: Record<string, string>
  malformed?: boolean
}

interface ApiRoute {
  method: SimMethod
  resource?: string
  /** The query parameters the method takes (JSON names); none when absent. */
  query?: readonly string[]
  /** The body's message (POST); a field outside it is 400 INVALID_ARGUMENT. */
  shape?: Shape
  handle(body: Record<string, unknown>, query: Query): Promise<unknown>
}

type Query = URLSearchParams

function invalid(message: string): SimApiError {
  return new SimApiError(400, 'INVALID_ARGUMENT', message)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function intParam(query: Query, name: string): number | undefined {
  const raw = query.get(name)
  if (raw === null || raw === '') return undefined
  if (!/^-?\d+$/.test(raw)) throw invalid(`${name} must be an integer, got "${raw}".`)
  return Number(raw)
}

function stringParam(query: Query, name: string): string | undefined {
  const raw = query.get(name)
  return raw === null || raw === '' ? undefined : raw
}

function pageRequest(query: Query): { pageSize?: number; pageToken?: string } {
  const pageSize = intParam(query, 'pageSize')
  const pageToken = stringParam(query, 'pageToken')
  return { ...(pageSize === undefined ? {} : { pageSize }), ...(pageToken === undefined ? {} : { pageToken }) }
}

function digestOf(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

function keyAccepted(key: string | undefined, accepted: readonly Buffer[]): boolean {
  if (key === undefined || key === '') return false
  const candidate = digestOf(key)
  // Compare against every key, so the time taken says nothing about which one nearly matched.
  let ok = false
  for (const digest of accepted) ok = timingSafeEqual(candidate, digest) || ok
  return ok
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))
    size += buffer.length
    if (size > maxBodyBytes) throw invalid(`Request body larger than ${maxBodyBytes} bytes.`)
    chunks.push(buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function parseJsonBody(text: string): Record<string, unknown> {
  if (text.trim() === '') return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw invalid('Invalid JSON payload received.')
  }
  if (!isRecord(parsed)) throw invalid('Invalid JSON payload received: expected an object.')
  return parsed
}

const listParameters = ['pageSize', 'pageToken', 'filter'] as const

function withFilter(query: Query): { pageSize?: number; pageToken?: string; filter?: string } {
  const filter = stringParam(query, 'filter')
  return { ...pageRequest(query), ...(filter === undefined ? {} : { filter }) }
}

function sessionAction(
  method: SimMethod,
  name: string,
  act: (name: string) => Promise<void>,
  shape: Shape = emptyShape,
): ApiRoute {
  return {
    method,
    resource: name,
    shape,
    handle: async () => {
      await act(name)
      return {}
    },
  }
}

function apiRoute(simulator: Simulator, verb: string, path: string): ApiRoute | undefined {
  if (path === '/v1alpha/sources' && verb === 'GET') {
    return {
      method: 'sources.list',
      query: listParameters,
      handle: (_, query) => simulator.listSources(withFilter(query)),
    }
  }
  const sourceMatch = /^\/v1alpha\/(sources\/.+)$/.exec(path)
  if (sourceMatch?.[1] && verb === 'GET') {
    const name = sourceMatch[1]
    return { method: 'sources.get', resource: name, handle: () => simulator.getSource(name) }
  }
  if (path === '/v1alpha/sessions') {
    if (verb === 'GET') {
      return {
        method: 'sessions.list',
        query: listParameters,
        handle: (_, query) => simulator.listSessions(withFilter(query)),
      }
    }
    if (verb === 'POST') {
      return { method: 'sessions.create', shape: sessionShape, handle: (body) => simulator.createSession(body) }
    }
    return undefined
  }
  const custom = /^\/v1alpha\/sessions\/([^/:]+):(approvePlan|sendMessage|archive|unarchive)$/.exec(path)
  if (custom?.[1] && verb === 'POST') {
    const name = `sessions/${custom[1]}`
    switch (custom[2]) {
      case 'approvePlan':
        return sessionAction('sessions.approvePlan', name, (session) => simulator.approvePlan(session))
      case 'archive':
        return sessionAction('sessions.archive', name, (session) => simulator.archiveSession(session))
      case 'unarchive':
        return sessionAction('sessions.unarchive', name, (session) => simulator.unarchiveSession(session))
      default:
        return {
          method: 'sessions.sendMessage',
          resource: name,
          shape: sendMessageShape,
          handle: async (body) => {
            if (typeof body.prompt !== 'string') throw invalid('prompt is required and must be a string.')
            await simulator.sendMessage(name, body.prompt)
            return {}
          },
        }
    }
  }
  const session = /^\/v1alpha\/sessions\/([^/:]+)$/.exec(path)
  if (session?.[1] && verb === 'GET') {
    const name = `sessions/${session[1]}`
    return { method: 'sessions.get', resource: name, handle: () => simulator.getSession(name) }
  }
  if (session?.[1] && verb === 'DELETE') {
    return sessionAction('sessions.delete', `sessions/${session[1]}`, (name) => simulator.deleteSession(name))
  }
  const activities = /^\/v1alpha\/sessions\/([^/:]+)\/activities$/.exec(path)
  if (activities?.[1] && verb === 'GET') {
    const name = `sessions/${activities[1]}`
    return {
      method: 'sessions.activities.list',
      resource: name,
      query: listParameters,
      handle: (_, query) => simulator.listActivities(name, withFilter(query)),
    }
  }
  const activity = /^\/v1alpha\/sessions\/([^/:]+)\/activities\/([^/:]+)$/.exec(path)
  if (activity?.[1] && activity[2] && verb === 'GET') {
    const name = `sessions/${activity[1]}/activities/${activity[2]}`
    return { method: 'sessions.activities.get', resource: name, handle: () => simulator.getActivity(name) }
  }
  return undefined
}

function faultOptionsOf(body: Record<string, unknown>): SimFaultOptions {
  const { status, count, retryAfterSeconds, methods, delayMs, malformed } = body
  if (typeof status !== 'number') throw invalid('status (an HTTP status number) is required.')
  const optionalNumber = (value: unknown, name: string): number | undefined => {
    if (value === undefined) return undefined
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      throw invalid(`${name} must be a number >= 0.`)
    return value
  }
  if (methods !== undefined && !(Array.isArray(methods) && methods.every((method) => typeof method === 'string'))) {
    throw invalid('methods must be an array of method names, e.g. ["sessions.create"].')
  }
  if (malformed !== undefined && typeof malformed !== 'boolean') throw invalid('malformed must be a boolean.')
  const countValue = optionalNumber(count, 'count')
  const retryAfter = optionalNumber(retryAfterSeconds, 'retryAfterSeconds')
  const delay = optionalNumber(delayMs, 'delayMs')
  return {
    status,
    ...(countValue === undefined ? {} : { count: countValue }),
    ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
    ...(methods === undefined
      ? {}
      : { methods: methods.filter((method): method is string => typeof method === 'string') }),
    ...(delay === undefined ? {} : { delayMs: delay }),
    ...(malformed === undefined ? {} : { malformed }),
  }
}

function isScenario(value: unknown): value is SimScenario {
  return typeof value === 'string' && (simScenarios as readonly string[]).includes(value)
}

/**
 * Starts the simulator's HTTP server on node:http. Resolves once it listens.
 */
export async function startSimServer(options: SimServerOptions): Promise<SimServer> {
  const { createServer } = await import('node:http')
  const { simulator, clock } = options
  const logger = (options.logger ?? silentLogger).child({ component: 'sim-http' })
  const acceptedKeys = (options.apiKeys ?? ['sim-key']).map(digestOf)

  async function control(verb: string, path: string, request: IncomingMessage): Promise<Answer> {
    if (path === '/_sim/health' && verb === 'GET') {
      return { status: 200, body: { status: 'ok', simulated: true, now: new Date(simulator.now()).toISOString() } }
    }
    if (path === '/_sim/clock:advance' && verb === 'POST') {
      const body = parseJsonBody(await readBody(request))
      const seconds = body.seconds
      if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
        throw invalid('seconds must be a number >= 0.')
      }
      if (!clock)
        throw new SimApiError(400, 'FAILED_PRECONDITION', 'This simulator runs on a clock that cannot be advanced.')
      clock.advance(seconds * 1000)
      return {
        status: 200,
        body: { now: new Date(clock.now()).toISOString(), offsetSeconds: clock.offsetMs / 1000 },
      }
    }
    if (path === '/_sim/faults') {
      if (verb === 'GET') return { status: 200, body: { faults: simulator.listFaults() } }
      if (verb === 'DELETE') {
        simulator.clearFaults()
        return { status: 200, body: {} }
      }
      if (verb === 'POST') {
        simulator.injectFault(faultOptionsOf(parseJsonBody(await readBody(request))))
        return { status: 200, body: { faults: simulator.listFaults() } }
      }
    }
    const scenario = /^\/_sim\/sessions\/([^/:]+):scenario$/.exec(path)
    if (scenario?.[1] && verb === 'POST') {
      const body = parseJsonBody(await readBody(request))
      if (!isScenario(body.scenario)) throw invalid(`scenario must be one of ${simScenarios.join(', ')}.`)
      await simulator.setScenario(`sessions/${scenario[1]}`, body.scenario)
      return { status: 200, body: {} }
    }
    throw new SimApiError(404, 'NOT_FOUND', `No simulator control route ${verb} ${path}.`)
  }

  async function api(verb: string, path: string, query: Query, request: IncomingMessage): Promise<Answer> {
    const header = request.headers['x-goog-api-key']
    const key = (Array.isArray(header) ? header[0] : header) ?? query.get('key') ?? undefined
    if (!keyAccepted(key, acceptedKeys)) {
      throw new SimApiError(
        401,
        'UNAUTHENTICATED',
        key === undefined || key === ''
          ? 'Request is missing required authentication credential. Expected X-Goog-Api-Key.'
          : 'API key not valid. Please pass a valid API key.',
      )
    }
    const route = apiRoute(simulator, verb, path)
    if (!route) throw new SimApiError(404, 'NOT_FOUND', `Method not found: ${verb} ${path}.`)
    const parameters = normaliseQuery(query, route.query ?? [])
    const body = verb === 'POST' ? normaliseBody(parseJsonBody(await readBody(request)), route.shape ?? emptyShape) : {}
    const fault = simulator.takeFault(route.method)
    if (fault) {
      logger.debug('simulated fault', { method: route.method, ...fault })
      if (fault.delayMs !== undefined && fault.delayMs > 0) await sleep(fault.delayMs)
    }
    const headers: Record<string, string> =
      fault?.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(Math.ceil(fault.retryAfterSeconds)) }
    const malformed = fault?.malformed === true
    if (fault && fault.status >= 400) {
      return { status: fault.status, body: googleErrorBody(fault.status, 'Simulated fault.'), headers, malformed }
    }
    try {
      return { status: 200, body: await route.handle(body, parameters), headers, malformed }
    } catch (error) {
      if (error instanceof SimApiError) return { status: error.httpStatus, body: error.toBody(), headers, malformed }
      throw error
    }
  }

  async function answer(request: IncomingMessage): Promise<Answer> {
    const verb = request.method ?? 'GET'
    const url = new URL(request.url ?? '/', 'http://simulator.invalid')
    let path: string
    try {
      // Clients may escape the ':' of custom methods as %3A.
      path = decodeURIComponent(url.pathname)
    } catch {
      throw invalid('Malformed URL.')
    }
    if (path.startsWith('/_sim/')) return control(verb, path, request)
    if (path === '/v1alpha' || path.startsWith('/v1alpha/')) return api(verb, path, url.searchParams, request)
    throw new SimApiError(404, 'NOT_FOUND', `Method not found: ${verb} ${path}.`)
  }

  function send(response: ServerResponse, result: Answer): void {
    let text = JSON.stringify(result.body)
    // Cut the document in half: what a dropped connection or a broken proxy delivers.
    if (result.malformed) text = text.slice(0, Math.max(1, Math.floor(text.length / 2)))
    response.writeHead(result.status, {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(text)),
      'X-Jules-Simulator': 'true',
      ...result.headers,
    })
    response.end(text)
  }

  const server = createServer((request, response) => {
    const started = Date.now()
    answer(request)
      .catch((error: unknown): Answer => {
        if (error instanceof SimApiError) return { status: error.httpStatus, body: error.toBody() }
        logger.error('simulator failed to answer', { error: error instanceof Error ? error.message : String(error) })
        return { status: 500, body: googleErrorBody(500, 'Internal error in the Jules simulator.') }
      })
      .then((result) => {
        // Drain what the client sent if the route never read it, so keep-alive connections stay usable.
        request.resume()
        send(response, result)
        logger.debug('sim request', {
          method: request.method,
          url: request.url,
          status: result.status,
          ms: Date.now() - started,
        })
      })
      .catch((error: unknown) => {
        logger.error('simulator failed to send an answer', {
          error: error instanceof Error ? error.message : String(error),
        })
        response.destroy()
      })
  })

  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  logger.info('Jules simulator listening', { url })

  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      }),
  }
}
