/**
 * One action on many tasks (`jjm tasks archive|unarchive ID… | --state …`,
 * `POST /api/v1/tasks/bulk`): pick the tasks by id or by a filter, count them
 * and name them (a dry run stops there), then act on each in turn, reporting
 * each task's result. One failure does not stop the rest.
 */
import { isJjmError, UnsupportedOperationError, ValidationError } from './errors.js'
import type { Page, Task, TaskFilter } from './task.js'
import { groupLabel } from './task-group.js'
import type { ArchiveResult, DeleteResult } from './task-operations.js'

export const bulkActions = ['archive', 'unarchive', 'delete'] as const
export type BulkAction = (typeof bulkActions)[number]

/** Which tasks: either `taskIds`, or a filter of at least one criterion. */
export interface BulkSelection {
  /** Task ids, Jules session names, or unique id prefixes. */
  taskIds?: string[]
  states?: string[]
  repository?: string
  label?: string
  /** The group of a `tasks create --parallel` run. */
  group?: string
  /** Only tasks last changed before this RFC 3339 instant (`--older-than 30d`). */
  updatedBefore?: string
}

export interface BulkActionRequest {
  action: BulkAction
  selection: BulkSelection
  /** Count and name the tasks, change nothing. */
  dryRun?: boolean
  /** `delete`: delete each session at Jules too. */
  remote?: boolean
  /** `delete`: remove each task's history too. */
  purge?: boolean
}

/** What became of one task. */
export interface BulkActionOutcome {
  /** The task's id, or the reference given when no task has it. */
  taskId: string
  title: string | null
  state: string | null
  /** `matched`: a dry run's task; `unchanged`: it already was archived (or not). */
  status: 'matched' | 'done' | 'unchanged' | 'failed'
  error: { code: string; message: string } | null
}

export interface BulkActionReport {
  action: BulkAction
  dryRun: boolean
  /** Tasks matched (given ids count whether found or not). */
  count: number
  succeeded: number
  failed: number
  /** One per task, newest first for a filter, in the order given for ids. */
  results: BulkActionOutcome[]
}

/** What the bulk runner needs of the JobManager. */
export interface BulkActor {
  getTask(ref: string): Promise<Task>
  listTasks(filter: TaskFilter): Promise<Page<Task>>
  setArchived(task: Task, action: 'archive' | 'unarchive'): Promise<ArchiveResult>
  delete(task: Task, options: { purge?: boolean; remote?: boolean }): Promise<DeleteResult>
}

const listPageSize = 200
/** More than this in one run is refused: narrow the filter, or run again. */
export const maxBulkTasks = 5000

export async function runBulkAction(actor: BulkActor, request: BulkActionRequest): Promise<BulkActionReport> {
  const { action, selection } = request
  if (!(bulkActions as readonly string[]).includes(action)) {
    throw new ValidationError(`Unknown action "${action}". Use one of: ${bulkActions.join(', ')}.`, {
      context: { action },
    })
  }
  const picked = await pick(actor, action, selection)
  const dryRun = request.dryRun === true
  const results: BulkActionOutcome[] = []
  for (const entry of picked) {
    if ('error' in entry) {
      results.push(failed(entry.ref, undefined, entry.error))
      continue
    }
    const { task } = entry
    if (dryRun) {
      results.push({ ...described(task), status: 'matched', error: null })
      continue
    }
    try {
      if (action === 'delete') {
        await actor.delete(task, { purge: request.purge === true, remote: request.remote === true })
        results.push({ ...described(task), status: 'done', error: null })
      } else {
        const result = await actor.setArchived(task, action)
        results.push({ ...described(result.task), status: result.outcome, error: null })
      }
    } catch (error) {
      // The Jules backend cannot do it at all: no task would fare better, so say so once.
      if (error instanceof UnsupportedOperationError) throw error
      results.push(failed(task.id, task, error))
    }
  }
  const failedCount = results.filter((result) => result.status === 'failed').length
  return {
    action,
    dryRun,
    count: results.length,
    succeeded: dryRun ? 0 : results.length - failedCount,
    failed: failedCount,
    results,
  }
}

type Picked = { task: Task } | { ref: string; error: unknown }

async function pick(actor: BulkActor, action: BulkAction, selection: BulkSelection): Promise<Picked[]> {
  const { taskIds, ...criteria } = selection
  const hasFilter = Object.values(criteria).some((value) =>
    Array.isArray(value) ? value.length > 0 : value !== undefined && value !== '',
  )
  if (taskIds !== undefined && taskIds.length > 0) {
    if (hasFilter) throw new ValidationError('Give either task ids or a filter (state, repository, …), not both.')
    if (taskIds.length > maxBulkTasks) {
      throw new ValidationError(`At most ${maxBulkTasks} task ids at once; ${taskIds.length} were given.`)
    }
    const picked: Picked[] = []
    for (const ref of taskIds) {
      try {
        picked.push({ task: await actor.getTask(ref) })
      } catch (error) {
        picked.push({ ref, error })
      }
    }
    return picked
  }
  if (!hasFilter) {
    throw new ValidationError(
      'Name the tasks: give their ids, or a filter (--state, --repo, --label, --group, --older-than); a bulk action never acts on every task by default.',
    )
  }
  if (criteria.label !== undefined && criteria.group !== undefined) {
    throw new ValidationError('Give either a label or a group, not both (a group is the label group:ID).')
  }
  const filter: TaskFilter = {
    ...(criteria.states !== undefined && criteria.states.length > 0 ? { states: criteria.states } : {}),
    ...(criteria.repository === undefined ? {} : { repository: criteria.repository }),
    ...(criteria.label === undefined ? {} : { label: criteria.label }),
    ...(criteria.group === undefined ? {} : { label: groupLabel(criteria.group) }),
    ...(criteria.updatedBefore === undefined ? {} : { updatedUntil: criteria.updatedBefore }),
    // What the action would leave as it is is not matched: archive the unarchived, and so on.
    ...(action === 'archive' ? { archived: false } : action === 'unarchive' ? { archived: true } : {}),
    limit: listPageSize,
  }
  const tasks: Task[] = []
  let cursor: string | null = null
  do {
    const page: Page<Task> = await actor.listTasks(cursor === null ? filter : { ...filter, cursor })
    tasks.push(...page.items)
    if (tasks.length > maxBulkTasks) {
      throw new ValidationError(
        `More than ${maxBulkTasks} tasks match; narrow the filter (for example --older-than or --repo) and run it again.`,
        { context: { limit: maxBulkTasks } },
      )
    }
    cursor = page.nextCursor === '' ? null : page.nextCursor
  } while (cursor !== null)
  return tasks.map((task) => ({ task }))
}

function described(task: Task): Pick<BulkActionOutcome, 'taskId' | 'title' | 'state'> {
  return { taskId: task.id, title: task.title, state: task.state }
}

function failed(ref: string, task: Task | undefined, error: unknown): BulkActionOutcome {
  return {
    ...(task ? described(task) : { taskId: ref, title: null, state: null }),
    status: 'failed',
    error: {
      code: isJjmError(error) ? error.code : 'JJM_UNEXPECTED',
      message: error instanceof Error ? error.message : String(error),
    },
  }
}
