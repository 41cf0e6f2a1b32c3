/**
 * Live task updates over Server-Sent Events and WebSocket, per task or for
 * all tasks. Each update carries the whole task; its id is the update's
 * instant, so a client that reconnects with `Last-Event-ID` (SSE) or
 * `?since=` (both) first receives every task changed since then, read from
 * the store, and then the live ones. Heartbeats keep proxies from closing an
 * idle stream. Updates come from the event bus, or from the store while the
 * bus is down (watchTaskUpdates).
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Core } from '../core/core.js'
import { type TaskUpdateWatch, watchTaskUpdates } from '../core/polling-fallback.js'
import type { Logger, TaskUpdate } from '../core/ports.js'
import type { ApiRequest, ApiResponse } from './http.js'
import { queryValue } from './http.js'
import { HttpError } from './problem.js'

export interface StreamOptions {
  core: Pick<Core, 'clock' | 'store' | 'bus' | 'manager'>
  logger: Logger
  heartbeatMs: number
  /** How often to read the store while the event bus is down. */
  pollIntervalMs: number
  /**
   * Bytes a stream may have waiting for its client; past this the client is
   * too slow and is dropped (it reconnects with `Last-Event-ID` and catches
   * up from the store). Default 1 MiB.
   */
  maxBufferedBytes?: number
}

/** One open stream, whichever the transport. */
interface Subscriber {
  send(update: TaskUpdate): void
  heartbeat(): void
  close(): void
}

const defaultMaxBufferedBytes = 1024 * 1024

export class StreamHub {
  /** Each open stream, and what ends it (its heartbeat, its watch, its entry here). */
  private readonly open = new Map<Subscriber, AbortController>()
  private wss: import('ws').WebSocketServer | undefined

  constructor(private readonly options: StreamOptions) {}

  /** Streams open now: each holds a heartbeat timer and a bus subscription. */
  get size(): number {
    return this.open.size
  }

