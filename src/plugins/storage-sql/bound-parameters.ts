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
 * Imported lazily by `openSqlStore`, with the ORM.
 */
import { BetterSqliteConnection, BetterSqliteDriver } from '@mikro-orm/better-sqlite'
import {
  type AnyEntity,
  type Configuration,
  type EntityData,
  JsonProperty,
  type LoggingOptions,
  type Transaction,
  Utils,
} from '@mikro-orm/core'
import type { AbstractSqlConnection, AbstractSqlPlatform, Knex, QueryResult } from '@mikro-orm/knex'
import { PostgreSqlConnection, PostgreSqlDriver, type PostgreSqlPlatform } from '@mikro-orm/postgresql'

/** A statement with `?` placeholders and the values that fill them, in order. */
export interface BoundStatement {
  sql: string
  bindings: unknown[]
}

type ToBinding = (value: unknown) => unknown

/** SQLite keeps a date as milliseconds since the epoch (MikroORM's SQLite `datetime`), a boolean as 1 or 0. */
function sqliteValue(value: unknown): unknown {
  if (value instanceof Date) return value.getTime()
  if (typeof value === 'boolean') return value ? 1 : 0
  return value
}

function postgresValue(platform: PostgreSqlPlatform): ToBinding {
  return (value) => (value instanceof Date ? platform.formatDate(value) : value)
}

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

type Method = 'all' | 'get' | 'run'
type Statement = string | Knex.QueryBuilder | Knex.Raw

/** What `executeBound` needs of a connection, some of it protected, so handed over by the connection itself. */
interface ConnectionAccess {
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
async function executeBound(
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

class BoundBetterSqliteConnection extends BetterSqliteConnection {
  override async execute<
    T extends QueryResult | EntityData<AnyEntity> | EntityData<AnyEntity>[] = EntityData<AnyEntity>[],
  >(
    statement: Statement,
    params: unknown[] = [],
    method: Method = 'all',
    ctx?: Transaction,
    loggerContext?: LoggingOptions,
  ): Promise<T> {
    return (await executeBound(this.access(sqliteValue), statement, params, method, ctx, loggerContext)) as T
  }

  private access(toBinding: ToBinding): ConnectionAccess {
    return {
      connection: this,
      toBinding,
      onQuery: this.config.get('onQuery'),
      transform: (result, method) => this.transformRawResult(result, method),
      run: (sql, cb, context) => this.executeQuery(sql, cb, context),
    }
  }
}

class BoundPostgreSqlConnection extends PostgreSqlConnection {
  override async execute<
    T extends QueryResult | EntityData<AnyEntity> | EntityData<AnyEntity>[] = EntityData<AnyEntity>[],
  >(
    statement: Statement,
    params: unknown[] = [],
    method: Method = 'all',
    ctx?: Transaction,
    loggerContext?: LoggingOptions,
  ): Promise<T> {
    const platform = this.getPlatform() as PostgreSqlPlatform
    return (await executeBound(
      this.access(postgresValue(platform)),
      statement,
      params,
      method,
      ctx,
      loggerContext,
    )) as T
  }

  private access(toBinding: ToBinding): ConnectionAccess {
    return {
      connection: this,
      toBinding,
      onQuery: this.config.get('onQuery'),
      transform: (result, method) => this.transformRawResult(result, method),
      run: (sql, cb, context) => this.executeQuery(sql, cb, context),
    }
  }
}

/** MikroORM's better-sqlite3 driver, binding every value as a parameter. */
export class BoundBetterSqliteDriver extends BetterSqliteDriver {
  constructor(config: Configuration) {
    super(config)
    // The base constructor made MikroORM's own connection; nothing has used it yet.
    Object.assign(this, { connection: new BoundBetterSqliteConnection(this.config) })
  }
}

/** MikroORM's PostgreSQL driver, binding every value as a parameter. */
export class BoundPostgreSqlDriver extends PostgreSqlDriver {
  constructor(config: Configuration) {
    super(config)
    Object.assign(this, { connection: new BoundPostgreSqlConnection(this.config) })
  }
}
