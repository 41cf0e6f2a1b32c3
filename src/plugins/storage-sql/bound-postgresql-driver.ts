/**
 * MikroORM's PostgreSQL driver with every value bound as a parameter (see
 * bound-parameters.ts). Imported lazily by `openSqlStore` for PostgreSQL only.
 */
import type { AnyEntity, Configuration, EntityData, LoggingOptions, Transaction } from '@mikro-orm/core'
import type { QueryResult } from '@mikro-orm/knex'
import { PostgreSqlConnection, PostgreSqlDriver, type PostgreSqlPlatform } from '@mikro-orm/postgresql'
import { type ConnectionAccess, executeBound, type Method, type Statement, type ToBinding } from './bound-parameters.js'

function postgresValue(platform: PostgreSqlPlatform): ToBinding {
  return (value) => (value instanceof Date ? platform.formatDate(value) : value)
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

/** MikroORM's PostgreSQL driver, binding every value as a parameter. */
export class BoundPostgreSqlDriver extends PostgreSqlDriver {
  constructor(config: Configuration) {
    super(config)
    Object.assign(this, { connection: new BoundPostgreSqlConnection(this.config) })
  }
}
