/**
 * The few pieces of SQL, and of error reading, that differ between SQLite and
 * PostgreSQL. Everything else in the store is written once, for both.
 */
import type { QueryOrder } from '@mikro-orm/core'

export type DialectName = 'sqlite' | 'postgresql'

/** How a failure to reach the database is classified, for the message and for the fallback. */
export type ConnectionProblem = 'unreachable' | 'authentication' | 'database-missing' | 'unusable-file'

export interface SqlDialect {
  name: DialectName
  /** A condition true when the JSON array column `column` contains the one bound value (see `jsonArrayParameter`). */
  jsonArrayContains(column: string): string
  /** The value to bind for `jsonArrayContains`. */
  jsonArrayParameter(value: string): string
  /** A condition true when `column` contains the bound pattern, ignoring case (see `likeParameter`). */
  containsIgnoringCase(column: string): string
  /** Ascending order with NULLs first (PostgreSQL puts them last by default). */
  ascNullsFirst: QueryOrder
  /**
   * The DATABASE's now, in whole milliseconds since the epoch: the clock sync
   * leases are judged by, the same for every process whatever its own clock says.
   */
  epochMsNow: string
  /** A placeholder for an instant bound with `instantParameter`, comparable with a `datetime` column. */
  boundInstant: string
  /** The value to bind for `boundInstant`: how the dialect keeps a `datetime`. */
  instantParameter(iso: string): string | number
  /** A placeholder for JSON text bound as a string, as a `json` column keeps it. */
  boundJson: string
  /**
   * What a claim's row selection adds so that concurrent claims neither wait
   * for each other's rows nor deadlock (PostgreSQL); SQLite runs one writer at a time.
   */
  skipLockedRows(alias: string): string
  /** The driver's raw error as one of MikroORM's named exceptions, which the store's error mapping understands. */
  classifyError(error: unknown): unknown
  /** Whether the error says the database cannot be reached or opened at all, and why. */
  connectionProblem(error: unknown): ConnectionProblem | undefined
}

/** `%text%` with LIKE's wildcards (and the escape character) escaped by a backslash, lower-cased. */
export function likeParameter(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (character) => `\\${character}`)}%`
}

/** Error codes of the operating system and of the PostgreSQL protocol that mean "cannot get in". */
const unreachableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
  '57P01',
  '57P02',
  '57P03',
  '53300',
])
const authenticationCodes = new Set(['28P01', '28000'])
const missingDatabaseCode = '3D000'
const unusableFileCodes = new Set(['ENOTDIR', 'EACCES', 'EPERM', 'EROFS', 'EEXIST', 'EISDIR'])

export function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code
  }
  return ''
}

export function sqliteDialect(orm: typeof import('@mikro-orm/better-sqlite')): SqlDialect {
  const converter = new orm.BetterSqliteExceptionConverter()
  return {
    name: 'sqlite',
    jsonArrayContains: (column) => `exists (select 1 from json_each(${column}) where json_each.value = ?)`,
    jsonArrayParameter: (value) => value,
    containsIgnoringCase: (column) => `lower(${column}) like ? escape '\\'`,
    ascNullsFirst: orm.QueryOrder.ASC_NULLS_FIRST,
    // unixepoch('subsec') has millisecond precision; rounding undoes the float's error.
    epochMsNow: "cast(round(unixepoch('subsec') * 1000) as integer)",
    boundInstant: '?',
    // MikroORM keeps a datetime on SQLite as milliseconds since the epoch.
    instantParameter: (iso) => Date.parse(iso),
    boundJson: '?',
    skipLockedRows: () => '',
    // Query builders hand back the driver's raw error; the EntityManager has converted it already.
    classifyError: (error) =>
      error instanceof Error && !(error instanceof orm.DriverException) ? converter.convertException(error) : error,
    connectionProblem(error) {
      const code = errorCode(error)
      const name = error instanceof Error ? error.name : ''
      if (
        name === 'ConnectionException' ||
        name === 'ReadOnlyException' ||
        code.startsWith('SQLITE_CANTOPEN') ||
        code.startsWith('SQLITE_READONLY') ||
        code.startsWith('SQLITE_NOTADB') ||
        unusableFileCodes.has(code)
      ) {
        return 'unusable-file'
      }
      return undefined
    },
  }
}

export function postgresqlDialect(orm: typeof import('@mikro-orm/postgresql')): SqlDialect {
  const converter = new orm.PostgreSqlExceptionConverter()
  return {
    name: 'postgresql',
    // Containment (`@>`) rather than the `?` operator, which the query builder would take for a parameter.
    jsonArrayContains: (column) => `${column} @> ?::jsonb`,
    jsonArrayParameter: (value) => JSON.stringify([value]),
    containsIgnoringCase: (column) => `${column} ilike ? escape '\\'`,
    ascNullsFirst: orm.QueryOrder.ASC_NULLS_FIRST,
    // clock_timestamp(), not now(): the instant of the statement, not of the transaction's start.
    epochMsNow: '(extract(epoch from clock_timestamp()) * 1000)::bigint',
    boundInstant: 'cast(? as timestamptz)',
    instantParameter: (iso) => new Date(iso).toISOString(),
    boundJson: 'cast(? as jsonb)',
    skipLockedRows: (alias) => `for update of ${alias} skip locked`,
    classifyError(error) {
      if (!(error instanceof Error) || error instanceof orm.DriverException) return error
      // Only server errors carry an SQLSTATE; a socket error stays as it is, with its code.
      return /^[0-9A-Z]{5}$/.test(errorCode(error)) ? converter.convertException(error) : error
    },
    connectionProblem(error) {
      const code = errorCode(error)
      const message = error instanceof Error ? error.message : String(error)
      if (authenticationCodes.has(code)) return 'authentication'
      if (code === missingDatabaseCode) return 'database-missing'
      if (unreachableCodes.has(code)) return 'unreachable'
      if (/connection terminated|timeout expired|connection timeout|Knex: Timeout acquiring/i.test(message)) {
        return 'unreachable'
      }
      return undefined
    },
  }
}
