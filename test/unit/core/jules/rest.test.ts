import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net'
import { describe, it, type TestContext } from 'node:test'
import {
  AuthenticationError,
  InvalidStateError,
  JulesConnectionError,
  julesDidNotAct,
  OperationFailedError,
  RateLimitedError,
  ValidationError,
} from '../../../../src/core/errors.js'
import type { JulesClient } from '../../../../src/core/jules/client.js'
import { googleErrorBody } from '../../../../src/core/jules/google-errors.js'
import { createRestClient, type RestClientOptions } from '../../../../src/core/jules/rest.js'
import type { LogContext, Logger } from '../../../../src/core/ports.js'

const apiKey = 'test-key-123'

/** One scripted answer of the fake Jules. */
interface Answer {
  status?: number
  /** An object is sent as JSON; a string is sent as is. */
  body?: unknown
  headers?: Record<string, string>
  /** Never answer (to test timeouts). */
  hang?: boolean
}

interface SeenRequest {
  method: string
  url: URL
  headers: IncomingHttpHeaders
  body: string
  at: number
}

/** A real HTTP server on 127.0.0.1 that answers from a queue, then with `otherwise`. */
class ScriptedJules {
  readonly requests: SeenRequest[] = []
  private readonly queue: Answer[]
  private readonly server: Server

  constructor(
    answers: Answer[],
    private readonly otherwise: Answer = { status: 500, body: googleErrorBody(500, 'script exhausted') },
  ) {
    this.queue = [...answers]
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        this.requests.push({
          method: req.method ?? '',
          url: new URL(req.url ?? '/', 'http://127.0.0.1'),
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        })
        const answer = this.queue.shift() ?? this.otherwise
        if (answer.hang) return
        const text =
          typeof answer.body === 'string' ? answer.body : answer.body === undefined ? '' : JSON.stringify(answer.body)
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers })
        res.end(text)
      })
    })
  }

  /** Then answer with `answers`. */
  script(...answers: Answer[]): void {
    this.queue.push(...answers)
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

interface Harness {
  jules: ScriptedJules
  client: JulesClient
}

async function harness(
  t: TestContext,
  answers: Answer[],
  options: Partial<RestClientOptions> = {},
  otherwise?: Answer,
): Promise<Harness> {
  const jules = new ScriptedJules(answers, otherwise)
  const baseUrl = await jules.start()
  const client = createRestClient({
    baseUrl,
    apiKey,
    timeoutMs: 2000,
    backoff: { initialDelayMs: 1, maxDelayMs: 5 },
    ...options,
  })
  t.after(async () => {
    await client.close?.()
    await jules.close()
  })
  return { jules, client }
}

function sessionWire(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: `sessions/${id}`,
    id,
    prompt: 'Fix the flaky test',
    sourceContext: { source: 'sources/github/acme/api', githubRepoContext: { startingBranch: 'main' } },
    title: 'Fix flaky test',
    state: 'IN_PROGRESS',
    url: `https://jules.google.com/session/${id}`,
    createTime: '2026-01-02T03:04:05Z',
    updateTime: '2026-01-02T03:05:05.123Z',
    ...extra,
  }
}

function errorAnswer(status: number, message: string, googleStatus?: string, headers?: Record<string, string>): Answer {
  return { status, body: googleErrorBody(status, message, googleStatus), headers }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  assert.fail('expected the call to fail')
}

