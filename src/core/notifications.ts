/**
 * Notifications that reach people: which task events go to which notifier
 * (routing, a pure function), and the delivery of the outbox with retries,
 * backoff, and a give-up for targets that keep refusing.
 */
import { canonicalHash } from './canonical-json.js'
import type { Metrics } from './metrics.js'
import type {
  Clock,
  Logger,
  NewNotification,
  NewTaskEvent,
  NotificationOutbox,
  NotificationPayload,
  Notifier,
} from './ports.js'
import type { Task } from './task.js'

/** What routing can select: a situation below, or any raw event type (`pull_request`, `state_changed`, …), or `*`. */
export const notificationSituations = [
  'awaiting_plan_approval',
  'awaiting_user_feedback',
  'completed_with_pr',
  'completed',
  'failed',
  'stalled',
] as const

/** What a route sends when it names no `events`. */
export const defaultNotificationEvents: readonly string[] = [
  'awaiting_plan_approval',
  'awaiting_user_feedback',
  'completed_with_pr',
  'failed',
]

/** One entry of `notifiers:` in the config; the backend reads its own settings (url, secret, …) from it. */
export interface NotifierRoute {
  /** The notifier backend's name: console, webhook, slack, pagerduty, email, or a plugin's. */
  backend: string
  /** How the outbox names this target (best: give one); default derived from its content ({@link routeId}). */
  name?: string
  /** Situations or event types that go to it; default {@link defaultNotificationEvents}. */
  events?: string[]
  [setting: string]: unknown
}

export interface RoutedNotification {
  /** The route's id ({@link routeId}). */
  notifier: string
  payload: NotificationPayload
}

/**
 * Settings that say how to authenticate to a target, not which target it is:
 * rotating a webhook secret or an SMTP password must not orphan deliveries.
 */
const credentialSettings = new Set(['secret', 'pass', 'password', 'token'])

/**
 * The id under which the outbox records a route's deliveries: its `name`, or
 * else `{backend}-{hash}`, where the hash (8 hex digits of SHA-256) covers the
 * route's target: every setting but `name`, `events` and credentials. An id
 * does not depend on the route's position, so reordering `notifiers:` never
 * sends pending deliveries elsewhere; changing an unnamed route's url or
 * recipients does give it a new id (hence: give routes a name). A route with
 * no settings at all (`console`) is its backend's name.
 */
export function routeId(route: NotifierRoute): string {
  if (typeof route.name === 'string' && route.name.trim() !== '') return route.name.trim()
  const target: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(route)) {
    if (key === 'backend' || key === 'name' || key === 'events' || credentialSettings.has(key)) continue
    target[key] = value
  }
  if (Object.keys(target).length === 0) return route.backend
  return `${route.backend}-${canonicalHash({ backend: route.backend, target }).slice(0, 8)}`
}

/** The ids of the routes, in order ({@link routeId}); two routes to one target share an id. */
export function routeNames(routes: readonly NotifierRoute[]): string[] {
  return routes.map(routeId)
}

/** The situations one event is, most specific first (a completion with a PR is both `completed_with_pr` and `completed`). */
export function situationsOf(task: Task, event: NewTaskEvent): string[] {
  const found: string[] = []
  if (event.type === 'state_changed') {
    const to = event.data.to
    if (to === 'awaiting_plan_approval' || to === 'awaiting_user_feedback') found.push(to)
  }
  if (event.type === 'completed') {
    const url = typeof event.data.pullRequestUrl === 'string' ? event.data.pullRequestUrl : task.pullRequest?.url
    if (url) found.push('completed_with_pr')
    found.push('completed')
  }
  if (event.type === 'failed') found.push('failed')
  if (event.type === 'stalled') found.push('stalled')
  return found
}

/**
 * Which notifiers one task event goes to, and what each is sent. Pure: the
 * caller writes the result to the outbox with the event.
 */
