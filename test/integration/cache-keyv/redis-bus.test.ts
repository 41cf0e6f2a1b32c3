/**
 * The Redis event bus against a real Redis (see test/support/services.ts).
 * Two bus instances stand for two jjm processes sharing one Redis; a third,
 * plain connection ("admin") inspects and disturbs the server.
 */
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient } from '@keyv/redis'
import { ConfigurationError, JjmError } from '../../../src/core/errors.js'
import { watchTaskUpdates } from '../../../src/core/polling-fallback.js'
import type { ApiKeyRevocation, LogContext, Logger, TaskUpdate } from '../../../src/core/ports.js'
import { createRedisEventBus, type RedisEventBus } from '../../../src/plugins/cache-keyv/redis-bus.js'
import { buildTask } from '../../../src/testing/build-task.js'
import { redis, redisUrl } from '../../support/services.js'

/** A plain connection that inspects and disturbs the server, closed when the test ends. */
async function connectAdmin(t: TestContext, url: string) {
  const admin = createClient({ url })
  admin.on('error', () => {})
  await admin.connect()
  t.after(() => admin.close())
  return admin
}

type AdminClient = Awaited<ReturnType<typeof connectAdmin>>

class RecordingLogger implements Logger {
  readonly entries: Array<{ level: string; message: string; context?: LogContext }> = []
  readonly childContexts: LogContext[] = []
  debug(message: string, context?: LogContext): void {
    this.entries.push({ level: 'debug', message, context })
  }
  info(message: string, context?: LogContext): void {
    this.entries.push({ level: 'info', message, context })
  }
  warn(message: string, context?: LogContext): void {
    this.entries.push({ level: 'warn', message, context })
  }
  error(message: string, context?: LogContext): void {
    this.entries.push({ level: 'error', message, context })
  }
  child(context: LogContext): Logger {
    this.childContexts.push(context)
    return this
  }
  count(level: string, pattern?: RegExp): number {
    return this.entries.filter((e) => e.level === level && (pattern === undefined || pattern.test(e.message))).length
  }
}

function update(taskId: string, type = 'state_changed'): TaskUpdate {
  return { taskId, type, task: buildTask({ id: taskId }), at: new Date().toISOString() }
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await sleep(10)
  }
}

interface Setup {
  prefix: string
  /** The publishing process. */
  a: RedisEventBus
  /** The listening process. */
  b: RedisEventBus
  aLogger: RecordingLogger
  bLogger: RecordingLogger
  admin: AdminClient
}

/** Two buses and an admin connection on one test's prefix, all closed when the test ends. */
async function setUp(t: TestContext): Promise<Setup | undefined> {
  const service = await redis(t)
  if (!service) return undefined
  const aLogger = new RecordingLogger()
  const bLogger = new RecordingLogger()
  const a = await createRedisEventBus({ url: service.url, prefix: service.prefix, logger: aLogger })
  t.after(() => a.close())
  const b = await createRedisEventBus({ url: service.url, prefix: service.prefix, logger: bLogger })
  t.after(() => b.close())
  const admin = await connectAdmin(t, service.url)
  assert.equal(a.healthy, true)
  assert.equal(b.healthy, true)
  return { prefix: service.prefix, a, b, aLogger, bLogger, admin }
}

async function numSub(admin: AdminClient, channel: string): Promise<number> {
  const reply = (await admin.sendCommand(['PUBSUB', 'NUMSUB', channel])) as unknown[]
  return Number(reply[1])
}

/** `CLIENT LIST` rows as key=value maps. */
async function clients(admin: AdminClient): Promise<Array<Record<string, string>>> {
  const list = String(await admin.sendCommand(['CLIENT', 'LIST']))
  return list
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) =>
      Object.fromEntries(
        line
          .trim()
          .split(' ')
          .map((field) => field.split(/=(.*)/s).slice(0, 2)),
      ),
    )
}

