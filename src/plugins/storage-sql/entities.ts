/**
 * The SQL schema of jjm, as MikroORM entity schemas. Defined with
 * `EntitySchema` rather than decorators because tsx emits no decorator
 * metadata. Properties are camelCase like the domain; the default naming
 * strategy maps them to snake_case columns.
 *
 * The same schemas serve SQLite and PostgreSQL: nothing here is
 * dialect-specific (`json` becomes `jsonb` and `datetime` becomes
 * `timestamptz` on PostgreSQL). A change here needs a new migration in every
 * `migrations/<dialect>/` folder (the tests check, for each dialect, that the
 * migrations and these schemas agree).
 *
 * Only `sql-store.ts` imports this module, and only from inside
 * `openSqlStore`, so that the ORM is loaded when a store is opened.
 */
import { BigIntType, EntitySchema, LockMode } from '@mikro-orm/core'
import type { SyncCursor } from '../../core/ports.js'
import type { PullRequest } from '../../core/task.js'

export interface TaskRow {
  id: string
  sessionName: string
  title: string
  prompt: string
  repository: string
  source: string
  branch: string
  state: string
  requirePlanApproval: boolean
  automationMode: string
  url: string | null
  pullRequest: PullRequest | null
  labels: string[]
  metadata: Record<string, unknown>
  createdAt: Date
  updatedAt: Date
  completedAt: Date | null
  /**
   * Read from the task's `task_sync` row (a formula: never written through
   * the task), so that every read of a task shows it.
   */
  lastSyncedAt: Date | null
  /** Likewise read from `task_sync`: when a sync marked the task stalled. */
  stalledSince: Date | null
  /** Set by a soft delete: the task is hidden from lookups and lists, its history stays. */
  deletedAt: Date | null
  /** Put away by a person: hidden from lists that do not ask for archived tasks, found by lookups. */
  archived: boolean
  /** One more with every write of the row; 1 when created. Compared by every write (compare-and-set). */
  version: number
  /** Order in the local queue under plan quotas: higher starts first. */
  priority: number
  /** When the task's Jules session started (what the daily quota counts); null while pending. */
  startedAt: Date | null
}

/**
 * Where a task's sync stands, apart from the task's row so that a sync that
 * changed nothing writes no task row, and an edit never reverts a sync: one
 * row per task, created with it.
 */
export interface TaskSyncRow {
  /** The task's id: primary key and foreign key (cascade). */
  task: string
  /** Where the activity sync has got to; null before the first sync. */
  cursor: SyncCursor | null
  lastSyncedAt: Date | null
  /** The process syncing the task now (a daemon); null when nobody is. */
  leaseHolder: string | null
  /**
   * Until when the holder's lease holds, in milliseconds since the epoch by
   * the DATABASE's clock (computed in SQL, compared in SQL): processes whose
   * clocks disagree still agree on who holds a lease.
   */
  leaseUntil: number | null
  /** When a sync last recorded something Jules did; null before the first. */
  activityAt: Date | null
  /** When a sync marked the task stalled; null while it is not. */
  stalledSince: Date | null
}

export interface TaskEventRow {
  id: string
  /** The task's id (the foreign key, mapped to its primary key value). */
  task: string
  type: string
  data: Record<string, unknown>
  at: Date
}

export interface ChatMessageRow {
  id: string
  task: string
  /** The Jules activity the message came from, so that a re-sync does not duplicate it. */
  activityId: string | null
  role: 'user' | 'agent'
  text: string
  at: Date
}

export interface SourceFileRow {
  id: string
  task: string
  path: string
  changeType: string
}

/**
 * A key to jjm's REST API. The key itself is shown once, when it is created,
 * and never stored: only its salted hash, and a short prefix that names it in
 * lists and logs.
 */
export interface ApiKeyRow {
  id: string
  /** Unique: it is how a person picks a key out in `jjm api-keys list` and `revoke`. */
  name: string
  /** The first characters of the key, public, unique: they find the row a presented key is checked against. */
  prefix: string
  /** The salted hash of the key, hex; compared in constant time. */
  keyHash: string
  salt: string
  scopes: string[]
  /** Requests per minute; null for the configured default. */
  rateLimit: number | null
  createdAt: Date
  expiresAt: Date | null
  /** Set by a revocation: the key is refused from then on, its row stays for the record. */
  revokedAt: Date | null
  lastUsedAt: Date | null
}

/**
 * One attempt to create a task under an idempotency key, recorded before
 * Jules is called so that a retry after a timeout finds the session Jules may
 * already have created instead of creating a second one.
 */