export function routeEvent(task: Task, event: NewTaskEvent, routes: readonly NotifierRoute[]): RoutedNotification[] {
  const names = routeNames(routes)
  const situations = situationsOf(task, event)
  const at = event.at ?? task.updatedAt
  const routed: RoutedNotification[] = []
  const sent = new Set<string>()
  routes.forEach((route, index) => {
    const notifier = names[index] ?? route.backend
    // Two routes to one target (same id) would send the same message twice.
    if (sent.has(notifier)) return
    const wanted = route.events ?? defaultNotificationEvents
    const match = wanted.includes('*')
      ? (situations[0] ?? event.type)
      : (situations.find((situation) => wanted.includes(situation)) ??
        (wanted.includes(event.type) ? event.type : undefined))
    if (match === undefined) return
    sent.add(notifier)
    routed.push({ notifier, payload: describe(task, event, match, at) })
  })
  return routed
}

/** Routes every event of one write; what the store puts in the outbox beside them. */
export function routeEvents(
  task: Task,
  events: readonly NewTaskEvent[],
  routes: readonly NotifierRoute[],
): NewNotification[] {
  if (routes.length === 0) return []
  return events.flatMap((event) =>
    routeEvent(task, event, routes).map(({ notifier, payload }) => ({
      notifier,
      taskId: task.id,
      eventType: payload.eventType,
      payload,
    })),
  )
}

function describe(task: Task, event: NewTaskEvent, eventType: string, at: string): NotificationPayload {
  const prUrl =
    (typeof event.data.pullRequestUrl === 'string' ? event.data.pullRequestUrl : undefined) ??
    (typeof event.data.url === 'string' && event.type === 'pull_request' ? event.data.url : undefined) ??
    task.pullRequest?.url ??
    undefined
  const where =
    task.repository === '' ? '(no repository)' : `${task.repository}${task.branch ? ` (${task.branch})` : ''}`
  let title: string
  let text: string
  switch (eventType) {
    case 'awaiting_plan_approval':
      title = `Plan awaiting approval: ${task.title}`
      text = `Jules has a plan for ${where} and waits for approval. Approve it with: jjm approve ${task.id}`
      break
    case 'awaiting_user_feedback':
      title = `Feedback needed: ${task.title}`
      text = `Jules waits for an answer on ${where}. Reply with: jjm message ${task.id} "…"`
      break
    case 'completed_with_pr':
      title = `Pull request ready: ${task.title}`
      text = `Jules completed the task on ${where} and opened a pull request${prUrl ? `: ${prUrl}` : '.'}`
      break
    case 'completed':
      title = `Completed: ${task.title}`
      text = `Jules completed the task on ${where}.`
      break
    case 'failed': {
      const reason = typeof event.data.reason === 'string' && event.data.reason !== '' ? `: ${event.data.reason}` : '.'
      title = `Failed: ${task.title}`
      text = `The task on ${where} failed${reason}`
      break
    }
    case 'stalled': {
      const state = typeof event.data.state === 'string' ? event.data.state.replaceAll('_', ' ') : task.state
      const seconds = event.data.quietSeconds
      const quiet =
        typeof seconds !== 'number' ? '' : seconds < 120 ? ` for ${seconds} s` : ` for ${Math.round(seconds / 60)} min`
      title = `Stalled: ${task.title}`
      text = `Jules has shown no activity on ${where}${quiet} (${state}). Nudge it with: jjm message ${task.id} "…"`
      break
    }
    default:
      title = `${eventType.replaceAll('_', ' ')}: ${task.title}`
      text = `Task ${task.id} on ${where}: ${eventType.replaceAll('_', ' ')}.`
  }
  const url = eventType === 'completed_with_pr' || eventType === 'pull_request' ? (prUrl ?? task.url) : task.url
  return {
    taskId: task.id,
    eventType,
    title,
    text,
    ...(url ? { url } : {}),
    task,
    at,
  }
}

/** A delivery that failed; `permanent` when retrying cannot help (the target refused the request itself). */
export class NotificationDeliveryError extends Error {
  readonly permanent: boolean
  constructor(message: string, options: { permanent?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'NotificationDeliveryError'
    this.permanent = options.permanent ?? false
  }
}

/** An HTTP status as a delivery outcome: 2xx delivered; 4xx other than 408/429 permanent; the rest worth retrying. */
export function checkHttpStatus(target: string, status: number, body = ''): void {
  if (status >= 200 && status < 300) return
  const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429
  const detail = body.trim().slice(0, 200)
  throw new NotificationDeliveryError(`${target} answered HTTP ${status}${detail ? `: ${detail}` : ''}`, { permanent })
}

/** The wait before attempt `attempts + 1`: 30 s doubling, at most 1 h. */
export function notificationBackoffMs(attempts: number, baseMs = 30_000, maxMs = 3_600_000): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1))
}

