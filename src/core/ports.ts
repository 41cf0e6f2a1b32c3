/**
 * The ports core depends on. Adapters live in src/plugins/ (storage, cache,
 * notifiers) and src/core/jules/ (Jules); core sees only these interfaces.
 */
import type { ChatMessage, Page, SourceFile, Task, TaskEvent, TaskFilter } from './task.js'

export interface EventQuery {
  types?: string[]
  /** Only events at or after this RFC 3339 instant. */
  since?: string
  /** Only events before this RFC 3339 instant. */
  until?: string
  limit?: number
  cursor?: string
}

export type NewChatMessage = Omit<ChatMessage, 'id' | 'taskId'>

/** Where a task's activity sync has got to. Stored in the task's sync state, never shown to users. */
export interface SyncCursor {
  /** The session's updateTime at the last sync: activities are read again only when it moved. */
  sessionUpdateTime: string | null
  /** createTime of the newest activity recorded. */
  lastActivityTime: string | null
  /** Names of the activities recorded at lastActivityTime (several may share one timestamp). */
  lastActivityNames: string[]
}

/** Where a task's sync stands, kept apart from the task row (table task_sync): written by syncs, never by edits. */
export interface SyncState {
  /** Null before the first sync that recorded one. */
  cursor: SyncCursor | null
  /** RFC 3339: the last sync that committed. */
  lastSyncedAt: string | null
  /** The process holding the task's sync lease, or null. */
  leaseHolder: string | null
  /** RFC 3339, by the database's clock: when the holder's lease runs out; null when none holds it. */
  leaseUntil: string | null
  /** RFC 3339: the last sync that recorded something Jules did (an activity, a new state); null before the first. */
  lastActivityAt: string | null
  /** RFC 3339: when a sync marked the task stalled (no activity for its state's `monitor.stalledAfter`); null when it is not. */
  stalledSince: string | null
}

/** One sync's result, written in one transaction, and only while `holder` holds the task's sync lease. */
export interface SyncCommit {
  taskId: string
  /** The lease holder (see claimSyncLeases): nothing is written unless it still holds a live lease. */
  holder: string
  /**
   * Present only when the sync changed the task row: written when the stored
   * version is still `task.version` (compare-and-set); the stored version
   * becomes task.version + 1. Absent for a quiet sync: the task row is not
   * written at all. Its `lastSyncedAt` is ignored (see `syncedAt`).
   */
  task?: Task
  events: NewTaskEvent[]
  cursor: SyncCursor
  /** RFC 3339, becomes lastSyncedAt. */
  syncedAt: string
  /** Recorded idempotently by activityId. */
  chatMessages?: NewChatMessage[]
  /** When present, replaces the task's set of changed files. */
  sourceFiles?: Array<Omit<SourceFile, 'taskId'>>
  /**
   * User messages jjm recorded when it sent them, before Jules had made an
   * activity of them, each now bound to its activity (activityId and `at`
   * set), so that the conversation holds every message once. A message that
   * is already bound is left as it is.
   */
  boundMessages?: MessageBinding[]
  /** Written to the outbox in the same transaction as the events that cause them. */
  notifications?: NewNotification[]
  /** When present, becomes the sync state's lastActivityAt: this sync recorded something Jules did. */
  activityAt?: string
  /** When present, becomes the sync state's stalledSince (null: no longer stalled); absent: left as it is. */
  stalledSince?: string | null
}

/** What commitSync did. */
export type SyncCommitResult =
  /** The task as stored after the commit: a new version if its row was written; otherwise as it was, with the new lastSyncedAt. */
  | { outcome: 'committed'; task: Task }
  /** The stored task is newer than commit.task.version: nothing was written; the caller re-reads and recomputes. */
  | { outcome: 'stale'; task: Task }
  /** The holder no longer holds a live lease: nothing was written. */
  | { outcome: 'lease_lost' }

