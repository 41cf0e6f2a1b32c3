import { randomUUID } from 'node:crypto'
import pLimit from 'p-limit'
import {
  advanceCursor,
  bindSentMessages,
  type ChangedFile,
  digestActivities,
  listNewActivities,
} from './activity-sync.js'
import { ExitCode, InvalidStateError, isJjmError, RateLimitedError, TaskVersionConflictError } from './errors.js'
import type { Activity, JulesClient, Session } from './jules/client.js'
import { pullRequestOf, taskStateOf } from './jules/session-view.js'
import { publishUpdate } from './manager.js'
import type { Metrics } from './metrics.js'
import type { NotificationAdmin } from './notification-admin.js'
import type { NotificationCenter } from './notifications.js'
import { PollSchedule } from './poll-schedule.js'
import type { Clock, EventBus, Logger, MessageBinding, NewTaskEvent, SyncCursor, TaskStore } from './ports.js'
import { type JulesBudget, JulesThrottle, type RateLimitPause, type Sleep } from './rate-limit.js'
import { awaitingPerson, type ChatMessage, isTerminal, type Task, type TaskState } from './task.js'

/** Longer than one task's sync can take (Jules timeouts and retries included), short enough to take over a dead daemon's tasks soon. */
const defaultSyncLeaseMs = 5 * 60_000

export interface MonitorDeps {
  jules: JulesClient
  store: TaskStore
  clock: Clock
  logger: Logger
  /** How many tasks are synced at once. */
  concurrency: number
  /** Where task changes are published for live consumers; best effort. */
  bus?: EventBus
  /** The ceiling on requests to Jules per minute (`monitor.requestsPerMinute`); default 60. */
  requestsPerMinute?: number
  /** The Jules request budget, shared with other processes on the same account; absent: one of `requestsPerMinute` in this process. */
  budget?: JulesBudget
  /** The time between passes; tasks waiting for a person are polled every `waitingFactor` of these. Default 10 s. */
  pollIntervalMs?: number
  /** Default 4. */
  waitingFactor?: number
  /** How the engine waits for a token or out a 429; tests advance a ManualClock instead. */
  sleep?: Sleep
  /** Delivers the notification outbox at the end of every pass (best effort, never throws). */
  notifications?: Pick<NotificationCenter, 'deliver'>
  /** Deletes a bounded batch of notifications past their retention after every pass (best effort, never throws). */
  outboxCleanup?: Pick<NotificationAdmin, 'pruneExpired'>
  /** Records finished tasks, pass durations, sync errors and Jules' rate limiting; absent: nothing is recorded. */
  metrics?: Metrics
}

export interface SyncOptions {
  /** Look at every active task, due or not (`monitor --once`). */
  force?: boolean
}

export interface TaskChange {
  taskId: string
  title: string
  from: TaskState
  to: TaskState
  /** Event types recorded by this sync, in order. */
  events: string[]
  pullRequestUrl: string | null
}

export interface AwaitingTask {
  taskId: string
  title: string
  state: TaskState
  waitingFor: string
}

export interface SyncFailure {
  taskId: string
  code: string
  message: string
}

/** What one pass over the active tasks found. The `--json` shape of `jjm monitor --once`. */
export interface MonitorReport {
  startedAt: string
  finishedAt: string
  checked: number
  changes: TaskChange[]
  awaitingPerson: AwaitingTask[]
  errors: SyncFailure[]
  /** How many of the `checked` active tasks were due and read from Jules; the others wait for a later pass. */
  polled?: number
  /** Set when Jules rate limited this pass: every request waits until `until`. */
  rateLimited?: RateLimitPause | null
}

/** One pass: its report, and the tasks it looked at as they stood after it (for a live view). */
export interface MonitorPass {
  report: MonitorReport
  /**
   * Every task that was active when the pass began, in the pass's order, as
   * stored after it: a task that finished during the pass is here with its
   * final state, and gone from the next pass.
   */
  tasks: Task[]
}

/**
 * The sync engine: one pass reads every due active task's session from
 * Jules and, when the session moved, its new activities; it records what
 * changed as events (in the same transaction as the task row and the sync
 * cursor) and reports it. Used by `monitor --once`, `monitor --watch` and the daemon.
 *
 * Exactly once: a task's events, chat messages, changed files and cursor are
 * written by one `updateTask`, so a sync that fails half-way is repeated as a
 * whole by the next pass, and one that succeeded is never repeated.
 */
export class Monitor {
  private readonly schedule: PollSchedule
  private readonly throttle: JulesBudget
  /** The pause a 429 caused during the current pass, for its report. */
  private passPause: RateLimitPause | null = null
  /**
   * This process syncs a task only while it holds the task's lease (a sync
   * commits only under it); {@link useSyncLeases} names the holder.
   */
  private syncLease: { holder: string; ttlMs: number } = {
    holder: `monitor:${randomUUID()}`,
    ttlMs: defaultSyncLeaseMs,
  }

