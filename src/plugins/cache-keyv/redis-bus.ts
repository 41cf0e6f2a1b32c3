/**
 * The event bus across processes: Redis pub/sub. Every daemon that shares one
 * Redis sees every task update, whichever daemon synced the task.
 *
 * Live updates are best-effort; the store is the source of truth. So a Redis
 * outage never fails a caller: `healthy` turns false (consumers then poll the
 * store, see src/core/polling-fallback.ts), one warning is logged per outage
 * and one info on recovery, and both connections reconnect with backoff.
 */

import { ConfigurationError, ExitCode, JjmError, type JjmErrorOptions } from '../../core/errors.js'
import { allTasksChannel, apiKeyRevocationsChannel, taskChannel as bareTaskChannel } from '../../core/event-bus.js'
import type { ApiKeyRevocation, EventBus, Logger, TaskUpdate } from '../../core/ports.js'

type RedisClient = ReturnType<typeof import('@keyv/redis').createClient>

export interface RedisEventBusOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  url: string
  /** Put in front of every channel name, so that several jjm installations (or tests) can share one Redis. Default ''. */
  prefix?: string
  logger: Logger
  /**
   * How long `createRedisEventBus` waits for the first connection, and the
   * timeout of each connection attempt. Default 5000.
   */
  connectTimeoutMs?: number
}

export interface RedisEventBus extends EventBus {
  /** False while the publisher or the subscriber connection is down, and after close. */
  readonly healthy: boolean
  /** Updates that could not be published (Redis down); counted, never thrown. */
  readonly publishFailures: number
  /** Messages received that were not a task update (or not a revocation); dropped, never given to a listener. */
  readonly malformedMessages: number
  publishApiKeyRevocation(revocation: ApiKeyRevocation): Promise<void>
  subscribeApiKeyRevocations(listener: (revocation: ApiKeyRevocation) => void): Promise<() => Promise<void>>
}

/** Live delivery over Redis is not possible right now; the caller should poll the store instead. */
export class EventBusUnavailableError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_EVENT_BUS_UNAVAILABLE', ExitCode.storage, 503, options)
  }
}

/**
 * The longest wait between two reconnection attempts. Kept short because
 * node-redis cannot cancel a wait in progress: a bus closed during an outage
 * keeps the process alive until the current wait ends.
 */
const maxBackoffMs = 1_000

/**
 * Connects a publisher and a separate subscriber (a Redis connection in
 * subscribe mode can run no other command).
 *
 * An unreachable Redis does not reject: after `connectTimeoutMs` this resolves
 * with a bus whose `healthy` is false, having logged one warning, and it keeps
 * reconnecting in the background, so a daemon started before its Redis comes
 * up gets live updates as soon as Redis answers. Only a URL that cannot be a
 * Redis URL rejects, with a ConfigurationError.
 */
export async function createRedisEventBus(options: RedisEventBusOptions): Promise<RedisEventBus> {
  const { createClient } = await import('@keyv/redis')
  const prefix = options.prefix ?? ''
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000
  const logger = options.logger.child({ eventBus: 'redis', redis: redactUrl(options.url) })
  let closing = false

  let publisher: RedisClient
  try {
    publisher = createClient({
      url: options.url,
      name: `${prefix}jjm-event-bus-publisher`,
      // Offline, a publish would be queued and delivered late, after the
      // store has moved on; failing at once lets publish count it and go on.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: connectTimeoutMs,
        // Exponential backoff with jitter, so that many daemons do not
        // reconnect in step; stop only when the bus is closed.
        reconnectStrategy: (retries: number) =>
          closing ? false : Math.min(50 * 2 ** retries, maxBackoffMs) + Math.floor(Math.random() * 50),
      },
    })
  } catch (error) {
    throw new ConfigurationError(
      `The Redis URL for the event bus is not valid: ${error instanceof Error ? error.message : String(error)}. Use redis://host:port.`,
      { context: { url: redactUrl(options.url) }, cause: error },
    )
  }
  const subscriber = publisher.duplicate({
    name: `${prefix}jjm-event-bus-subscriber`,
    // An UNSUBSCRIBE issued during an outage then waits for the reconnection
    // instead of failing, so Redis does not keep a channel nobody listens to.
    disableOfflineQueue: false,
  })
  const bus = new RedisPubSubBus(publisher, subscriber, prefix, logger, () => {
    closing = true
  })

  const connected = Promise.all([connectInBackground(publisher, logger), connectInBackground(subscriber, logger)])
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    connected,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, connectTimeoutMs)
    }),
  ])
  clearTimeout(timer)
  bus.startReporting()
  return bus
}

