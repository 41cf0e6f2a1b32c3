/**
 * MikroORM 6 never binds parameters: `AbstractSqlConnection.execute` runs
 * every statement through `platform.formatQuery`, which writes each value into
 * the SQL text as a quoted literal, and hands knex the result with no
 * bindings. There is no setting to turn that off. A literal is not a value:
 * SQLite stops reading a statement at a NUL character ("unrecognized token"),
 * and a statement's text is what ends up in logs.
 *
 * The drivers here are MikroORM's own with one method replaced: `execute`
 * sends the statement with `?` placeholders and the values as bindings, so
 * every value reaches the database driver as a parameter on both dialects.
 * The values are the ones MikroORM would have written as literals (dates as
 * it stores them, JSON serialised), so the rows are the same as before.
 *
 * The drivers themselves are in `bound-sqlite-driver.ts` and
 * `bound-postgresql-driver.ts`, so that a SQLite store never loads the
 * PostgreSQL driver (and `pg`). Imported lazily by `openSqlStore`, with the ORM.
 */
import { JsonProperty, type LoggingOptions, type Transaction, Utils } from '@mikro-orm/core'
import type { AbstractSqlConnection, AbstractSqlPlatform, Knex } from '@mikro-orm/knex'

/** A statement with `?` placeholders and the values that fill them, in order. */
export interface BoundStatement {
  sql: string
  bindings: unknown[]
}

export type ToBinding = (value: unknown) => unknown

/**
 * Rewrites a statement the way `Platform.formatQuery` does, except that each
 * value stays a `?` with its value among the bindings. Identifiers (`??`) and
 * raw SQL fragments are SQL, not values, and are written into the text.
 */
export function bindStatement(
  platform: AbstractSqlPlatform,
  toBinding: ToBinding,
  sql: string,
  params: readonly unknown[],
): BoundStatement {
  const bindings: unknown[] = []
  let text = ''
  let next = 0
  let position = 0
  const placeholderFor = (value: unknown): string => {
    if (Utils.isRawSql(value)) {
      const inner = bindStatement(platform, toBinding, value.sql, value.params ?? [])
      bindings.push(...inner.bindings)
      return inner.sql
    }
    if (platform.isRaw(value)) {
      // A knex Raw: knex compiles it, with its own bindings, in place of the placeholder.
      bindings.push(value)
      return '?'
    }
    if (Utils.isPlainObject(value) || isJson(value)) {
      bindings.push(JSON.stringify(value))
      return '?'
    }
    if (Array.isArray(value)) {
      // `in (?)` with a list: one placeholder per item, as the literal form would have listed them.
      return value.map((item) => (Array.isArray(item) ? `(${placeholderFor(item)})` : placeholderFor(item))).join(', ')
    }
    bindings.push(value === undefined ? null : toBinding(value))
    return '?'
  }
  while (position < sql.length) {
    const at = sql.indexOf('?', position)
    if (at === -1) {
      text += sql.slice(position)
      break
    }
    text += sql.slice(position, at)
    if (at > 0 && sql[at - 1] === '\\') {
      // An escaped question mark is SQL, not a placeholder: `\?` stays as it is, for knex to unescape.
      text += '?'
      position = at + 1
    } else if (sql[at + 1] === '?') {
      text += platform.quoteIdentifier(String(params[next++]))
      position = at + 2
    } else {
      text += placeholderFor(params[next++])
      position = at + 1
    }
  }
  return { sql: text, bindings }
}

function isJson(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[JsonProperty] === true
}

export type Method = 'all' | 'get' | 'run'
export type Statement = string | Knex.QueryBuilder | Knex.Raw

/** What `executeBound` needs of a connection, some of it protected, so handed over by the connection itself. */
export interface ConnectionAccess {
  connection: AbstractSqlConnection
  toBinding: ToBinding
  onQuery: (sql: string, params: unknown[]) => string
  transform: (result: unknown, method: Method) => unknown
  run: (sql: string, cb: () => Promise<unknown>, context: LoggingOptions & Record<string, unknown>) => Promise<unknown>
}

/**
 * `AbstractSqlConnection.execute` (MikroORM 6.6) with bindings: the same
 * steps, in the same order, except the last.
 */
export async function executeBound(
  access: ConnectionAccess,
  statement: Statement,
  params: unknown[],
  method: Method,
  ctx: Transaction | undefined,
  loggerContext: LoggingOptions | undefined,
): Promise<unknown> {
  const { connection } = access
  await connection.ensureConnection()
  let sql: string
  let values: unknown[] = params
  let transaction: Transaction | null | undefined = ctx
  if (typeof statement === 'string') sql = statement
  else {
    transaction ??= (statement as unknown as { client: { transacting?: boolean } }).client.transacting
      ? (statement as unknown as Transaction)
      : null
    const native = statement.toSQL()
    sql = native.sql
    values = [...(native.bindings ?? [])]
  }
  sql = access.onQuery(sql, values)
  // No values, no bindings: knex then leaves the text alone (a migration may hold several statements).
  const bound: BoundStatement =
    values.length === 0
      ? { sql, bindings: [] }
      : bindStatement(connection.getPlatform() as AbstractSqlPlatform, access.toBinding, sql, values)
  return access.run(
    bound.sql,
    async () => {
      const knex = connection.getKnex()
      const query =
        bound.bindings.length === 0 ? knex.raw(bound.sql) : knex.raw(bound.sql, bound.bindings as Knex.RawBinding[])
      if (transaction) query.transacting(transaction as Knex.Transaction)
      return access.transform(await query, method)
    },
    { ...loggerContext, query: bound.sql, params: bound.bindings },
  )
}