/**
 * The subscriber connection that listens on some channel: both buses of a
 * test share the prefix, so both subscriber connections carry its name, but
 * only the listening one has subscriptions.
 */
async function listeningSubscriber(admin: AdminClient, prefix: string): Promise<Record<string, string> | undefined> {
  const named = (await clients(admin)).filter((c) => c.name === `${prefix}jjm-event-bus-subscriber`)
  return named.find((c) => c.sub !== '0')
}

describe('Redis event bus', () => {
  it('delivers an update published by one process to a listener in another', async (t) => {
    const s = await setUp(t)
    if (!s) return
    const received: TaskUpdate[] = []
    await s.b.subscribe({}, (u) => received.push(u))
    const published = update('01TASKA')
    await s.a.publish(published)
    await until(() => received.length === 1, 'the update arrived')
    assert.deepEqual(received[0], published)
  })

  it('publishes on the prefixed task:updates:{id} and task:updates channels', async (t) => {
    const s = await setUp(t)
    if (!s) return
    await s.b.subscribe({ taskId: 'x1' }, () => {})
    await s.b.subscribe({}, () => {})
    assert.equal(await numSub(s.admin, `${s.prefix}task:updates:x1`), 1)
    assert.equal(await numSub(s.admin, `${s.prefix}task:updates`), 1)
    assert.equal(await numSub(s.admin, 'task:updates'), 0, 'nothing outside the prefix')
  })

  it('gives a task listener only its task and an all-tasks listener every task', async (t) => {
    const s = await setUp(t)
    if (!s) return
    const perTask: string[] = []
    const all: string[] = []
    await s.b.subscribe({ taskId: 'one' }, (u) => perTask.push(u.taskId))
    await s.b.subscribe({}, (u) => all.push(u.taskId))
    await s.a.publish(update('one'))
    await s.a.publish(update('two'))
    await s.a.publish(update('one', 'completed'))
    await until(() => all.length === 3, 'all three updates arrived')
    await sleep(50)
    assert.deepEqual(all, ['one', 'two', 'one'])
    assert.deepEqual(perTask, ['one', 'one'])
  })

  it('shares one Redis subscription among the listeners of a channel and releases it when the last one leaves', async (t) => {
    const s = await setUp(t)
    if (!s) return
    const channel = `${s.prefix}task:updates:shared`
    const first: string[] = []
    const second: string[] = []
    const leaveFirst = await s.b.subscribe({ taskId: 'shared' }, (u) => first.push(u.type))
    const leaveSecond = await s.b.subscribe({ taskId: 'shared' }, (u) => second.push(u.type))
    const subscriber = await listeningSubscriber(s.admin, s.prefix)
    assert.equal(subscriber?.sub, '1', 'one SUBSCRIBE for two listeners')

    await leaveFirst()
    assert.equal(await numSub(s.admin, channel), 1, 'still subscribed for the second listener')
    await s.a.publish(update('shared', 'after-first-left'))
    await until(() => second.length === 1, 'the second listener still receives')
    assert.deepEqual(first, [])

    await leaveSecond()
    assert.equal(await numSub(s.admin, channel), 0, 'UNSUBSCRIBE sent when the last listener left')
    await s.a.publish(update('shared', 'after-both-left'))
    await sleep(100)
    assert.deepEqual(second, ['after-first-left'])
    await assert.doesNotReject(leaveSecond(), 'unsubscribing twice is harmless')
  })

  it('gives each listener its own copy of an update', async (t) => {
    const s = await setUp(t)
    if (!s) return
    const received: TaskUpdate[] = []
    await s.b.subscribe({}, (u) => {
      u.type = 'tampered'
      received.push(u)
    })
    await s.b.subscribe({}, (u) => received.push(u))
    await s.a.publish(update('copy'))
    await until(() => received.length === 2, 'both listeners got it')
    assert.equal(received[1]?.type, 'state_changed')
  })

  it('drops malformed messages with one warning and keeps delivering good ones', async (t) => {
    const s = await setUp(t)
    if (!s) return
    const received: string[] = []
    await s.b.subscribe({}, (u) => received.push(u.taskId))
    const channel = `${s.prefix}task:updates`
    for (const raw of ['not json {', '[]', 'null', '{"taskId":7,"type":"x","at":"now"}', '{"type":"no task id"}']) {
      await s.admin.publish(channel, raw)
    }
    await s.a.publish(update('good'))
    await until(() => received.length === 1, 'the good update arrived')
    assert.deepEqual(received, ['good'])
    assert.equal(s.b.malformedMessages, 5)
    assert.equal(s.bLogger.count('warn', /not a task update/), 1, 'warned once, not once per message')
  })

  it('drops a message on a task channel that is about another task', async (t) => {
    const s = await setUp(t)
    if (!s) return
    const received: string[] = []
    await s.b.subscribe({ taskId: 'mine' }, (u) => received.push(u.taskId))
    await s.admin.publish(`${s.prefix}task:updates:mine`, JSON.stringify(update('theirs')))
    await s.a.publish(update('mine'))
    await until(() => received.length === 1, 'the update of the task arrived')
    await sleep(50)
    assert.deepEqual(received, ['mine'])
    assert.equal(s.b.malformedMessages, 1)
  })

  it('carries API key revocations on their own prefixed channel, apart from task updates, and drops malformed ones', async (t) => {
    const s = await setUp(t)
    if (!s) return
    const revocations: ApiKeyRevocation[] = []
    const updates: TaskUpdate[] = []
    await s.b.subscribeApiKeyRevocations((revocation) => revocations.push(revocation))
    await s.b.subscribe({}, (u) => updates.push(u))
    assert.equal(await numSub(s.admin, `${s.prefix}api-keys:revoked`), 1)
    await s.admin.publish(`${s.prefix}api-keys:revoked`, '{"keyId":""}')
    const revocation = { keyId: '01KEY', at: '2026-01-01T00:00:00.000Z' }
    await s.a.publishApiKeyRevocation(revocation)
    await until(() => revocations.length === 1, 'the revocation arrived')
    assert.deepEqual(revocations, [revocation])
    assert.deepEqual(updates, [], 'stream listeners never see a revocation')
    assert.equal(s.b.malformedMessages, 1)
  })

  it('still delivers to the other listeners when one throws', async (t) => {
    const s = await setUp(t)
    if (!s) return
    const received: string[] = []
    await s.b.subscribe({}, () => {
      throw new Error('listener broke')
    })
    await s.b.subscribe({}, (u) => received.push(u.taskId))
    await s.a.publish(update('a'))
    await s.a.publish(update('b'))
    await until(() => received.length === 2, 'both updates arrived')
    assert.equal(s.bLogger.count('error', /listener threw/), 2)
  })

  it('keeps a listener receiving after Redis kills the subscriber connection, with one warning and one recovery', async (t) => {
    const s = await setUp(t)
    if (!s) return
    const received: string[] = []
    await s.b.subscribe({ taskId: 'survivor' }, (u) => received.push(u.type))
    await s.b.subscribe({}, () => {})
    const before = await listeningSubscriber(s.admin, s.prefix)
    assert.ok(before, 'the subscriber connection is named')
    assert.equal(before.sub, '2')

    // Only this bus's subscriber, so that other tests' connections are not disturbed.
    await s.admin.sendCommand(['CLIENT', 'KILL', 'ID', String(before.id)])
    await until(() => s.bLogger.count('info', /recovered/) === 1, 'the bus reported its recovery', 10_000)
    assert.equal(s.b.healthy, true)
    assert.equal(s.bLogger.count('warn', /is down/), 1)
    const after = await listeningSubscriber(s.admin, s.prefix)
    assert.notEqual(after?.id, before.id, 'a new connection')
    assert.equal(after?.sub, '2', 'both channels resubscribed')

    await s.a.publish(update('survivor', 'after-kill'))
    await until(() => received.length === 1, 'the listener received after the kill')
    assert.deepEqual(received, ['after-kill'])
  })

  it('recovers publishing after Redis kills the publisher connection', async (t) => {
    const s = await setUp(t)
    if (!s) return
    const received: string[] = []
    await s.b.subscribe({}, (u) => received.push(u.type))
    // Both buses' publishers (they share the test's prefix); nobody else's.
    const publishers = (await clients(s.admin)).filter((c) => c.name === `${s.prefix}jjm-event-bus-publisher`)
    assert.equal(publishers.length, 2)
    for (const publisher of publishers) await s.admin.sendCommand(['CLIENT', 'KILL', 'ID', String(publisher.id)])
    // Whether a publish during the outage fails (counted) or lands after it, it never throws.
    await assert.doesNotReject(s.a.publish(update('t', 'during-outage')))
    await until(() => s.aLogger.count('info', /recovered/) === 1, 'the publisher reconnected', 10_000)
    assert.equal(s.aLogger.count('warn', /is down/), 1)
    assert.equal(s.a.healthy, true)
    await s.a.publish(update('t', 'after-outage'))
    await until(() => received.includes('after-outage'), 'the update after the outage arrived')
  })

  it('closes both connections on close and is unhealthy afterwards', async (t) => {
    const service = await redis(t)
    if (!service) return
    const bus = await createRedisEventBus({ url: service.url, prefix: service.prefix, logger: new RecordingLogger() })
    const admin = await connectAdmin(t, service.url)
    const ours = async () => (await clients(admin)).filter((c) => c.name?.startsWith(service.prefix)).length
    assert.equal(await ours(), 2, 'a publisher and a separate subscriber')
    await bus.subscribe({}, () => {})
    await bus.close()
    assert.equal(bus.healthy, false)
    await until(async () => (await ours()) === 0, 'both connections are gone')
    await assert.rejects(
      bus.subscribe({}, () => {}),
      (error: unknown) => error instanceof JjmError,
    )
    await assert.doesNotReject(bus.close(), 'closing twice is harmless')
  })
})

