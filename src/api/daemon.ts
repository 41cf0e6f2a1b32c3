/**
 * `jjm daemon` as a library: the API server and the monitor loop in one
 * process, started and stopped together. Several daemons may share one
 * PostgreSQL and one Redis: each task is synced under its own lease in the
 * database, so daemons divide the monitor's work and no task is synced by two
 * at once, and rate-limit counters live in Redis when the cache backend is redis.
 */
import type { AddressInfo } from 'node:net'
import { cacheNamespace } from '../core/backends.js'
import type { Core } from '../core/core.js'
import { ConfigurationError } from '../core/errors.js'
import { createHealthRunner, type HealthRunner } from '../core/health.js'
import type { Metrics } from '../core/metrics.js'
import type { MonitorReport } from '../core/monitor.js'
import type { Logger } from '../core/ports.js'
import type { MetricsServer } from './metrics-server.js'
import { RateLimits } from './rate-limit.js'
import { type ApiServer, createApiServer } from './server.js'

export interface DaemonOptions {
  core: Core
  logger: Logger
  version: string
  host: string
  port: number
  /** Run the monitor loop (sync active tasks from Jules) as well as the API. */
  monitor: boolean
  monitorIntervalMs: number
  heartbeatMs?: number
  pollIntervalMs?: number
  /** The registry core records into (pass the same one to `openCore`); absent: no metrics. */
  metrics?: Metrics
  /** Serve `metrics` on this port (0 picks a free one) on `host`; absent: no metrics port. */
  metricsPort?: number
  /** Serve `/metrics` on the API port too (`api.metricsOnApiPort`). */
  metricsOnApiPort?: boolean
  /** The background health checks; default: every check on `core`. Stopped with the daemon, or when it fails to start. */
  health?: HealthRunner
}

export interface Daemon {
  api: ApiServer
  address: AddressInfo
  /** `http://host:port`. */
  url: string
  /** `http://host:port/metrics` on the metrics port, when one is served. */
  metricsUrl: string | undefined
  /** The last monitor pass's report, if one ran. */
  lastReport(): MonitorReport | undefined
  /** The background health checks: their last results, and a listener for each pass. */
  health: HealthRunner
  /** Stops accepting, finishes in-flight requests and the current sync, closes connections; within the deadline. */
  stop(deadlineMs: number): Promise<void>
}

/** How to close what a start-up step opened, in the order opened. */
type Opened = Array<() => Promise<void> | void>

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { logger } = options
  // Each step that opens something registers how to close it: a later step that fails closes them all.
  const opened: Opened = []
  const closeOpened = async () => {
    for (const close of opened.reverse()) {
      try {
        await close()
      } catch (error) {
        logger.warn('Could not release a resource after the daemon failed to start', {
          error: error instanceof Error ? error.message : String(error),
        })
      }
    }
  }
  try {
    return await openDaemon(options, opened)
  } catch (error) {
    await closeOpened()
    throw error
  }
}

async function openDaemon(options: DaemonOptions, opened: Opened): Promise<Daemon> {
  const { core, logger } = options
  const config = core.config
  const redis = await openRedis(core, logger)
  if (redis !== undefined) opened.push(() => redis.close())
  const rateLimits = await RateLimits.create({
    defaultPerMinute: config.api.rateLimit,
    authFailuresPerMinute: config.api.authFailuresPerMinute,
    keyPrefix: `${cacheNamespace(config)}:api`,
    logger,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(redis === undefined ? {} : { redis: redis.client }),
  })
  // Checks start now, so that the first probes find results (or wait only for this first pass).
  const health = options.health ?? createHealthRunner(core, options.version, logger)
  let stopping = false
  const stopHealthMetrics = health.onResult((report) => {
    // Ready as /health/ready says it: the database check passed and the daemon is not stopping.
    options.metrics?.health(report.checks, report.checks.database?.status === 'pass' && !stopping)
  })
  opened.push(stopHealthMetrics)
  health.start()
  opened.push(() => health.stop())
  const api = await createApiServer({
    core,
    healthRunner: health,
    logger,
    version: options.version,
    rateLimits,
    corsOrigins: config.api.corsOrigins,
    bodyLimitBytes: config.api.bodyLimitBytes,
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
    ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
    ...(options.metrics ? { metrics: options.metrics, metricsOnApiPort: options.metricsOnApiPort === true } : {}),
  })
  opened.push(() => api.close(0))
  let address: AddressInfo
  try {
    address = await api.listen(options.port, options.host)
  } catch (error) {
    throw listenError(error, options.host, options.port, '--port')
  }
  let metricsServer: MetricsServer | undefined
  if (options.metrics && options.metricsPort !== undefined) {
    const { startMetricsServer } = await import('./metrics-server.js')
    try {
      metricsServer = await startMetricsServer({
        metrics: options.metrics,
        host: options.host,
        port: options.metricsPort,
        logger,
      })
    } catch (error) {
      throw listenError(error, options.host, options.metricsPort, '--metrics-port')
    }
  }
  const loop = options.monitor ? startMonitorLoop(core, logger, options.monitorIntervalMs, options.metrics) : undefined
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    api,
    address,
    url: `http://${host}:${address.port}`,
    metricsUrl: metricsServer?.url,
    lastReport: () => loop?.lastReport(),
    health,
    async stop(deadlineMs) {
      const started = Date.now()
      // The metrics port stays up while requests drain, so the last scrape sees the shutdown.
      stopping = true
      stopHealthMetrics()
      options.metrics?.health(health.results().checks, false)
      await Promise.all([api.close(deadlineMs), loop?.stop(), health.stop()])
      await metricsServer?.close(Math.min(deadlineMs, 1_000))
      await redis?.close()
      logger.info('jjm daemon stopped', { tookMs: Date.now() - started })
    },
  }
}

