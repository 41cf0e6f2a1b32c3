/**
 * Which active tasks a monitor pass looks at. Tasks that Jules moves on its
 * own (queued, planning, in progress) are looked at every pass; tasks waiting
 * for a person change seldom, so they are looked at every few intervals, or
 * at once when jjm itself touched them (an approval, a message).
 */
import { awaitingPersonStates, type Task, type TaskState } from './task.js'

export interface PollScheduleOptions {
  /** The time between passes (`monitor --watch --interval`); default 10 s. */
  intervalMs?: number
  /** A waiting task is due every this many intervals; default 4. */
  waitingFactor?: number
}

interface LastPoll {
  at: number
  state: TaskState
  updatedAt: string
}

export class PollSchedule {
  private readonly intervalMs: number
  private readonly waitingFactor: number
  private readonly polls = new Map<string, LastPoll>()

  constructor(options: PollScheduleOptions = {}) {
    this.intervalMs = Math.max(0, options.intervalMs ?? 10_000)
    this.waitingFactor = Math.max(1, options.waitingFactor ?? 4)
  }

  /** How long after a poll a task in `state` is due again; 0 means every pass. */
  intervalFor(state: TaskState): number {
    return awaitingPersonStates.has(state) ? this.intervalMs * this.waitingFactor : 0
  }

  /** Whether a pass at `now` should look at the task. */
  isDue(task: Task, now: number): boolean {
    const last = this.polls.get(task.id)
    if (!last) return true
    // Changed since the monitor last wrote it: someone acted on it, so look now.
    if (last.state !== task.state || last.updatedAt !== task.updatedAt) return true
    const interval = this.intervalFor(task.state)
    // Half an interval of slack, so that a pass a little early does not skip a whole interval.
    return interval === 0 || now - last.at >= interval - this.intervalMs / 2
  }

  /** Records a completed sync; `task` is the task as the sync stored it. */
  polled(task: Task, now: number): void {
    this.polls.set(task.id, { at: now, state: task.state, updatedAt: task.updatedAt })
  }

  /** Forgets tasks that are no longer active, so the schedule does not grow without end. */
  retain(activeIds: ReadonlySet<string>): void {
    for (const id of this.polls.keys()) if (!activeIds.has(id)) this.polls.delete(id)
  }
}
