/**
 * Turns whatever the ORM or the driver threw into a StorageError (or a
 * MigrationRequiredError) whose message says what happened and what to do:
 * never a raw driver stack in front of a user, never a password.
 */
import { isJjmError, MigrationRequiredError, StorageError } from '../../core/errors.js'
import { type ConnectionProblem, errorCode, type SqlDialect } from './sql-dialect.js'

/** Where a store keeps its data, for messages, and how to read its driver's errors. */
export interface StoreContext {
  dialect: SqlDialect
  /** A file path, or a connection URL without its password. */
  location: string
  /** The same for an error's context: `{ path }` or `{ url }`. */
  where: Record<string, string>
}

/** How long a SQLite write waits for another process's lock before giving up. */
export const busyTimeoutMs = 5000

/** A connection URL fit for a message or a log line: the password is removed, not masked. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = ''
    // `postgresql://user:@host` reads oddly; the colon goes with the password.
    return parsed.toString().replace(/:@/, '@')
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1@')
  }
}

/** The database name of a PostgreSQL URL, for the "create it" hint. */
function databaseName(location: string): string {
  try {
    return decodeURIComponent(new URL(location).pathname.replace(/^\//, '')) || '(default)'
  } catch {
    return '(unknown)'
  }
}

/** The driver's own words, without the SQL statement that MikroORM prepends. */
export function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  const firstLine = message.split('\n')[0] ?? message
  const parts = firstLine.split(' - ')
  return (parts[parts.length - 1] ?? firstLine).trim() || errorCode(error) || 'unknown error'
}

export function isUniqueViolation(error: unknown): boolean {
  const code = errorCode(error)
  return (
    (error instanceof Error && error.name === 'UniqueConstraintViolationException') ||
    code === '23505' ||
    code.startsWith('SQLITE_CONSTRAINT_UNIQUE') ||
    code.startsWith('SQLITE_CONSTRAINT_PRIMARYKEY')
  )
}

export function isForeignKeyViolation(error: unknown): boolean {
  const code = errorCode(error)
  return (
    (error instanceof Error && error.name === 'ForeignKeyConstraintViolationException') ||
    code === '23503' ||
    code.startsWith('SQLITE_CONSTRAINT_FOREIGNKEY')
  )
}

/** A failure to reach or open the database; `context.problem` says which kind. */
export function connectionError(
  problem: ConnectionProblem,
  error: unknown,
  operation: string,
  at: StoreContext,
): StorageError {
  const context = { operation, ...at.where, problem }
  const why = reason(error)
  const where = at.location
  switch (problem) {
    case 'unreachable':
      return new StorageError(
        `Could not ${operation}: PostgreSQL at ${where} cannot be reached (${why}). Check that the server is running and reachable from here, or point DATABASE_URL (or storage.url) at the right server.`,
        { context, cause: error },
      )
    case 'authentication':
      return new StorageError(
        `Could not ${operation}: PostgreSQL at ${where} refused the login (${why}). Check the user and password in DATABASE_URL (or storage.url) and the server's pg_hba.conf.`,
        { context, cause: error },
      )
    case 'database-missing': {
      const name = databaseName(where)
      return new StorageError(
        `Could not ${operation}: the database "${name}" does not exist on the PostgreSQL server at ${where}. Create it (createdb ${name}) or fix the database name in DATABASE_URL (or storage.url).`,
        { context, cause: error },
      )
    }
    case 'unusable-file':
      return new StorageError(
        `Could not ${operation}: cannot open or write the database ${where} (${why}). Check that the path is a writable file, or choose another one (--db).`,
        { context, cause: error },
      )
  }
}

/** Turns whatever the driver threw into a StorageError that says what happened and what to do. */
export function toStorageError(raw: unknown, operation: string, at: StoreContext): Error {
  if (isJjmError(raw)) return raw
  const error = at.dialect.classifyError(raw)
  const context = { operation, ...at.where }
  const name = error instanceof Error ? error.name : ''
  const code = errorCode(error)
  const why = reason(error)
  if (isUniqueViolation(error)) {
    return new StorageError(`Could not ${operation}: it conflicts with an existing row (${why}).`, {
      context,
      cause: error,
    })
  }
  if (isForeignKeyViolation(error)) {
    return new StorageError(`Could not ${operation}: it refers to a row that does not exist (${why}).`, {
      context,
      cause: error,
    })
  }
  if (name === 'LockWaitTimeoutException' || code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StorageError(
      `Could not ${operation}: the database ${at.location} stayed locked by another process for ${busyTimeoutMs / 1000} s. Try again, or stop the process that holds it.`,
      { context, cause: error },
    )
  }
  if (name === 'DeadlockException') {
    return new StorageError(`Could not ${operation}: it collided with a concurrent change (${why}). Try again.`, {
      context,
      cause: error,
    })
  }
  if (name === 'TableNotFoundException') {
    return new MigrationRequiredError(
      `Could not ${operation}: the database ${at.location} has no jjm schema (${why}). Run \`jjm migrate up\`.`,
      { context, cause: error },
    )
  }
  const problem = at.dialect.connectionProblem(error)
  if (problem !== undefined) return connectionError(problem, error, operation, at)
  return new StorageError(`Could not ${operation} in the database ${at.location}: ${why}.`, { context, cause: error })
}

export async function guarded<T>(operation: string, at: StoreContext, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    throw toStorageError(error, operation, at)
  }
}