interface MonitorLoop {
  lastReport(): MonitorReport | undefined
  /** Resolves once the pass in progress, if any, has finished. */
  stop(): Promise<void>
}

function startMonitorLoop(core: Core, logger: Logger, intervalMs: number, metrics: Metrics | undefined): MonitorLoop {
  const log = logger.child({ component: 'monitor' })
  // With per-task leases (SQL storage, see openCore), daemons sync different
  // tasks at the same time; without, one pass at a time under the lock.
  const leases = core.storage.store.claimSyncLeases !== undefined
  let stopped = false
  let last: MonitorReport | undefined
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  const pass = async () => {
    const release = leases || !core.storage.tryLock ? async () => {} : await core.storage.tryLock('monitor')
    if (release === undefined) {
      log.debug('Another process holds the monitor lock; this pass is skipped')
      return
    }
    try {
      last = await core.monitor.syncOnce()
      if (last.changes.length > 0 || last.errors.length > 0) {
        log.info('monitor pass', {
          checked: last.checked,
          changed: last.changes.length,
          awaitingPerson: last.awaitingPerson.length,
          errors: last.errors.length,
        })
      }
    } finally {
      await release()
    }
  }
  const schedule = (delay: number) => {
    if (stopped) return
    timer = setTimeout(() => {
      running = pass()
        .catch((error: unknown) => {
          metrics?.error(error, 'monitor_pass')
          log.error('Monitor pass failed; the next one runs on schedule', {
            error: error instanceof Error ? error.message : String(error),
          })
        })
        .finally(() => {
          running = undefined
          schedule(intervalMs)
        })
    }, delay)
  }
  schedule(0)
  return {
    lastReport: () => last,
    async stop() {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}

async function openRedis(core: Core, logger: Logger): Promise<{ client: object; close(): Promise<void> } | undefined> {
  const { backend, url } = core.config.cache
  if (backend !== 'redis' || url === undefined) return undefined
  const { createClient } = await import('@keyv/redis')
  let closing = false
  const client = createClient({
    url,
    name: 'jjm-api-rate-limits',
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 5_000,
      reconnectStrategy: (retries: number) => (closing ? false : Math.min(50 * 2 ** retries, 5_000)),
    },
  })
  let warned = false
  client.on('error', (error: Error) => {
    if (warned) return
    warned = true
    logger.warn('Redis for API rate limits is unreachable; limits are counted in this process until it is back', {
      error: error.message,
    })
  })
  client.on('ready', () => {
    warned = false
  })
  await client.connect().catch(() => {})
  return {
    client,
    async close() {
      closing = true
      await client.close().catch(() => client.destroy())
    },
  }
}

function listenError(error: unknown, host: string, port: number, flag: string): Error {
  const code = (error as { code?: string }).code
  if (code === 'EADDRINUSE') {
    return new ConfigurationError(
      `Port ${port} on ${host} is in use. Stop what runs there, or start the daemon with ${flag}.`,
      {
        context: { host, port },
        cause: error,
      },
    )
  }
  if (code === 'EACCES') {
    return new ConfigurationError(`Not allowed to listen on ${host}:${port}; use a port above 1023 (${flag}).`, {
      context: { host, port },
      cause: error,
    })
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return new ConfigurationError(
      `Cannot listen on ${host}: no such address on this machine. Use --host 127.0.0.1 or 0.0.0.0.`,
      {
        context: { host, port },
        cause: error,
      },
    )
  }
  return error instanceof Error ? error : new Error(String(error))
}
