/**
 * One error hierarchy for both faces of jjm: the CLI exits with `exitCode`,
 * the REST API answers with `httpStatus`. Every error carries a stable `code`
 * (for scripts and dashboards) and the `context` a reader needs to act on it.
 */
export type ErrorContext = Record<string, unknown>

export interface JjmErrorOptions {
  context?: ErrorContext
  cause?: unknown
}

export class JjmError extends Error {
  /** Stable machine-readable code, e.g. `JJM_TASK_NOT_FOUND`. */
  readonly code: string
  /** Process exit code used by the CLI. */
  readonly exitCode: number
  /** HTTP status used by the REST API. */
  readonly httpStatus: number
  readonly context: ErrorContext

  constructor(message: string, code: string, exitCode: number, httpStatus: number, options: JjmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.exitCode = exitCode
    this.httpStatus = httpStatus
    this.context = options.context ?? {}
  }

  /** `TaskNotFoundError [JJM_TASK_NOT_FOUND]: No task ... (taskId=abc)` */
  override toString(): string {
    const details = Object.entries(this.context)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    const suffix = details.length > 0 ? ` (${details.join(', ')})` : ''
    return `${this.name} [${this.code}]: ${this.message}${suffix}`
  }

  toJSON(): { name: string; code: string; message: string; context: ErrorContext } {
    return { name: this.name, code: this.code, message: this.message, context: this.context }
  }
}

/**
 * Exit codes of the CLI. 0, 1 and 2 are the usual ones; each JjmError class
 * has its own so that a script can tell what happened without parsing text.
 */
export const ExitCode = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  configuration: 10,
  validation: 11,
  authentication: 12,
  taskNotFound: 13,
  invalidState: 14,
  julesConnection: 15,
  rateLimited: 16,
  operationFailed: 17,
  storage: 18,
  migrationRequired: 19,
  /** `monitor --once`: at least one task changed. */
  monitorChanges: 20,
  /** `monitor --once`: at least one task waits for a person. */
  monitorNeedsPerson: 21,
  /** `monitor --once`: at least one task could not be synced. */
  monitorErrors: 22,
  /** `monitor --once`: another run holds the lock on this database; nothing was done. */
  monitorLocked: 23,
  /** `tasks wait`: the task failed. */
  waitFailed: 30,
  /** `tasks wait`: the timeout passed first. */
  waitTimedOut: 31,
  /** `tasks wait`: the task waits for a person (plan approval, an answer, a resume). */
  waitNeedsPerson: 32,
  /** `tasks wait`: the task ended in a state it was not waited for. */
  waitEnded: 33,
  /** `health`: jjm works, but a dependency fails or warns (Jules, Redis, disk space). */
  healthDegraded: 40,
  /** `health`: the database or the disk fails; jjm cannot record anything. */
  healthUnhealthy: 41,
} as const

export class ConfigurationError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_CONFIGURATION', ExitCode.configuration, 500, options)
  }
}

/** Bad input from a user: a flag, a body, a file. */
export class ValidationError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_VALIDATION', ExitCode.validation, 400, options)
  }
}

/** Jules refused the API key (401/403), or no key is configured. */
export class AuthenticationError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_AUTHENTICATION', ExitCode.authentication, 401, options)
  }
}

/** Something the user named does not exist: a task, a notification. One exit code (13) and HTTP 404 for all. */
export abstract class NotFoundError extends JjmError {
  constructor(message: string, code: string, options?: JjmErrorOptions) {
    super(message, code, ExitCode.taskNotFound, 404, options)
  }
}

export class TaskNotFoundError extends NotFoundError {
  constructor(taskRef: string, options: JjmErrorOptions = {}) {
    super(`No task matches "${taskRef}". Run \`jjm tasks list\` to see the ids you can use.`, 'JJM_TASK_NOT_FOUND', {
      ...options,
      context: { taskId: taskRef, ...options.context },
    })
  }
}

/** No outbox entry has this id (never written, or pruned). */
export class NotificationNotFoundError extends NotFoundError {
  constructor(ids: readonly string[], options: JjmErrorOptions = {}) {
    const named = ids.map((id) => `"${id}"`).join(', ')
    super(
      `No notification has the id ${named}. Run \`jjm notifications list\` to see the ids you can use (delivered and failed ones are pruned after their retention).`,
      'JJM_NOTIFICATION_NOT_FOUND',
      { ...options, context: { notificationIds: [...ids], ...options.context } },
    )
  }
}