/** A user message recorded without an activity (`messageId`), and the activity Jules made of it. */
export interface MessageBinding {
  messageId: string
  activityId: string
  /** The activity's createTime: Jules' clock, the one its replies carry. */
  at: string
}

/** The record of one attempt to create a task under an idempotency key. */
export interface CreationIntent {
  key: string
  /** SHA-256 of the normalised request: the same key with another request is refused. */
  requestHash: string
  /** `pending`: Jules not answered yet; `session_created`: Jules answered, task not yet recorded; `done`; `failed`. */
  state: 'pending' | 'session_created' | 'done' | 'failed'
  sessionName: string | null
  taskId: string | null
  error: string | null
  createdAt: string
  updatedAt: string
  /** The attempt working on the intent now (see CreationLease); null when none holds it. */
  leaseHolder: string | null
  /** RFC 3339: when the holder's lease runs out; null when none holds it. */
  leaseExpiresAt: string | null
}

/**
 * One attempt's claim on a creation intent: while it lasts, only its holder
 * calls Jules under the key, so two processes retrying one key at the same
 * moment cannot both start a session. An attempt that outlives its lease is
 * presumed dead, and the next one takes the intent over.
 */
export interface CreationLease {
  /** Identifies the attempt; unique per attempt (a random UUID). */
  holder: string
  /** RFC 3339. */
  expiresAt: string
}

/** What beginCreation did. */
export interface CreationClaim {
  /** The intent as it is after the call. */
  intent: CreationIntent
  /** A new attempt starts from scratch: the intent was just recorded, or a failed one was taken over. */
  created: boolean
  /** The caller now holds the lease and may work on the intent; false when another attempt holds a live one, the intent is done, or the request differs. */
  claimed: boolean
}

/** What a list of tasks shows beside each task, loaded for many tasks at once (never one query per task). */
export interface TaskRelations {
  sourceFiles: SourceFile[]
  /** The latest messages, oldest first. */
  chatMessages: ChatMessage[]
}

/** A new history line; the store assigns `id` (and `at` when absent). */
export type NewTaskEvent = Omit<TaskEvent, 'id' | 'taskId' | 'at'> & { at?: string }

/** What an event write may carry beside the events: the notifications they cause, written in the same transaction. */
export interface EventWriteOptions {
  notifications?: NewNotification[]
}

/**
 * The tasks themselves: jjm's record of each Jules session, versioned so that
 * an edit and a sync never overwrite each other (compare-and-set on
 * `Task.version`). Writes that also append history do so in one transaction
 * with their events (see TaskEventLog) and notifications (see
 * NotificationOutbox). Failures surface as StorageError.
 *
 * Contract suite: `describeTaskRecordsContract` in `jjm/testing`.
 */
