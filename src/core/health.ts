/**
 * Health: named checks of what jjm depends on (Jules, the database, Redis,
 * disk space) and the runner that keeps their last results.
 *
 * The daemon runs every check in the background (at start, then every
 * `health.intervalSeconds`) and /health answers from the last results, so a
 * probe never waits on a dependency and a burst of probes never multiplies the
 * load on one. Each check has a deadline: a hung dependency makes its check
 * fail, never /health hang.
 *
 * Overall status: `unhealthy` when a critical check (database, disk) fails,
 * since the daemon then cannot record anything; `degraded` when any other
 * check fails or any check warns (Jules down: reads and the API still work;
 * Redis down: jjm reads from the database and polls for live updates);
 * `healthy` when every check passes.
 */
import { statfs } from 'node:fs/promises'
import { dirname, parse } from 'node:path'
import type { CacheHandle, StorageHandle } from './backends.js'
import type { JjmConfig } from './config.js'
import type { Core } from './core.js'
import { isJjmError, OperationFailedError } from './errors.js'
import type { JulesClient } from './jules/client.js'
import type { EventBus, Logger } from './ports.js'
import { silentLogger } from './ports.js'

export type CheckStatus = 'pass' | 'warn' | 'fail'
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy'

/** What one check found, as /health shows it. */
export interface CheckResult {
  status: CheckStatus
  /** How long the check took, in milliseconds. */
  latencyMs: number
  /** What was found, and what to do about it when it is not a pass. */
  message: string
  /** RFC 3339: when the check finished. */
  checkedAt: string
}

/** The body of /health and of `jjm health --json`. */
export interface HealthReport {
  status: HealthStatus
  version: string
  /** Seconds since the runner started (the daemon, or a local `jjm health`). */
  uptime: number
  checks: Record<string, CheckResult>
}

/** What a check answers; the runner adds the latency and the time. */
export interface CheckOutcome {
  status: CheckStatus
  message: string
}

export interface HealthCheck {
  name: string
  /** A failure of a critical check makes the whole service unhealthy, not merely degraded. */
  critical: boolean
  /** Should give up when `signal` aborts (the deadline passed); the runner stops waiting then anyway. */
  run(signal: AbortSignal): Promise<CheckOutcome>
}

/** Checks whose failure makes jjm unhealthy: without its database (or the disk under it) it records nothing. */
export const criticalChecks = ['database', 'disk'] as const

/** Below this share of the disk free, the disk check warns even when the byte threshold is not reached. */
export const diskWarnFraction = 0.05

/** The overall status of a set of results: see the module comment for the rules. */
export function overallStatus(checks: Record<string, CheckResult>, critical: ReadonlySet<string>): HealthStatus {
  const results = Object.entries(checks)
  if (results.some(([name, result]) => result.status === 'fail' && critical.has(name))) return 'unhealthy'
  if (results.some(([, result]) => result.status !== 'pass')) return 'degraded'
  return 'healthy'
}

/**
 * Jules, through the adapter's circuit breaker: an open breaker fails at
 * once without calling Jules (the breaker is there to spare it); otherwise
 * one cheap call, `sources.list` with a page of one. The simulator runs in
 * this process and always answers.
 */
export function julesCheck(jules: JulesClient): HealthCheck {
  return {
    name: 'jules',
    critical: false,
    async run() {
      if (jules.kind === 'sim') {
        return {
          status: 'pass',
          message: 'The built-in simulator (sim) answers in this process; nothing is sent to Jules.',
        }
      }
      const circuit = jules.circuit?.()
      if (circuit?.state === 'open') {
        return {
          status: 'fail',
          message: `The circuit breaker is open after repeated failures: jjm is not calling Jules (${jules.kind}) and tries again in ${circuit.retryInSeconds ?? 1} s. Reads from the database still work.`,
        }
      }
      try {
        await jules.listSources({ pageSize: 1 })
        return { status: 'pass', message: `Jules (${jules.kind}) answers.` }
      } catch (error) {
        // A Jules MCP server without a source list still started and answered the handshake.
        if (isJjmError(error) && error.code === 'JJM_JULES_UNSUPPORTED') {
          return {
            status: 'pass',
            message: `Jules (${jules.kind}) answers; it cannot list sources, so only its start was checked.`,
          }
        }
        return { status: 'fail', message: messageOf(error) }
      }
    },
  }
}

