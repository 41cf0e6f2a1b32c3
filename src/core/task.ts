/**
 * The domain: a Task is jjm's record of one Jules session; a TaskEvent is one
 * line of its append-only history. The JSON shapes here are the ones the CLI's
 * `--json`, the REST API and the OpenAPI document all use.
 */

export const taskStates = [
  // jjm's own: the task waits in the local queue for a Jules session (see plan quotas); it has no session yet.
  'pending',
  'queued',
  'planning',
  'awaiting_plan_approval',
  'awaiting_user_feedback',
  'in_progress',
  'paused',
  'completed',
  'failed',
] as const

/** A Jules session state, lower-case. An unknown state from Jules is kept as it came. */
export type KnownTaskState = (typeof taskStates)[number]
export type TaskState = KnownTaskState | (string & {})

export const terminalStates: ReadonlySet<string> = new Set(['completed', 'failed'])
/** States in which the task waits for a person to act. */
export const awaitingPersonStates: ReadonlySet<string> = new Set([
  'awaiting_plan_approval',
  'awaiting_user_feedback',
  'paused',
])

export function isTerminal(state: TaskState): boolean {
  return terminalStates.has(state)
}

/** A task in jjm's local queue: no Jules session yet, so nothing to sync and nothing to send. */
export function isPending(state: TaskState): boolean {
  return state === 'pending'
}

export function isKnownState(state: string): state is KnownTaskState {
  return (taskStates as readonly string[]).includes(state)
}

/** What a person must do for a task in each waiting state: briefly (a table column) and in full (a sentence). */
const personActions: Readonly<Record<string, { brief: string; full: string }>> = {
  awaiting_plan_approval: { brief: 'plan approval', full: 'plan approval (jjm approve)' },
  awaiting_user_feedback: { brief: 'your answer', full: 'an answer to the agent (jjm message)' },
  paused: { brief: 'resume', full: 'a resume (jjm resume)' },
}

/**
 * What the task waits for, in words for people, or undefined when it waits
 * for nobody: `full` names the command to run, `brief` fits a table column.
 */
export function awaitingPerson(state: TaskState, form: 'full' | 'brief' = 'full'): string | undefined {
  return Object.hasOwn(personActions, state) ? personActions[state]?.[form] : undefined
}

export type AutomationMode = 'AUTOMATION_MODE_UNSPECIFIED' | 'AUTO_CREATE_PR'

export interface PullRequest {
  url: string
  title: string
  description: string
}

export interface Task {
  /** jjm's own id: a ULID, sortable by creation time. */
  id: string
  /** `sessions/{id}` at Jules; empty while the task is `pending` (no session yet). */
  sessionName: string
  title: string
  prompt: string
  /** `owner/repo` */
  repository: string
  /** `sources/github/{owner}/{repo}` */
  source: string
  branch: string
  state: TaskState
  requirePlanApproval: boolean
  automationMode: AutomationMode
  /** The session in the Jules web app. */
  url: string | null
  pullRequest: PullRequest | null
  labels: string[]
  metadata: Record<string, unknown>
  /** RFC 3339 timestamps. */
  createdAt: string
  updatedAt: string
  completedAt: string | null
  lastSyncedAt: string | null
  /**
   * RFC 3339: when jjm marked the task stalled (no new activity from Jules for
   * its state's `monitor.stalledAfter`); null when it is not stalled.
   * Belongs to the sync state, like lastSyncedAt.
   */
  stalledSince: string | null
  /**
   * Put away by a person (`jjm tasks archive`): hidden from lists unless asked
   * for, like an archived session at Jules. Nothing else changes; it is still synced.
   */
  archived: boolean
  /** Goes up by one with every change to the task's row; 1 when created. The REST API's ETag; send it back as If-Match. */
  version: number
  /** Order in the local queue under plan quotas: higher starts first, then older; 0 by default. */
  priority: number
  /**
   * Where a pending task stands in the local queue; present only when one
   * task is read on its own (`tasks show`, `GET /api/v1/tasks/{id}`).
   */
  queue?: QueuePosition
}