export interface TaskRecords {
  /**
   * Inserts a new task together with its first events; with `idempotencyKey`,
   * marks that creation intent done (bound to the task) in the same transaction.
   */
  createTask(
    task: Task,
    events: NewTaskEvent[],
    options?: { idempotencyKey?: string } & EventWriteOptions,
  ): Promise<void>
  /**
   * Replaces a task's fields and appends events, atomically, as a
   * compare-and-set: only when the stored version is still
   * `options.expectedVersion`; the stored version becomes expectedVersion + 1.
   * `options.notifications` go to the outbox in the same transaction. Never
   * touches the sync state (task.lastSyncedAt is ignored): an edit cannot
   * revert a sync, nor a sync an edit.
   *
   * @returns the task as stored, with its new version.
   * @throws TaskVersionConflictError when the task changed since it was read (nothing written);
   *   TaskNotFoundError when it does not exist or is deleted.
   */
  updateTask(
    task: Task,
    events: NewTaskEvent[],
    options: { expectedVersion: number } & EventWriteOptions,
  ): Promise<Task>
  getTask(id: string): Promise<Task | undefined>
  /**
   * Finds a task by its jjm id, its Jules session id or name, or a unique
   * prefix of the jjm id. Throws ValidationError when a prefix is ambiguous.
   */
  findTask(ref: string): Promise<Task | undefined>
  /** Newest first, cursor-paginated. */
  listTasks(filter: TaskFilter): Promise<Page<Task>>
  /** Every task whose state is not terminal, oldest sync first. */
  listActiveTasks(): Promise<Task[]>
  /**
   * The active tasks counted by state, and their oldest last sync, in one
   * aggregate query (for the metrics gauges). Optional: without it, core
   * counts the rows of listActiveTasks.
   */
  summariseActiveTasks?(): Promise<{ byState: Record<string, number>; oldestSyncAt: string | null; stalled?: number }>
  /**
   * Deletes a task. Without `purge` the task disappears from lists and lookups
   * but its history stays, with a `deleted` event appended; with `purge` the
   * task and all its history are removed. Returns false when there was no such task.
   * `at` (RFC 3339, core's clock) dates the deletion; the store's now when absent.
   */
  deleteTask(id: string, options?: { purge?: boolean; at?: string }): Promise<boolean>
  /**
   * The local queue under plan quotas: every `pending` task that is not
   * deleted, in the order they start: higher `priority` first, then oldest
   * (`createdAt`, then id).
   */
  listPendingTasks(): Promise<Task[]>
  /**
   * What the plan's quotas count, from the database so that every process on
   * it counts the same: tasks with a running session (not deleted, neither
   * pending nor terminal), and when each session started at or after `since`
   * (RFC 3339; deleted tasks too, as Jules counts them), oldest first.
   */
  sessionUsage(since: string): Promise<SessionUsage>
  /**
   * Records that a pending task's Jules session started: writes the task
   * (its session, state, url) as a compare-and-set like updateTask, stamps
   * its start at `startedAt` for sessionUsage, appends `events`, and with
   * `idempotencyKey` marks that creation intent done, bound to the task, all
   * in one transaction. Only a task still `pending` is started.
   *
   * @throws TaskVersionConflictError when the task changed since it was read
   *   (nothing written); TaskNotFoundError when it does not exist or is deleted.
   */
  startTask(
    task: Task,
    events: NewTaskEvent[],
    options: { expectedVersion: number; startedAt: string; idempotencyKey?: string } & EventWriteOptions,
  ): Promise<Task>
}

/** See TaskRecords.sessionUsage. */
export interface SessionUsage {
  /** Tasks whose Jules session runs now (any state but pending and terminal). */
  running: number
  /** RFC 3339, oldest first: the starts of sessions within the window. */
  startedAt: string[]
}

/**
 * A task's append-only history. Events are also written by the TaskRecords
 * and SyncStates methods that cause them, in their transactions.
 *
 * Contract suite: `describeTaskEventLogContract` in `jjm/testing`.
 */
export interface TaskEventLog {
  /** Newest first. */
  getEvents(taskId: string, query?: EventQuery): Promise<Page<TaskEvent>>
  /** Appends one history line to an existing task (and its notifications to the outbox, in one transaction). */
  logEvent(taskId: string, event: NewTaskEvent, options?: EventWriteOptions): Promise<TaskEvent>
}

/**
 * What a task's session said and changed: its chat messages and the files its
 * change set touches, as syncs record them (see SyncCommit) and lists show
 * them beside each task.
 *
 * Contract suite: `describeTaskConversationContract` in `jjm/testing`.
 */
export interface TaskConversation {
  /** Records messages; one whose activityId is already recorded is skipped. Returns how many were new. */
  addChatMessages(taskId: string, messages: NewChatMessage[]): Promise<number>
  /** Oldest first. */
  listChatMessages(taskId: string, query?: { limit?: number; cursor?: string }): Promise<Page<ChatMessage>>
  /** Replaces the set of paths the task's change set touches. */
  setSourceFiles(taskId: string, files: Array<Omit<SourceFile, 'taskId'>>): Promise<void>
  listSourceFiles(taskId: string): Promise<SourceFile[]>
  /** Relations of many tasks in a constant number of queries; `messagesPerTask` latest messages each (default 3). */
  getRelations(taskIds: string[], options?: { messagesPerTask?: number }): Promise<Map<string, TaskRelations>>
}

