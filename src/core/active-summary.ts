import type { Task } from './task.js'

/** The active tasks in a few numbers, as the store can count them (one aggregate query). */
export interface ActiveTaskSummary {
  /** Active tasks by state; a state with none may be absent. */
  byState: Readonly<Record<string, number>>
  /** The oldest last sync among active tasks with a session (their creation when never synced); null when none. */
  oldestSyncAt: string | null
  /** Active tasks marked stalled; absent when the store cannot count them (a plugin's older store). */
  stalled?: number
}

/** The summary of a list of active tasks, for stores that cannot count them themselves. */
export function summariseActiveTasks(
  tasks: ReadonlyArray<Pick<Task, 'state' | 'lastSyncedAt' | 'createdAt'> & { stalledSince?: string | null }>,
): ActiveTaskSummary {
  const byState: Record<string, number> = {}
  let oldest: number | undefined
  let stalled = 0
  for (const task of tasks) {
    byState[task.state] = (byState[task.state] ?? 0) + 1
    if (task.stalledSince) stalled += 1
    // A pending task has no session to sync: its wait in the local queue is not the monitor's lag.
    if (task.state === 'pending') continue
    const at = Date.parse(task.lastSyncedAt ?? task.createdAt)
    if (Number.isFinite(at) && (oldest === undefined || at < oldest)) oldest = at
  }
  return { byState, oldestSyncAt: oldest === undefined ? null : new Date(oldest).toISOString(), stalled }
}
