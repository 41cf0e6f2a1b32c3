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
import { watchTaskUpdates } from '../core/polling-fallback.js'
import type { Logger, TaskUpdate } from '../core/ports.js'
import type { ApiRequest, ApiResponse } from './http.js'
import { queryValue } from './http.js'
import { HttpError } from './problem.js'

export interface StreamOptions {
  core: Core
  logger: Logger
  heartbeatMs: number
  /** How often to read the store while the event bus is down. */
  pollIntervalMs: number
}

/** One open stream, whichever the transport. */
interface Subscriber {
  send(update: TaskUpdate): void
  heartbeat(): void
  close(): void
}

export class StreamHub {
  private readonly open = new Set<Subscriber>()
  private wss: import('ws').WebSocketServer | undefined

  constructor(private readonly options: StreamOptions) {}

  get size(): number {
    return this.open.size
  }

  /** `GET …/stream`: text/event-stream until the client goes away or the server stops. */
  async serveSse(req: ApiRequest, res: ApiResponse, taskId: string | undefined): Promise<void> {
    const since = resumeFrom(req.headers['last-event-id'], queryValue(req, 'since'))
    if (taskId !== undefined) taskId = (await this.options.core.manager.getTask(taskId)).id
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    })
    res.write(`retry: 3000\n: connected ${new Date(this.options.core.clock.now()).toISOString()}\n\n`)
    const subscriber: Subscriber = {
      send: (update) => {
        res.write(`id: ${update.at}\nevent: task\ndata: ${JSON.stringify(update)}\n\n`)
      },
      heartbeat: () => {
        res.write(`: heartbeat ${new Date(this.options.core.clock.now()).toISOString()}\n\n`)
      },
      close: () => res.end(),
    }
    await this.follow(subscriber, taskId, since, (stop) => req.once('close', stop))
  }

  /** Upgrades `…/ws` requests; the caller has authenticated them. */
  async serveWebSocket(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    taskId: string | undefined,
    since: string | undefined,
  ): Promise<void> {
    if (this.wss === undefined) {
      const { WebSocketServer } = await import('ws')
      this.wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 })
    }
    if (taskId !== undefined) taskId = (await this.options.core.manager.getTask(taskId)).id
    const wss = this.wss
    const ws = await new Promise<import('ws').WebSocket>((resolve) => wss.handleUpgrade(req, socket, head, resolve))
    let alive = true
    ws.on('pong', () => {
      alive = true
    })
    const subscriber: Subscriber = {
      send: (update) => ws.send(JSON.stringify({ id: update.at, event: 'task', data: update })),
      heartbeat: () => {
        if (!alive) {
          ws.terminate()
          return
        }
        alive = false
        ws.ping()
        ws.send(JSON.stringify({ event: 'heartbeat', at: new Date(this.options.core.clock.now()).toISOString() }))
      },
      close: () => ws.close(1001, 'server shutting down'),
    }
    await this.follow(subscriber, taskId, since, (stop) => ws.once('close', stop))
  }

  /** Ends every open stream (graceful shutdown). */
  closeAll(): void {
    for (const subscriber of this.open) subscriber.close()
    this.open.clear()
  }

  private async follow(
    subscriber: Subscriber,
    taskId: string | undefined,
    since: string | undefined,
    onClientGone: (stop: () => void) => void,
  ): Promise<void> {
    const { core, logger } = this.options
    this.open.add(subscriber)
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
        updates.push(...page.items.map((task) => ({ taskId: task.id, type: 'updated', task, at: task.updatedAt })))
        cursor = page.nextCursor || undefined
      } while (cursor !== undefined)
      return updates.sort((a, b) => a.at.localeCompare(b.at))
    }
    if (since !== undefined) for (const update of await catchUp()) subscriber.send(update)
    const watch = watchTaskUpdates({
      bus: core.bus,
      logger,
      intervalMs: this.options.pollIntervalMs,
      poll: catchUp,
      onUpdate: (update) => subscriber.send(update),
      ...(taskId === undefined ? {} : { taskId }),
    })
    const heartbeat = setInterval(() => subscriber.heartbeat(), this.options.heartbeatMs)
    heartbeat.unref()
    onClientGone(() => {
      clearInterval(heartbeat)
      this.open.delete(subscriber)
      void watch.stop()
    })
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