export interface CreationIntentRow {
  key: string
  requestHash: string
  /** `pending`, `session_created`, `done` or `failed` (CreationIntent's states). */
  state: string
  sessionName: string | null
  /** The task recorded for it, once done; a purged task leaves the intent with null. */
  task: string | null
  error: string | null
  createdAt: Date
  updatedAt: Date
  /** The attempt holding the intent's lease, until leaseExpiresAt; null when none does. */
  leaseHolder: string | null
  leaseExpiresAt: Date | null
}

/**
 * One notification waiting for delivery (or kept as delivered or given up),
 * written in the same transaction as the event it tells of. No foreign key to
 * the task: a purge must not drop a notification not yet sent (its payload
 * carries the task as it was).
 */
export interface NotificationOutboxRow {
  id: string
  /** The route's name from `notifiers:`. */
  notifier: string
  taskId: string
  eventType: string
  payload: Record<string, unknown>
  /** Failed attempts so far. */
  attempts: number
  /** Not taken before this instant: the backoff, or the lease of a claim in progress. */
  nextAttemptAt: Date
  deliveredAt: Date | null
  /** Set when delivery was given up for good. */
  failedAt: Date | null
  lastError: string | null
  createdAt: Date
}

export interface SimSessionRow {
  id: string
  createdAt: Date
  state: Record<string, unknown>
}

/** ULIDs are 26 characters. */
const idLength = 26

export const TaskSchema = new EntitySchema<TaskRow>({
  name: 'Task',
  tableName: 'task',
  properties: {
    id: { type: 'string', length: idLength, primary: true },
    sessionName: { type: 'string', unique: 'task_session_name_unique' },
    title: { type: 'text' },
    prompt: { type: 'text' },
    repository: { type: 'string' },
    source: { type: 'string' },
    branch: { type: 'string' },
    state: { type: 'string', length: 64 },
    requirePlanApproval: { type: 'boolean' },
    automationMode: { type: 'string', length: 64 },
    url: { type: 'text', nullable: true },
    pullRequest: { type: 'json', nullable: true },
    labels: { type: 'json' },
    metadata: { type: 'json' },
    createdAt: { type: 'datetime' },
    updatedAt: { type: 'datetime' },
    completedAt: { type: 'datetime', nullable: true },
    lastSyncedAt: {
      type: 'datetime',
      nullable: true,
      formula: (alias) => `(select s.last_synced_at from task_sync s where s.task_id = ${alias}.id)`,
    },
    stalledSince: {
      type: 'datetime',
      nullable: true,
      formula: (alias) => `(select s.stalled_since from task_sync s where s.task_id = ${alias}.id)`,
    },
    deletedAt: { type: 'datetime', nullable: true },
    archived: { type: 'boolean', default: false },
    version: { type: 'integer', default: 1 },
    priority: { type: 'integer', default: 0 },
    startedAt: { type: 'datetime', nullable: true },
  },
  indexes: [
    { name: 'task_state_updated_at_index', properties: ['state', 'updatedAt'] },
    { name: 'task_repository_index', properties: ['repository'] },
    { name: 'task_created_at_index', properties: ['createdAt'] },
    // The daily quota counts the starts of the last 24 hours before every start.
    { name: 'task_started_at_index', properties: ['startedAt'] },
  ],
})

export const TaskSyncSchema = new EntitySchema<TaskSyncRow>({
  name: 'TaskSync',
  tableName: 'task_sync',
  properties: {
    task: { kind: 'm:1', entity: 'Task', mapToPk: true, primary: true, deleteRule: 'cascade' },
    cursor: { type: 'json', nullable: true },
    lastSyncedAt: { type: 'datetime', nullable: true },
    leaseHolder: { type: 'string', length: 64, nullable: true },
    leaseUntil: { type: new BigIntType('number'), nullable: true },
    activityAt: { type: 'datetime', nullable: true },
    stalledSince: { type: 'datetime', nullable: true },
  },
  indexes: [
    // listActiveTasks orders by it, and the metrics read its minimum.
    { name: 'task_sync_last_synced_at_index', properties: ['lastSyncedAt'] },
    // A claim looks for free leases among the listed ids; renew and release for the holder's.
    { name: 'task_sync_lease_holder_lease_until_index', properties: ['leaseHolder', 'leaseUntil'] },
  ],
})

export const TaskEventSchema = new EntitySchema<TaskEventRow>({
  name: 'TaskEvent',
  tableName: 'task_event',
  properties: {
    id: { type: 'string', length: idLength, primary: true },
    task: { kind: 'm:1', entity: 'Task', mapToPk: true, deleteRule: 'cascade' },
    type: { type: 'string', length: 64 },
    data: { type: 'json' },
    at: { type: 'datetime' },
  },
  indexes: [{ name: 'task_event_task_id_at_index', properties: ['task', 'at'] }],
})

