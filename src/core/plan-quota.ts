/**
 * Plan quotas as a scheduler: Jules limits how many sessions an account runs
 * at once and starts per rolling 24 hours, by plan. With limits configured, a
 * task created beyond them is accepted and waits in jjm's local `pending`
 * state; the queue starts pending tasks (higher priority first, then oldest)
 * as slots free. Every process on one database counts the same sessions (the
 * counts come from the database) and starts tasks under one database-wide
 * lock, so a slot is never given twice; each start goes through a creation
 * intent of its own, so a session is never started twice for one task.
 */
import type { StorageHandle } from './backends.js'
import type { JjmConfig, JulesPlan } from './config.js'
import type { Clock, Logger, SessionUsage, TaskStore } from './ports.js'
import { realSleep, type Sleep } from './rate-limit.js'
import type { QueuePosition, Task } from './task.js'

/** How many sessions a plan runs at once and starts per rolling 24 hours. */
export interface PlanLimits {
  /** The plan the limits come from, or null when only explicit limits are set. */
  plan: JulesPlan | null
  /** Sessions running at once; null: no limit. */
  concurrent: number | null
  /** Sessions started per rolling 24 hours; null: no limit. */
  daily: number | null
}

/** Jules' quotas per plan. */
export const planQuotas: Readonly<Record<JulesPlan, { concurrent: number; daily: number }>> = {
  free: { concurrent: 3, daily: 15 },
  pro: { concurrent: 15, daily: 100 },
  ultra: { concurrent: 60, daily: 300 },
}

/** The bounds of a task's priority in the local queue (higher starts first). */
export const priorityRange = { min: -1000, max: 1000 } as const

/** The window of the daily quota. */
export const rollingDayMs = 24 * 60 * 60 * 1000

/** The name of the database-wide lock a queue's start step holds. */
export const queueLockName = 'task-queue'

/**
 * The limits `jules.plan` and `jules.limits` set, each explicit limit over the
 * plan's; undefined when none is set (no local limit: every task starts at once).
 */
export function planLimits(jules: Pick<JjmConfig['jules'], 'plan' | 'limits'>): PlanLimits | undefined {
  const base = jules.plan === undefined ? undefined : planQuotas[jules.plan]
  const concurrent = jules.limits?.concurrent ?? base?.concurrent ?? null
  const daily = jules.limits?.daily ?? base?.daily ?? null
  if (concurrent === null && daily === null) return undefined
  return { plan: jules.plan ?? null, concurrent, daily }
}

/** How many more sessions may start now: the smaller of the free slots and the day's rest. */
export function freeSlots(usage: SessionUsage, limits: PlanLimits | undefined): number {
  const concurrent = limits?.concurrent == null ? Number.POSITIVE_INFINITY : limits.concurrent - usage.running
  const daily = limits?.daily == null ? Number.POSITIVE_INFINITY : limits.daily - usage.startedAt.length
  return Math.max(0, Math.min(concurrent, daily))
}

/**
 * Where the pending task at `index` (0 for the next to start) stands, and
 * what it waits for: a free slot, the rolling day, or only the next pass.
 * Under the daily limit, the n-th task beyond the day's rest waits for the
 * n-th oldest start of the window to turn 24 hours old.
 */
export function queuePositionOf(index: number, usage: SessionUsage, limits: PlanLimits | undefined): QueuePosition {
  const position = index + 1
  const concurrentLimit = limits?.concurrent ?? null
  const dailyLimit = limits?.daily ?? null
  const freeConcurrent = concurrentLimit === null ? Number.POSITIVE_INFINITY : concurrentLimit - usage.running
  const freeDaily = dailyLimit === null ? Number.POSITIVE_INFINITY : dailyLimit - usage.startedAt.length
  const counts = { running: usage.running, concurrentLimit, startedToday: usage.startedAt.length, dailyLimit }
  if (position <= Math.min(freeConcurrent, freeDaily)) {
    return { position, reason: 'next_pass', nextSlotAt: null, ...counts }
  }
  if (position > freeConcurrent) return { position, reason: 'concurrent_limit', nextSlotAt: null, ...counts }
  const start = usage.startedAt[position - Math.max(0, freeDaily) - 1]
  const nextSlotAt = start === undefined ? null : new Date(Date.parse(start) + rollingDayMs).toISOString()
  return { position, reason: 'daily_limit', nextSlotAt, ...counts }
}

