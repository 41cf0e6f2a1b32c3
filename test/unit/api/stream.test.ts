import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { createServer } from 'node:http'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { ApiRequest, ApiResponse } from '../../../src/api/http.js'
import { StreamHub } from '../../../src/api/stream.js'
import { DelegatingTaskStore } from '../../../src/core/delegating-store.js'
import type { EventBus, LogContext, Logger, TaskStore, TaskUpdate } from '../../../src/core/ports.js'
import type { Page, Task, TaskFilter } from '../../../src/core/task.js'
import { type Harness, openHarness } from '../core/harness.js'

/** A store whose task list answers only when the test says so: a catch-up that takes its time. */
class SlowListStore extends DelegatingTaskStore {
  private gate: Promise<void> = Promise.resolve()
  private open: () => void = () => {}
  listing = 0

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.open = resolve
    })
  }

  release(): void {
    this.open()
  }

  override async listTasks(filter: TaskFilter): Promise<Page<Task>> {
    this.listing++
    await this.gate
    return this.store.listTasks(filter)
  }
}

/** The bus, counting the subscriptions still open. */
class CountingBus implements EventBus {
  readonly healthy = true
  subscriptions = 0
  constructor(private readonly bus: EventBus) {}
  publish(update: TaskUpdate): Promise<void> {
    return this.bus.publish(update)
  }
  async subscribe(filter: { taskId?: string }, listener: (update: TaskUpdate) => void) {
    const release = await this.bus.subscribe(filter, listener)
    this.subscriptions++
    return async () => {
      this.subscriptions--
      await release()
    }
  }
  close(): Promise<void> {
    return this.bus.close()
  }
}

class RecordingLogger implements Logger {
  readonly warnings: { message: string; context?: LogContext }[] = []
  debug() {}
  info() {}
  warn(message: string, context?: LogContext) {
    this.warnings.push({ message, ...(context ? { context } : {}) })
  }
  error() {}
  child(): Logger {
    return this
  }
}

/** A request as Polka hands it over: headers, the parsed query, and `close` when the client goes. */
function sseRequest(headers: Record<string, string> = {}): ApiRequest {
  return Object.assign(new EventEmitter(), { headers, query: {} }) as unknown as ApiRequest
}

/**
 * A response over a client that reads nothing: every byte written stays
 * buffered (`writableLength`) and `write` says so, as a full socket does.
 */
class UnreadResponse extends EventEmitter {
  writableLength = 0
  destroyed = false
  ended = false
  readonly chunks: string[] = []
  writeHead() {
    return this
  }
  write(chunk: string): boolean {
    this.chunks.push(chunk)
    this.writableLength += Buffer.byteLength(chunk)
    return this.writableLength < 16 * 1024
  }
  end() {
    this.ended = true
  }
  destroy() {
    this.destroyed = true
    this.emit('close')
  }
  /** The client disconnects. */
  hangUp() {
    this.destroyed = true
    this.emit('close')
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve))

describe('live streams: what an open stream holds, and when it lets go', () => {
  let harness: Harness
  let store: SlowListStore
  let bus: CountingBus
  let logger: RecordingLogger
  let hub: StreamHub
  before(async () => {
    harness = await openHarness()
    store = new SlowListStore(harness.storage.store)
    bus = new CountingBus(harness.bus)
    logger = new RecordingLogger()
    hub = new StreamHub({
      core: { clock: harness.clock, store: store as TaskStore, bus, manager: harness.manager },
      logger,
      heartbeatMs: 60_000,
      pollIntervalMs: 60_000,
      maxBufferedBytes: 64 * 1024,
    })
  })
  after(async () => {
    hub.closeAll()
    await harness.close()
  })

  it('keeps no subscription, timer or entry for a client that leaves during the catch-up', {
    timeout: 10_000,
  }, async () => {
    store.hold()
    const req = sseRequest({ 'last-event-id': '2026-11-25T09:00:00.000Z' })
    const res = new UnreadResponse()
    const serving = hub.serveSse(req, res as unknown as ApiResponse, undefined)
    while (store.listing === 0) await settle()
    res.hangUp() // while the store is still reading
    req.emit('close')
    store.release()
    await serving
    await settle()
    assert.equal(hub.size, 0, 'no open stream is left')
    assert.equal(bus.subscriptions, 0, 'no bus subscription is left')
  })

  it('lets go of everything when an open stream is closed, however often it is told', { timeout: 10_000 }, async () => {
    const req = sseRequest()
    const res = new UnreadResponse()
    await hub.serveSse(req, res as unknown as ApiResponse, undefined)
    while (bus.subscriptions === 0) await settle()
    assert.equal(hub.size, 1)
    req.emit('close')
    res.hangUp()
    await settle()
    assert.equal(hub.size, 0)
    assert.equal(bus.subscriptions, 0)
  })

  it('drops a client that never reads, with a log line, instead of buffering without bound', {
    timeout: 10_000,
  }, async () => {
    const task = await harness.manager.createTask({ prompt: 'Stream me', repository: 'acme/api' })
    const req = sseRequest()
    const res = new UnreadResponse()
    await hub.serveSse(req, res as unknown as ApiResponse, undefined)
    while (bus.subscriptions === 0) await settle()
    for (let i = 0; i < 1_000; i++) {
      await bus.publish({ taskId: task.id, type: 'updated', task, at: new Date(harness.clock.now()).toISOString() })
    }
    await settle()
    assert.ok(res.destroyed, 'the slow client is disconnected')
    assert.ok(res.writableLength < 64 * 1024 + 8 * 1024, `buffered ${res.writableLength} bytes, bounded by the limit`)
    assert.equal(hub.size, 0)
    assert.equal(bus.subscriptions, 0)
    assert.ok(
      logger.warnings.some((line) => line.message.includes('does not read fast enough')),
      JSON.stringify(logger.warnings),
    )
  })

  it('drops a WebSocket client that never reads once its buffer passes the bound', { timeout: 30_000 }, async () => {
    const server = createServer()
    server.on('upgrade', (req, socket, head) => {
      void hub.serveWebSocket(req, socket, head, undefined, undefined)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('no port')
    // A client that completes the handshake, then reads nothing more.
    const client = connect(address.port, '127.0.0.1')
    client.on('error', () => {})
    await new Promise<void>((resolve) => client.once('connect', () => resolve()))
    client.write(
      'GET /api/v1/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    )
    await new Promise<void>((resolve) => client.once('data', () => resolve()))
    client.pause()
    try {
      while (bus.subscriptions === 0) await settle()
      const task = await harness.manager.createTask({ prompt: 'Stream me', repository: 'acme/api' })
      const big = { ...task, description: 'x'.repeat(64 * 1024) }
      // Far more than the kernel's socket buffers hold, so the server's own buffer must grow.
      for (let i = 0; i < 1_000 && hub.size > 0; i++) {
        await bus.publish({
          taskId: task.id,
          type: 'updated',
          task: big,
          at: new Date(harness.clock.now()).toISOString(),
        })
        await settle()
      }
      assert.equal(hub.size, 0, 'the slow client is dropped')
      assert.equal(bus.subscriptions, 0)
      assert.ok(
        logger.warnings.some(
          (line) => line.message.includes('does not read fast enough') && line.context?.transport === 'websocket',
        ),
        JSON.stringify(logger.warnings),
      )
    } finally {
      client.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
