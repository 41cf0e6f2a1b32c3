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

/** What a list of tasks shows beside each task, loaded for many tasks at once (never one query per task). */
export interface TaskRelations {
  sourceFiles: SourceFile[]
  /** The latest messages, oldest first. */
  chatMessages: ChatMessage[]
}

/** A new history line; the store assigns `id` (and `at` when absent). */
export type NewTaskEvent = Omit<TaskEvent, 'id' | 'taskId' | 'at'> & { at?: string }

/**
 * Where tasks and their history live. Every method that writes more than one
 * row does so in one transaction; failures surface as StorageError.
 */
export interface TaskStore {
  /** Inserts a new task together with its first events. */
  createTask(task: Task, events: NewTaskEvent[]): Promise<void>
  /** Replaces a task's fields and appends events, atomically. */
  updateTask(task: Task, events: NewTaskEvent[]): Promise<void>
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
  /** Newest first. */
  getEvents(taskId: string, query?: EventQuery): Promise<Page<TaskEvent>>
  /** Appends one history line to an existing task. */
  logEvent(taskId: string, event: NewTaskEvent): Promise<TaskEvent>
  /**
   * Deletes a task. Without `purge` the task disappears from lists and lookups
   * but its history stays, with a `deleted` event appended; with `purge` the
   * task and all its history are removed. Returns false when there was no such task.
   */
  deleteTask(id: string, options?: { purge?: boolean }): Promise<boolean>
  /** Records messages; one whose activityId is already recorded is skipped. Returns how many were new. */
  addChatMessages(taskId: string, messages: NewChatMessage[]): Promise<number>
  /** Oldest first. */
  listChatMessages(taskId: string, query?: { limit?: number; cursor?: string }): Promise<Page<ChatMessage>>
  /** Replaces the set of paths the task's change set touches. */
  setSourceFiles(taskId: string, files: Array<Omit<SourceFile, 'taskId'>>): Promise<void>
  listSourceFiles(taskId: string): Promise<SourceFile[]>
  /** Relations of many tasks in a constant number of queries; `messagesPerTask` latest messages each (default 3). */
  getRelations(taskIds: string[], options?: { messagesPerTask?: number }): Promise<Map<string, TaskRelations>>
  close(): Promise<void>
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
  close(): Promise<void>
}