/**
 * Where each task's sync stands, and the leases that let one process at a
 * time sync a task (by the database's clock, so that several daemons on one
 * database share the work). Kept apart from the task row: written by syncs,
 * never by edits.
 *
 * Contract suite: `describeSyncStatesContract` in `jjm/testing`.
 */
export interface SyncStates {
  /**
   * Records one sync: in one transaction, and only while `commit.holder`
   * holds a live lease on the task (by the database's clock), the cursor and
   * lastSyncedAt, the task row when given (compare-and-set on its version),
   * events, chat messages, message bindings, changed files and notifications.
   * An interrupted sync repeats as a whole or not at all.
   */
  commitSync(commit: SyncCommit): Promise<SyncCommitResult>
  /** Where the task's sync stands; undefined when there is no such task. */
  getSyncState(taskId: string): Promise<SyncState | undefined>
  /**
   * Takes, for `holder`, the sync leases of those of `taskIds` that are free
   * (no holder, a lease run out by the database's clock, or already
   * `holder`'s), until the database's now + `ttlMs`; in one statement per
   * batch, atomically against other processes on the same database. With
   * `syncedBefore`, a task synced at or after that instant is not claimed
   * (another process synced it since the caller listed it). Deleted tasks are
   * never claimed.
   *
   * @returns the ids `holder` holds after the call.
   */
  claimSyncLeases(
    taskIds: string[],
    holder: string,
    ttlMs: number,
    options?: { syncedBefore?: string },
  ): Promise<string[]>
  /** Extends to the database's now + `ttlMs` the leases `holder` still holds; returns their ids (one taken over is not renewed). */
  renewSyncLeases(taskIds: string[], holder: string, ttlMs: number): Promise<string[]>
  /** Gives back `holder`'s leases early (after the sync), so that the next pass of any daemon may take the tasks. */
  releaseSyncLeases(taskIds: string[], holder: string): Promise<void>
}

/**
 * Idempotency keys: the intent to create a task is recorded before Jules is
 * called, so that a retried create under the same key never starts a second
 * session. Marked done by `TaskRecords.createTask` with `idempotencyKey`.
 *
 * Contract suite: `describeCreationIntentsContract` in `jjm/testing`.
 */
export interface CreationIntents {
  /**
   * Records, before Jules is called, the intent to create a task under an
   * idempotency key, and claims it for the caller's attempt with `lease`, in
   * one atomic step (two racing callers, in any processes, never both claim).
   * A known key is claimed only when its request hash is the same, it is not
   * done, and nobody else holds a lease that is live at `at`; otherwise the
   * intent is returned unchanged with `claimed: false`. A failed intent that is
   * claimed becomes pending again (`created: true`).
   */
  beginCreation(key: string, requestHash: string, at: string, lease: CreationLease): Promise<CreationClaim>
  /** Gives up the lease of attempt `holder` on `key`, if it still holds it, so that a retry need not wait for it to expire. */
  releaseCreation(key: string, holder: string): Promise<void>
  /**
   * Keeps `key` locked until `until` (RFC 3339) after attempt `holder` failed
   * without knowing whether Jules started its session: the lease's expiry
   * becomes `until`, so that beginCreation claims the key for nobody before
   * then and a retry looks for that session only once it can have appeared.
   * Does nothing when `holder` no longer holds the lease.
   */
  holdCreation(key: string, holder: string, until: string): Promise<void>
  /** Binds a pending intent to the session Jules created, right after Jules answered. */
  noteCreationSession(key: string, sessionName: string, at: string): Promise<void>
  /** Marks an intent failed (Jules refused it), so that the same key may try again. */
  failCreation(key: string, message: string, at: string): Promise<void>
  // Idempotency-key retention: optional, a store without it keeps its intents for good.
  /**
   * Deletes up to `limit` creation intents no retry can need after `before`
   * (RFC 3339): done ones whose task ended (terminal, deleted or purged) and
   * failed ones, before then; never a pending one. Returns how many.
   */
  pruneCreationIntents?(before: string, limit: number): Promise<number>
}

