/**
 * jjm's Prometheus metrics: one registry per process, made by the process
 * that can serve it (the daemon's /metrics, or `monitor --once` pushing to a
 * Pushgateway) and handed to core through `openCore({ metrics })`. Core
 * modules record through an optional `Metrics`; when none is given nothing
 * is recorded, so plain CLI commands never fill a registry nobody reads.
 *
 * Label values are bounded: method names, route templates, error codes,
 * outcome words, configured notifier ids, repositories. Never a task id, a
 * raw path or other user input.
 *
 * prom-client loads with this module: import it (`await import`) only where
 * a Metrics object is made; everywhere else `import type`.
 */
import { hostname } from 'node:os'
import client from 'prom-client'
import type { ActiveTaskSummary } from './active-summary.js'
import type { CircuitState } from './jules/client.js'
import type { Clock, Logger } from './ports.js'
import { awaitingPersonStates, type Task, taskStates, terminalStates } from './task.js'

const { Counter, Gauge, Histogram, Pushgateway, Registry, collectDefaultMetrics } = client
type Registry = client.Registry

/** How a call to Jules ended, as `jjm_jules_requests_total{outcome}` says it. */
export type JulesOutcome =
  | 'success'
  | 'client_error'
  | 'rate_limited'
  | 'server_error'
  | 'timeout'
  | 'unavailable'
  | 'circuit_open'

/** The Jules adapter's circuit breaker. */
export type BreakerState = CircuitState

export type CacheResult = 'hit' | 'miss' | 'error'

/** Which limiter refused a request: a key's own limit, the failed-authentication limit, or Jules' 429s. */
export type Limiter = 'api_key' | 'auth_failure' | 'jules'

/** What the gauges read from the store at scrape time: the active tasks, only the fields they need. */
export type ActiveTaskFigures = ActiveTaskSummary

/** Where the scrape-time gauges come from; attached by `openCore`, detached when the core closes. */
export interface MetricsSources {
  /** The active tasks (one query); cached for `figuresTtlMs` between scrapes. */
  activeTasks?: () => Promise<ActiveTaskFigures>
  /** Database connections in use now (PostgreSQL pool; SQLite's single connection). */
  connectionsInUse?: () => number
  /** The Jules breaker now; undefined while the adapter is not built (nothing called Jules yet). */
  breakerState?: () => BreakerState | undefined
  clock?: Clock
}

export interface MetricsOptions {
  /** jjm's version, for `jjm_build_info{version}`. */
  version: string
  /** Node's process metrics (CPU, memory, event loop, GC), prefixed `jjm_`. Default true; off for a Pushgateway push. */
  processMetrics?: boolean
  /** How long store-derived gauges are reused between scrapes, in ms. Default 5000. */
  figuresTtlMs?: number
  logger?: Logger
}

export interface HttpObservation {
  method: string
  /** The route template (`/api/v1/tasks/:id`); undefined when nothing matched. */
  route: string | undefined
  status: number
  seconds: number
  requestId?: string
}

export interface Exposition {
  contentType: string
  body: string
}

/** The states a task can be active in: the gauge shows each, 0 when none. */
export const activeStates: readonly string[] = taskStates.filter((state) => !terminalStates.has(state))

const httpMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
const errorCodePattern = /^JJM_[A-Z0-9_]{1,48}$/
/** OpenMetrics allows 128 characters for an exemplar's names and values together. */
const maxRequestIdLength = 128 - 'request_id'.length

const buckets = {
  http: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  jules: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  sync: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  /** A task runs minutes to hours; a day is the longest bucket worth telling apart. */
  task: [60, 300, 600, 1800, 3600, 7200, 14_400, 28_800, 43_200, 86_400],
}

const breakerValue: Readonly<Record<BreakerState, number>> = { closed: 0, half_open: 1, open: 2 }

/** The content type a scrape asked for: OpenMetrics (with exemplars) when its Accept names it. */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept)
}

