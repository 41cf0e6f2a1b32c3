/**
 * The ports core depends on. Adapters live in src/plugins/ (storage, cache,
 * notifiers) and src/core/jules/ (Jules); core sees only these interfaces.
 */
import type { Page, Task, TaskEvent, TaskFilter } from './task.js'

export interface EventQuery {
  types?: string[]
  limit?: number
  cursor?: string
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
