import { ExitCode, isJjmError } from './errors.js'
import type { JulesClient } from './jules/client.js'
import { publishUpdate } from './manager.js'
import type { Metrics } from './metrics.js'
import type { NotificationAdmin } from './notification-admin.js'
import type { NotificationCenter } from './notifications.js'
import type { TaskQueue } from './plan-quota.js'
import { PollSchedule } from './poll-schedule.js'
import type { Clock, EventBus, Logger, TaskStore } from './ports.js'
import { type JulesBudget, JulesThrottle, type RateLimitPause, type Sleep } from './rate-limit.js'
import { leaseHolderName, SessionSynchronizer, type TaskChange } from './synchronizer.js'
import { awaitingPerson, isPending, type Task, type TaskState } from './task.js'

export type { TaskChange } from './synchronizer.js'
export { leaseHolderName } from './synchronizer.js'

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
  /**
   * The one sync path of this process (shared with the commands and the API);
   * absent: the monitor builds its own from the deps above.
   */
  synchronizer?: SessionSynchronizer
  /** The name on this process's sync leases, when the monitor builds its own synchronizer. */
  leaseHolder?: string
  /** How long a sync lease lasts unless renewed, when the monitor builds its own synchronizer. */
  leaseTtlMs?: number
  /** `monitor.stalledAfter` in milliseconds by state, when the monitor builds its own synchronizer. */
  stalledAfter?: Readonly<Record<string, number | null>>
  /** `monitor.nudgeMessage` when `monitor.nudgeStalled` is on, when the monitor builds its own synchronizer. */
  nudgeMessage?: string
  /** The local queue under plan quotas: after every pass, pending tasks start as far as the limits allow. */
  queue?: Pick<TaskQueue, 'startDue'>
}

export interface SyncOptions {
  /** Look at every active task, due or not (`monitor --once`). */
  force?: boolean
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
  /** Pending tasks whose Jules sessions this pass started (plan quotas), in the order they started. */
  started?: StartedTask[]
}

/** A pending task a pass started. */
export interface StartedTask {
  taskId: string
  title: string
  sessionName: string
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
 * The monitor loop: which active tasks are due, in batches within the Jules
 * budget, each synced through the {@link SessionSynchronizer} (the one owner
 * of recording what changed). Used by `monitor --once`, `monitor --watch` and
 * the daemon. Several processes on one database divide the work by the
 * synchronizer's leases: a task another process syncs is left to it.
 */
export class Monitor {
  private readonly schedule: PollSchedule
  readonly synchronizer: SessionSynchronizer