  constructor(private readonly deps: MonitorDeps) {
    this.schedule = new PollSchedule({
      ...(deps.pollIntervalMs === undefined ? {} : { intervalMs: deps.pollIntervalMs }),
      ...(deps.waitingFactor === undefined ? {} : { waitingFactor: deps.waitingFactor }),
    })
    this.throttle =
      deps.budget ??
      new JulesThrottle({
        perMinute: deps.requestsPerMinute ?? 60,
        clock: deps.clock,
        ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }),
      })
  }

  /**
   * Divides the work with other processes on the same database (several
   * daemons): each task is synced only under its lease, taken right before
   * its sync and given back after it, so two daemons never sync one task at
   * once and a dead daemon's task is taken over when its lease (`ttlMs`)
   * runs out. A store without leases (one process) lets every claim through.
   */
  useSyncLeases(holder: string, ttlMs = defaultSyncLeaseMs): void {
    this.syncLease = { holder, ttlMs }
  }

  async syncOnce(options: SyncOptions = {}): Promise<MonitorReport> {
    return (await this.pass(options)).report
  }

  /** {@link syncOnce}, with the tasks it looked at. */
  async pass(options: SyncOptions = {}): Promise<MonitorPass> {
    const { store, clock } = this.deps
    const startedAt = new Date(clock.now()).toISOString()
    // Wall time, not the (possibly manual) clock: the histogram is about how long a pass really takes.
    const passStarted = performance.now()
    const tasks = await store.listActiveTasks()
    this.schedule.retain(new Set(tasks.map((task) => task.id)))
    const now = clock.now()
    const due = new Set(
      tasks.filter((task) => options.force === true || this.schedule.isDue(task, now)).map((task) => task.id),
    )
    const limit = pLimit(Math.max(1, this.deps.concurrency))
    const changes: TaskChange[] = []
    const awaiting: AwaitingTask[] = []
    const errors: SyncFailure[] = []
    const after = new Map<string, Task>()
    this.passPause = null

    const noteAwaiting = (task: Task) => {
      const waitingFor = awaitingPerson(task.state)
      if (waitingFor) awaiting.push({ taskId: task.id, title: task.title, state: task.state, waitingFor })
    }

    await Promise.all(
      tasks.map((task) => {
        // A task not due is still reported as waiting: cron's exit code must not depend on the schedule.
        if (!due.has(task.id)) {
          noteAwaiting(task)
          return undefined
        }
        return limit(async () => {
          const lease = this.syncLease
          if (!(await this.claim(task, lease))) {
            // Another daemon syncs it right now, or already did during this pass: its pass reports it.
            due.delete(task.id)
            noteAwaiting(task)
            return
          }
          try {
            const { updated, change } = await this.syncTask(task)
            this.schedule.polled(updated, clock.now())
            after.set(updated.id, updated)
            if (change) changes.push(change)
            noteAwaiting(updated)
          } catch (error) {
            errors.push(await this.recordFailure(task, error))
          } finally {
            await this.release(task, lease)
          }
        })
      }),
    )
    // What this pass (and earlier ones, and other commands) put in the outbox, with retries that are due.
    await this.deps.notifications?.deliver()
    await this.deps.outboxCleanup?.pruneExpired()
    // Report in the order of the task list, not in the order the syncs finished.
    const order = new Map(tasks.map((task, index) => [task.id, index]))
    const byTask = (a: { taskId: string }, b: { taskId: string }) =>
      (order.get(a.taskId) ?? 0) - (order.get(b.taskId) ?? 0)
    const report: MonitorReport = {
      startedAt,
      finishedAt: new Date(clock.now()).toISOString(),
      checked: tasks.length,
      changes: changes.sort(byTask),
      awaitingPerson: awaiting.sort(byTask),
      errors: errors.sort(byTask),
      polled: due.size,
      rateLimited: this.passPause ?? this.throttle.currentPause(),
    }
    this.deps.metrics?.syncCycle((performance.now() - passStarted) / 1000, clock.now())
    return { report, tasks: tasks.map((task) => after.get(task.id) ?? task) }
  }

  private async claim(task: Task, lease: { holder: string; ttlMs: number }): Promise<boolean> {
    const { store, logger } = this.deps
    try {
      // Not synced since this pass read it: lastSyncedAt still at most the value read.
      const read = task.lastSyncedAt === null ? undefined : Date.parse(task.lastSyncedAt)
      const claimed = await store.claimSyncLeases(
        [task.id],
        lease.holder,
        lease.ttlMs,
        read === undefined ? {} : { syncedBefore: new Date(read + 1).toISOString() },
      )
      return claimed.includes(task.id)
    } catch (error) {
      logger.warn('Could not take the lease on syncing a task; it is left to the next pass', {
        taskId: task.id,
        error: error instanceof Error ? error.message : String(error),
      })
      return false
    }
  }

  private async release(task: Task, lease: { holder: string }): Promise<void> {
    // Best effort: a lease not given back runs out on its own.
    await this.deps.store.releaseSyncLeases([task.id], lease.holder).catch(() => {})
  }

  /**
   * Syncs one task from its Jules session and, when the session moved since
   * the cursor, from its new activities; records events only for what changed.
   */
  async syncTask(task: Task): Promise<{ updated: Task; change: TaskChange | undefined }> {
    const { jules, store, clock } = this.deps
    const cursor = (await store.getSyncState(task.id))?.cursor ?? undefined
    const session = await this.call(() => jules.getSession(task.sessionName))
    const now = new Date(clock.now()).toISOString()
    const state = taskStateOf(session)
    const pullRequest = pullRequestOf(session) ?? task.pullRequest
    const events: NewTaskEvent[] = []

    const sessionMoved =
      cursor === undefined || cursor.sessionUpdateTime !== (session.updateTime ?? null) || state !== task.state
    let nextCursor: SyncCursor = cursor ?? { sessionUpdateTime: null, lastActivityTime: null, lastActivityNames: [] }
    let chatMessages: Parameters<TaskStore['addChatMessages']>[1] = []
    let boundMessages: MessageBinding[] = []
    let sourceFiles: ChangedFile[] | undefined
    let failureReason: string | null = null

    if (sessionMoved) {
      const fresh = await listNewActivities(
        (request) => this.call(() => jules.listActivities(session.name, request)),
        cursor,
      )
      const digest = digestActivities(fresh.activities)
      events.push(...digest.events)
      chatMessages = digest.chatMessages
      if (chatMessages.some((message) => message.role === 'user')) {
        // Messages sent through jjm are recorded already: bind them to their activities instead of adding copies.
        const bound = bindSentMessages(chatMessages, await this.chatMessagesOf(task.id))
        chatMessages = bound.chatMessages
        boundMessages = bound.boundMessages
      }
      failureReason = digest.failureReason
      if (digest.changedFiles.length > 0) sourceFiles = await this.mergeFiles(task.id, digest.changedFiles)
      nextCursor = advanceCursor(
        cursor,
        fresh.activities,
        // A 404 right after creation says nothing about the activities: read them again next pass.
        fresh.notFound ? (cursor?.sessionUpdateTime ?? null) : (session.updateTime ?? null),
      )
      if (fresh.notFound) this.deps.logger.debug('no activities yet', { taskId: task.id, sessionName: session.name })
    }

    if (state !== task.state) {
      events.push({ type: 'state_changed', data: { from: task.state, to: state }, at: now })
    }
    if (pullRequest && pullRequest.url !== task.pullRequest?.url) {
      events.push({ type: 'pull_request', data: { ...pullRequest }, at: now })
    }
    // Completion and failure come from the state transition alone, so that the
    // sessionCompleted/sessionFailed activities cannot record them a second time.
    const becameTerminal = isTerminal(state) && !isTerminal(task.state)
    if (becameTerminal && state === 'completed') {
      events.push({ type: 'completed', data: { pullRequestUrl: pullRequest?.url ?? null }, at: now })
    }
    if (becameTerminal && state === 'failed') {
      events.push({ type: 'failed', data: { reason: failureReason ?? (await this.failureReason(session)) }, at: now })
    }

    const next: Task = {
      ...task,
      state,
      url: session.url ?? task.url,
      pullRequest,
      updatedAt: events.length > 0 ? now : task.updatedAt,
      completedAt: becameTerminal ? (session.updateTime ?? now) : task.completedAt,
      lastSyncedAt: now,
    }
    // The row is written only when something in it changed: a quiet sync moves the sync state alone.
    const rowChanged =
      events.length > 0 ||
      next.state !== task.state ||
      next.url !== task.url ||
      JSON.stringify(next.pullRequest) !== JSON.stringify(task.pullRequest) ||
      next.completedAt !== task.completedAt
    const result = await store.commitSync({
      taskId: task.id,
      holder: this.syncLease.holder,
      ...(rowChanged ? { task: next } : {}),
      events,
      cursor: nextCursor,
      syncedAt: now,
      ...(chatMessages.length > 0 ? { chatMessages } : {}),
      ...(boundMessages.length > 0 ? { boundMessages } : {}),
      ...(sourceFiles === undefined ? {} : { sourceFiles }),
    })
    if (result.outcome === 'stale') throw new TaskVersionConflictError(task.id, task.version, result.task.version)
    if (result.outcome === 'lease_lost') {
      throw new InvalidStateError(
        `The lease on syncing task ${task.id} ran out before the sync was recorded; the next pass syncs it again.`,
        { context: { taskId: task.id } },
      )
    }
    const updated = result.task
    if (becameTerminal) this.deps.metrics?.taskFinished(updated)
    if (events.length === 0) return { updated, change: undefined }
    this.deps.logger.info('task changed', { taskId: task.id, from: task.state, to: state, events: events.length })
    const last = events[events.length - 1]
    await publishUpdate(this.deps.bus, this.deps.logger, {
      taskId: task.id,
      type: last?.type ?? 'updated',
      task: updated,
      at: now,
    })
    return {
      updated,
      change: {
        taskId: task.id,
        title: task.title,
        from: task.state,
        to: state,
        events: events.map((event) => event.type),
        pullRequestUrl: pullRequest?.url ?? null,
      },
    }
  }

  /** One request to Jules, within the rate ceiling; a 429 pauses the whole engine. */
  private async call<T>(request: () => Promise<T>): Promise<T> {
    await this.throttle.acquire()
    try {
      const result = await request()
      this.throttle.succeeded()
      return result
    } catch (error) {
      if (error instanceof RateLimitedError || (isJjmError(error) && error.code === 'JJM_RATE_LIMITED')) {
        const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds
        const pause = this.throttle.rateLimited(typeof retryAfter === 'number' ? retryAfter : undefined)
        this.passPause = pause
        this.deps.metrics?.rateLimited('jules')
        this.deps.logger.warn('Jules is rate limiting: pausing every sync', { until: pause.until })
      }
      throw error
    }
  }

  /** Every chat message of the task, oldest first. */
  private async chatMessagesOf(taskId: string): Promise<ChatMessage[]> {
    const messages: ChatMessage[] = []
    let cursor: string | undefined
    do {
      const page = await this.deps.store.listChatMessages(taskId, { limit: 200, ...(cursor ? { cursor } : {}) })
      messages.push(...page.items)
      cursor = page.nextCursor || undefined
    } while (cursor)
    return messages
  }

  /** The task's changed files with a new change set's laid over them: later change sets may cover only part of the work. */
  private async mergeFiles(taskId: string, changed: ChangedFile[]): Promise<ChangedFile[]> {
    const files = new Map<string, string>()
    for (const file of await this.deps.store.listSourceFiles(taskId)) files.set(file.path, file.changeType)
    for (const file of changed) files.set(file.path, file.changeType)
    return [...files].map(([path, changeType]) => ({ path, changeType }))
  }

  /** The reason Jules gave for a failure, from all the session's activities; best effort. */
  private async failureReason(session: Session): Promise<string | null> {
    try {
      let pageToken: string | undefined
      let reason: string | null = null
      do {
        const token = pageToken
        const page = await this.call(() =>
          this.deps.jules.listActivities(session.name, { pageSize: 100, ...(token ? { pageToken: token } : {}) }),
        )
        for (const activity of page.activities as Activity[]) {
          if (activity.sessionFailed) reason = activity.sessionFailed.reason ?? reason
        }
        pageToken = page.nextPageToken
      } while (pageToken)
      return reason
    } catch (error) {
      this.deps.logger.warn('could not read the failure reason', { sessionName: session.name, error })
      return null
    }
  }

  private async recordFailure(task: Task, error: unknown): Promise<SyncFailure> {
    const code = isJjmError(error) ? error.code : 'JJM_UNEXPECTED'
    const message = error instanceof Error ? error.message : String(error)
    this.deps.logger.warn('sync failed', { taskId: task.id, sessionName: task.sessionName, code, error })
    this.deps.metrics?.error(error, 'sync')
    // A session that Jules no longer knows is worth a line of history; a passing outage is not.
    if (code === 'JJM_JULES_NOT_FOUND' || code === 'JJM_JULES_PROTOCOL') {
      try {
        const now = new Date(this.deps.clock.now()).toISOString()
        await this.deps.store.logEvent(task.id, { type: 'sync_error', data: { code, message }, at: now })
      } catch (storeError) {
        this.deps.logger.error('could not record the sync error', { taskId: task.id, error: storeError })
      }
    }
    return { taskId: task.id, code, message }
  }
}

/**
 * `monitor --once` exit codes for cron and systemd: errors outrank a task
 * needing a person, which outranks plain changes.
 */
export function monitorExitCode(report: MonitorReport): number {
  if (report.errors.length > 0) return ExitCode.monitorErrors
  if (report.awaitingPerson.length > 0) return ExitCode.monitorNeedsPerson
  if (report.changes.length > 0) return ExitCode.monitorChanges
  return ExitCode.ok
}