export const ChatMessageSchema = new EntitySchema<ChatMessageRow>({
  name: 'ChatMessage',
  tableName: 'chat_message',
  properties: {
    id: { type: 'string', length: idLength, primary: true },
    task: { kind: 'm:1', entity: 'Task', mapToPk: true, deleteRule: 'cascade' },
    // Null for a message that came from no activity; the unique index ignores NULLs.
    activityId: { type: 'string', nullable: true },
    role: { type: 'string', length: 16 },
    text: { type: 'text' },
    at: { type: 'datetime' },
  },
  uniques: [{ name: 'chat_message_task_id_activity_id_unique', properties: ['task', 'activityId'] }],
})

export const SourceFileSchema = new EntitySchema<SourceFileRow>({
  name: 'SourceFile',
  tableName: 'source_file',
  properties: {
    id: { type: 'string', length: idLength, primary: true },
    task: { kind: 'm:1', entity: 'Task', mapToPk: true, deleteRule: 'cascade' },
    path: { type: 'text' },
    changeType: { type: 'string', length: 32 },
  },
  uniques: [{ name: 'source_file_task_id_path_unique', properties: ['task', 'path'] }],
})

export const ApiKeySchema = new EntitySchema<ApiKeyRow>({
  name: 'ApiKey',
  tableName: 'api_key',
  properties: {
    id: { type: 'string', length: idLength, primary: true },
    name: { type: 'string', unique: 'api_key_name_unique' },
    prefix: { type: 'string', length: 32, unique: 'api_key_prefix_unique' },
    keyHash: { type: 'text' },
    salt: { type: 'text' },
    scopes: { type: 'json' },
    rateLimit: { type: 'integer', nullable: true },
    createdAt: { type: 'datetime' },
    expiresAt: { type: 'datetime', nullable: true },
    revokedAt: { type: 'datetime', nullable: true },
    lastUsedAt: { type: 'datetime', nullable: true },
  },
})

export const CreationIntentSchema = new EntitySchema<CreationIntentRow>({
  name: 'CreationIntent',
  tableName: 'creation_intent',
  properties: {
    key: { type: 'string', primary: true },
    requestHash: { type: 'string', length: 64 },
    state: { type: 'string', length: 32 },
    sessionName: { type: 'string', nullable: true },
    // Set null, not cascade: a purged task's key must still never create a second session.
    task: { kind: 'm:1', entity: 'Task', mapToPk: true, nullable: true, deleteRule: 'set null' },
    error: { type: 'text', nullable: true },
    createdAt: { type: 'datetime' },
    updatedAt: { type: 'datetime' },
    leaseHolder: { type: 'string', length: 64, nullable: true },
    leaseExpiresAt: { type: 'datetime', nullable: true },
  },
})

/**
 * How PostgreSQL claims outbox entries (`FOR UPDATE SKIP LOCKED`): two daemons
 * never take the same entry at once. Exported from here, the module that
 * loads the ORM, so that the store needs no runtime import of it.
 */
export const claimLockMode = LockMode.PESSIMISTIC_PARTIAL_WRITE

export const NotificationOutboxSchema = new EntitySchema<NotificationOutboxRow>({
  name: 'NotificationOutbox',
  tableName: 'notification_outbox',
  properties: {
    id: { type: 'string', length: idLength, primary: true },
    notifier: { type: 'string' },
    taskId: { type: 'string', length: idLength },
    eventType: { type: 'string', length: 64 },
    payload: { type: 'json' },
    attempts: { type: 'integer' },
    nextAttemptAt: { type: 'datetime' },
    deliveredAt: { type: 'datetime', nullable: true },
    failedAt: { type: 'datetime', nullable: true },
    lastError: { type: 'text', nullable: true },
    createdAt: { type: 'datetime' },
  },
  indexes: [
    { name: 'notification_outbox_next_attempt_at_index', properties: ['nextAttemptAt'] },
    // Clean-up finds expired entries by these, a bounded batch per monitor pass.
    { name: 'notification_outbox_delivered_at_index', properties: ['deliveredAt'] },
    { name: 'notification_outbox_failed_at_index', properties: ['failedAt'] },
    { name: 'notification_outbox_task_id_index', properties: ['taskId'] },
  ],
})

export const SimSessionSchema = new EntitySchema<SimSessionRow>({
  name: 'SimSession',
  tableName: 'sim_session',
  properties: {
    id: { type: 'string', primary: true },
    createdAt: { type: 'datetime' },
    state: { type: 'json' },
  },
})

export const entities = [
  TaskSchema,
  TaskSyncSchema,
  TaskEventSchema,
  ChatMessageSchema,
  SourceFileSchema,
  ApiKeySchema,
  CreationIntentSchema,
  NotificationOutboxSchema,
  SimSessionSchema,
]