/** What one start step did. */
export interface QueueRun {
  /** Tasks whose sessions this step started, in the order they started. */
  started: Task[]
  /** Tasks that could not start (Jules refused them for good: now failed; or a passing failure: still pending). */
  failed: Array<{ taskId: string; error: unknown }>
  /** True when another process held the queue's lock: it starts what is due. */
  busy: boolean
}

export interface TaskQueueDeps {
  store: TaskStore
  clock: Clock
  logger: Logger
  /** Absent: no local limit (pending tasks left from an earlier configuration all start). */
  limits: PlanLimits | undefined
  /** The database-wide lock (StorageHandle.tryLock); absent: this process is the only one (no lock). */
  tryLock?: StorageHandle['tryLock']
  /** Starts one pending task's Jules session and records it (JobManager.startPendingTask). */
  start: (task: Task) => Promise<Task>
  sleep?: Sleep
}

/** The local queue of pending tasks and the step that starts them. */
export class TaskQueue {
  constructor(private readonly deps: TaskQueueDeps) {}

  get limits(): PlanLimits | undefined {
    return this.deps.limits
  }

  /** Whether a new task waits in the queue (limits are set) rather than starting at once. */
  get enabled(): boolean {
    return this.deps.limits !== undefined
  }

  /** The sessions the quotas count now: running, and started within the rolling day. */
  async usage(): Promise<SessionUsage> {
    return this.deps.store.sessionUsage(new Date(this.deps.clock.now() - rollingDayMs).toISOString())
  }

  /** Where a pending task stands; undefined when it is not pending (or gone). */
  async positionOf(task: Task): Promise<QueuePosition | undefined> {
    if (task.state !== 'pending') return undefined
    const [pending, usage] = await Promise.all([this.deps.store.listPendingTasks(), this.usage()])
    const index = pending.findIndex((candidate) => candidate.id === task.id)
    return index < 0 ? undefined : queuePositionOf(index, usage, this.deps.limits)
  }

  /**
   * Starts pending tasks, in queue order, while the limits leave room,
   * holding the database-wide lock so that two processes never give out one
   * slot twice. The counts are read again from the database before every
   * start. A passing failure (Jules unavailable, rate limited) ends the step:
   * the task stays pending for the next one. With `lockAttempts` above 1, a
   * busy lock is tried again a little later (a create that wants its own task
   * started, if a slot is free).
   */
  async startDue(options: { lockAttempts?: number } = {}): Promise<QueueRun> {
    const run: QueueRun = { started: [], failed: [], busy: false }
    const { store, logger, tryLock } = this.deps
    // Cheap when nothing waits or no slot is free (every pass of every daemon asks): no lock taken.
    if ((await store.listPendingTasks()).length === 0) return run
    if (freeSlots(await this.usage(), this.deps.limits) <= 0) return run
    let release: (() => Promise<void>) | undefined
    if (tryLock !== undefined) {
      const attempts = Math.max(1, options.lockAttempts ?? 1)
      for (let attempt = 1; release === undefined; attempt++) {
        release = await tryLock(queueLockName)
        if (release !== undefined || attempt >= attempts) break
        await (this.deps.sleep ?? realSleep)(250)
      }
      if (release === undefined) return { ...run, busy: true }
    }
    try {
      for (;;) {
        const [next] = await store.listPendingTasks()
        if (next === undefined) break
        if (freeSlots(await this.usage(), this.deps.limits) <= 0) break
        try {
          const task = await this.deps.start(next)
          if (task.state === 'pending') {
            // Nothing started (another process's attempt holds the task's key): leave it to that one.
            run.failed.push({ taskId: next.id, error: new Error('its start is in progress elsewhere') })
            break
          }
          if (task.state === 'failed' && task.sessionName === '') run.failed.push({ taskId: next.id, error: undefined })
          else run.started.push(task)
        } catch (error) {
          logger.warn('could not start a pending task; it stays in the queue', { taskId: next.id, error })
          run.failed.push({ taskId: next.id, error })
          break
        }
      }
    } finally {
      await release?.()
    }
    return run
  }
}