/**
 * Where tasks and their history live: every port a storage backend
 * implements, in one object. Core code that needs only one of them takes that
 * port. Every method that writes more than one row does so in one
 * transaction; failures surface as StorageError. It is also the notification
 * outbox: notifications are written with the events that cause them and kept
 * until delivered or given up.
 *
 * Contract suite: `describeTaskStoreContract` in `jjm/testing` runs every
 * port's suite.
 */
export interface TaskStore
  extends TaskRecords,
    TaskEventLog,
    TaskConversation,
    SyncStates,
    CreationIntents,
    NotificationOutbox,
    NotificationOutboxAdmin {
  close(): Promise<void>

  /**
   * Runs `work` so that every write made through this store inside it
   * shares one transaction: all are kept, or none. Optional: without it,
   * core makes the writes one after another.
   */
  unitOfWork?<T>(work: () => Promise<T>): Promise<T>

  /**
   * Writes one task with its whole history as it was, in one transaction
   * (`jjm migrate import-json|import-sqlite`, through core's import service):
   * the task with its own timestamps, its events, chat messages, changed
   * files and sync cursor, and the done creation intent that made it. Nothing
   * is stamped now and nothing goes to the notification outbox: it is the
   * past. A task whose id or Jules session the store already holds (a
   * deleted one too) is left as it is and nothing is written. Optional: the
   * import service refuses a store without it.
   */
  importTask?(record: TaskImport): Promise<TaskImportResult>
}

export interface MigrationStatus {
  executed: string[]
  pending: string[]
}

/** Schema management for stores that have one. */
export interface SchemaManager {
  status(): Promise<MigrationStatus>
  /** Applies pending migrations (all, or up to and including `to`); returns the names applied. */
  up(options?: { to?: string }): Promise<string[]>
  /**
   * Reverts the latest applied migration, or, with `to`, every migration
   * applied after `to` and `to` itself. Returns the names reverted, latest first.
   */
  down(options?: { to?: string }): Promise<string[]>
}

/** One simulated Jules session, as the simulator persists it. */
export interface SimSessionRecord {
  id: string
  createdAt: string
  /** The simulator's own serialised state; opaque to stores. */
  state: Record<string, unknown>
}

/**
 * Where the Jules simulator keeps its sessions, so that separate CLI
 * invocations on one database see the same simulated sessions.
 */
export interface SimStateStore {
  get(id: string): Promise<SimSessionRecord | undefined>
  put(record: SimSessionRecord): Promise<void>
  /** Oldest first. */
  list(): Promise<SimSessionRecord[]>
}

/** Time, injectable so that tests drive it instead of sleeping. */
export interface Clock {
  now(): number
}

/** Context fields carried on every log entry (task id, operation, …). */
export type LogContext = Record<string, unknown>

/** Structured logging; implemented on consola in log.ts. Logs go to stderr, never stdout. */
export interface Logger {
  debug(message: string, context?: LogContext): void
  info(message: string, context?: LogContext): void
  warn(message: string, context?: LogContext): void
  error(message: string, context?: LogContext): void
  /** A logger that adds `context` to every entry. */
  child(context: LogContext): Logger
}

/** A logger that drops everything; the default where none is given. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
}

/**
 * A key-value cache with expiry (Keyv underneath). Every method may fail when
 * the cache's server is down; callers fall back to the store.
 */
