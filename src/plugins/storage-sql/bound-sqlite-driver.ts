/**
 * MikroORM's better-sqlite3 driver with every value bound as a parameter
 * (see bound-parameters.ts). Imported lazily by `openSqlStore` for SQLite only.
 */
import { BetterSqliteConnection, BetterSqliteDriver } from '@mikro-orm/better-sqlite'
import type { AnyEntity, Configuration, EntityData, LoggingOptions, Transaction } from '@mikro-orm/core'
import type { QueryResult } from '@mikro-orm/knex'
import { type ConnectionAccess, executeBound, type Method, type Statement, type ToBinding } from './bound-parameters.js'

/** SQLite keeps a date as milliseconds since the epoch (MikroORM's SQLite `datetime`), a boolean as 1 or 0. */
function sqliteValue(value: unknown): unknown {
  if (value instanceof Date) return value.getTime()
  if (typeof value === 'boolean') return value ? 1 : 0
  return value
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

/** MikroORM's better-sqlite3 driver, binding every value as a parameter. */
export class BoundBetterSqliteDriver extends BetterSqliteDriver {
  constructor(config: Configuration) {
    super(config)
    // The base constructor made MikroORM's own connection; nothing has used it yet.
    Object.assign(this, { connection: new BoundBetterSqliteConnection(this.config) })
  }
}
