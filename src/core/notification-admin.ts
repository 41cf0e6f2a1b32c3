/**
 * What people do with the notification outbox beside delivery: look at it
 * (`jjm notifications list`), send again what was given up once its target
 * is fixed (`retry`), and keep it small (`prune`, and a bounded clean-up at
 * the end of every monitor pass).
 */
import { ConfigurationError, InvalidStateError, NotificationNotFoundError } from './errors.js'
import type { DeliveryReport } from './notifications.js'
import type {
  Clock,
  Logger,
  NotificationOutboxAdmin,
  NotificationQuery,
  NotificationRecord,
  NotificationState,
  TaskStore,
} from './ports.js'
import type { Page } from './task.js'

export type NotificationPage = Page<NotificationRecord>

/** What `jjm notifications retry` did. */
export interface NotificationRetryResult {
  /** The notifications retried, as they stand after the delivery attempt, in the order asked for. */
  items: NotificationRecord[]
  /** How many of them were delivered now. */
  delivered: number
  /** How many failed again and will be retried later (with backoff). */
  pending: number
  /** How many were refused for good again. */
  failed: number
  /** With `--failed`: failed notifications left alone because no configured route has their notifier id. */
  skipped: NotificationRecord[]
}

/** What a prune deleted. */
export interface NotificationPruneResult {
  delivered: number
  failed: number
  /** RFC 3339: delivered notifications delivered before this were deleted. */
  deliveredBefore: string
  /** RFC 3339: failed notifications given up before this were deleted. */
  failedBefore: string
}

export interface NotificationAdminOptions {
  store: NotificationOutboxAdmin
  /** One delivery pass over what is due; undefined when nothing could be delivered (no notifiers, or they failed to open). */
  deliver: () => Promise<DeliveryReport | undefined>
  /** The ids of the configured routes (routeNames): a retry to any other id cannot be delivered. */
  routeIds: readonly string[]
  clock: Clock
  logger: Logger
  retention: { keepDeliveredDays: number; keepFailedDays: number }
  /** The most entries of each state one monitor pass deletes; default 500. */
  pruneBatch?: number
  /** Where idempotency keys are kept, when the store can prune them ({@link creationIntentRetentionMs}). */
  intents?: Pick<TaskStore, 'pruneCreationIntents'>
}

/**
 * How long an idempotency key outlives its task: 24 h after the task ended
 * (completed, failed, deleted; purged: 24 h after it was created), or after
 * the last failed attempt. A retry within that time gets the first answer;
 * after it, the key is forgotten. Pruned a batch per monitor pass.
 */
export const creationIntentRetentionMs = 86_400_000

const dayMs = 86_400_000
/** listNotifications' largest page. */
const idsPerPage = 200
/** A bound on delivery passes of one retry, far above what any outbox needs; a safety net, not a limit. */
const maxRetryPasses = 10_000

export class NotificationAdmin {
  private readonly pruneBatch: number

  constructor(private readonly options: NotificationAdminOptions) {
    this.pruneBatch = options.pruneBatch ?? 500
  }

  /** Outbox entries, newest first, filtered by state and task. */
  list(query: NotificationQuery = {}): Promise<NotificationPage> {
    return this.options.store.listNotifications(query)
  }

  /**
   * Puts notifications back to pending with no attempts and delivers them at
   * once (with whatever else is due). `ids`: exactly these, all or nothing:
   * an unknown id, a delivered one, or one whose route is no longer
   * configured refuses the whole retry. `failed: true`: every failed one whose
   * route is configured.
   *
   * @throws NotificationNotFoundError, InvalidStateError, ConfigurationError
   */
  async retry(target: { ids: string[] } | { failed: true }): Promise<NotificationRetryResult> {
    const configured = new Set(this.options.routeIds)
    let chosen: NotificationRecord[]
    let skipped: NotificationRecord[] = []
    if ('ids' in target) {
      const ids = [...new Set(target.ids)]
      chosen = await this.records(ids)
      this.checkRetryable(ids, chosen, configured)
    } else {
      const failed = await this.allOfState('failed')
      chosen = failed.filter((record) => configured.has(record.notifier))
      skipped = failed.filter((record) => !configured.has(record.notifier))
    }
    const result: NotificationRetryResult = { items: [], delivered: 0, pending: 0, failed: 0, skipped }
    if (chosen.length === 0) return result
    const ids = chosen.map((record) => record.id)
    const now = new Date(this.options.clock.now()).toISOString()
    for (let start = 0; start < ids.length; start += idsPerPage) {
      await this.options.store.requeueNotifications(ids.slice(start, start + idsPerPage), now)
    }
    this.options.logger.info('Notifications put back to pending by a person', { count: ids.length })
    // Passes until nothing more is due: each one takes a batch; a failure is rescheduled with backoff.
    for (let pass = 0; pass < maxRetryPasses; pass += 1) {
      const report = await this.options.deliver()
      if (report === undefined || report.delivered + report.retrying + report.failed.length === 0) break
    }
    const after = new Map((await this.records(ids)).map((record) => [record.id, record]))
    result.items = ids.flatMap((id) => after.get(id) ?? [])
    for (const record of result.items) result[record.state] += 1
    return result
  }