export interface Cache {
  get<T>(key: string): Promise<T | undefined>
  set(key: string, value: unknown, ttlMs: number): Promise<void>
  delete(keys: string[]): Promise<void>
  /** Adds one to a counter and returns its new value (shared by every process on the same cache). */
  increment(key: string): Promise<number>
  close(): Promise<void>
}

/** One change to one task, as published on the event bus. */
export interface TaskUpdate {
  taskId: string
  /** The event type that caused it (`created`, `state_changed`, …) or `updated`. */
  type: string
  /** The task after the change, when known (absent after a purge). */
  task?: Task
  /** RFC 3339 */
  at: string
}

/**
 * Live task updates: published on `task:updates:{id}` and on the all-tasks
 * channel `task:updates`. In-process by default, Redis pub/sub across daemons.
 */
export interface EventBus {
  publish(update: TaskUpdate): Promise<void>
  /** Listens to one task (`taskId`) or to all tasks; resolves once listening. Returns the unsubscribe function. */
  subscribe(filter: { taskId?: string }, listener: (update: TaskUpdate) => void): Promise<() => Promise<void>>
  /** False while live delivery is broken; consumers then poll the store instead. */
  readonly healthy: boolean
  /** True when updates published by other processes arrive too (Redis); false for an in-process bus. */
  readonly crossProcess?: boolean
  /**
   * Tells every process on this bus that an API key was revoked, so that none
   * keeps accepting it from its cache of verified keys. Best-effort, never
   * throws. Optional: without it (and without `subscribeApiKeyRevocations`)
   * each daemon re-reads a key from the store at least once a second.
   */
  publishApiKeyRevocation?(revocation: ApiKeyRevocation): Promise<void>
  /** Listens to revocations from every process on this bus; resolves once listening. Returns the unsubscribe function. */
  subscribeApiKeyRevocations?(listener: (revocation: ApiKeyRevocation) => void): Promise<() => Promise<void>>
  close(): Promise<void>
}

/** An API key was revoked: whoever remembers it as valid forgets it. */
export interface ApiKeyRevocation {
  keyId: string
  /** RFC 3339 */
  at: string
}

/** One message for people about one task event, as a notifier sends it. */
export interface Notification {
  /** The outbox entry's id: stable across retries, so a receiver can drop duplicates. */
  id: string
  taskId: string
  /** What happened, as routing names it: `awaiting_plan_approval`, `completed_with_pr`, `failed`, or an event type. */
  eventType: string
  /** One line, e.g. "Plan awaiting approval: Fix the login bug". */
  title: string
  /** A readable sentence or two. */
  text: string
  /** Where to look: the pull request, else the session in the Jules web app. */
  url?: string
  task: Task
  /** RFC 3339: when the event happened. */
  at: string
}

/** What one event sends to one notifier: the notification without the id the outbox gives it. */
export type NotificationPayload = Omit<Notification, 'id'>

/** A new outbox entry, written in the same transaction as its event. */
export interface NewNotification {
  /** The route's id (see routeId in notifications.ts). */
  notifier: string
  taskId: string
  eventType: string
  payload: NotificationPayload
}

/** One outbox entry as delivery sees it. */
export interface OutboxEntry extends NewNotification {
  id: string
  /** Failed attempts so far. */
  attempts: number
}

/** The notification outbox: entries waiting for delivery, kept until delivered or given up. */
export interface NotificationOutbox {
  /**
   * Takes up to `limit` entries due at `now` (neither delivered nor given up,
   * next attempt not after `now`), oldest first, and holds them back from
   * other claims for a lease of a few minutes; an entry whose delivery is
   * interrupted is taken again after the lease (at least once).
   */
  claimNotifications(limit: number, now: string): Promise<OutboxEntry[]>
  markNotificationDelivered(id: string, at: string): Promise<void>
  /** Counts one more failed attempt; `nextAttemptAt` null gives up for good; `at`: when it failed (core's clock). */
  markNotificationFailed(id: string, error: string, nextAttemptAt: string | null, at?: string): Promise<void>
}