function recordingLogger(): Logger & { entries: Array<{ level: string; message: string; context: LogContext }> } {
  const entries: Array<{ level: string; message: string; context: LogContext }> = []
  const make = (bound: LogContext): Logger => ({
    debug: (message, context) => entries.push({ level: 'debug', message, context: { ...bound, ...context } }),
    info: (message, context) => entries.push({ level: 'info', message, context: { ...bound, ...context } }),
    warn: (message, context) => entries.push({ level: 'warn', message, context: { ...bound, ...context } }),
    error: (message, context) => entries.push({ level: 'error', message, context: { ...bound, ...context } }),
    child: (context) => make({ ...bound, ...context }),
  })
  return Object.assign(make({}), { entries })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('rest JulesClient', () => {
  describe('requests', () => {
    it('sends the API key, JSON accept header and a user agent, and accepts a bare session id', async (t) => {
      const { jules, client } = await harness(t, [{ body: sessionWire('abc') }])
      const session = await client.getSession('abc')
      assert.equal(session.name, 'sessions/abc')
      const [seen] = jules.requests
      assert.equal(seen?.method, 'GET')
      assert.equal(seen?.url.pathname, '/v1alpha/sessions/abc')
      assert.equal(seen?.headers['x-goog-api-key'], apiKey)
      assert.equal(seen?.headers.accept, 'application/json')
      assert.match(String(seen?.headers['user-agent']), /^jjm/)
    })

    it('reports the kind rest', async (t) => {
      const { client } = await harness(t, [])
      assert.equal(client.kind, 'rest')
    })

    it('passes pageSize and pageToken and returns nextPageToken until the last page', async (t) => {
      const { jules, client } = await harness(t, [
        { body: { sessions: [sessionWire('a'), sessionWire('b')], nextPageToken: 'next-1' } },
        { body: { sessions: [sessionWire('c')] } },
      ])
      const first = await client.listSessions({ pageSize: 2 })
      assert.deepEqual(
        first.sessions.map((s) => s.id),
        ['a', 'b'],
      )
      assert.equal(first.nextPageToken, 'next-1')
      const last = await client.listSessions({ pageSize: 2, pageToken: first.nextPageToken })
      assert.deepEqual(
        last.sessions.map((s) => s.id),
        ['c'],
      )
      assert.equal('nextPageToken' in last, false)
      assert.equal(jules.requests[0]?.url.search, '?pageSize=2')
      assert.equal(jules.requests[1]?.url.searchParams.get('pageToken'), 'next-1')
      assert.equal(jules.requests[1]?.url.searchParams.get('pageSize'), '2')
    })

    it('treats a list answer without its key as an empty page', async (t) => {
      const { client } = await harness(t, [{ body: {} }, { body: {} }, { body: {} }])
      assert.deepEqual(await client.listSessions(), { sessions: [] })
      assert.deepEqual(await client.listActivities('sessions/s1'), { activities: [] })
      assert.deepEqual(await client.listSources(), { sources: [] })
    })

    it('lists activities of a session with its filter and page parameters', async (t) => {
      const filter = 'create_time>"2026-01-01T00:00:00Z"'
      const { jules, client } = await harness(t, [
        {
          body: {
            activities: [
              {
                name: 'sessions/s1/activities/a1',
                createTime: '2026-01-02T00:00:00Z',
                agentMessaged: { agentMessage: 'hi' },
              },
            ],
            nextPageToken: 'p2',
          },
        },
      ])
      const page = await client.listActivities('s1', { pageSize: 50, pageToken: 'p1', filter })
      assert.equal(page.activities[0]?.id, 'a1')
      assert.deepEqual(page.activities[0]?.agentMessaged, { agentMessage: 'hi' })
      assert.equal(page.nextPageToken, 'p2')
      const seen = jules.requests[0]
      assert.equal(seen?.url.pathname, '/v1alpha/sessions/s1/activities')
      assert.equal(seen?.url.searchParams.get('filter'), filter)
      assert.equal(seen?.url.searchParams.get('pageSize'), '50')
      assert.equal(seen?.url.searchParams.get('pageToken'), 'p1')
    })

    it('lists sources with a filter and gets one by any accepted name form', async (t) => {
      const source = {
        name: 'sources/github/acme/api',
        id: 'github/acme/api',
        githubRepo: { owner: 'acme', repo: 'api', defaultBranch: { displayName: 'main' } },
      }
      const { jules, client } = await harness(t, [{ body: { sources: [source], nextPageToken: '' } }, { body: source }])
      const page = await client.listSources({ filter: 'name=sources/github/acme/api' })
      assert.equal(page.sources[0]?.githubRepo?.owner, 'acme')
      assert.equal('nextPageToken' in page, false)
      assert.equal(jules.requests[0]?.url.pathname, '/v1alpha/sources')
      assert.equal(jules.requests[0]?.url.searchParams.get('filter'), 'name=sources/github/acme/api')
      const one = await client.getSource('sources/github-acme-api')
      assert.equal(one.name, 'sources/github/acme/api')
      assert.equal(jules.requests[1]?.url.pathname, '/v1alpha/sources/github/acme/api')
    })

    it('creates a session with a JSON body and keeps the input-only fields it sent', async (t) => {
      const { jules, client } = await harness(t, [{ status: 200, body: sessionWire('new1', { state: 'QUEUED' }) }])
      const session = await client.createSession({
        prompt: 'Fix the flaky test',
        sourceContext: { source: 'sources/github/acme/api', githubRepoContext: { startingBranch: 'main' } },
        requirePlanApproval: true,
        automationMode: 'AUTO_CREATE_PR',
      })
      assert.equal(session.state, 'QUEUED')
      assert.equal(session.requirePlanApproval, true)
      assert.equal(session.automationMode, 'AUTO_CREATE_PR')
      const seen = jules.requests[0]
      assert.equal(seen?.method, 'POST')
      assert.equal(seen?.url.pathname, '/v1alpha/sessions')
      assert.match(String(seen?.headers['content-type']), /application\/json/)
      assert.deepEqual(JSON.parse(seen?.body ?? ''), {
        prompt: 'Fix the flaky test',
        sourceContext: { source: 'sources/github/acme/api', githubRepoContext: { startingBranch: 'main' } },
        requirePlanApproval: true,
        automationMode: 'AUTO_CREATE_PR',
      })
    })

    it('sends a message and approves a plan with the custom-method paths, accepting empty answers', async (t) => {
      const { jules, client } = await harness(t, [{ body: '' }, { body: {} }])
      await client.sendMessage('sessions/s1', 'Please continue')
      await client.approvePlan('s1')
      assert.equal(jules.requests[0]?.method, 'POST')
      assert.equal(jules.requests[0]?.url.pathname, '/v1alpha/sessions/s1:sendMessage')
      assert.deepEqual(JSON.parse(jules.requests[0]?.body ?? ''), { prompt: 'Please continue' })
      assert.equal(jules.requests[1]?.method, 'POST')
      assert.equal(jules.requests[1]?.url.pathname, '/v1alpha/sessions/s1:approvePlan')
      assert.deepEqual(JSON.parse(jules.requests[1]?.body ?? ''), {})
    })

    it('reports a missing API key on the first call without sending anything', async (t) => {
      const { jules, client } = await harness(t, [], { apiKey: '' })
      const error = await rejection(client.getSession('abc'))
      assert.ok(error instanceof AuthenticationError)
      assert.match(error.message, /JULES_API_KEY/)
      assert.equal(jules.requests.length, 0)
    })
  })

  describe('answers', () => {
    it('keeps unknown fields and passes an unknown state through', async (t) => {
      const { client } = await harness(t, [
        { body: sessionWire('abc', { state: 'ARCHIVED_SOMEHOW', shinyNewField: { x: 1 } }) },
      ])
      const session = await client.getSession('abc')
      assert.equal(session.state, 'ARCHIVED_SOMEHOW')
      assert.deepEqual((session as unknown as Record<string, unknown>).shinyNewField, { x: 1 })
    })

    it('keeps an activity of an unknown kind as it came', async (t) => {
      const { client } = await harness(t, [
        {
          body: {
            activities: [
              { name: 'sessions/s1/activities/a9', createTime: '2026-01-02T00:00:00Z', testsRan: { passed: 3 } },
            ],
          },
        },
      ])
      const page = await client.listActivities('s1')
      assert.deepEqual(page.activities[0]?.testsRan, { passed: 3 })
      assert.equal(page.activities[0]?.id, 'a9')
    })

    it('fails with JJM_JULES_PROTOCOL on a body that is not JSON, without retrying', async (t) => {
      const { jules, client } = await harness(t, [{ body: '<html>oops</html>' }, { body: sessionWire('abc') }])
      const error = await rejection(client.getSession('abc'))
      assert.ok(error instanceof OperationFailedError)
      assert.equal(error.code, 'JJM_JULES_PROTOCOL')
      assert.equal(jules.requests.length, 1)
    })

    it('fails with JJM_JULES_PROTOCOL when a session lacks its state', async (t) => {
      const { jules, client } = await harness(t, [{ body: { name: 'sessions/abc' } }])
      const error = await rejection(client.getSession('abc'))
      assert.ok(error instanceof OperationFailedError)
      assert.equal(error.code, 'JJM_JULES_PROTOCOL')
      assert.match(error.message, /state/)
      assert.equal(jules.requests.length, 1)
    })

    it('fails with JJM_JULES_PROTOCOL when an activity lacks its name', async (t) => {
      const { client } = await harness(t, [{ body: { activities: [{ createTime: '2026-01-02T00:00:00Z' }] } }])
      const error = await rejection(client.listActivities('s1'))
      assert.ok(error instanceof OperationFailedError)
      assert.equal(error.code, 'JJM_JULES_PROTOCOL')
    })
  })

  describe('errors', () => {
    it('maps 401 to AuthenticationError', async (t) => {
      const { client } = await harness(t, [errorAnswer(401, 'API key not valid', 'UNAUTHENTICATED')])
      const error = await rejection(client.getSession('abc'))
      assert.ok(error instanceof AuthenticationError)
      assert.equal(error.code, 'JJM_AUTHENTICATION')
      assert.doesNotMatch(error.message, new RegExp(apiKey))
    })

    it('maps 404 to JJM_JULES_NOT_FOUND naming the session', async (t) => {
      const { client } = await harness(t, [errorAnswer(404, 'Session not found', 'NOT_FOUND')])
      const error = await rejection(client.getSession('abc'))
      assert.ok(error instanceof OperationFailedError)
      assert.equal(error.code, 'JJM_JULES_NOT_FOUND')
      assert.equal(error.context.resource, 'sessions/abc')
      assert.equal(error.context.operation, 'sessions.get')
    })

    it('maps 400 FAILED_PRECONDITION to InvalidStateError', async (t) => {
      const { client } = await harness(t, [errorAnswer(400, 'not awaiting approval', 'FAILED_PRECONDITION')])
      const error = await rejection(client.approvePlan('abc'))
      assert.ok(error instanceof InvalidStateError)
      assert.equal(error.context.operation, 'sessions.approvePlan')
    })

    it('maps 400 INVALID_ARGUMENT to ValidationError', async (t) => {
      const { client } = await harness(t, [errorAnswer(400, 'prompt is required', 'INVALID_ARGUMENT')])
      const error = await rejection(
        client.createSession({ prompt: '', sourceContext: { source: 'sources/github/acme/api' } }),
      )
      assert.ok(error instanceof ValidationError)
      assert.match(error.message, /prompt is required/)
    })

    it('maps an error answer that is not JSON by its HTTP status', async (t) => {
      const { client } = await harness(t, [{ status: 403, body: '<html>Forbidden</html>' }])
      const error = await rejection(client.getSession('abc'))
      assert.ok(error instanceof AuthenticationError)
    })
  })

  describe('retries', () => {
    it('retries a 503 and returns the answer that follows', async (t) => {
      const logger = recordingLogger()
      const { jules, client } = await harness(t, [errorAnswer(503, 'busy'), { body: sessionWire('abc') }], { logger })
      const session = await client.getSession('abc')
      assert.equal(session.id, 'abc')
      assert.equal(jules.requests.length, 2)
      const retryLog = logger.entries.find((entry) => entry.level === 'warn' && /Retrying/.test(entry.message))
      assert.equal(retryLog?.context.operation, 'sessions.get')
      assert.equal(retryLog?.context.status, 503)
      assert.equal(retryLog?.context.attempt, 1)
      assert.equal(typeof retryLog?.context.delayMs, 'number')
      assert.doesNotMatch(JSON.stringify(logger.entries), new RegExp(apiKey))
    })

    it('honours Retry-After on 429', async (t) => {
      const { jules, client } = await harness(t, [
        errorAnswer(429, 'quota', 'RESOURCE_EXHAUSTED', { 'retry-after': '1' }),
        { body: sessionWire('abc') },
      ])
      await client.getSession('abc')
      assert.equal(jules.requests.length, 2)
      const [first, second] = jules.requests
      assert.ok(first && second)
      assert.ok(second.at - first.at >= 950, `waited only ${second.at - first.at} ms`)
    })

    it('tells the shared budget of a 429 as it arrives, before its own retry waits it out', async (t) => {
      const told: Array<{ retryAfterSeconds: number | undefined; requestsSoFar: number }> = []
      const { jules, client } = await harness(
        t,
        [errorAnswer(429, 'quota', 'RESOURCE_EXHAUSTED', { 'retry-after': '1' }), { body: sessionWire('abc') }],
        {
          onRateLimited: (retryAfterSeconds) => told.push({ retryAfterSeconds, requestsSoFar: jules.requests.length }),
        },
      )
      await client.getSession('abc')
      assert.deepEqual(told, [{ retryAfterSeconds: 1, requestsSoFar: 1 }], 'told once, before the retry went out')
      assert.equal(jules.requests.length, 2)
    })

    it('gives up at once with RateLimitedError when Retry-After is longer than it will wait', async (t) => {
      const { jules, client } = await harness(t, [
        errorAnswer(429, 'quota', 'RESOURCE_EXHAUSTED', { 'retry-after': '3600' }),
        { body: sessionWire('abc') },
      ])
      const error = await rejection(client.getSession('abc'))
      assert.ok(error instanceof RateLimitedError)
      assert.equal(error.retryAfterSeconds, 3600)
      assert.equal(jules.requests.length, 1)
    })

    for (const [status, googleStatus] of [
      [400, 'INVALID_ARGUMENT'],
      [400, 'FAILED_PRECONDITION'],
      [401, 'UNAUTHENTICATED'],
      [403, 'PERMISSION_DENIED'],
      [404, 'NOT_FOUND'],
    ] as const) {
      it(`does not retry a ${status} ${googleStatus}`, async (t) => {
        const { jules, client } = await harness(t, [
          errorAnswer(status, 'no', googleStatus),
          { body: sessionWire('abc') },
        ])
        await rejection(client.getSession('abc'))
        assert.equal(jules.requests.length, 1)
      })
    }

    it('gives up after maxAttempts with the last error', async (t) => {
      const { jules, client } = await harness(
        t,
        [errorAnswer(500, 'boom'), errorAnswer(502, 'bad gateway'), errorAnswer(504, 'deadline', 'DEADLINE_EXCEEDED')],
        { maxAttempts: 3 },
      )
      const error = await rejection(client.getSession('abc'))
      assert.ok(error instanceof JulesConnectionError)
      assert.equal(error.context.httpStatus, 504)
      assert.equal(jules.requests.length, 3)
    })

    it('does not retry a create that Jules may have received (500)', async (t) => {
      const { jules, client } = await harness(t, [errorAnswer(500, 'boom'), { body: sessionWire('new1') }])
      const error = await rejection(
        client.createSession({ prompt: 'x', sourceContext: { source: 'sources/github/acme/api' } }),
      )
      assert.ok(error instanceof JulesConnectionError)
      assert.equal(jules.requests.length, 1)
    })

    it('retries a create that Jules explicitly refused (503)', async (t) => {
      const { jules, client } = await harness(t, [errorAnswer(503, 'busy'), { body: sessionWire('new1') }])
      const session = await client.createSession({ prompt: 'x', sourceContext: { source: 'sources/github/acme/api' } })
      assert.equal(session.id, 'new1')
      assert.equal(jules.requests.length, 2)
    })
  })

  describe('network failures', () => {
    it('turns a refused connection into JulesConnectionError naming the host and JULES_API_URL', async () => {
      const closed = new ScriptedJules([])
      const baseUrl = await closed.start()
      await closed.close()
      const client = createRestClient({
        baseUrl,
        apiKey,
        maxAttempts: 2,
        backoff: { initialDelayMs: 1, maxDelayMs: 2 },
      })
      try {
        const error = await rejection(client.getSession('abc'))
        assert.ok(error instanceof JulesConnectionError)
        assert.equal(error.context.code, 'ECONNREFUSED')
        assert.match(error.message, new RegExp(new URL(baseUrl).host))
        assert.match(error.message, /JULES_API_URL/)
      } finally {
        await client.close?.()
      }
    })

    it('times out an attempt that gets no answer with JulesConnectionError', async (t) => {
      const { jules, client } = await harness(t, [{ hang: true }], { timeoutMs: 200, maxAttempts: 1 })
      const started = Date.now()
      const error = await rejection(client.getSession('abc'))
      assert.ok(error instanceof JulesConnectionError)
      assert.equal(error.context.timedOut, true)
      assert.match(error.message, /200 ms/)
      assert.ok(Date.now() - started < 1500)
      assert.equal(jules.requests.length, 1)
    })

    it('retries a timed-out read', async (t) => {
      const { jules, client } = await harness(t, [{ hang: true }, { body: sessionWire('abc') }], {
        timeoutMs: 200,
        maxAttempts: 2,
      })
      const session = await client.getSession('abc')
      assert.equal(session.id, 'abc')
      assert.equal(jules.requests.length, 2)
    })
  })

  describe('whether a failed create may have started a session', () => {
    const create = (client: JulesClient) =>
      client.createSession({ prompt: 'x', sourceContext: { source: 'sources/github/acme/api' } })

    it('leaves it open when the create timed out after it was sent, and does not send it again', async (t) => {
      // Long enough for the request to arrive on a busy machine.
      const { jules, client } = await harness(t, [{ hang: true }], { timeoutMs: 1000, maxAttempts: 3 })
      const error = await rejection(create(client))
      assert.ok(error instanceof JulesConnectionError)
      assert.equal(error.context.timedOut, true)
      assert.equal(julesDidNotAct(error), false)
      assert.equal(jules.requests.length, 1)
    })

    it('leaves it open when the connection was reset after the create was sent', async (t) => {
      // Reads the whole request, then drops the connection without answering.
      const sockets = new Set<Socket>()
      const received: string[] = []
      const server = createTcpServer((socket) => {
        sockets.add(socket)
        socket.on('data', (chunk: Buffer) => {
          received.push(chunk.toString('utf8'))
          if (received.join('').includes('"prompt"')) socket.resetAndDestroy()
        })
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const client = createRestClient({
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        apiKey,
        maxAttempts: 3,
        backoff: { initialDelayMs: 1, maxDelayMs: 2 },
      })
      t.after(async () => {
        await client.close?.()
        for (const socket of sockets) socket.destroy()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      })
      const error = await rejection(create(client))
      assert.ok(error instanceof JulesConnectionError)
      assert.equal(julesDidNotAct(error), false)
      assert.equal(received.filter((chunk) => chunk.startsWith('POST ')).length, 1, 'sent once, never again')
    })

    it('knows Jules did not act when the connection was reset before the create went out', async (t) => {
      // A TLS handshake the server drops: the request is never written.
      let connections = 0
      const server = createTcpServer((socket) => {
        connections += 1
        socket.resetAndDestroy()
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const client = createRestClient({
        baseUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
        apiKey,
        maxAttempts: 2,
        backoff: { initialDelayMs: 1, maxDelayMs: 2 },
      })
      t.after(async () => {
        await client.close?.()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      })
      const error = await rejection(create(client))
      assert.ok(error instanceof JulesConnectionError)
      assert.equal(julesDidNotAct(error), true)
      assert.equal(connections, 2, 'a create that never went out is safe to send again')
    })

    it('knows Jules did not act on a refused connection, a 429, a 503 or a 400, and not on a 500', async (t) => {
      const closed = new ScriptedJules([])
      const closedUrl = await closed.start()
      await closed.close()
      const refusedClient = createRestClient({ baseUrl: closedUrl, apiKey, maxAttempts: 1 })
      t.after(() => refusedClient.close?.())
      assert.equal(julesDidNotAct(await rejection(create(refusedClient))), true)

      const { client } = await harness(
        t,
        [errorAnswer(429, 'slow down'), errorAnswer(503, 'busy'), errorAnswer(500, 'boom')],
        { maxAttempts: 1 },
      )
      assert.equal(julesDidNotAct(await rejection(create(client))), true)
      assert.equal(julesDidNotAct(await rejection(create(client))), true)
      assert.equal(julesDidNotAct(await rejection(create(client))), false)
    })
  })

  describe('circuit breaker', () => {
    it('opens after consecutive failed calls, fails fast while open, and closes after a successful test call', async (t) => {
      const logger = recordingLogger()
      const failing = errorAnswer(503, 'down')
      const { jules, client } = await harness(t, [failing, failing, failing, failing], {
        maxAttempts: 2,
        breaker: { failureThreshold: 2, cooldownMs: 200 },
        logger,
      })
      // Two calls of two attempts each: the breaker counts calls, not attempts.
      for (let call = 0; call < 2; call++) {
        const error = await rejection(client.getSession('abc'))
        assert.ok(error instanceof JulesConnectionError)
        assert.equal(error.context.breaker, undefined)
      }
      assert.equal(jules.requests.length, 4)

      const started = Date.now()
      const open = await rejection(client.getSession('abc'))
      assert.ok(open instanceof JulesConnectionError)
      assert.equal(open.context.breaker, 'open')
      assert.match(open.message, /try again after \d+ s/)
      assert.ok(Date.now() - started < 50, 'fails fast while open')
      assert.equal(jules.requests.length, 4, 'no request reaches Jules while open')
      assert.ok(logger.entries.some((entry) => entry.level === 'warn' && /breaker opened/.test(entry.message)))

      await sleep(250)
      jules.script({ body: sessionWire('abc') }, { body: sessionWire('abc') })
      assert.equal((await client.getSession('abc')).id, 'abc')
      assert.ok(logger.entries.some((entry) => /half-open/.test(entry.message)))
      assert.ok(logger.entries.some((entry) => /breaker closed/.test(entry.message)))
      assert.equal((await client.getSession('abc')).id, 'abc')
      assert.equal(jules.requests.length, 6)
    })

    it('reopens when the half-open test call fails', async (t) => {
      const failing = errorAnswer(500, 'down')
      const { jules, client } = await harness(t, [failing, failing], {
        maxAttempts: 1,
        breaker: { failureThreshold: 1, cooldownMs: 150 },
      })
      await rejection(client.getSession('abc'))
      await sleep(200)
      const test = await rejection(client.getSession('abc'))
      assert.ok(test instanceof JulesConnectionError)
      assert.equal(test.context.httpStatus, 500)
      const open = await rejection(client.getSession('abc'))
      assert.ok(open instanceof JulesConnectionError)
      assert.equal(open.context.breaker, 'open')
      assert.equal(jules.requests.length, 2)
    })

    it('does not count answers such as 404 or 429 as Jules failing', async (t) => {
      const { jules, client } = await harness(
        t,
        [
          errorAnswer(404, 'gone', 'NOT_FOUND'),
          errorAnswer(429, 'quota', 'RESOURCE_EXHAUSTED'),
          errorAnswer(404, 'gone', 'NOT_FOUND'),
          { body: sessionWire('abc') },
        ],
        { maxAttempts: 1, breaker: { failureThreshold: 2, cooldownMs: 10_000 } },
      )
      await rejection(client.getSession('abc'))
      await rejection(client.getSession('abc'))
      await rejection(client.getSession('abc'))
      assert.equal((await client.getSession('abc')).id, 'abc')
      assert.equal(jules.requests.length, 4)
    })
  })
})