/** An operation is not allowed in the task's (or session's) current state. */
export class InvalidStateError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_INVALID_STATE', ExitCode.invalidState, 409, options)
  }
}

/**
 * A compare-and-set on a task's version found the task changed since the
 * caller read it (a sync or another edit came first): nothing was written.
 */
export class TaskVersionConflictError extends JjmError {
  constructor(taskId: string, expectedVersion: number, actualVersion: number, options: JjmErrorOptions = {}) {
    super(
      `Task ${taskId} changed since it was read (version ${expectedVersion}, now ${actualVersion}): read it again and repeat the change.`,
      'JJM_TASK_VERSION_CONFLICT',
      ExitCode.invalidState,
      412,
      { ...options, context: { taskId, expectedVersion, actualVersion, ...options.context } },
    )
  }
}

/**
 * Another attempt to create a task under the same idempotency key is running
 * right now (it holds the key's lease). Retrying after it finishes replays its
 * answer; if it died, the lease runs out and a retry takes over.
 */
export class IdempotencyConflictError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_IDEMPOTENCY_CONFLICT', ExitCode.invalidState, 409, options)
  }
}

/** An idempotency key already used for a different request: a new request needs a new key. */
export class IdempotencyKeyReusedError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_IDEMPOTENCY_KEY_REUSED', ExitCode.validation, 422, options)
  }
}

/** Jules could not be reached, or answered with a server error. */
export class JulesConnectionError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_JULES_UNAVAILABLE', ExitCode.julesConnection, 503, options)
  }
}

/** Jules (or jjm's own API) said: too many requests. */
export class RateLimitedError extends JjmError {
  /** Seconds to wait before trying again, when the server said so. */
  readonly retryAfterSeconds: number | undefined

  constructor(message: string, options: JjmErrorOptions & { retryAfterSeconds?: number } = {}) {
    super(message, 'JJM_RATE_LIMITED', ExitCode.rateLimited, 429, {
      ...options,
      context: { retryAfterSeconds: options.retryAfterSeconds, ...options.context },
    })
    this.retryAfterSeconds = options.retryAfterSeconds
  }
}

/**
 * The configured Jules backend cannot do this operation (a Jules MCP server
 * without the tool, say); the message names what still works.
 */
export class UnsupportedOperationError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_JULES_UNSUPPORTED', ExitCode.operationFailed, 501, options)
  }
}

/** An operation was attempted and failed for a reason that retrying will not fix. */
export class OperationFailedError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions, code = 'JJM_OPERATION_FAILED') {
    super(message, code, ExitCode.operationFailed, 502, options)
  }
}

export class StorageError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_STORAGE', ExitCode.storage, 503, options)
  }
}

/** The database schema is behind the code. */
export class MigrationRequiredError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_MIGRATION_REQUIRED', ExitCode.migrationRequired, 503, options)
  }
}

const notActedOn = new WeakSet<Error>()

/**
 * Records that Jules certainly did not act on the request that failed with
 * `error` (it was never sent, or Jules refused it before acting: 429, 503).
 * The Jules adapters mark their failures; a caller of a call that is not
 * idempotent (sessions.create) reads it with {@link julesDidNotAct} to tell a
 * definite failure from one that may have started a session. Returns `error`.
 */
export function markJulesDidNotAct<E extends Error>(error: E): E {
  notActedOn.add(error)
  return error
}

/** Whether `error` was marked with {@link markJulesDidNotAct}. */
export function julesDidNotAct(error: unknown): boolean {
  return error instanceof Error && notActedOn.has(error)
}

export function isJjmError(error: unknown): error is JjmError {
  return error instanceof JjmError
}