/**
 * Starts a client's connection without waiting for it: with a reconnect
 * strategy node-redis keeps trying until Redis answers or the client is closed.
 */
function connectInBackground(client: RedisClient, logger: Logger): Promise<void> {
  return client.connect().then(
    () => undefined,
    (error: unknown) => {
      // Rejects only when the strategy gives up, i.e. when the bus was closed while connecting.
      logger.debug('Redis connection attempt ended', { error: errorMessage(error) })
    },
  )
}

type Listener = (update: TaskUpdate) => void
type RevocationListener = (revocation: ApiKeyRevocation) => void

interface Channel {
  /** Set when the channel is one task's; its messages must be about that task. */
  taskId: string | undefined
  /** One entry per subscribe call, so the same function subscribed twice is two subscriptions. */
  listeners: Set<{ listener: Listener }>
  /** Settles when Redis confirmed (or refused) the one SUBSCRIBE all these listeners share. */
  subscribed: Promise<void>
}

class RedisPubSubBus implements RedisEventBus {
  publishFailures = 0
  malformedMessages = 0
  private closed = false
  private reporting = false
  /** True from the warning that starts an outage until the info that ends it. */
  private inOutage = false
  private lastError: string | undefined
  private readonly channels = new Map<string, Channel>()
  /** One function for every channel: node-redis keeps one listener set per channel. */
  private readonly dispatch = (message: string, channel: string): void => this.deliver(message, channel)
  private readonly revocationListeners = new Set<{ listener: RevocationListener }>()
  /** The one SUBSCRIBE to the revocations channel, kept until the bus closes. */
  private revocationsSubscribed: Promise<void> | undefined
  private readonly dispatchRevocation = (message: string): void => this.deliverRevocation(message)

  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly prefix: string,
    private readonly logger: Logger,
    private readonly onClose: () => void,
  ) {
    for (const [role, client] of [
      ['publisher', publisher],
      ['subscriber', subscriber],
    ] as const) {
      // Without an 'error' listener an EventEmitter throws, which would crash the process.
      client.on('error', (error: unknown) => {
        this.lastError = errorMessage(error)
        this.logger.debug('Redis connection error', { connection: role, error: this.lastError })
        this.checkHealth()
      })
      client.on('end', () => this.checkHealth())
      client.on('reconnecting', () => this.checkHealth())
      client.on('ready', () => this.checkHealth())
    }
  }

  /** Updates from every process on this Redis arrive here. */
  readonly crossProcess = true

  get healthy(): boolean {
    return !this.closed && this.publisher.isReady && this.subscriber.isReady
  }

  /**
   * Logs the transitions only: one warning when an outage starts, one info
   * when it ends. Silent until `startReporting`, so that the first connection
   * attempts of createRedisEventBus do not count as an outage.
   */
  checkHealth(): void {
    if (this.closed || !this.reporting) return
    const healthy = this.healthy
    if (healthy && this.inOutage) {
      this.inOutage = false
      this.logger.info('Redis event bus recovered; live task updates flow again')
    } else if (!healthy && !this.inOutage) {
      this.inOutage = true
      this.logger.warn(
        'Redis event bus is down; live task updates fall back to polling the store until it reconnects',
        this.lastError === undefined ? {} : { error: this.lastError },
      )
    }
  }

  startReporting(): void {
    this.reporting = true
    this.checkHealth()
  }

  async publish(update: TaskUpdate): Promise<void> {
    if (this.closed) return
    const message = JSON.stringify(update)
    try {
      await Promise.all([
        this.publisher.publish(this.channelName(update.taskId), message),
        this.publisher.publish(this.channelName(undefined), message),
      ])
    } catch (error) {
      // Best-effort by design: the change is in the store already, and
      // consumers poll while the bus is unhealthy, so a lost message is caught up.
      this.publishFailures++
      const context = { taskId: update.taskId, type: update.type, error: errorMessage(error) }
      if (this.healthy) this.logger.warn('Could not publish a task update to Redis', context)
      else this.logger.debug('Task update not published: Redis event bus is down', context)
    }
  }

  async subscribe(filter: { taskId?: string }, listener: Listener): Promise<() => Promise<void>> {
    if (this.closed) throw new EventBusUnavailableError('The Redis event bus is closed.')
    if (!this.subscriber.isReady) {
      // Waiting here could take as long as the outage; the caller polls instead and tries again later.
      throw new EventBusUnavailableError(
        'The Redis event bus is not connected; poll the store for task updates until it is.',
        { context: { taskId: filter.taskId } },
      )
    }
    const name = this.channelName(filter.taskId)
    let channel = this.channels.get(name)
    if (channel === undefined) {
      const created: Channel = {
        taskId: filter.taskId,
        listeners: new Set(),
        subscribed: this.subscriber.subscribe(name, this.dispatch),
      }
      created.subscribed.catch(() => {
        if (this.channels.get(name) === created) this.channels.delete(name)
      })
      this.channels.set(name, created)
      channel = created
    }
    const entry = { listener }
    channel.listeners.add(entry)
    try {
      await channel.subscribed
    } catch (error) {
      channel.listeners.delete(entry)
      throw new EventBusUnavailableError('Redis did not confirm the subscription to task updates.', {
        context: { taskId: filter.taskId, error: errorMessage(error) },
        cause: error,
      })
    }

    let subscribed = true
    return async () => {
      if (!subscribed) return
      subscribed = false
      const current = this.channels.get(name)
      if (current !== channel) return
      current.listeners.delete(entry)
      if (current.listeners.size > 0 || this.closed) return
      this.channels.delete(name)
      const unsubscribed = this.subscriber.unsubscribe(name, this.dispatch).catch((error: unknown) => {
        this.logger.debug('Redis UNSUBSCRIBE failed', { channel: name, error: errorMessage(error) })
      })
      // While Redis is down node-redis sends the UNSUBSCRIBE after reconnecting;
      // the caller need not wait for that, and no message reaches it meanwhile
      // because the channel is gone from `channels`.
      if (this.subscriber.isReady) await unsubscribed
    }
  }

  async publishApiKeyRevocation(revocation: ApiKeyRevocation): Promise<void> {
    if (this.closed) return
    try {
      await this.publisher.publish(this.prefix + apiKeyRevocationsChannel, JSON.stringify(revocation))
    } catch (error) {
      // The other daemons still re-read the key from the store: at once while their bus is down, within the cache's TTL otherwise.
      this.publishFailures++
      this.logger.warn(
        'Could not publish an API key revocation to Redis; other daemons refuse the key when their cache of it expires',
        {
          keyId: revocation.keyId,
          error: errorMessage(error),
        },
      )
    }
  }

  async subscribeApiKeyRevocations(listener: RevocationListener): Promise<() => Promise<void>> {
    if (this.closed) throw new EventBusUnavailableError('The Redis event bus is closed.')
    if (!this.subscriber.isReady) {
      throw new EventBusUnavailableError('The Redis event bus is not connected; API keys are re-read from the store.')
    }
    if (this.revocationsSubscribed === undefined) {
      const subscribed = this.subscriber.subscribe(this.prefix + apiKeyRevocationsChannel, this.dispatchRevocation)
      subscribed.catch(() => {
        if (this.revocationsSubscribed === subscribed) this.revocationsSubscribed = undefined
      })
      this.revocationsSubscribed = subscribed
    }
    const entry = { listener }
    this.revocationListeners.add(entry)
    try {
      await this.revocationsSubscribed
    } catch (error) {
      this.revocationListeners.delete(entry)
      throw new EventBusUnavailableError('Redis did not confirm the subscription to API key revocations.', {
        context: { error: errorMessage(error) },
        cause: error,
      })
    }
    // The channel stays subscribed (one per process, rarely used) until the bus closes.
    return async () => {
      this.revocationListeners.delete(entry)
    }
  }

  /**
   * Closes both connections: gracefully when connected, at once otherwise.
   * During an outage the pending reconnection delay (at most a second) still
   * runs out before the process can exit.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.onClose()
    this.channels.clear()
    this.revocationListeners.clear()
    await Promise.all([shutDown(this.publisher), shutDown(this.subscriber)])
  }

  private channelName(taskId: string | undefined): string {
    return this.prefix + (taskId === undefined ? allTasksChannel : bareTaskChannel(taskId))
  }

  private deliverRevocation(message: string): void {
    const revocation = parseRevocation(message)
    if (revocation === undefined) {
      this.malformedMessages++
      this.logger.warn('Dropped a message on the API key revocations channel that is not a revocation', {
        message: message.length > 200 ? `${message.slice(0, 200)}…` : message,
      })
      return
    }
    for (const { listener } of [...this.revocationListeners]) {
      try {
        listener({ ...revocation })
      } catch (error) {
        this.logger.error('An API key revocation listener threw; the other listeners still got the revocation', {
          keyId: revocation.keyId,
          error: errorMessage(error),
        })
      }
    }
  }

  private deliver(message: string, channelName: string): void {
    const channel = this.channels.get(channelName)
    if (channel === undefined || channel.listeners.size === 0) return
    const update = parseTaskUpdate(message)
    if (update === undefined || (channel.taskId !== undefined && update.taskId !== channel.taskId)) {
      this.malformedMessages++
      // Warn about the first one; a publisher gone wrong must not flood the log.
      const log = this.malformedMessages === 1 ? this.logger.warn : this.logger.debug
      log.call(this.logger, 'Dropped a message on the event bus that is not a task update', {
        channel: channelName,
        message: message.length > 200 ? `${message.slice(0, 200)}…` : message,
        dropped: this.malformedMessages,
      })
      return
    }
    for (const { listener } of [...channel.listeners]) {
      try {
        // A copy each, so that one listener's changes never reach another.
        listener(structuredClone(update))
      } catch (error) {
        this.logger.error('A task update listener threw; the other listeners still got the update', {
          channel: channelName,
          taskId: update.taskId,
          error: errorMessage(error),
        })
      }
    }
  }
}

/** A message from Redis comes from outside this process: a revocation names a key and a time, or is dropped. */
function parseRevocation(message: string): ApiKeyRevocation | undefined {
  try {
    const value: unknown = JSON.parse(message)
    if (typeof value !== 'object' || value === null) return undefined
    const { keyId, at } = value as Record<string, unknown>
    return typeof keyId === 'string' && keyId !== '' && typeof at === 'string' ? { keyId, at } : undefined
  } catch {
    return undefined
  }
}

/** A message from Redis comes from outside this process: check its shape before anyone trusts it. */
function parseTaskUpdate(message: string): TaskUpdate | undefined {
  let value: unknown
  try {
    value = JSON.parse(message)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const { taskId, type, at, task } = value as Record<string, unknown>
  if (typeof taskId !== 'string' || taskId === '' || typeof type !== 'string' || typeof at !== 'string') {
    return undefined
  }
  if (task !== undefined && (typeof task !== 'object' || task === null || Array.isArray(task))) return undefined
  return value as TaskUpdate
}

/** Closes gracefully when connected (pending commands finish), at once otherwise. */
async function shutDown(client: RedisClient): Promise<void> {
  if (!client.isOpen) return
  try {
    if (client.isReady) await client.close()
    else client.destroy()
  } catch {
    // Already closed, or the connection broke while closing: nothing left to release.
  }
}

/** The URL without its password, for logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(invalid URL)'
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