/**
 * The database: the migration state (a schema behind the code fails, naming
 * the fix), then a query. A storage backend running on its fallback (SQLite
 * because PostgreSQL was unreachable at start-up) warns.
 */
export function databaseCheck(storage: StorageHandle): HealthCheck {
  return {
    name: 'database',
    critical: true,
    async run() {
      try {
        // The migration state first: on a schema that is behind, the query would fail with a cryptic message.
        const pending = storage.schema ? (await storage.schema.status()).pending : []
        if (pending.length > 0) {
          return {
            status: 'fail',
            message: `${pending.length} migration(s) pending (${pending.length <= 3 ? pending.join(', ') : `${pending[0]} … ${pending.at(-1)}`}): run \`jjm migrate up\`.`,
          }
        }
        // The store itself, not the cached one: a cache hit would prove nothing about the database.
        await storage.store.listTasks({ limit: 1 })
      } catch (error) {
        return { status: 'fail', message: `The database does not answer: ${messageOf(error)}` }
      }
      if (storage.degraded !== undefined) return { status: 'warn', message: storage.degraded }
      return { status: 'pass', message: 'The database answers and its schema is current.' }
    },
  }
}

/**
 * Redis (only when the cache backend is redis): a PING, and the event bus's
 * own connections. Redis down only warns: jjm then reads from the database
 * and consumers poll for live updates.
 */
export function redisCheck(cache: CacheHandle, bus: EventBus): HealthCheck {
  const fallback = 'jjm reads from the database and polls for live updates until it is back.'
  return {
    name: 'redis',
    critical: false,
    async run() {
      try {
        await cache.ping?.()
      } catch (error) {
        return { status: 'warn', message: `Redis does not answer (${messageOf(error)}); ${fallback}` }
      }
      if (!bus.healthy) {
        return { status: 'warn', message: `Redis answers, but the live-update connection is down; ${fallback}` }
      }
      return { status: 'pass', message: 'Redis answers PING and live updates flow.' }
    },
  }
}

export interface DiskThresholds {
  /** Warn below this many bytes free (or below 5 % of the disk). */
  warnBytes: number
  /** Fail below this many bytes free. */
  failBytes: number
}

/** Free space on the file system that holds `directory` (or its nearest existing parent). */
export function diskCheck(directory: string, thresholds: DiskThresholds): HealthCheck {
  return {
    name: 'disk',
    critical: true,
    async run() {
      const { path, stats } = await statNearest(directory)
      const free = Number(stats.bavail) * Number(stats.bsize)
      const total = Number(stats.blocks) * Number(stats.bsize)
      const share = total > 0 ? free / total : 1
      const found = `${formatBytes(free)} free of ${formatBytes(total)} (${Math.floor(share * 100)} %) under ${path}`
      if (free < thresholds.failBytes) {
        return {
          status: 'fail',
          message: `${found}, below ${formatBytes(thresholds.failBytes)}: free some space or the database will stop accepting writes.`,
        }
      }
      if (free < thresholds.warnBytes || share < diskWarnFraction) {
        return {
          status: 'warn',
          message: `${found}, below ${formatBytes(thresholds.warnBytes)} or ${diskWarnFraction * 100} %: free some space soon.`,
        }
      }
      return { status: 'pass', message: found }
    },
  }
}

/** Where the disk check looks: the SQLite file's directory when there is one, else the data directory. */
export function dataDirectoryOf(config: JjmConfig): string {
  const { backend, path } = config.storage
  if (backend === 'sqlite' && path !== ':memory:') return dirname(path)
  return config.dataDir
}