  /**
   * Deletes delivered and failed notifications older than their retention
   * (or, with `olderThanMs`, older than that for both); pending ones are
   * never deleted. Works through the whole backlog, a bounded batch at a time.
   */
  async prune(options: { olderThanMs?: number } = {}): Promise<NotificationPruneResult> {
    const cutoffs = this.cutoffs(options.olderThanMs)
    const result: NotificationPruneResult = { delivered: 0, failed: 0, ...cutoffs }
    for (;;) {
      const batch = await this.options.store.pruneNotifications({ ...cutoffs, limit: this.pruneBatch })
      result.delivered += batch.delivered
      result.failed += batch.failed
      if (batch.delivered < this.pruneBatch && batch.failed < this.pruneBatch) return result
    }
  }

  /**
   * One bounded batch of {@link prune} with the configured retention: what a
   * monitor pass does, so that the outbox stays small without a cron job of
   * its own. Never throws: a failure is logged and the next pass tries again.
   */
  async pruneExpired(): Promise<NotificationPruneResult | undefined> {
    await this.pruneCreationIntents()
    try {
      const cutoffs = this.cutoffs(undefined)
      const deleted = await this.options.store.pruneNotifications({ ...cutoffs, limit: this.pruneBatch })
      if (deleted.delivered + deleted.failed > 0) {
        this.options.logger.debug('Pruned notifications past their retention', { ...deleted, ...cutoffs })
      }
      return { ...deleted, ...cutoffs }
    } catch (error) {
      this.options.logger.warn('Old notifications could not be pruned now; the next monitor pass tries again', {
        error: error instanceof Error ? error.message : String(error),
      })
      return undefined
    }
  }

  /** One bounded batch of idempotency keys past {@link creationIntentRetentionMs}; never throws. */
  private async pruneCreationIntents(): Promise<void> {
    const prune = this.options.intents?.pruneCreationIntents?.bind(this.options.intents)
    if (prune === undefined) return
    const before = new Date(this.options.clock.now() - creationIntentRetentionMs).toISOString()
    try {
      const deleted = await prune(before, this.pruneBatch)
      if (deleted > 0) this.options.logger.debug('Pruned idempotency keys past their retention', { deleted, before })
    } catch (error) {
      this.options.logger.warn('Old idempotency keys could not be pruned now; the next monitor pass tries again', {
        error: error instanceof Error ? error.message : String(error),
      })
    }
  }

  private cutoffs(olderThanMs: number | undefined): { deliveredBefore: string; failedBefore: string } {
    const now = this.options.clock.now()
    const { keepDeliveredDays, keepFailedDays } = this.options.retention
    const before = (ageMs: number) => new Date(now - ageMs).toISOString()
    return olderThanMs !== undefined
      ? { deliveredBefore: before(olderThanMs), failedBefore: before(olderThanMs) }
      : { deliveredBefore: before(keepDeliveredDays * dayMs), failedBefore: before(keepFailedDays * dayMs) }
  }

  private checkRetryable(ids: string[], found: NotificationRecord[], configured: ReadonlySet<string>): void {
    const byId = new Map(found.map((record) => [record.id, record]))
    const missing = ids.filter((id) => !byId.has(id))
    if (missing.length > 0) throw new NotificationNotFoundError(missing)
    const delivered = found.find((record) => record.state === 'delivered')
    if (delivered !== undefined) {
      throw new InvalidStateError(
        `Notification ${delivered.id} was delivered at ${delivered.deliveredAt}; only pending and failed notifications can be retried. Leave it out and run the command again.`,
        { context: { notificationId: delivered.id, state: 'delivered', wanted: ['pending', 'failed'] } },
      )
    }
    const orphan = found.find((record) => !configured.has(record.notifier))
    if (orphan !== undefined) {
      throw new ConfigurationError(
        `Notification ${orphan.id} goes to the notifier "${orphan.notifier}", which no entry of notifiers: in the config is any more. Put that entry back (or give the entry now meant for it name: ${orphan.notifier}), then retry.`,
        { context: { notificationId: orphan.id, notifier: orphan.notifier, key: 'notifiers' } },
      )
    }
  }

  /** The records of `ids` that exist, a page of ids at a time. */
  private async records(ids: string[]): Promise<NotificationRecord[]> {
    const found: NotificationRecord[] = []
    for (let start = 0; start < ids.length; start += idsPerPage) {
      const page = await this.options.store.listNotifications({
        ids: ids.slice(start, start + idsPerPage),
        limit: idsPerPage,
      })
      found.push(...page.items)
    }
    return found
  }

  private async allOfState(state: NotificationState): Promise<NotificationRecord[]> {
    const all: NotificationRecord[] = []
    let cursor: string | undefined
    do {
      const page = await this.options.store.listNotifications({ states: [state], limit: idsPerPage, cursor })
      all.push(...page.items)
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined)
    return all
  }
}
