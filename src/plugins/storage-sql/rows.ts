/** Conversions between the domain's JSON shapes and the database rows. */
import { monotonicFactory } from 'ulidx'
import type {
  CreationIntent,
  NewChatMessage,
  NewNotification,
  NewTaskEvent,
  NotificationPayload,
  NotificationRecord,
  OutboxEntry,
  SimSessionRecord,
  SyncCursor,
} from '../../core/ports.js'
import type { AutomationMode, ChatMessage, SourceFile, Task, TaskEvent } from '../../core/task.js'
import type {
  ChatMessageRow,
  CreationIntentRow,
  NotificationOutboxRow,
  SimSessionRow,
  SourceFileRow,
  TaskEventRow,
  TaskRow,
} from './entities.js'

/** Ids for events, messages and files: ULIDs, increasing even within one millisecond. */
export const nextId = monotonicFactory()

export function toDate(value: string): Date {
  return new Date(value)
}

/** SQLite hands back milliseconds, PostgreSQL a Date (or its text in a raw query). */
export function toIso(value: Date | string | number): string {
  return (value instanceof Date ? value : new Date(value)).toISOString()
}

/**
 * The columns a task's owner sets; `deletedAt` and `version` belong to the
 * store, `lastSyncedAt` to the sync state (task_sync).
 */
export type TaskFields = Omit<TaskRow, 'deletedAt' | 'version' | 'lastSyncedAt' | 'stalledSince' | 'startedAt'>

/**
 * A pending task has no Jules session yet; its unique, not-null column holds
 * this placeholder (which no session name can equal) until it starts.
 */
const pendingSessionPrefix = 'pending/'

export function toTaskRow(task: Task): TaskFields {
  return {
    id: task.id,
    sessionName: task.sessionName === '' ? `${pendingSessionPrefix}${task.id}` : task.sessionName,
    title: task.title,
    prompt: task.prompt,
    repository: task.repository,
    source: task.source,
    branch: task.branch,
    state: task.state,
    requirePlanApproval: task.requirePlanApproval,
    automationMode: task.automationMode,
    url: task.url,
    pullRequest: task.pullRequest,
    labels: task.labels,
    metadata: task.metadata,
    priority: task.priority,
    createdAt: toDate(task.createdAt),
    updatedAt: toDate(task.updatedAt),
    completedAt: task.completedAt === null ? null : toDate(task.completedAt),
    archived: task.archived,
  }
}

export function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    sessionName: row.sessionName.startsWith(pendingSessionPrefix) ? '' : row.sessionName,
    title: row.title,
    prompt: row.prompt,
    repository: row.repository,
    source: row.source,
    branch: row.branch,
    state: row.state,
    requirePlanApproval: Boolean(row.requirePlanApproval),
    automationMode: row.automationMode as AutomationMode,
    url: row.url ?? null,
    pullRequest: row.pullRequest ?? null,
    labels: row.labels,
    metadata: row.metadata,
    createdAt: toIso(row.createdAt),
    updatedAt: toIso(row.updatedAt),
    completedAt: row.completedAt == null ? null : toIso(row.completedAt),
    lastSyncedAt: row.lastSyncedAt == null ? null : toIso(row.lastSyncedAt),
    stalledSince: row.stalledSince == null ? null : toIso(row.stalledSince),
    // SQLite answers 0/1; a row written before the column existed has its default.
    archived: Boolean(row.archived),
    version: Number(row.version),
    priority: Number(row.priority ?? 0),
  }
}

/**
 * The task as a write stores it, without reading it back: its fields as the
 * columns keep them (instants normalised), `version` and `lastSyncedAt` as given.
 */
export function toStoredTask(
  task: Task,
  version: number,
  lastSyncedAt: string | null,
  stalledSince: string | null = task.stalledSince ?? null,
): Task {
  return toTask({
    ...toTaskRow(task),
    deletedAt: null,
    version,
    startedAt: null,
    lastSyncedAt: lastSyncedAt === null ? null : toDate(lastSyncedAt),
    stalledSince: stalledSince === null ? null : toDate(stalledSince),
  })
}