/** The checks for a core, by its configuration: Redis only when the cache backend is redis. */
export function healthChecks(core: Core): HealthCheck[] {
  const checks = [julesCheck(core.jules), databaseCheck(core.storage)]
  if (core.config.cache.backend === 'redis') checks.push(redisCheck(core.cache, core.bus))
  checks.push(
    diskCheck(dataDirectoryOf(core.config), {
      warnBytes: core.config.health.diskWarnBytes,
      failBytes: core.config.health.diskFailBytes,
    }),
  )
  return checks
}

export interface HealthRunnerOptions {
  checks: HealthCheck[]
  version: string
  /** Between the end of one pass and the start of the next. */
  intervalMs: number
  /** A check that has not answered by then fails. */
  timeoutMs: number
  logger?: Logger
}

/**
 * Runs the checks and keeps their last results. {@link start} runs them at
 * once and then every interval; {@link runOnce} runs them now (the CLI).
 *
 * For a metrics exporter: {@link results} is the last report, and
 * {@link onResult} hears every report as a pass finishes.
 */
export class HealthRunner {
  private readonly checks: HealthCheck[]
  private readonly critical: ReadonlySet<string>
  private readonly startedAt = Date.now()
  private readonly logger: Logger
  private readonly listeners = new Set<(report: HealthReport) => void>()
  private last: Record<string, CheckResult> = {}
  private passed = false
  /** A check still running after its deadline is not started again until it ends, so a hang never piles up. */
  private readonly hanging = new Map<string, { since: number }>()
  private timer: NodeJS.Timeout | undefined
  private running: Promise<HealthReport> | undefined
  private firstPass: Promise<HealthReport> | undefined
  private stopped = false

  constructor(private readonly options: HealthRunnerOptions) {
    this.checks = options.checks
    this.critical = new Set(options.checks.filter((check) => check.critical).map((check) => check.name))
    this.logger = (options.logger ?? silentLogger).child({ component: 'health' })
  }

  /** Runs every check now, then every interval, until {@link stop}. */
  start(): void {
    if (this.firstPass !== undefined) return
    this.firstPass = this.loop()
  }

  /** The last results; before the first pass has finished, `unhealthy` with no checks. */
  results(): HealthReport {
    return {
      status: this.passed ? overallStatus(this.last, this.critical) : 'unhealthy',
      version: this.options.version,
      uptime: Math.round((Date.now() - this.startedAt) / 1000),
      checks: { ...this.last },
    }
  }

  /** The last results, waiting for the first pass when it has not finished yet (it is never started here). */
  async current(): Promise<HealthReport> {
    if (!this.passed && this.firstPass !== undefined) await this.firstPass.catch(() => undefined)
    return this.results()
  }