export interface DeliverOptions {
  store: NotificationOutbox
  /** By route name. */
  notifiers: ReadonlyMap<string, Notifier>
  clock: Clock
  logger: Logger
  /** Attempts before giving up; default 8. */
  maxAttempts?: number
  /** Entries taken per pass; default 50. */
  batchSize?: number
  baseBackoffMs?: number
  /** Counts deliveries and failed attempts by notifier; absent: nothing is recorded. */
  metrics?: Pick<Metrics, 'notificationSent' | 'notificationFailed'>
  /**
   * Stops the pass before its next entry (a command is exiting); the entries
   * claimed but not tried are due again when their claim ends.
   */
  signal?: AbortSignal
}

export interface DeliveryReport {
  delivered: number
  /** Will be tried again later. */
  retrying: number
  /** Given up for good: the target refused, or it kept failing `maxAttempts` times. */
  failed: Array<{ id: string; notifier: string; taskId: string; error: string }>
}

/**
 * Delivers what the outbox holds that is due. A failure is retried with
 * exponential backoff; a permanent refusal, or `maxAttempts` failures, marks
 * the entry failed and reports it (logged as an error), never retried again.
 * Notifications are at least once: an entry whose mark did not land is sent again.
 */
export async function deliverNotifications(options: DeliverOptions): Promise<DeliveryReport> {
  const { store: outbox, notifiers, clock, logger } = options
  const maxAttempts = options.maxAttempts ?? 8
  const report: DeliveryReport = { delivered: 0, retrying: 0, failed: [] }
  // Stopped before it began: claim nothing, so that nothing waits for a claim to end.
  if (options.signal?.aborted) return report
  const entries = await outbox.claimNotifications(options.batchSize ?? 50, new Date(clock.now()).toISOString())
  for (const entry of entries) {
    if (options.signal?.aborted) break
    const notifier = notifiers.get(entry.notifier)
    const attempts = entry.attempts + 1
    let error: string
    let permanent: boolean
    if (notifier === undefined) {
      // The route was removed from the config: nothing will ever deliver it.
      error = `No notifier named "${entry.notifier}" is configured`
      permanent = true
    } else {
      try {
        await notifier.send({ ...entry.payload, id: entry.id })
        await outbox.markNotificationDelivered(entry.id, new Date(clock.now()).toISOString())
        report.delivered += 1
        options.metrics?.notificationSent(entry.notifier)
        continue
      } catch (caught) {
        error = caught instanceof Error ? caught.message : String(caught)
        permanent = caught instanceof NotificationDeliveryError && caught.permanent
      }
    }
    const context = { notificationId: entry.id, notifier: entry.notifier, taskId: entry.taskId, attempts, error }
    options.metrics?.notificationFailed(entry.notifier)
    // The instant comes from core's clock, not the store's: a test, or a replayed history, decides what "now" is.
    const failedAt = new Date(clock.now()).toISOString()
    if (permanent || attempts >= maxAttempts) {
      await outbox.markNotificationFailed(entry.id, error, null, failedAt)
      report.failed.push({ id: entry.id, notifier: entry.notifier, taskId: entry.taskId, error })
      logger.error(
        permanent
          ? 'A notification was refused by its target and will not be retried'
          : `A notification failed ${attempts} times and will not be retried`,
        context,
      )
    } else {
      const next = new Date(clock.now() + notificationBackoffMs(attempts, options.baseBackoffMs)).toISOString()
      await outbox.markNotificationFailed(entry.id, error, next, failedAt)
      report.retrying += 1
      logger.warn('A notification could not be delivered; it will be retried', { ...context, nextAttemptAt: next })
    }
  }
  return report
}

export interface NotificationCenterOptions {
  routes: readonly NotifierRoute[]
  /** Opens the notifiers of the routes, by route name; called once, at the first delivery. */
  openNotifiers: () => Promise<ReadonlyMap<string, Notifier>>
  store: NotificationOutbox
  clock: Clock
  logger: Logger
  maxAttempts?: number
  metrics?: Pick<Metrics, 'notificationSent' | 'notificationFailed'>
  /** How long {@link NotificationCenter.idle} waits for deliveries in flight; default {@link notificationIdleTimeoutMs}. */
  idleTimeoutMs?: number
  /** How the idle bound is waited; default a real timer that never keeps the process alive. */
  sleep?: (ms: number) => Promise<void>
}