  constructor(private readonly deps: MonitorDeps) {
    this.schedule = new PollSchedule({
      ...(deps.pollIntervalMs === undefined ? {} : { intervalMs: deps.pollIntervalMs }),
      ...(deps.waitingFactor === undefined ? {} : { waitingFactor: deps.waitingFactor }),
    })
    this.synchronizer =
      deps.synchronizer ??
      new SessionSynchronizer({
        jules: deps.jules,
        store: deps.store,
        clock: deps.clock,
        logger: deps.logger,
        budget:
          deps.budget ??
          new JulesThrottle({
            perMinute: deps.requestsPerMinute ?? 60,
            clock: deps.clock,
            ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }),
          }),
        holder: deps.leaseHolder ?? leaseHolderName(),
        ...(deps.leaseTtlMs === undefined ? {} : { leaseTtlMs: deps.leaseTtlMs }),
        ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }),
        ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
        ...(deps.stalledAfter === undefined ? {} : { stalledAfter: deps.stalledAfter }),
        ...(deps.nudgeMessage === undefined ? {} : { nudgeMessage: deps.nudgeMessage }),
        publish: (update) => publishUpdate(deps.bus, deps.logger, update),
      })
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
    // A pending task has no session to sync: the queue starts it (below).
    const tasks = (await store.listActiveTasks()).filter((task) => !isPending(task.state))
    this.schedule.retain(new Set(tasks.map((task) => task.id)))
    const now = clock.now()
    const due = tasks.filter((task) => options.force === true || this.schedule.isDue(task, now))
    const polled = new Set(due.map((task) => task.id))
    const changes: TaskChange[] = []
    const awaiting: AwaitingTask[] = []
    const errors: SyncFailure[] = []
    const after = new Map<string, Task>()
    this.synchronizer.takePause(Date.parse(startedAt))

    const noteAwaiting = (task: Task) => {
      const waitingFor = awaitingPerson(task.state)
      if (waitingFor) awaiting.push({ taskId: task.id, title: task.title, state: task.state, waitingFor })
    }
    // A task not due is still reported as waiting: cron's exit code must not depend on the schedule.
    for (const task of tasks) if (!polled.has(task.id)) noteAwaiting(task)

    // A task synced by another process after this pass listed it needs no second look (a
    // millisecond later, so that a sync in the very instant of the listing is not taken for one).
    const syncedBefore = new Date(Date.parse(startedAt) + 1).toISOString()
    const batchSize = Math.max(1, this.deps.concurrency)
    for (let start = 0; start < due.length; start += batchSize) {
      const batch = due.slice(start, start + batchSize)
      const results = await this.synchronizer.syncBatch(batch, { syncedBefore })
      for (const task of batch) {
        const result = results.get(task.id)
        if (result === undefined || result.status === 'busy' || result.status === 'lease_lost') {
          // Another process syncs it (or took it over): its pass reports it.
          polled.delete(task.id)
          noteAwaiting(result?.task ?? task)
          continue
        }
        if (result.status === 'error') {
          errors.push(this.recordFailure(task, result.error))
          continue
        }
        this.schedule.polled(result.task, clock.now())
        after.set(task.id, result.task)
        if (result.change) changes.push(result.change)
        noteAwaiting(result.task)
      }
    }
    this.logFailures(errors)
    // Slots the syncs found freed (a session ended) go to the next pending tasks, under the queue's lock.
    const started = await this.startQueued()
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
      polled: polled.size,
      rateLimited: this.synchronizer.takePause(Date.parse(startedAt)),
      ...(started.length === 0 ? {} : { started }),
    }
    this.deps.metrics?.syncCycle((performance.now() - passStarted) / 1000, clock.now())
    return { report, tasks: tasks.map((task) => after.get(task.id) ?? task) }
  }

  /** Starts what the queue allows; best effort: a failure is logged, and the next pass tries again. */
  private async startQueued(): Promise<StartedTask[]> {
    if (this.deps.queue === undefined) return []
    try {
      const run = await this.deps.queue.startDue()
      return run.started.map((task) => ({ taskId: task.id, title: task.title, sessionName: task.sessionName }))
    } catch (error) {
      this.deps.logger.warn('could not start pending tasks; the next pass tries again', { error })
      return []
    }
  }

  /** Stops renewing sync leases (the daemon's and `monitor --watch`'s shutdown). */
  close(): void {
    if (this.deps.synchronizer === undefined) this.synchronizer.close()
  }

  private recordFailure(task: Task, error: unknown): SyncFailure {
    const code = isJjmError(error) ? error.code : 'JJM_UNEXPECTED'
    const message = error instanceof Error ? error.message : String(error)
    // One line per task only at debug: while Jules is down, every task fails alike (see logFailures).
    this.deps.logger.debug('sync failed', { taskId: task.id, sessionName: task.sessionName, code, error })
    this.deps.metrics?.error(error, 'sync')
    return { taskId: task.id, code, message }
  }

  /** One warning per pass and kind of failure, with the count, not one per task. */
  private logFailures(errors: readonly SyncFailure[]): void {
    const byCode = new Map<string, SyncFailure[]>()
    for (const failure of errors) byCode.set(failure.code, [...(byCode.get(failure.code) ?? []), failure])
    for (const [code, failures] of byCode) {
      const first = failures[0]
      this.deps.logger.warn(
        failures.length === 1 ? 'A task could not be synced' : `${failures.length} tasks could not be synced`,
        { code, tasks: failures.length, taskId: first?.taskId, error: first?.message },
      )
    }
  }
}

/**
 * `monitor --once` exit codes for cron and systemd: errors outrank a task
 * needing a person, which outranks plain changes.
 */
export function monitorExitCode(report: MonitorReport): number {
  if (report.errors.length > 0) return ExitCode.monitorErrors
  if (report.awaitingPerson.length > 0) return ExitCode.monitorNeedsPerson
  if (report.changes.length > 0 || (report.started?.length ?? 0) > 0) return ExitCode.monitorChanges
  return ExitCode.ok
}