export function toEventRow(taskId: string, event: NewTaskEvent): TaskEventRow {
  return {
    id: nextId(),
    task: taskId,
    type: event.type,
    data: event.data,
    at: event.at === undefined ? new Date() : toDate(event.at),
  }
}

export function toEvent(row: TaskEventRow): TaskEvent {
  return { id: row.id, taskId: row.task, type: row.type, data: row.data, at: toIso(row.at) }
}

/** A new outbox row: due at once, i.e. at the time of its event. */
export function toOutboxRow(notification: NewNotification): NotificationOutboxRow {
  const due = Date.parse(notification.payload.at)
  return {
    id: nextId(),
    notifier: notification.notifier,
    taskId: notification.taskId,
    eventType: notification.eventType,
    payload: notification.payload as unknown as Record<string, unknown>,
    attempts: 0,
    nextAttemptAt: Number.isNaN(due) ? new Date() : new Date(due),
    deliveredAt: null,
    failedAt: null,
    lastError: null,
    createdAt: new Date(),
  }
}

export function toOutboxEntry(row: NotificationOutboxRow): OutboxEntry {
  return {
    id: row.id,
    notifier: row.notifier,
    taskId: row.taskId,
    eventType: row.eventType,
    payload: row.payload as unknown as NotificationPayload,
    attempts: row.attempts,
  }
}

/** An outbox row as `jjm notifications list` shows it; the state follows from which instant is set. */
export function toNotificationRecord(row: NotificationOutboxRow): NotificationRecord {
  const state = row.deliveredAt !== null ? 'delivered' : row.failedAt !== null ? 'failed' : 'pending'
  const title = (row.payload as { title?: unknown }).title
  return {
    id: row.id,
    taskId: row.taskId,
    eventType: row.eventType,
    notifier: row.notifier,
    state,
    title: typeof title === 'string' ? title : '',
    attempts: row.attempts,
    lastError: row.lastError,
    nextAttemptAt: state === 'pending' ? toIso(row.nextAttemptAt) : null,
    deliveredAt: row.deliveredAt === null ? null : toIso(row.deliveredAt),
    failedAt: row.failedAt === null ? null : toIso(row.failedAt),
    createdAt: toIso(row.createdAt),
  }
}

export function toChatMessageRow(taskId: string, message: NewChatMessage): ChatMessageRow {
  return {
    id: nextId(),
    task: taskId,
    activityId: message.activityId,
    role: message.role,
    text: message.text,
    at: toDate(message.at),
  }
}

export function toChatMessage(row: ChatMessageRow): ChatMessage {
  return {
    id: row.id,
    taskId: row.task,
    role: row.role,
    text: row.text,
    activityId: row.activityId ?? null,
    at: toIso(row.at),
  }
}

export function toSourceFile(row: SourceFileRow): SourceFile {
  return { taskId: row.task, path: row.path, changeType: row.changeType }
}

export function toSimSession(row: SimSessionRow): SimSessionRecord {
  return { id: row.id, createdAt: toIso(row.createdAt), state: row.state }
}

/** A copy of the cursor with exactly its three fields, whatever else the caller's object carried. */
export function toSyncCursor(cursor: SyncCursor): SyncCursor {
  return {
    sessionUpdateTime: cursor.sessionUpdateTime ?? null,
    lastActivityTime: cursor.lastActivityTime ?? null,
    lastActivityNames: [...(cursor.lastActivityNames ?? [])],
  }
}

export function toCreationIntent(row: CreationIntentRow): CreationIntent {
  return {
    key: row.key,
    requestHash: row.requestHash,
    state: row.state as CreationIntent['state'],
    sessionName: row.sessionName ?? null,
    taskId: row.task ?? null,
    error: row.error ?? null,
    createdAt: toIso(row.createdAt),
    updatedAt: toIso(row.updatedAt),
    leaseHolder: row.leaseHolder ?? null,
    leaseExpiresAt: row.leaseExpiresAt == null ? null : toIso(row.leaseExpiresAt),
  }
}