describe('Redis event bus without Redis', () => {
  const unreachable = 'redis://127.0.0.1:6390'

  it('resolves within connectTimeoutMs to an unhealthy bus that keeps trying, and warns once', async (t) => {
    const logger = new RecordingLogger()
    const started = Date.now()
    const bus = await createRedisEventBus({ url: unreachable, logger, connectTimeoutMs: 300 })
    t.after(() => bus.close())
    assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`)
    assert.equal(bus.healthy, false)
    await sleep(400)
    assert.equal(logger.count('warn'), 1, 'one warning for the outage, not one per attempt')
    assert.ok(logger.count('debug', /connection error/) >= 2, 'it kept retrying')
  })

  it('refuses to subscribe with a JjmError that tells the caller to poll', async (t) => {
    const bus = await createRedisEventBus({ url: unreachable, logger: new RecordingLogger(), connectTimeoutMs: 100 })
    t.after(() => bus.close())
    await assert.rejects(
      bus.subscribe({ taskId: 'a' }, () => {}),
      (error: unknown) => {
        assert.ok(error instanceof JjmError)
        assert.equal(error.code, 'JJM_EVENT_BUS_UNAVAILABLE')
        assert.match(error.message, /poll/)
        return true
      },
    )
  })

  it('resolves a publish while Redis is down and counts it as a failure', async (t) => {
    const bus = await createRedisEventBus({ url: unreachable, logger: new RecordingLogger(), connectTimeoutMs: 100 })
    t.after(() => bus.close())
    await assert.doesNotReject(bus.publish(update('a')))
    await assert.doesNotReject(bus.publish(update('b')))
    assert.equal(bus.publishFailures, 2)
  })

  it('rejects a URL that is not a Redis URL with a ConfigurationError', async () => {
    await assert.rejects(
      createRedisEventBus({ url: 'http://127.0.0.1:6379', logger: new RecordingLogger() }),
      (error: unknown) => error instanceof ConfigurationError && /redis:\/\//.test(error.message),
    )
  })

  it('does not leak the password of the URL into the log', async (t) => {
    const logger = new RecordingLogger()
    const bus = await createRedisEventBus({ url: 'redis://jjm:s3cret@127.0.0.1:6390', logger, connectTimeoutMs: 100 })
    t.after(() => bus.close())
    assert.equal(logger.count('warn'), 1, 'the outage was logged')
    assert.match(JSON.stringify(logger.childContexts), /127\.0\.0\.1:6390/, 'the log says which Redis')
    assert.doesNotMatch(JSON.stringify([logger.entries, logger.childContexts]), /s3cret/)
  })
})

/**
 * A TCP proxy in front of Redis that the test can take down and bring back
 * on the same port: a real outage (connections dropped, reconnects refused)
 * for one bus only, without touching the shared Redis server.
 */
class OutageProxy {
  port = 0
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()

  constructor(private readonly target: URL) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect(Number(this.target.port || 6379), this.target.hostname)
      for (const socket of [client, upstream]) {
        this.sockets.add(socket)
        socket.on('error', () => {})
        socket.on('close', () => {
          this.sockets.delete(socket)
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address')
    this.port = address.port
    this.server = server
  }

  async stop(): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const socket of this.sockets) socket.destroy()
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }
}

describe('Redis event bus through an outage', () => {
  it('lets a watcher fall back to polling while Redis is unreachable and return to live updates when it is back', async (t) => {
    const service = await redis(t)
    if (!service) return
    const proxy = new OutageProxy(new URL(redisUrl))
    await proxy.start()
    t.after(() => proxy.stop())
    const publisherSide = await createRedisEventBus({
      url: service.url,
      prefix: service.prefix,
      logger: new RecordingLogger(),
    })
    t.after(() => publisherSide.close())
    const logger = new RecordingLogger()
    const watched = await createRedisEventBus({ url: proxy.url, prefix: service.prefix, logger, connectTimeoutMs: 500 })
    t.after(() => watched.close())
    assert.equal(watched.healthy, true)

    const delivered: string[] = []
    let stored: TaskUpdate[] = []
    let polls = 0
    const watch = watchTaskUpdates({
      bus: watched,
      poll: async () => {
        polls++
        const updates = stored
        stored = []
        return updates
      },
      intervalMs: 20,
      onUpdate: (u) => delivered.push(u.type),
      logger: new RecordingLogger(),
    })
    t.after(() => watch.stop())

    await until(async () => {
      await publisherSide.publish(update('w', 'live-before'))
      return delivered.includes('live-before')
    }, 'live delivery works')
    assert.equal(polls, 0)

    await proxy.stop()
    await until(() => !watched.healthy, 'the bus noticed the outage')
    await watched.publish(update('w', 'lost'))
    assert.equal(watched.publishFailures, 1, 'a publish during the outage is counted, not thrown')
    stored.push(update('w', 'polled-during-outage'))
    await until(() => delivered.includes('polled-during-outage'), 'the watcher polled the store')
    await sleep(300)
    assert.equal(logger.count('warn', /is down/), 1, 'one warning for the whole outage, despite the retries')

    await proxy.start()
    await until(() => logger.count('info', /recovered/) === 1, 'the bus recovered', 10_000)
    await until(async () => {
      await publisherSide.publish(update('w', 'live-after'))
      return delivered.includes('live-after')
    }, 'live delivery works again')
    const pollsWhenLive = polls
    await sleep(100)
    assert.equal(polls, pollsWhenLive, 'polling stopped once live again')
    await watch.stop()
  })
})