/** What people do with the outbox beside delivery: look at it, retry, clean up. */
export interface NotificationOutboxAdmin {
  /**
   * Outbox entries, newest first (by `createdAt`, then id), cursor-paginated
   * like every list: `jjm notifications list`. Delivered entries are kept
   * until pruned, so that people can see what was sent.
   */
  listNotifications(query?: NotificationQuery): Promise<Page<NotificationRecord>>
  /**
   * Puts entries that are not delivered back to pending, due at `now`, with
   * no attempts and no error: a retry by a person. Delivered and unknown ids
   * are left alone. Returns how many entries it changed.
   */
  requeueNotifications(ids: string[], now: string): Promise<number>
  /**
   * Deletes at most `limit` delivered entries delivered before
   * `deliveredBefore` and at most `limit` failed entries given up before
   * `failedBefore`; pending entries are never deleted. Returns what it deleted.
   */
  pruneNotifications(options: NotificationPruneOptions): Promise<{ delivered: number; failed: number }>
}

/** Where one outbox entry stands: waiting (or retrying), sent, or given up for good. */
export type NotificationState = 'pending' | 'delivered' | 'failed'

export const notificationStates: readonly NotificationState[] = ['pending', 'delivered', 'failed']

/** One outbox entry as people and scripts see it (`jjm notifications list --json`). */
export interface NotificationRecord {
  id: string
  taskId: string
  /** As routing names it: `awaiting_plan_approval`, `completed_with_pr`, `failed`, or an event type. */
  eventType: string
  /** The route's id (see routeId in notifications.ts). */
  notifier: string
  state: NotificationState
  /** The notification's one-line title. */
  title: string
  /** Failed attempts so far. */
  attempts: number
  lastError: string | null
  /** RFC 3339: when a pending entry is tried next (or the lease of a delivery in progress ends); null otherwise. */
  nextAttemptAt: string | null
  deliveredAt: string | null
  /** When delivery was given up. */
  failedAt: string | null
  createdAt: string
}

export interface NotificationQuery {
  /** Any of these states; all when absent or empty. */
  states?: NotificationState[]
  taskId?: string
  /** Only these entries. */
  ids?: string[]
  limit?: number
  cursor?: string
}

export interface NotificationPruneOptions {
  /** RFC 3339 */
  deliveredBefore: string
  /** RFC 3339 */
  failedBefore: string
  /** The most entries of each state deleted by one call: a pass stays cheap however large the backlog. */
  limit: number
}

/** Where notifications go (console, webhook, Slack, PagerDuty, email); built by a notifier backend. */
export interface Notifier {
  /** The route's name, as the outbox records it. */
  name: string
  /**
   * Delivers one notification. Throws NotificationDeliveryError with
   * `permanent: true` when retrying cannot help (a 4xx other than 429).
   */
  send(notification: Notification): Promise<void>
}

/** One task and its whole history as an import writes it (see TaskStore.importTask). */
export interface TaskImport {
  task: Task
  /** Oldest first, each with the time it happened. */
  events: Array<NewTaskEvent & { at: string }>
  /** Recorded idempotently by activityId, as a sync records them. */
  chatMessages: NewChatMessage[]
  sourceFiles: Array<Omit<SourceFile, 'taskId'>>
  /** Where the task's activity sync had got to: the monitor carries on from there instead of recording the history again. */
  syncCursor: SyncCursor | null
  /** The done intent of the idempotency key that created the task, so that the key still names it; a key the store already knows stays as it is. */
  creationIntent?: CreationIntent
}

/** What importTask wrote. */
export interface TaskImportResult {
  /** False when the store already held the task (by id or Jules session): nothing was written. */
  imported: boolean
  /** Chat messages written (a repeated activity once). */
  chatMessages: number
  /** Changed files written (one per path). */
  sourceFiles: number
}