/** `2xx`, `4xx`, …: a bounded label for an HTTP status. */
export function statusClass(status: number): string {
  const hundreds = Math.floor(status / 100)
  return hundreds >= 1 && hundreds <= 5 ? `${hundreds}xx` : 'other'
}

/** The `error_type` label of an error: its JjmError code, or JJM_INTERNAL for anything else. */
export function errorType(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined
  return typeof code === 'string' && errorCodePattern.test(code) ? code : 'JJM_INTERNAL'
}

export class Metrics {
  readonly registry: Registry
  private readonly figuresTtlMs: number
  private readonly logger: Logger | undefined
  private sources: MetricsSources = {}
  private figures: { at: number; settled: boolean; promise: Promise<ActiveTaskFigures | undefined> } | undefined

  private readonly tasksCreated
  private readonly tasksCompleted
  private readonly tasksFailed
  private readonly julesRequests
  private readonly errors
  private readonly notificationsSent
  private readonly notificationsFailed
  private readonly cacheRequests
  private readonly rateLimitedRequests
  private readonly httpRequests
  private readonly taskDuration
  private readonly httpDuration
  private readonly julesDuration
  private readonly syncDuration
  private readonly lastPass
  private readonly healthChecks
  private readonly ready

  constructor(options: MetricsOptions) {
    this.figuresTtlMs = options.figuresTtlMs ?? 5000
    this.logger = options.logger
    // OpenMetrics-typed because prom-client refuses exemplars on any other registry; `expose`
    // renders both formats itself, so the type only decides what is allowed in, not what goes out.
    const registry = new (Registry as unknown as new (contentType: string) => Registry)(
      Registry.OPENMETRICS_CONTENT_TYPE,
    )
    this.registry = registry
    const registers = [registry]
    if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'jjm_' })

    const taskCounter = (name: string, help: string) =>
      new Counter({ name, help, labelNames: ['repository'] as const, registers })
    this.tasksCreated = taskCounter('jjm_tasks_created_total', 'Tasks created (a Jules session started and recorded).')
    this.tasksCompleted = taskCounter('jjm_tasks_completed_total', 'Tasks the monitor saw reach completed.')
    this.tasksFailed = taskCounter('jjm_tasks_failed_total', 'Tasks the monitor saw reach failed.')
    this.julesRequests = new Counter({
      name: 'jjm_jules_requests_total',
      help: 'Calls to the Jules API by JulesClient method and outcome (retries inside one call count once).',
      labelNames: ['method', 'outcome'] as const,
      registers,
    })
    this.errors = new Counter({
      name: 'jjm_errors_total',
      help: 'Errors by JjmError code (JJM_INTERNAL for unexpected ones) and the operation that met them.',
      labelNames: ['error_type', 'operation'] as const,
      registers,
    })
    this.notificationsSent = new Counter({
      name: 'jjm_notifications_sent_total',
      help: 'Notifications delivered, by notifier (route id from the config).',
      labelNames: ['notifier'] as const,
      registers,
    })
    this.notificationsFailed = new Counter({
      name: 'jjm_notifications_failed_total',
      help: 'Failed notification delivery attempts (retried or given up), by notifier.',
      labelNames: ['notifier'] as const,
      registers,
    })
    this.cacheRequests = new Counter({
      name: 'jjm_cache_requests_total',
      help: 'Task cache lookups: hit, miss (read from the store), error (the cache failed or timed out).',
      labelNames: ['result'] as const,
      registers,
    })
    this.rateLimitedRequests = new Counter({
      name: 'jjm_rate_limited_requests_total',
      help: 'Requests refused or paused by a rate limit: api_key (a key over its limit), auth_failure (an address that failed to authenticate too often), jules (Jules answered 429).',
      labelNames: ['limiter'] as const,
      registers,
    })
    this.httpRequests = new Counter<string>({
      name: 'jjm_http_requests_total',
      help: 'API requests answered, by method, route template and status class.',
      // Not `as const`: prom-client types exemplar labels as the metric's own label names.
      labelNames: ['method', 'route', 'status_class'],
      registers,
      enableExemplars: true,
    })
    this.taskDuration = new Histogram({
      name: 'jjm_task_duration_seconds',
      help: 'Time from the creation of a task to its terminal state (completed or failed).',
      buckets: buckets.task,
      registers,
    })
    this.httpDuration = new Histogram<string>({
      name: 'jjm_http_request_duration_seconds',
      help: 'API request duration, by method, route template (unmatched for a 404 outside the routes) and status class.',
      labelNames: ['method', 'route', 'status_class'],
      buckets: buckets.http,
      registers,
      enableExemplars: true,
    })
    this.julesDuration = new Histogram({
      name: 'jjm_jules_request_duration_seconds',
      help: 'Duration of calls to Jules by JulesClient method, retries and backoff included.',
      labelNames: ['method'] as const,
      buckets: buckets.jules,
      registers,
    })
    this.syncDuration = new Histogram({
      name: 'jjm_sync_cycle_duration_seconds',
      help: 'Duration of one monitor pass over the active tasks.',
      buckets: buckets.sync,
      registers,
    })
    this.lastPass = new Gauge({
      name: 'jjm_monitor_last_pass_timestamp_seconds',
      help: 'When the last monitor pass finished (Unix time); for a Pushgateway, when monitor --once last ran.',
      registers,
    })

    // Scrape-time gauges: read from the store (one query, cached briefly), the pool and the breaker.
    const metrics = this
    new Gauge({
      name: 'jjm_active_tasks',
      help: 'Tasks not in a terminal state, by state (every active state is present, 0 when none).',
      labelNames: ['state'] as const,
      registers,
      async collect() {
        const tasks = await metrics.activeTasks()
        if (tasks === undefined) return
        for (const state of activeStates) this.set({ state }, tasks.byState[state] ?? 0)
      },
    })
    new Gauge({
      name: 'jjm_tasks_awaiting_person',
      help: 'Active tasks waiting for a person: plan approval, an answer, a resume.',
      registers,
      async collect() {
        const tasks = await metrics.activeTasks()
        if (tasks === undefined) return
        let waiting = 0
        for (const state of awaitingPersonStates) waiting += tasks.byState[state] ?? 0
        this.set(waiting)
      },
    })
    new Gauge({
      name: 'jjm_tasks_stalled',
      help: "Active tasks marked stalled: no new activity from Jules for their state's monitor.stalledAfter.",
      registers,
      async collect() {
        const tasks = await metrics.activeTasks()
        if (tasks === undefined) return
        this.set(tasks.stalled ?? 0)
      },
    })
    new Gauge({
      name: 'jjm_tasks_pending',
      help: 'Tasks waiting in the local queue for a Jules session (plan quotas).',
      registers,
      async collect() {
        const tasks = await metrics.activeTasks()
        if (tasks === undefined) return
        this.set(tasks.byState.pending ?? 0)
      },
    })
    new Gauge({
      name: 'jjm_monitor_lag_seconds',
      help: 'Age of the oldest last sync among active tasks: how far the monitor is behind (0 when none is active).',
      registers,
      async collect() {
        const tasks = await metrics.activeTasks()
        if (tasks === undefined) return
        const now = (metrics.sources.clock ?? { now: () => Date.now() }).now()
        const oldest = tasks.oldestSyncAt === null ? now : Date.parse(tasks.oldestSyncAt)
        this.set(Math.max(0, (now - (Number.isFinite(oldest) ? oldest : now)) / 1000))
      },
    })
    new Gauge({
      name: 'jjm_db_connections_in_use',
      help: 'Database connections in use (PostgreSQL pool; SQLite has one connection).',
      registers,
      collect() {
        this.set(metrics.sources.connectionsInUse?.() ?? 0)
      },
    })
    new Gauge({
      name: 'jjm_jules_breaker_state',
      help: 'The Jules circuit breaker: 0 closed, 1 half-open (testing Jules with one call), 2 open (calls fail fast).',
      registers,
      collect() {
        this.set(breakerValue[metrics.sources.breakerState?.() ?? 'closed'])
      },
    })
    this.healthChecks = new Gauge({
      name: 'jjm_health_check_status',
      help: 'The last result of each health check (jules, database, redis, disk): 1 pass, 0.5 warn, 0 fail.',
      labelNames: ['check'] as const,
      registers,
    })
    this.ready = new Gauge({
      name: 'jjm_ready',
      help: 'Whether the daemon is ready for traffic (/health/ready answers 200): 1 yes, 0 no.',
      registers,
    })
    new Gauge({
      name: 'jjm_build_info',
      help: 'Always 1; the version label says which jjm runs.',
      labelNames: ['version'] as const,
      registers,
    }).set({ version: options.version }, 1)
  }

  /** Connects the scrape-time gauges to an opened core; returns the detach function its close calls. */
  attach(sources: MetricsSources): () => void {
    this.sources = sources
    this.figures = undefined
    return () => {
      if (this.sources === sources) {
        this.sources = {}
        this.figures = undefined
      }
    }
  }

  /** The last health checks and readiness (the daemon's background runner after every pass, and at shutdown). */
  health(checks: Readonly<Record<string, { status: 'pass' | 'warn' | 'fail' }>>, ready: boolean): void {
    for (const [check, result] of Object.entries(checks)) {
      this.healthChecks.set({ check }, result.status === 'pass' ? 1 : result.status === 'warn' ? 0.5 : 0)
    }
    this.ready.set(ready ? 1 : 0)
  }

  taskCreated(repository: string): void {
    this.tasksCreated.inc({ repository })
  }

  /** A task the monitor saw reach a terminal state: counted by outcome, its duration observed. */
  taskFinished(task: Pick<Task, 'repository' | 'state' | 'createdAt' | 'completedAt'>): void {
    if (task.state === 'completed') this.tasksCompleted.inc({ repository: task.repository })
    else if (task.state === 'failed') this.tasksFailed.inc({ repository: task.repository })
    else return
    const seconds = (Date.parse(task.completedAt ?? '') - Date.parse(task.createdAt)) / 1000
    if (Number.isFinite(seconds) && seconds >= 0) this.taskDuration.observe(seconds)
  }

  julesRequest(method: string, outcome: JulesOutcome, seconds: number): void {
    this.julesRequests.inc({ method, outcome })
    this.julesDuration.observe({ method }, seconds)
  }

  /** One error met by `operation` (a fixed name: create_task, sync, http, …). */
  error(error: unknown, operation: string): void {
    this.errors.inc({ error_type: errorType(error), operation })
  }

  notificationSent(notifier: string): void {
    this.notificationsSent.inc({ notifier })
  }

  notificationFailed(notifier: string): void {
    this.notificationsFailed.inc({ notifier })
  }

  cacheRequest(result: CacheResult): void {
    this.cacheRequests.inc({ result })
  }

  rateLimited(limiter: Limiter): void {
    this.rateLimitedRequests.inc({ limiter })
  }

  httpRequest(observation: HttpObservation): void {
    const method = httpMethods.has(observation.method) ? observation.method : 'other'
    const labels = { method, route: observation.route ?? 'unmatched', status_class: statusClass(observation.status) }
    const exemplarLabels =
      observation.requestId === undefined
        ? undefined
        : { request_id: observation.requestId.slice(0, maxRequestIdLength) }
    this.httpRequests.inc({ labels, value: 1, ...(exemplarLabels ? { exemplarLabels } : {}) })
    this.httpDuration.observe({ labels, value: observation.seconds, ...(exemplarLabels ? { exemplarLabels } : {}) })
  }

  /** One monitor pass took `seconds` and finished at `finishedAt` (ms since the epoch). */
  syncCycle(seconds: number, finishedAt: number): void {
    this.syncDuration.observe(seconds)
    this.lastPass.set(finishedAt / 1000)
  }

  /**
   * The exposition for a scrape: OpenMetrics (with exemplars) when `accept`
   * asks for it, the Prometheus text format otherwise.
   */
  async expose(accept?: string): Promise<Exposition> {
    return wantsOpenMetrics(accept)
      ? { contentType: Registry.OPENMETRICS_CONTENT_TYPE, body: await this.render('openmetrics') }
      : { contentType: Registry.PROMETHEUS_CONTENT_TYPE, body: await this.render('prometheus') }
  }

  /**
   * prom-client renders a registry in its own content type only, and renders
   * OpenMetrics by renaming the registry's counters in place (dropping
   * `_total`): each family is rendered here through a scratch registry of the
   * wanted format, from a copy, so that the registry itself never changes.
   */
  private async render(format: 'prometheus' | 'openmetrics'): Promise<string> {
    type Family = client.MetricObjectWithValues<client.MetricValue<string>>
    const Scratch = Registry as unknown as new (
      contentType: string,
    ) => { getMetricsAsString(metric: { get(): Promise<Family> }): Promise<string> }
    const open = format === 'openmetrics'
    const scratch = new Scratch(open ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE)
    const metrics = this.registry.getMetricsAsArray() as unknown as Array<{ get(): Promise<Family> }>
    const families = await Promise.all(
      metrics.map((metric) =>
        scratch.getMetricsAsString({
          async get() {
            const family = await metric.get()
            // OpenMetrics names a counter family without `_total` and adds it to the samples.
            return open && String(family.type) === 'counter'
              ? { ...family, name: family.name.replace(/_total$/, '') }
              : family
          },
        }),
      ),
    )
    return open ? `${families.join('\n')}\n# EOF\n` : `${families.join('\n\n')}\n`
  }

  /**
   * Pushes everything recorded to a Pushgateway, replacing what this job and
   * instance pushed before (job `jjm_monitor`, instance = this host's name).
   */
  async push(url: string, options: { job?: string; instance?: string; timeoutMs?: number } = {}): Promise<void> {
    // The Pushgateway reads `metrics()` of what it is given: the Prometheus text format.
    const source = { metrics: () => this.render('prometheus') } as unknown as Registry
    const gateway = new Pushgateway(url, { timeout: options.timeoutMs ?? 10_000 }, source)
    await gateway.push({
      jobName: options.job ?? 'jjm_monitor',
      groupings: { instance: options.instance ?? hostname() },
    })
  }

  /**
   * The active tasks, read at most once per `figuresTtlMs` however many
   * gauges and scrapes ask; a read in flight is shared even with no cache time.
   */
  private activeTasks(): Promise<ActiveTaskFigures | undefined> {
    const read = this.sources.activeTasks
    if (read === undefined) return Promise.resolve(undefined)
    const now = Date.now()
    const cached = this.figures
    if (cached === undefined || (cached.settled && now - cached.at >= this.figuresTtlMs)) {
      const figures: NonNullable<Metrics['figures']> = { at: now, settled: false, promise: Promise.resolve(undefined) }
      figures.promise = read()
        .catch((error: unknown) => {
          // A scrape must still answer while the database is down: the gauges keep their last values.
          this.error(error, 'metrics')
          this.logger?.warn('Could not read the active tasks for the metrics', {
            error: error instanceof Error ? error.message : String(error),
          })
          return undefined
        })
        .finally(() => {
          figures.settled = true
        })
      this.figures = figures
    }
    return this.figures?.promise ?? Promise.resolve(undefined)
  }
}