const classByCode: Readonly<Record<string, (message: string, options: JjmErrorOptions) => JjmError>> = {
  JJM_CONFIGURATION: (message, options) => new ConfigurationError(message, options),
  JJM_VALIDATION: (message, options) => new ValidationError(message, options),
  JJM_AUTHENTICATION: (message, options) => new AuthenticationError(message, options),
  JJM_INVALID_STATE: (message, options) => new InvalidStateError(message, options),
  JJM_IDEMPOTENCY_CONFLICT: (message, options) => new IdempotencyConflictError(message, options),
  JJM_IDEMPOTENCY_KEY_REUSED: (message, options) => new IdempotencyKeyReusedError(message, options),
  JJM_JULES_UNAVAILABLE: (message, options) => new JulesConnectionError(message, options),
  JJM_RATE_LIMITED: (message, options) => new RateLimitedError(message, options),
  JJM_OPERATION_FAILED: (message, options) => new OperationFailedError(message, options),
  JJM_STORAGE: (message, options) => new StorageError(message, options),
  JJM_MIGRATION_REQUIRED: (message, options) => new MigrationRequiredError(message, options),
}

/**
 * The JjmError an error stands for. A plugin has no runtime dependency on jjm
 * (or another copy of it), so its errors are not instances of jjm's classes;
 * an error carrying one of jjm's codes is treated as that class. Anything else
 * is returned unchanged.
 */
export function toJjmError(error: unknown): unknown {
  if (error instanceof JjmError || !(error instanceof Error)) return error
  const code = (error as { code?: unknown }).code
  if (typeof code !== 'string') return error
  const context = (error as { context?: unknown }).context
  const options: JjmErrorOptions = {
    cause: error,
    ...(context !== null && typeof context === 'object' ? { context: context as ErrorContext } : {}),
  }
  if (code === 'JJM_TASK_NOT_FOUND') {
    const taskId = options.context?.taskId
    return new TaskNotFoundError(typeof taskId === 'string' ? taskId : error.message, options)
  }
  if (code === 'JJM_TASK_VERSION_CONFLICT') {
    const { taskId, expectedVersion, actualVersion } = options.context ?? {}
    return new TaskVersionConflictError(
      typeof taskId === 'string' ? taskId : '?',
      typeof expectedVersion === 'number' ? expectedVersion : Number.NaN,
      typeof actualVersion === 'number' ? actualVersion : Number.NaN,
      options,
    )
  }
  if (code === 'JJM_NOTIFICATION_NOT_FOUND') {
    const ids = options.context?.notificationIds
    return new NotificationNotFoundError(Array.isArray(ids) ? ids.map(String) : [error.message], options)
  }
  if (code.startsWith('JJM_JULES_') && code !== 'JJM_JULES_UNAVAILABLE') {
    return new OperationFailedError(error.message, options, code)
  }
  return classByCode[code]?.(error.message, options) ?? error
}

/** The exit codes, in the words that `jjm --help` and the README use. */
export const exitCodeHelp: ReadonlyArray<readonly [number, string]> = [
  [ExitCode.ok, 'success'],
  [ExitCode.unexpected, 'unexpected error (a bug: please report it)'],
  [ExitCode.usage, 'usage error (unknown flag, missing argument)'],
  [ExitCode.configuration, 'configuration error'],
  [ExitCode.validation, 'invalid input'],
  [ExitCode.authentication, 'Jules refused the API key'],
  [ExitCode.taskNotFound, 'not found (task, notification)'],
  [ExitCode.invalidState, 'operation not allowed in the task state, or idempotency key in use'],
  [ExitCode.julesConnection, 'Jules unreachable or failing'],
  [ExitCode.rateLimited, 'rate limited'],
  [ExitCode.operationFailed, 'operation failed'],
  [ExitCode.storage, 'storage error'],
  [ExitCode.migrationRequired, 'database schema behind: run `jjm migrate up`'],
  [ExitCode.monitorChanges, 'monitor --once: tasks changed'],
  [ExitCode.monitorNeedsPerson, 'monitor --once: a task needs a person'],
  [ExitCode.monitorErrors, 'monitor --once: some tasks could not be synced'],
  [ExitCode.monitorLocked, 'monitor --once: another run holds the lock (nothing done)'],
  [ExitCode.waitFailed, 'tasks wait: the task failed'],
  [ExitCode.waitTimedOut, 'tasks wait: timed out'],
  [ExitCode.waitNeedsPerson, 'tasks wait: the task needs a person'],
  [ExitCode.waitEnded, 'tasks wait: the task ended in another state'],
  [ExitCode.healthDegraded, 'health: degraded (a dependency fails or warns)'],
  [ExitCode.healthUnhealthy, 'health: unhealthy (the database or the disk fails)'],
]