/**
 * How long a command's exit waits for the notifications its writes queued
 * (5 s), plus at most the one request then in progress (a webhook's own
 * timeout, 10 s). What is not delivered by then stays in the outbox: the next
 * `jjm` command, `monitor` pass or the daemon delivers it.
 */
export const notificationIdleTimeoutMs = 5_000

const unrefSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())

/**
 * Routing and delivery for one process: decides what each write sends (the
 * store writes it to the outbox in the same transaction) and delivers the
 * outbox, best effort: a delivery problem is logged, never thrown at the
 * operation that caused it.
 *
 * Delivery passes are coalesced: at most one runs and one waits at a time, so
 * a burst of writes makes at most two passes (the waiting one sees every
 * write made before it starts), not one pass per write behind a slow target.
 */
export class NotificationCenter {
  private notifiers: Promise<ReadonlyMap<string, Notifier>> | undefined
  private running: Promise<DeliveryReport | undefined> | undefined
  private queued: Promise<DeliveryReport | undefined> | undefined
  /** Aborted when a command stops waiting: the pass then ends after its current entry. */
  private readonly stopping = new AbortController()

  constructor(private readonly options: NotificationCenterOptions) {}

  get enabled(): boolean {
    return this.options.routes.length > 0
  }

  /** What one write of `events` about `task` sends. */
  route(task: Task, events: readonly NewTaskEvent[]): NewNotification[] {
    return routeEvents(task, events, this.options.routes)
  }

  /**
   * A delivery pass over what is due that starts after this call; passes
   * never overlap, and callers while one waits share it. Never throws.
   */
  async deliver(): Promise<DeliveryReport | undefined> {
    if (!this.enabled) return undefined
    // The waiting pass has not started: it will see whatever this caller wrote.
    if (this.queued !== undefined) return this.queued
    const current = this.running
    if (current === undefined) return this.start()
    const next = current.then(() => {
      this.queued = undefined
      return this.start()
    })
    this.queued = next
    return next
  }

  /** Starts a delivery pass in the background (coalesced, see {@link deliver}); {@link idle} waits for it. */
  kick(): void {
    if (!this.enabled) return
    void this.deliver()
  }

  /**
   * Waits for the passes in flight before a CLI process exits, for at most
   * the idle timeout ({@link notificationIdleTimeoutMs}); then the pass stops
   * after its current entry and the rest stays in the outbox.
   */
  async idle(): Promise<void> {
    const settled = (async () => {
      while (this.running !== undefined || this.queued !== undefined) {
        await Promise.allSettled([this.running, this.queued])
      }
      return 'settled' as const
    })()
    const timeoutMs = this.options.idleTimeoutMs ?? notificationIdleTimeoutMs
    const late = (this.options.sleep ?? unrefSleep)(timeoutMs).then(() => 'late' as const)
    if ((await Promise.race([settled, late])) === 'settled') return
    this.stopping.abort()
    this.options.logger.warn(
      'Notifications still being delivered are left in the outbox; the next jjm run, monitor pass or the daemon delivers them',
      { waitedMs: timeoutMs },
    )
  }

  private start(): Promise<DeliveryReport | undefined> {
    const pass = this.pass().finally(() => {
      if (this.running === pass) this.running = undefined
    })
    this.running = pass
    return pass
  }

  private async pass(): Promise<DeliveryReport | undefined> {
    const { logger } = this.options
    try {
      this.notifiers ??= this.options.openNotifiers()
      const notifiers = await this.notifiers.catch((error: unknown) => {
        this.notifiers = undefined
        throw error
      })
      return await deliverNotifications({
        store: this.options.store,
        notifiers,
        clock: this.options.clock,
        logger,
        maxAttempts: this.options.maxAttempts,
        signal: this.stopping.signal,
        ...(this.options.metrics ? { metrics: this.options.metrics } : {}),
      })
    } catch (error) {
      logger.warn('Notifications could not be delivered now; they stay in the outbox', {
        error: error instanceof Error ? error.message : String(error),
      })
      return undefined
    }
  }
}