  /** Hears every report as a pass finishes; returns the function that stops listening. */
  onResult(listener: (report: HealthReport) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Runs every check once, now (joining a pass already running). */
  runOnce(): Promise<HealthReport> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined
    })
    return this.running
  }

  /** Stops scheduling passes; resolves once the pass in progress, if any, has finished. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running?.catch(() => undefined)
  }

  private async loop(): Promise<HealthReport> {
    const report = await this.runOnce()
    this.schedule()
    return report
  }

  private schedule(): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.runOnce()
        .catch((error: unknown) => this.logger.error('Health checks failed to run', { error: messageOf(error) }))
        .finally(() => this.schedule())
    }, this.options.intervalMs)
    // The background checks alone never keep a process alive.
    this.timer.unref()
  }

  private async pass(): Promise<HealthReport> {
    const entries = await Promise.all(
      this.checks.map(async (check) => [check.name, await this.runCheck(check)] as const),
    )
    const before = this.passed ? overallStatus(this.last, this.critical) : undefined
    this.last = Object.fromEntries(entries)
    this.passed = true
    const report = this.results()
    if (before !== undefined && before !== report.status) {
      const failing = Object.entries(report.checks)
        .filter(([, result]) => result.status !== 'pass')
        .map(([name, result]) => `${name}: ${result.message}`)
      const log = report.status === 'healthy' ? this.logger.info : this.logger.warn
      log.call(this.logger, `Health changed from ${before} to ${report.status}`, { failing })
    }
    for (const listener of this.listeners) {
      try {
        listener(report)
      } catch (error) {
        this.logger.warn('A health listener failed', { error: messageOf(error) })
      }
    }
    return report
  }

  private async runCheck(check: HealthCheck): Promise<CheckResult> {
    const started = performance.now()
    const startedAt = Date.now()
    const finish = (outcome: CheckOutcome): CheckResult => ({
      status: outcome.status,
      latencyMs: Math.round((performance.now() - started) * 10) / 10,
      message: outcome.message,
      checkedAt: new Date().toISOString(),
    })
    const hung = this.hanging.get(check.name)
    if (hung !== undefined) {
      const seconds = Math.round((Date.now() - hung.since) / 1000)
      return finish({
        status: 'fail',
        message: `Still no answer after ${seconds} s (the check is not started again until it ends).`,
      })
    }
    const controller = new AbortController()
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), this.options.timeoutMs)
      timer.unref()
    })
    const attempt = check.run(controller.signal).then(
      (outcome) => outcome,
      (error: unknown): CheckOutcome => ({ status: 'fail', message: messageOf(error) }),
    )
    const outcome = await Promise.race([attempt, deadline])
    clearTimeout(timer)
    if (outcome === 'late') {
      controller.abort()
      this.hanging.set(check.name, { since: startedAt })
      void attempt.finally(() => this.hanging.delete(check.name))
      return finish({
        status: 'fail',
        message: `No answer within ${this.options.timeoutMs} ms: the ${check.name} check timed out.`,
      })
    }
    return finish(outcome)
  }
}

/** The runner for a core, configured from `health.*`. */
export function createHealthRunner(core: Core, version: string, logger: Logger = core.logger): HealthRunner {
  return new HealthRunner({
    checks: healthChecks(core),
    version,
    intervalMs: core.config.health.intervalSeconds * 1000,
    timeoutMs: core.config.health.timeoutMs,
    logger,
  })
}

/**
 * A running daemon's /health (`baseUrl` is `http://host:port`): its report,
 * whether it answered 200 or 503.
 *
 * @throws OperationFailedError when nothing answers there, or the answer is not a jjm health report.
 */
export async function fetchHealthReport(baseUrl: string, timeoutMs: number): Promise<HealthReport> {
  let url: URL
  try {
    url = new URL('/health', baseUrl)
  } catch (error) {
    throw new OperationFailedError(
      `"${baseUrl}" is not a URL; give the daemon's address, e.g. http://127.0.0.1:8080.`,
      {
        context: { url: baseUrl },
        cause: error,
      },
    )
  }
  let response: Response
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } })
  } catch (error) {
    throw new OperationFailedError(
      `No jjm daemon answered at ${url} (${messageOf(error)}). Check --url, and that \`jjm daemon\` runs there.`,
      { context: { url: url.toString() }, cause: error },
    )
  }
  const text = await response.text()
  const { healthReportSchema } = await import('./representation.js')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  const report = healthReportSchema.safeParse(parsed)
  if (!report.success) {
    throw new OperationFailedError(
      `${url} answered ${response.status} with something other than a jjm health report. Check --url: it is the daemon's address, e.g. http://127.0.0.1:8080.`,
      { context: { url: url.toString(), status: response.status } },
    )
  }
  return report.data
}

async function statNearest(directory: string): Promise<{ path: string; stats: Awaited<ReturnType<typeof statfs>> }> {
  let path = directory
  for (;;) {
    try {
      return { path, stats: await statfs(path) }
    } catch (error) {
      // A data directory not created yet lives on its parent's file system.
      if ((error as { code?: string }).code !== 'ENOENT' || path === parse(path).root) throw error
      path = dirname(path)
    }
  }
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Runs every check of `core` once, now: `jjm health` without a daemon. */
export function checkHealth(core: Core, version: string): Promise<HealthReport> {
  return createHealthRunner(core, version).runOnce()
}