  /** `GET …/stream`: text/event-stream until the client goes away or the server stops. */
  async serveSse(req: ApiRequest, res: ApiResponse, taskId: string | undefined): Promise<void> {
    // Listen first: a client may go away during any await below.
    const gone = new AbortController()
    const end = () => gone.abort()
    req.once('close', end)
    res.once('close', end)
    const since = resumeFrom(req.headers['last-event-id'], queryValue(req, 'since'))
    if (taskId !== undefined) taskId = (await this.options.core.manager.getTask(taskId)).id
    if (gone.signal.aborted || res.destroyed) return
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    })
    const write = (chunk: string) => {
      if (gone.signal.aborted) return
      res.write(chunk)
      // Past the bound the client is not reading: drop it rather than buffer without end.
      if (res.writableLength > this.maxBufferedBytes) {
        this.dropSlow(gone, 'sse', res.writableLength)
        res.destroy()
      }
    }
    write(`retry: 3000\n: connected ${new Date(this.options.core.clock.now()).toISOString()}\n\n`)
    const subscriber: Subscriber = {
      send: (update) => write(`id: ${update.at}\nevent: task\ndata: ${JSON.stringify(update)}\n\n`),
      heartbeat: () => write(`: heartbeat ${new Date(this.options.core.clock.now()).toISOString()}\n\n`),
      close: () => res.end(),
    }
    await this.follow(subscriber, taskId, since, gone)
  }

  /** Upgrades `…/ws` requests; the caller has authenticated them. */
  async serveWebSocket(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    taskId: string | undefined,
    since: string | undefined,
  ): Promise<void> {
    const gone = new AbortController()
    const end = () => gone.abort()
    socket.once('close', end)
    if (this.wss === undefined) {
      const { WebSocketServer } = await import('ws')
      this.wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 })
    }
    if (taskId !== undefined) taskId = (await this.options.core.manager.getTask(taskId)).id
    if (gone.signal.aborted || socket.destroyed) return
    const wss = this.wss
    const ws = await new Promise<import('ws').WebSocket>((resolve) => wss.handleUpgrade(req, socket, head, resolve))
    ws.once('close', end)
    let alive = true
    ws.on('pong', () => {
      alive = true
    })
    const send = (message: string) => {
      if (gone.signal.aborted) return
      ws.send(message)
      if (ws.bufferedAmount > this.maxBufferedBytes) {
        this.dropSlow(gone, 'websocket', ws.bufferedAmount)
        ws.terminate()
      }
    }
    const subscriber: Subscriber = {
      send: (update) => send(JSON.stringify({ id: update.at, event: 'task', data: update })),
      heartbeat: () => {
        if (!alive) {
          ws.terminate()
          return
        }
        alive = false
        ws.ping()
        send(JSON.stringify({ event: 'heartbeat', at: new Date(this.options.core.clock.now()).toISOString() }))
      },
      close: () => ws.close(1001, 'server shutting down'),
    }
    await this.follow(subscriber, taskId, since, gone)
  }

  /** Ends every open stream (graceful shutdown). */
  closeAll(): void {
    for (const [subscriber, gone] of [...this.open]) {
      subscriber.close()
      gone.abort()
    }
    this.open.clear()
  }

  private get maxBufferedBytes(): number {
    return this.options.maxBufferedBytes ?? defaultMaxBufferedBytes
  }

  private dropSlow(gone: AbortController, transport: 'sse' | 'websocket', bufferedBytes: number): void {
    this.options.logger.warn(
      'Dropped a live stream whose client does not read fast enough; it can reconnect with Last-Event-ID',
      { transport, bufferedBytes, limitBytes: this.maxBufferedBytes },
    )
    gone.abort()
  }

  /**
   * Catches the client up from `since`, then follows live updates until
   * `gone` aborts. Everything it starts is released when `gone` aborts,
   * whenever that happens (during the catch-up too), and only once.
   */
  private async follow(
    subscriber: Subscriber,
    taskId: string | undefined,
    since: string | undefined,
    gone: AbortController,
  ): Promise<void> {
    const { core, logger } = this.options
    if (gone.signal.aborted) return
    let heartbeat: NodeJS.Timeout | undefined
    let watch: TaskUpdateWatch | undefined
    this.open.set(subscriber, gone)
    gone.signal.addEventListener(
      'abort',
      () => {
        clearInterval(heartbeat)
        this.open.delete(subscriber)
        void watch?.stop()
      },
      { once: true },
    )
    let last = since ?? new Date(core.clock.now()).toISOString()
    const catchUp = async (): Promise<TaskUpdate[]> => {
      const from = last
      last = new Date(core.clock.now()).toISOString()
      if (taskId !== undefined) {
        const task = await core.store.getTask(taskId)
        return task !== undefined && task.updatedAt >= from
          ? [{ taskId, type: 'updated', task, at: task.updatedAt }]
          : []
      }
      const updates: TaskUpdate[] = []
      let cursor: string | undefined
      do {
        const page = await core.store.listTasks({ updatedSince: from, limit: 200, ...(cursor ? { cursor } : {}) })
        if (gone.signal.aborted) return []
        updates.push(...page.items.map((task) => ({ taskId: task.id, type: 'updated', task, at: task.updatedAt })))
        cursor = page.nextCursor || undefined
      } while (cursor !== undefined)
      return updates.sort((a, b) => a.at.localeCompare(b.at))
    }
    if (since !== undefined) {
      const missed = await catchUp()
      for (const update of missed) subscriber.send(update)
    }
    if (gone.signal.aborted) return
    watch = watchTaskUpdates({
      bus: core.bus,
      logger,
      intervalMs: this.options.pollIntervalMs,
      poll: catchUp,
      onUpdate: (update) => subscriber.send(update),
      ...(taskId === undefined ? {} : { taskId }),
    })
    heartbeat = setInterval(() => subscriber.heartbeat(), this.options.heartbeatMs)
    heartbeat.unref()
  }
}

/** The instant to resume from: `Last-Event-ID` (an update's `at`) or `?since=`. */
function resumeFrom(header: string | string[] | undefined, query: string | undefined): string | undefined {
  const value = (Array.isArray(header) ? header[0] : header) ?? query
  if (value === undefined || value === '') return undefined
  const at = Date.parse(value)
  if (Number.isNaN(at)) {
    throw new HttpError(
      400,
      'JJM_VALIDATION',
      `Cannot resume from "${value}": Last-Event-ID and since must be an RFC 3339 instant, as sent in the id of each update.`,
    )
  }
  return new Date(at).toISOString()
}

export { resumeFrom }