/** Why a pending task has not started yet. */
export type QueueReason = 'concurrent_limit' | 'daily_limit' | 'next_pass'

/** Where a pending task stands in the local queue. */
export interface QueuePosition {
  /** 1 for the task that starts next. */
  position: number
  /** `concurrent_limit`: every slot runs a session; `daily_limit`: the rolling day's quota is spent; `next_pass`: a slot is free, the monitor's next pass starts it. */
  reason: QueueReason
  /** RFC 3339: when the rolling day frees the slot this task waits for (daily_limit only); null otherwise. */
  nextSlotAt: string | null
  /** Sessions running now, and the concurrent limit (null when none). */
  running: number
  concurrentLimit: number | null
  /** Sessions started in the last 24 h, and the daily limit (null when none). */
  startedToday: number
  dailyLimit: number | null
}

export const taskEventTypes = [
  'created',
  'updated',
  'state_changed',
  'plan_generated',
  'plan_approved',
  'message_sent',
  'agent_message',
  'progress',
  'pull_request',
  'completed',
  'failed',
  'resumed',
  'deleted',
  'archived',
  'unarchived',
  // The Jules session was deleted through jjm (`data.alreadyGone` when Jules no longer had it).
  'session_deleted',
  'sync_error',
  // No activity from Jules for the state's monitor.stalledAfter, and activity again.
  'stalled',
  'unstalled',
  // Plan quotas: the task waits in the local queue, and later its Jules session started.
  'queued_locally',
  'started',
  // An activity of a kind this jjm does not know, kept raw (`data.kind` names it).
  'activity',
] as const
export type TaskEventType = (typeof taskEventTypes)[number] | (string & {})

export interface TaskEvent {
  id: string
  taskId: string
  type: TaskEventType
  data: Record<string, unknown>
  /** RFC 3339 */
  at: string
}

/** What a new task needs; the same names as `POST /api/v1/tasks` and a `--from` file. */
export interface TaskInput {
  prompt: string
  repository?: string
  source?: string
  branch?: string
  title?: string
  labels?: string[]
  requirePlanApproval?: boolean
  automationMode?: AutomationMode
  metadata?: Record<string, unknown>
  /** Order in the local queue under plan quotas: higher starts first; default 0. */
  priority?: number
}

export interface TaskFilter {
  states?: string[]
  repository?: string
  label?: string
  /** Only tasks created at or after this RFC 3339 instant. */
  since?: string
  /** Only tasks created before this RFC 3339 instant. */
  until?: string
  /** Only tasks updated at or after this RFC 3339 instant. */
  updatedSince?: string
  /** Only tasks updated before this RFC 3339 instant. */
  updatedUntil?: string
  /** Free text searched in titles. */
  search?: string
  /** Only stalled tasks (true) or only tasks that are not (false). */
  stalled?: boolean
  /**
   * `false`: only tasks not archived; `true`: only archived ones; absent: both.
   * (JobManager.listTasks hides archived tasks unless asked: a store sees the filter as given.)
   */
  archived?: boolean
  limit?: number
  cursor?: string
}

export interface Page<T> {
  items: T[]
  /** Empty string or null at the end of the list: the only end-of-list signal. */
  nextCursor: string | null
}

export type TaskPage = Page<Task>

/** One message of the conversation between a person and the agent, from the session's activities. */
export interface ChatMessage {
  id: string
  taskId: string
  role: 'user' | 'agent'
  text: string
  /**
   * The Jules activity it came from; a sync that repeats records it once.
   * Null for a message sent through jjm until the sync binds it to the activity Jules made of it.
   */
  activityId: string | null
  /** RFC 3339 */
  at: string
}

/** A path the task's change set touches. */
export interface SourceFile {
  taskId: string
  path: string
  /** `added`, `modified`, `deleted`, `renamed`, or what the patch says. */
  changeType: string
}
