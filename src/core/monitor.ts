import pLimit from 'p-limit'
import { ExitCode, isJjmError } from './errors.js'
import type { Activity, JulesClient, Session } from './jules/client.js'
import { pullRequestOf, taskStateOf } from './jules/session-view.js'
import { publishUpdate } from './manager.js'
import type { Clock, EventBus, Logger, NewTaskEvent, TaskStore } from './ports.js'
import { awaitingPerson, isTerminal, type Task, type TaskState } from './task.js'

export interface MonitorDeps {
  jules: JulesClient
  store: TaskStore
  clock: Clock
  logger: Logger
  /** How many tasks are synced at once. */
  concurrency: number
  /** Where task changes are published for live consumers; best effort. */
  bus?: EventBus
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
}

/**
 * The sync engine: one pass reads every active task's session from Jules,
 * records what changed as events (in the same transaction as the task row),
 * and reports it. Used by `monitor --once`, `monitor --watch` and the daemon.
 */
export class Monitor {
  constructor(private readonly deps: MonitorDeps) {}

  async syncOnce(): Promise<MonitorReport> {
    const { store, clock } = this.deps
    const startedAt = new Date(clock.now()).toISOString()
    const tasks = await store.listActiveTasks()
    const limit = pLimit(Math.max(1, this.deps.concurrency))
    const changes: TaskChange[] = []
    const awaiting: AwaitingTask[] = []
    const errors: SyncFailure[] = []

    await Promise.all(
      tasks.map((task) =>
        limit(async () => {
          try {
            const { updated, change } = await this.syncTask(task)
            if (change) changes.push(change)
            const waitingFor = awaitingPerson(updated.state)
            if (waitingFor)
              awaiting.push({ taskId: updated.id, title: updated.title, state: updated.state, waitingFor })
          } catch (error) {
            errors.push(await this.recordFailure(task, error))
          }
        }),
      ),
    )
    // Report in the order of the task list, not in the order the syncs finished.
    const order = new Map(tasks.map((task, index) => [task.id, index]))
    const byTask = (a: { taskId: string }, b: { taskId: string }) =>
      (order.get(a.taskId) ?? 0) - (order.get(b.taskId) ?? 0)
    return {
      startedAt,
      finishedAt: new Date(clock.now()).toISOString(),
      checked: tasks.length,
      changes: changes.sort(byTask),
      awaitingPerson: awaiting.sort(byTask),
      errors: errors.sort(byTask),
    }
  }

  /** Syncs one task from its Jules session; records events only for what changed. */
  async syncTask(task: Task): Promise<{ updated: Task; change: TaskChange | undefined }> {
    const { jules, store, clock } = this.deps
    const session = await jules.getSession(task.sessionName)
    const now = new Date(clock.now()).toISOString()
    const state = taskStateOf(session)
    const pullRequest = pullRequestOf(session) ?? task.pullRequest
    const events: NewTaskEvent[] = []

    if (state !== task.state) {
      events.push({ type: 'state_changed', data: { from: task.state, to: state }, at: now })
    }
    if (pullRequest && pullRequest.url !== task.pullRequest?.url) {
      events.push({ type: 'pull_request', data: { ...pullRequest }, at: now })
    }
    const becameTerminal = isTerminal(state) && !isTerminal(task.state)
    if (becameTerminal && state === 'completed') {
      events.push({ type: 'completed', data: { pullRequestUrl: pullRequest?.url ?? null }, at: now })
    }
    if (becameTerminal && state === 'failed') {
      events.push({ type: 'failed', data: { reason: await this.failureReason(session) }, at: now })
    }

    const updated: Task = {
      ...task,
      state,
      url: session.url ?? task.url,
      pullRequest,
      updatedAt: events.length > 0 ? now : task.updatedAt,
      completedAt: becameTerminal ? (session.updateTime ?? now) : task.completedAt,
      lastSyncedAt: now,
    }
    await store.updateTask(updated, events)
    if (events.length === 0) return { updated, change: undefined }
    this.deps.logger.info('task changed', { taskId: task.id, from: task.state, to: state })
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

  /** The reason Jules gave for a failure, from the session's activities; best effort. */
  private async failureReason(session: Session): Promise<string | null> {
    try {
      let pageToken: string | undefined
      let reason: string | null = null
      do {
        const page = await this.deps.jules.listActivities(session.name, {
          pageSize: 100,
          ...(pageToken ? { pageToken } : {}),
        })
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
    // A session that Jules no longer knows is worth a line of history; a passing outage is not.
    if (code === 'JJM_JULES_NOT_FOUND' || code === 'JJM_JULES_PROTOCOL') {
      try {
        const now = new Date(this.deps.clock.now()).toISOString()
        await this.deps.store.updateTask({ ...task, lastSyncedAt: now }, [
          { type: 'sync_error', data: { code, message }, at: now },
        ])
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
