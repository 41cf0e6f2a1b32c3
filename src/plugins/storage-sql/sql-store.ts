/**
 * The SQL storage backend on MikroORM, for SQLite and PostgreSQL alike: tasks
 * and their history, chat messages and changed files, the simulator's
 * sessions, and the schema migrations. What differs between the two
 * databases lives in `sql-dialect.ts`; their migrations in
 * `migrations/<dialect>/`.
 *
 * The ORM and its drivers are imported inside `openSqlStore` so that
 * `jjm --help` never loads them.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { mkdir } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { BetterSqliteDriver } from '@mikro-orm/better-sqlite'
import type { FilterQuery, MigrationObject, MikroORM, Logger as OrmLogger } from '@mikro-orm/core'
import type { SqlEntityManager } from '@mikro-orm/knex'
import type { PostgreSqlDriver } from '@mikro-orm/postgresql'
import type { ApiKeyStore } from '../../core/api-keys.js'
import { StorageError, TaskNotFoundError, TaskVersionConflictError, ValidationError } from '../../core/errors.js'
import { decodeCursor, encodeCursor, pageSize, parseTimeBound } from '../../core/page-cursor.js'
import type {
  CreationClaim,
  CreationIntent,
  CreationLease,
  EventQuery,
  EventWriteOptions,
  Logger,
  MessageBinding,
  NewChatMessage,
  NewNotification,
  NewTaskEvent,
  NotificationPruneOptions,
  NotificationQuery,
  NotificationRecord,
  NotificationState,
  OutboxEntry,
  SchemaManager,
  SessionUsage,
  SimSessionRecord,
  SimStateStore,
  SyncCommit,
  SyncCommitResult,
  SyncState,
  TaskImport,
  TaskImportResult,
  TaskRelations,
  TaskStore,
} from '../../core/ports.js'
import { silentLogger } from '../../core/ports.js'
import type { ChatMessage, Page, SourceFile, Task, TaskEvent, TaskFilter } from '../../core/task.js'
import { isPending } from '../../core/task.js'
import { SqlApiKeyStore } from './api-key-store.js'
import type {
  ChatMessageRow,
  CreationIntentRow,
  NotificationOutboxRow,
  SimSessionRow,
  TaskEventRow,
  TaskRow,
  TaskSyncRow,
} from './entities.js'
import {
  applyMigrationPolicy,
  MigrationManager,
  type MigrationPolicy,
  type MigrationSource,
  type OrmMigrator,
} from './migration-manager.js'
import {
  nextId,
  toChatMessage,
  toChatMessageRow,
  toCreationIntent,
  toDate,
  toEvent,
  toEventRow,
  toIso,
  toNotificationRecord,
  toOutboxEntry,
  toOutboxRow,
  toSimSession,
  toSourceFile,
  toStoredTask,
  toSyncCursor,
  toTask,
  toTaskRow,
} from './rows.js'
import { likeParameter, postgresqlDialect, sqliteDialect } from './sql-dialect.js'
import {
  busyTimeoutMs,
  guarded,
  isForeignKeyViolation,
  isUniqueViolation,
  redactUrl,
  type StoreContext,
  toStorageError,
} from './storage-errors.js'

export { defaultPageSize, maxPageSize } from '../../core/page-cursor.js'
export type { MigrationPolicy } from './migration-manager.js'

interface CommonStoreOptions {
  logger?: Logger
  /**
   * `auto` (default): set up a brand-new database silently, and refuse an
   * existing one whose schema is behind (MigrationRequiredError naming
   * `jjm migrate up`). `check`: refuse any database with pending migrations.
   * `none`: leave the schema alone (for `jjm migrate status|up|down`).
   */
  migrate?: MigrationPolicy
  /** Called with the SQL of every query, e.g. so that a test can count them. */
  debugQueries?: (sql: string) => void
}

export interface SqliteStoreOptions extends CommonStoreOptions {
  dialect: 'sqlite'
  /** The database file; `:memory:` for a throw-away database. The parent directory is created when missing. */
  path: string
}

export interface PostgresStoreOptions extends CommonStoreOptions {
  dialect: 'postgresql'
  /** `postgresql://user:password@host:5432/database`; the password never appears in messages or logs. */
  url: string
  /** The most connections the store opens at once (default 10). */
  poolSize?: number
  /** How long to wait for the server to accept a connection (default 10 s). */
  connectTimeoutMs?: number
}

export type SqlStoreOptions = SqliteStoreOptions | PostgresStoreOptions

export interface SqlStorage {
  store: TaskStore
  sim: SimStateStore
  schema: SchemaManager
  apiKeys: ApiKeyStore
  /** Every creation intent, oldest first: what `jjm migrate import-sqlite` copies beside the tasks. */
  listCreationIntents(): Promise<CreationIntent[]>
  /** Database connections in use now (see StorageHandle.connectionsInUse). */
  connectionsInUse(): number
  /** Closes the database; the store, sim and schema are unusable afterwards. */
  close(): Promise<void>
}

export const defaultPoolSize = 10
const defaultConnectTimeoutMs = 10_000
const migrationsTable = 'mikro_orm_migrations'
/** Crockford base32, the alphabet of ULIDs. */
const ulidPrefixPattern = /^[0-9A-HJKMNP-TV-Z]+$/
const minPrefixLength = 4
/** Ids per `in (...)` list, far below SQLite's and PostgreSQL's parameter limits. */
const idsPerQuery = 500
const rowsPerInsert = 500

/** How long a claimed notification is held back from other claims while it is being delivered. */
const notificationLeaseMs = 5 * 60_000
const defaultMessagesPerTask = 3

type Entities = typeof import('./entities.js')

/** An initialised ORM, whichever the dialect. */
interface OpenedOrm {
  em: SqlEntityManager
  migrations: MigrationSource
  entities: Entities
  at: StoreContext
  close(): Promise<void>
}

/**
 * Connections the knex pool under MikroORM has handed out right now (tarn's
 * `numUsed`); 0 when the pool is not created yet. Read on every scrape: no query.
 */
function poolInUse(em: SqlEntityManager): number {
  try {
    const knex = em.getDriver().getConnection().getKnex() as unknown as {
      client?: { pool?: { numUsed?: () => number } }
    }
    return knex.client?.pool?.numUsed?.() ?? 0
  } catch {
    return 0 // closed, or not connected yet
  }
}

/**
 * Opens the SQL store on SQLite or PostgreSQL and applies the migration policy.
 *
 * @throws StorageError when the database cannot be opened or reached (the
 *   message names the file, or the URL without its password, and what to do);
 *   MigrationRequiredError when the schema is behind.
 */
export async function openSqlStore(options: SqlStoreOptions): Promise<SqlStorage> {
  const logger = options.logger ?? silentLogger
  let opened: OpenedOrm
  if (options.dialect === 'sqlite') opened = await openSqlite(options, logger)
  else if (options.dialect === 'postgresql') opened = await openPostgres(options, logger)
  else {
    const dialect: unknown = (options as { dialect: unknown }).dialect
    throw new StorageError(`The SQL store does not support the "${String(dialect)}" dialect.`, {
      context: { dialect },
    })
  }

  const { em, entities, at } = opened
  const schema = new MigrationManager(opened.migrations, at)
  try {
    await applyMigrationPolicy(schema, options.migrate ?? 'auto', logger, at)
  } catch (error) {
    await opened.close().catch(() => {})
    throw error
  }

  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await opened.close()
  }
  const store = new SqlTaskStore(em, entities, at, close)
  const sim = new SqlSimStateStore(em, entities, at)
  const apiKeys = new SqlApiKeyStore(em, entities, at)
  return {
    store,
    sim,
    schema,
    apiKeys,
    listCreationIntents: () => store.listCreationIntents(),
    connectionsInUse: () => (closed ? 0 : poolInUse(em)),
    close,
  }
}

async function openSqlite(options: SqliteStoreOptions, logger: Logger): Promise<OpenedOrm> {
  const inMemory = options.path === ':memory:'
  const path = inMemory ? options.path : resolve(options.path)
  if (!inMemory) {
    try {
      await mkdir(dirname(path), { recursive: true })
    } catch (error) {
      throw new StorageError(
        `Cannot create the directory for the database ${path}: ${error instanceof Error ? error.message : String(error)}. Choose another path (--db) or fix the permissions.`,
        { context: { operation: 'open', path }, cause: error },
      )
    }
  }
  const [orm, entities, { sqliteMigrationNames }, bound] = await Promise.all([
    import('@mikro-orm/better-sqlite'),
    import('./entities.js'),
    import('../../../migrations/sqlite/names.js'),
    import('./bound-sqlite-driver.js'),
  ])
  const at: StoreContext = { dialect: sqliteDialect(orm), location: path, where: { path } }
  try {
    const instance = await orm.MikroORM.init<BetterSqliteDriver, SqlEntityManager<BetterSqliteDriver>>({
      dbName: path,
      // MikroORM writes values into the SQL text; this driver binds them (see bound-parameters.ts).
      driver: bound.BoundBetterSqliteDriver,
      entities: entities.entities,
      // No migrator here: it is registered when first needed (see migrationSource).
      migrations: migratorOptions([]),
      pool: { afterCreate: configureSqliteConnection(inMemory) },
      loggerFactory: () => ormLogger(logger),
      allowGlobalContext: false,
      ensureIndexes: false,
    })
    reportQueries(instance.em, options.debugQueries)
    return {
      em: instance.em,
      migrations: migrationSource(instance, at, sqliteMigrationNames, async () => {
        const { sqliteMigrations } = await import('../../../migrations/sqlite/index.js')
        return sqliteMigrations
      }),
      entities,
      at,
      close: () => instance.close(true),
    }
  } catch (error) {
    throw toStorageError(error, 'open', at)
  }
}

async function openPostgres(options: PostgresStoreOptions, logger: Logger): Promise<OpenedOrm> {
  const [orm, entities, { postgresqlMigrationNames }, bound] = await Promise.all([
    import('@mikro-orm/postgresql'),
    import('./entities.js'),
    import('../../../migrations/postgresql/names.js'),
    import('./bound-postgresql-driver.js'),
  ])
  const location = redactUrl(options.url)
  const at: StoreContext = { dialect: postgresqlDialect(orm), location, where: { url: location } }
  const poolSize = options.poolSize ?? defaultPoolSize
  const connectTimeoutMs = options.connectTimeoutMs ?? defaultConnectTimeoutMs
  let instance: Awaited<ReturnType<typeof orm.MikroORM.init<PostgreSqlDriver>>>
  try {
    instance = await orm.MikroORM.init<PostgreSqlDriver>({
      clientUrl: options.url,
      driver: bound.BoundPostgreSqlDriver,
      entities: entities.entities,
      // No migrator here: it is registered when first needed (see migrationSource).
      migrations: migratorOptions([]),
      pool: { min: 0, max: poolSize },
      driverOptions: { connection: { connectionTimeoutMillis: connectTimeoutMs } },
      loggerFactory: () => ormLogger(logger),
      allowGlobalContext: false,
      ensureIndexes: false,
      // A missing database is the operator's to create, not jjm's: it is reported, not made.
      ensureDatabase: false,
      // Connect below, so that a refused connection is an error rather than a log line.
      connect: false,
    })
  } catch (error) {
    throw toStorageError(error, 'open', at)
  }
  try {
    await instance.em.getDriver().connect()
    const check = await instance.checkConnection()
    if (!check.ok) throw check.error ?? new Error(check.reason)
  } catch (error) {
    await instance.close(true).catch(() => {})
    throw toStorageError(error, 'open', at)
  }
  // After connect(), which makes the knex instance that runs the queries.
  reportQueries(instance.em, options.debugQueries)
  return {
    em: instance.em,
    migrations: migrationSource(instance, at, postgresqlMigrationNames, async () => {
      const { postgresqlMigrations } = await import('../../../migrations/postgresql/index.js')
      return postgresqlMigrations
    }),
    entities,
    at,
    close: () => instance.close(true),
  }
}

/**
 * The schema's state for the MigrationManager: the migrations table read by
 * one query, and MikroORM's migrator with the migrations' code, registered on
 * the ORM the first time a migration is applied or reverted.
 */
function migrationSource(
  orm: MikroORM,
  at: StoreContext,
  known: readonly string[],
  loadMigrations: () => Promise<MigrationObject[]>,
): MigrationSource {
  let migrator: Promise<OrmMigrator> | undefined
  return {
    known,
    async readApplied() {
      const connection = (orm.em as SqlEntityManager).getConnection()
      // The table MikroORM's MigrationStorage reads, in the schema it reads it from.
      const schemaName = orm.config.get('schema', orm.em.getPlatform().getDefaultSchemaName())
      const query = connection
        .getKnex()
        .select('name')
        .from(migrationsTable)
        .withSchema(schemaName as string)
        .orderBy('id', 'asc')
      try {
        const rows: Array<{ name: string }> = await connection.execute(query)
        return rows.map((row) => row.name)
      } catch (error) {
        // No migrations table: a database jjm has never set up.
        const classified = at.dialect.classifyError(error)
        if (classified instanceof Error && classified.name === 'TableNotFoundException') return []
        throw error
      }
    },
    loadMigrator() {
      migrator ??= (async () => {
        const [{ Migrator }, migrationsList] = await Promise.all([import('@mikro-orm/migrations'), loadMigrations()])
        orm.config.set('migrations', { ...orm.config.get('migrations'), migrationsList })
        Migrator.register(orm)
        return orm.migrator as OrmMigrator
      })()
      // A failed load (a missing package) is tried again next time, not remembered.
      migrator.catch(() => {
        migrator = undefined
      })
      return migrator
    },
  }
}

function migratorOptions(migrationsList: MigrationObject[]) {
  return {
    tableName: migrationsTable,
    // Listed by hand rather than globbed, so that they run the same from
    // src/ under tsx and from dist/ in a globally installed package.
    migrationsList,
    silent: true,
    snapshot: false,
    transactional: true,
    allOrNothing: true,
  }
}

/**
 * Per-connection settings. WAL and a busy timeout let two CLI processes (or
 * a CLI and a daemon) share one file; SQLite leaves foreign keys off unless asked.
 */
function configureSqliteConnection(inMemory: boolean) {
  return (connection: unknown, done: (error: Error | null, connection: unknown) => void): void => {
    try {
      const database = connection as { pragma?: (source: string) => unknown }
      if (typeof database.pragma !== 'function') throw new Error('not a better-sqlite3 connection')
      if (!inMemory) database.pragma('journal_mode = WAL')
      database.pragma(`busy_timeout = ${busyTimeoutMs}`)
      database.pragma('foreign_keys = ON')
      done(null, connection)
    } catch (error) {
      done(error instanceof Error ? error : new Error(String(error)), connection)
    }
  }
}

/** MikroORM's own log lines go to jjm's logger at debug level; queries are reported from knex (reportQueries). */
function ormLogger(logger: Logger): OrmLogger {
  const forward = (namespace: string, message: string): void =>
    logger.debug(message, { component: 'mikro-orm', namespace })
  return {
    log: forward,
    error: forward,
    warn: forward,
    logQuery: () => {},
    setDebugMode: () => {},
    isEnabled: () => false,
  }
}

/**
 * Reports the SQL that knex hands the database driver, the text the database
 * actually parses (values travel beside it as bindings), rather than what
 * MikroORM logs.
 */
function reportQueries(em: SqlEntityManager, onQuery: ((sql: string) => void) | undefined): void {
  if (onQuery === undefined) return
  em.getConnection()
    .getKnex()
    .on('query', (query: { sql?: unknown }) => {
      if (typeof query.sql === 'string') onQuery(query.sql)
    })
}

/** Thrown inside commitSync's transaction to roll it back when the task changed since the sync read it. */
class StaleSync extends Error {}

/** A lease's length as a whole, non-negative number of milliseconds (0: expired at once). */
function leaseMs(ttlMs: number): number {
  return Number.isFinite(ttlMs) ? Math.max(0, Math.round(ttlMs)) : 0
}

function chunks<T>(items: T[], size: number): T[][] {
  const result: T[][] = []
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size))
  return result
}

/** Keyset condition: rows after the cursor in `direction` order of (`column`, id). */
function afterCursor(column: string, cursor: { at: string; id: string }, direction: 'asc' | 'desc') {
  const at = new Date(cursor.at)
  const operator = direction === 'desc' ? '$lt' : '$gt'
  return { $or: [{ [column]: { [operator]: at } }, { [column]: at, id: { [operator]: cursor.id } }] }
}

/** Time range conditions on `column`: `since` included, `until` excluded. */
function timeRange(column: string, since: string | undefined, until: string | undefined, names: [string, string]) {
  const conditions: Array<Record<string, unknown>> = []
  const from = parseTimeBound(since, names[0])
  const to = parseTimeBound(until, names[1])
  if (from !== undefined) conditions.push({ [column]: { $gte: new Date(from) } })
  if (to !== undefined) conditions.push({ [column]: { $lt: new Date(to) } })
  return conditions
}

class SqlTaskStore implements TaskStore {
  constructor(
    private readonly em: SqlEntityManager,
    private readonly entities: Entities,
    private readonly at: StoreContext,
    private readonly closeStorage: () => Promise<void>,
  ) {}

  /** Writes inside {@link unitOfWork} share its transaction; see there. */
  private readonly unit = new AsyncLocalStorage<SqlEntityManager>()

  /** A fresh entity manager; inside a unit of work, one that joins its transaction. */
  private fork(): SqlEntityManager {
    const unit = this.unit.getStore()
    return unit === undefined ? this.em.fork() : unit.fork({ keepTransactionContext: true })
  }

  /**
   * Runs `work` so that every write this store makes inside it shares one
   * transaction: all of them are kept, or none (a method's own transaction
   * becomes a savepoint inside it). A unit inside a unit joins the outer one.
   */
  async unitOfWork<T>(work: () => Promise<T>): Promise<T> {
    if (this.unit.getStore() !== undefined) return work()
    return this.em.fork().transactional((em) => this.unit.run(em, work))
  }

  async createTask(
    task: Task,
    events: NewTaskEvent[],
    options: { idempotencyKey?: string } & EventWriteOptions = {},
  ): Promise<void> {
    const { TaskSchema, TaskSyncSchema, TaskEventSchema } = this.entities
    const key = options.idempotencyKey
    try {
      await this.fork().transactional(async (em) => {
        await em.insert(TaskSchema, {
          ...toTaskRow(task),
          deletedAt: null,
          version: 1,
          startedAt: isPending(task.state) ? null : toDate(task.createdAt),
        })
        // Every task has its sync state from the start: a claim or a commit never has to create it.
        await em.insert(TaskSyncSchema, {
          task: task.id,
          cursor: null,
          lastSyncedAt: task.lastSyncedAt === null ? null : toDate(task.lastSyncedAt),
          leaseHolder: null,
          leaseUntil: null,
          activityAt: null,
          stalledSince: null,
        })
        if (events.length > 0)
          await em.insertMany(
            TaskEventSchema,
            events.map((event) => toEventRow(task.id, event)),
          )
        await this.insertNotifications(em, options.notifications)
        if (key !== undefined) await this.completeCreation(em, key, task)
      })
    } catch (error) {
      if (isUniqueViolation(this.at.dialect.classifyError(error))) {
        throw new StorageError(
          `A task with id ${task.id} or session ${task.sessionName} is already recorded. Use \`jjm tasks show ${task.id}\` to see it.`,
          {
            context: { operation: 'create task', ...this.at.where, taskId: task.id, sessionName: task.sessionName },
            cause: error,
          },
        )
      }
      throw toStorageError(error, 'create task', this.at)
    }
  }

  async updateTask(
    task: Task,
    events: NewTaskEvent[],
    options: { expectedVersion: number } & EventWriteOptions,
  ): Promise<Task> {
    const { TaskSchema } = this.entities
    const { id, ...fields } = toTaskRow(task)
    const expected = options.expectedVersion
    return guarded('update task', this.at, () =>
      this.fork().transactional(async (em) => {
        // The write comes first so that SQLite takes the write lock at once
        // (a read first would risk SQLITE_BUSY_SNAPSHOT under concurrency).
        const updated = await em.nativeUpdate(
          TaskSchema,
          { id, version: expected, deletedAt: null },
          { ...fields, version: expected + 1 },
        )
        if (updated === 0) {
          const stored = await em.findOne(TaskSchema, { id, deletedAt: null }, { disableIdentityMap: true })
          if (stored === null) throw new TaskNotFoundError(id)
          throw new TaskVersionConflictError(id, expected, Number(stored.version))
        }
        await this.insertEvents(em, id, events)
        await this.insertNotifications(em, options.notifications)
        // lastSyncedAt and stalledSince belong to the sync state, which this write leaves alone: read them as they are.
        const stored = await em.findOneOrFail(
          TaskSchema,
          { id },
          { fields: ['lastSyncedAt', 'stalledSince'], disableIdentityMap: true },
        )
        return toStoredTask(
          task,
          expected + 1,
          stored.lastSyncedAt == null ? null : toIso(stored.lastSyncedAt),
          stored.stalledSince == null ? null : toIso(stored.stalledSince),
        )
      }),
    )
  }

  async startTask(
    task: Task,
    events: NewTaskEvent[],
    options: { expectedVersion: number; startedAt: string; idempotencyKey?: string } & EventWriteOptions,
  ): Promise<Task> {
    const { TaskSchema } = this.entities
    const { id, ...fields } = toTaskRow(task)
    const expected = options.expectedVersion
    const key = options.idempotencyKey
    return guarded('start task', this.at, () =>
      this.fork().transactional(async (em) => {
        const updated = await em.nativeUpdate(
          TaskSchema,
          { id, version: expected, deletedAt: null, state: 'pending' },
          { ...fields, version: expected + 1, startedAt: toDate(options.startedAt) },
        )
        if (updated === 0) {
          const stored = await em.findOne(TaskSchema, { id, deletedAt: null }, { disableIdentityMap: true })
          if (stored === null) throw new TaskNotFoundError(id)
          throw new TaskVersionConflictError(id, expected, Number(stored.version))
        }
        await this.insertEvents(em, id, events)
        await this.insertNotifications(em, options.notifications)
        if (key !== undefined) await this.completeCreation(em, key, task)
        const stored = await em.findOneOrFail(
          TaskSchema,
          { id },
          { fields: ['lastSyncedAt'], disableIdentityMap: true },
        )
        return toStoredTask(task, expected + 1, stored.lastSyncedAt == null ? null : toIso(stored.lastSyncedAt))
      }),
    )
  }

  async listPendingTasks(): Promise<Task[]> {
    const rows = await guarded('list pending tasks', this.at, () =>
      this.fork().find(
        this.entities.TaskSchema,
        { state: 'pending', deletedAt: null },
        { orderBy: [{ priority: 'desc' }, { createdAt: 'asc' }, { id: 'asc' }], disableIdentityMap: true },
      ),
    )
    return rows.map(toTask)
  }

  async sessionUsage(since: string): Promise<SessionUsage> {
    const { TaskSchema } = this.entities
    const [running, started] = await guarded('count the sessions of the plan', this.at, () =>
      Promise.all([
        this.fork().count(TaskSchema, { state: { $nin: ['pending', 'completed', 'failed'] }, deletedAt: null }),
        // Deleted tasks too: their sessions counted at Jules all the same.
        this.fork().find(
          TaskSchema,
          { startedAt: { $gte: toDate(since) } },
          { fields: ['startedAt'], orderBy: [{ startedAt: 'asc' }], disableIdentityMap: true },
        ),
      ]),
    )
    return {
      running,
      startedAt: started.flatMap((row) => (row.startedAt == null ? [] : [toIso(row.startedAt)])),
    }
  }

  async commitSync(commit: SyncCommit): Promise<SyncCommitResult> {
    const { TaskSchema } = this.entities
    const { dialect } = this.at
    const { taskId, task } = commit
    const messages = (commit.chatMessages ?? []).map((message) => toChatMessageRow(taskId, message))
    let stale = false
    try {
      return await this.fork().transactional(async (em): Promise<SyncCommitResult> => {
        // First, and by the database's clock: is the lease still the holder's?
        // This write also takes SQLite's write lock before anything is read.
        const sets = [`cursor = ${dialect.boundJson}`, `last_synced_at = ${dialect.boundInstant}`]
        const values: Array<string | number> = [
          JSON.stringify(toSyncCursor(commit.cursor)),
          dialect.instantParameter(commit.syncedAt),
        ]
        if (commit.activityAt !== undefined) {
          sets.push(`activity_at = ${dialect.boundInstant}`)
          values.push(dialect.instantParameter(commit.activityAt))
        }
        if (commit.stalledSince === null) sets.push('stalled_since = null')
        else if (commit.stalledSince !== undefined) {
          sets.push(`stalled_since = ${dialect.boundInstant}`)
          values.push(dialect.instantParameter(commit.stalledSince))
        }
        const synced = await em.execute<{ affectedRows: number }>(
          `update task_sync set ${sets.join(', ')} where task_id = ? and lease_holder = ? and lease_until > ${dialect.epochMsNow}`,
          [...values, taskId, commit.holder],
          'run',
        )
        if (synced.affectedRows === 0) return { outcome: 'lease_lost' }
        let result: Task
        if (task !== undefined) {
          const { id: _id, ...fields } = toTaskRow(task)
          const written = await em.nativeUpdate(
            TaskSchema,
            { id: taskId, version: task.version, deletedAt: null },
            { ...fields, version: task.version + 1 },
          )
          if (written === 0) {
            stale = true
            // Rolls back the sync state written above: a stale sync records nothing.
            throw new StaleSync()
          }
          let stalledSince = commit.stalledSince
          if (stalledSince === undefined) {
            const stored = await em.findOneOrFail(
              TaskSchema,
              { id: taskId },
              { fields: ['stalledSince'], disableIdentityMap: true },
            )
            stalledSince = stored.stalledSince == null ? null : toIso(stored.stalledSince)
          }
          result = toStoredTask(task, task.version + 1, commit.syncedAt, stalledSince)
        } else {
          const stored = await em.findOne(TaskSchema, { id: taskId, deletedAt: null }, { disableIdentityMap: true })
          if (stored === null) throw new TaskNotFoundError(taskId)
          result = toTask(stored)
        }
        await this.insertEvents(em, taskId, commit.events)
        // One transaction with the cursor: a sync interrupted here leaves the
        // old cursor, so the repeat reads the same activities and writes them all.
        if (messages.length > 0) await this.insertChatMessages(em, messages)
        await this.bindMessages(em, taskId, commit.boundMessages)
        if (commit.sourceFiles !== undefined) await this.replaceSourceFiles(em, taskId, commit.sourceFiles)
        await this.insertNotifications(em, commit.notifications)
        return { outcome: 'committed', task: result }
      })
    } catch (error) {
      if (!stale) throw toStorageError(error, 'record a sync', this.at)
    }
    const current = await this.getTask(taskId)
    if (current === undefined) throw new TaskNotFoundError(taskId)
    return { outcome: 'stale', task: current }
  }

  async getSyncState(taskId: string): Promise<SyncState | undefined> {
    const row = await guarded('read the sync state', this.at, () =>
      this.fork().findOne(
        this.entities.TaskSyncSchema,
        // A deleted task has no sync state to show, like getTask shows no task.
        { task: { id: taskId, deletedAt: null } } as unknown as FilterQuery<TaskSyncRow>,
        { disableIdentityMap: true },
      ),
    )
    if (row === null) return undefined
    return {
      cursor: row.cursor == null ? null : toSyncCursor(row.cursor),
      lastSyncedAt: row.lastSyncedAt == null ? null : toIso(row.lastSyncedAt),
      leaseHolder: row.leaseHolder ?? null,
      leaseUntil: row.leaseUntil == null ? null : toIso(Number(row.leaseUntil)),
      lastActivityAt: row.activityAt == null ? null : toIso(row.activityAt),
      stalledSince: row.stalledSince == null ? null : toIso(row.stalledSince),
    }
  }

  async claimSyncLeases(
    taskIds: string[],
    holder: string,
    ttlMs: number,
    options: { syncedBefore?: string } = {},
  ): Promise<string[]> {
    const { dialect } = this.at
    const now = dialect.epochMsNow
    const syncedBefore = options.syncedBefore
    const claimed: string[] = []
    for (const batch of chunks([...new Set(taskIds)], idsPerQuery)) {
      // One conditional UPDATE per batch, judged by the database's clock:
      // atomic on SQLite (writers are serialised) and on PostgreSQL (rows
      // another claim is taking are skipped, never waited for, so two claims
      // cannot deadlock; a row it takes is re-checked as it is when locked).
      const free = [
        `s.task_id in (${batch.map(() => '?').join(', ')})`,
        `(s.lease_holder is null or s.lease_until is null or s.lease_until <= ${now} or s.lease_holder = ?)`,
        'exists (select 1 from task t where t.id = s.task_id and t.deleted_at is null)',
        ...(syncedBefore === undefined
          ? []
          : [`(s.last_synced_at is null or s.last_synced_at < ${dialect.boundInstant})`]),
      ]
      const params: unknown[] = [
        holder,
        leaseMs(ttlMs),
        ...batch,
        holder,
        ...(syncedBefore === undefined ? [] : [dialect.instantParameter(syncedBefore)]),
      ]
      const rows = await guarded('claim the sync of tasks', this.at, () =>
        this.fork().execute<Array<{ task_id: string }>>(
          `update task_sync set lease_holder = ?, lease_until = ${now} + ? where task_id in (select s.task_id from task_sync s where ${free.join(' and ')} ${dialect.skipLockedRows('s')}) returning task_id`,
          params,
          'all',
        ),
      )
      for (const row of rows) claimed.push(row.task_id)
    }
    return claimed
  }

  async renewSyncLeases(taskIds: string[], holder: string, ttlMs: number): Promise<string[]> {
    const now = this.at.dialect.epochMsNow
    const renewed: string[] = []
    for (const batch of chunks([...new Set(taskIds)], idsPerQuery)) {
      const rows = await guarded('renew the sync of tasks', this.at, () =>
        this.fork().execute<Array<{ task_id: string }>>(
          `update task_sync set lease_until = ${now} + ? where lease_holder = ? and task_id in (${batch.map(() => '?').join(', ')}) returning task_id`,
          [leaseMs(ttlMs), holder, ...batch],
          'all',
        ),
      )
      for (const row of rows) renewed.push(row.task_id)
    }
    return renewed
  }

  async releaseSyncLeases(taskIds: string[], holder: string): Promise<void> {
    for (const batch of chunks([...new Set(taskIds)], idsPerQuery)) {
      await guarded('release the sync of tasks', this.at, () =>
        this.fork().nativeUpdate(
          this.entities.TaskSyncSchema,
          { task: { $in: batch }, leaseHolder: holder },
          { leaseHolder: null, leaseUntil: null },
        ),
      )
    }
  }

  async beginCreation(key: string, requestHash: string, at: string, lease: CreationLease): Promise<CreationClaim> {
    const { CreationIntentSchema } = this.entities
    const now = toDate(at)
    const leased = { leaseHolder: lease.holder, leaseExpiresAt: toDate(lease.expiresAt), updatedAt: now }
    const row: CreationIntentRow = {
      key,
      requestHash,
      state: 'pending',
      sessionName: null,
      task: null,
      error: null,
      createdAt: now,
      ...leased,
    }
    return guarded('record a creation intent', this.at, async () => {
      const em = this.fork()
      // Insert-or-nothing in one statement: of two processes racing on one key,
      // the primary key lets exactly one insert, with no read before the write.
      const inserted = await em
        .createQueryBuilder(CreationIntentSchema)
        .insert(row)
        .onConflict('key')
        .ignore()
        .execute('run')
      if (inserted.affectedRows > 0) return { intent: toCreationIntent(row), created: true, claimed: true }
      // Each claim is one conditional update: the database re-checks "no live
      // lease" on the row as it is when the update runs (PostgreSQL re-reads a
      // row another connection just changed; SQLite runs one writer at a time),
      // so of two racers one matches and the other finds the lease taken.
      const claimable = {
        key,
        requestHash,
        $or: [{ leaseExpiresAt: null }, { leaseExpiresAt: { $lte: now } }],
      }
      // A failed attempt may be tried again, with the same request only.
      const retaken = await em.nativeUpdate(
        CreationIntentSchema,
        { ...claimable, state: 'failed' },
        { state: 'pending', error: null, ...leased },
      )
      const takenOver =
        retaken > 0
          ? 0
          : await em.nativeUpdate(
              CreationIntentSchema,
              { ...claimable, state: { $in: ['pending', 'session_created'] } },
              leased,
            )
      const existing = await em.findOneOrFail(CreationIntentSchema, { key }, { disableIdentityMap: true })
      return { intent: toCreationIntent(existing), created: retaken > 0, claimed: retaken + takenOver > 0 }
    })
  }

  async pruneCreationIntents(before: string, limit: number): Promise<number> {
    const { pruneCreationIntents } = await import('./intent-retention.js')
    return pruneCreationIntents(this.em, this.entities, this.at, before, limit)
  }

  async listCreationIntents(): Promise<CreationIntent[]> {
    const rows = await guarded('list creation intents', this.at, () =>
      this.fork().find(
        this.entities.CreationIntentSchema,
        {},
        { orderBy: { createdAt: 'asc', key: 'asc' }, disableIdentityMap: true },
      ),
    )
    return rows.map(toCreationIntent)
  }

  async releaseCreation(key: string, holder: string): Promise<void> {
    await guarded('release a creation intent', this.at, () =>
      this.fork().nativeUpdate(
        this.entities.CreationIntentSchema,
        { key, leaseHolder: holder },
        { leaseHolder: null, leaseExpiresAt: null },
      ),
    )
  }

  async holdCreation(key: string, holder: string, until: string): Promise<void> {
    await guarded('hold a creation intent', this.at, () =>
      this.fork().nativeUpdate(
        this.entities.CreationIntentSchema,
        { key, leaseHolder: holder },
        { leaseExpiresAt: toDate(until) },
      ),
    )
  }

  async noteCreationSession(key: string, sessionName: string, at: string): Promise<void> {
    const { CreationIntentSchema } = this.entities
    await guarded('record the session of a creation', this.at, async () => {
      const em = this.fork()
      const updated = await em.nativeUpdate(
        CreationIntentSchema,
        { key, state: { $in: ['pending', 'session_created'] } },
        { state: 'session_created', sessionName, updatedAt: toDate(at) },
      )
      // A done or failed intent stays as it is: its outcome is already decided.
      if (updated === 0) await this.requireIntent(em, key)
    })
  }

  async failCreation(key: string, message: string, at: string): Promise<void> {
    const { CreationIntentSchema } = this.entities
    await guarded('record a failed creation', this.at, async () => {
      const em = this.fork()
      const updated = await em.nativeUpdate(
        CreationIntentSchema,
        { key, state: { $ne: 'done' } },
        { state: 'failed', error: message, updatedAt: toDate(at) },
      )
      // A done intent has its task: failing it would let the key create a second session.
      if (updated === 0) await this.requireIntent(em, key)
    })
  }

  async getTask(id: string): Promise<Task | undefined> {
    const row = await guarded('get task', this.at, () =>
      this.fork().findOne(this.entities.TaskSchema, { id, deletedAt: null }, { disableIdentityMap: true }),
    )
    return row === null ? undefined : toTask(row)
  }

  async findTask(ref: string): Promise<Task | undefined> {
    const wanted = ref.trim()
    if (wanted === '') return undefined
    const byId = (await this.getTask(wanted)) ?? (await this.getTask(wanted.toUpperCase()))
    if (byId !== undefined) return byId

    const sessionName = wanted.startsWith('sessions/') ? wanted : `sessions/${wanted}`
    const bySession = await guarded('find task', this.at, () =>
      this.fork().findOne(this.entities.TaskSchema, { sessionName, deletedAt: null }, { disableIdentityMap: true }),
    )
    if (bySession !== null) return toTask(bySession)

    const prefix = wanted.toUpperCase()
    if (prefix.length < minPrefixLength || !ulidPrefixPattern.test(prefix)) return undefined
    // The alphabet check above guarantees no LIKE wildcard in the prefix.
    const matches = await guarded('find task', this.at, () =>
      this.fork().find(
        this.entities.TaskSchema,
        { id: { $like: `${prefix}%` }, deletedAt: null },
        { orderBy: { id: 'asc' }, limit: 6, disableIdentityMap: true },
      ),
    )
    const [first, ...others] = matches
    if (first === undefined) return undefined
    if (others.length === 0) return toTask(first)
    const shown = matches.slice(0, 5).map((row) => row.id)
    throw new ValidationError(
      `"${ref}" matches several tasks (${shown.join(', ')}${matches.length > 5 ? ', …' : ''}). Give more characters of the id.`,
      { context: { ref, matches: shown } },
    )
  }

  async listTasks(filter: TaskFilter): Promise<Page<Task>> {
    const limit = pageSize(filter.limit)
    const after = decodeCursor(filter.cursor)
    const conditions: FilterQuery<TaskRow>[] = [{ deletedAt: null }]
    if (filter.states !== undefined && filter.states.length > 0) conditions.push({ state: { $in: filter.states } })
    if (filter.archived !== undefined) conditions.push({ archived: filter.archived })
    if (filter.repository !== undefined && filter.repository !== '') {
      conditions.push({ repository: filter.repository })
    }
    conditions.push(...timeRange('createdAt', filter.since, filter.until, ['since', 'until']))
    conditions.push(
      ...timeRange('updatedAt', filter.updatedSince, filter.updatedUntil, ['updatedSince', 'updatedUntil']),
    )
    if (after !== undefined) conditions.push(afterCursor('createdAt', after, 'desc'))
    const { dialect } = this.at
    const rows = await guarded('list tasks', this.at, () => {
      const qb = this.fork()
        .createQueryBuilder(this.entities.TaskSchema, 't')
        .select('*')
        .where({ $and: conditions })
        .orderBy([{ createdAt: 'desc' }, { id: 'desc' }])
        .limit(limit + 1)
      if (filter.label !== undefined && filter.label !== '') {
        qb.andWhere(dialect.jsonArrayContains('t.labels'), [dialect.jsonArrayParameter(filter.label)])
      }
      if (filter.search !== undefined && filter.search !== '') {
        qb.andWhere(dialect.containsIgnoringCase('t.title'), [likeParameter(filter.search)])
      }
      if (filter.stalled !== undefined) {
        const exists = 'exists (select 1 from task_sync s where s.task_id = t.id and s.stalled_since is not null)'
        qb.andWhere(filter.stalled ? exists : `not ${exists}`)
      }
      return qb.getResultList()
    })
    const items = rows.slice(0, limit).map(toTask)
    const last = items[items.length - 1]
    const nextCursor = rows.length > limit && last !== undefined ? encodeCursor(last.createdAt, last.id) : null
    return { items, nextCursor }
  }

  async listActiveTasks(): Promise<Task[]> {
    const rows = await guarded('list active tasks', this.at, () =>
      this.fork().find(
        this.entities.TaskSchema,
        { state: { $nin: ['completed', 'failed'] }, deletedAt: null },
        {
          orderBy: [{ lastSyncedAt: this.at.dialect.ascNullsFirst }, { createdAt: 'asc' }, { id: 'asc' }],
          disableIdentityMap: true,
        },
      ),
    )
    return rows.map(toTask)
  }

  async summariseActiveTasks(): Promise<{
    byState: Record<string, number>
    oldestSyncAt: string | null
    stalled: number
  }> {
    // One aggregate query, however many tasks are active (a scrape runs it at most every few seconds).
    const rows = await guarded('count the active tasks', this.at, () =>
      this.fork().getConnection().execute<
        Array<{
          state: string
          tasks: number | string
          stalled: number | string | null
          oldest: Date | string | number | null
        }>
      >(
        "select t.state, count(*) as tasks, count(s.stalled_since) as stalled, min(case when t.state = 'pending' then null else coalesce(s.last_synced_at, t.created_at) end) as oldest from task t left join task_sync s on s.task_id = t.id where t.deleted_at is null and t.state not in ('completed', 'failed') group by t.state",
      ),
    )
    const byState: Record<string, number> = {}
    let oldest: number | undefined
    let stalled = 0
    for (const row of rows) {
      byState[row.state] = Number(row.tasks)
      stalled += Number(row.stalled ?? 0)
      if (row.oldest === null) continue
      const at = Date.parse(toIso(row.oldest))
      if (Number.isFinite(at) && (oldest === undefined || at < oldest)) oldest = at
    }
    return { byState, oldestSyncAt: oldest === undefined ? null : new Date(oldest).toISOString(), stalled }
  }

  async getEvents(taskId: string, query: EventQuery = {}): Promise<Page<TaskEvent>> {
    const limit = pageSize(query.limit)
    const after = decodeCursor(query.cursor)
    const conditions: FilterQuery<TaskEventRow>[] = [{ task: taskId }]
    if (query.types !== undefined && query.types.length > 0) conditions.push({ type: { $in: query.types } })
    conditions.push(...timeRange('at', query.since, query.until, ['since', 'until']))
    if (after !== undefined) conditions.push(afterCursor('at', after, 'desc'))
    const rows = await guarded('get events', this.at, () =>
      this.fork().find(
        this.entities.TaskEventSchema,
        { $and: conditions },
        { orderBy: [{ at: 'desc' }, { id: 'desc' }], limit: limit + 1, disableIdentityMap: true },
      ),
    )
    const items = rows.slice(0, limit).map(toEvent)
    const last = items[items.length - 1]
    const nextCursor = rows.length > limit && last !== undefined ? encodeCursor(last.at, last.id) : null
    return { items, nextCursor }
  }

  async logEvent(taskId: string, event: NewTaskEvent, options: EventWriteOptions = {}): Promise<TaskEvent> {
    const row = toEventRow(taskId, event)
    const notifications = options.notifications ?? []
    try {
      // One statement: the foreign key tells an unknown task, with no read before the write.
      if (notifications.length === 0) await this.fork().insert(this.entities.TaskEventSchema, row)
      else
        await this.fork().transactional(async (em) => {
          await em.insert(this.entities.TaskEventSchema, row)
          await this.insertNotifications(em, notifications)
        })
    } catch (error) {
      throw this.unknownTaskOr(error, taskId, 'log an event')
    }
    return toEvent(row)
  }

  async deleteTask(id: string, options: { purge?: boolean; at?: string } = {}): Promise<boolean> {
    const { TaskSchema, TaskEventSchema } = this.entities
    if (options.purge === true) {
      // The foreign keys cascade to the events, messages and files.
      const removed = await guarded('purge task', this.at, () => this.fork().nativeDelete(TaskSchema, { id }))
      return removed > 0
    }
    return guarded('delete task', this.at, () =>
      this.fork().transactional(async (em) => {
        const now = options.at === undefined ? new Date() : new Date(options.at)
        const hidden = await em.nativeUpdate(TaskSchema, { id, deletedAt: null }, { deletedAt: now })
        if (hidden === 0) return false
        await em.insert(TaskEventSchema, toEventRow(id, { type: 'deleted', data: {}, at: now.toISOString() }))
        return true
      }),
    )
  }

  async addChatMessages(taskId: string, messages: NewChatMessage[]): Promise<number> {
    if (messages.length === 0) return 0
    const rows = messages.map((message) => toChatMessageRow(taskId, message))
    try {
      return await this.fork().transactional((em) => this.insertChatMessages(em, rows))
    } catch (error) {
      throw this.unknownTaskOr(error, taskId, 'record chat messages')
    }
  }

  async listChatMessages(taskId: string, query: { limit?: number; cursor?: string } = {}): Promise<Page<ChatMessage>> {
    const limit = pageSize(query.limit)
    const after = decodeCursor(query.cursor)
    const conditions: FilterQuery<ChatMessageRow>[] = [{ task: taskId }]
    if (after !== undefined) conditions.push(afterCursor('at', after, 'asc'))
    const rows = await guarded('list chat messages', this.at, () =>
      this.fork().find(
        this.entities.ChatMessageSchema,
        { $and: conditions },
        { orderBy: [{ at: 'asc' }, { id: 'asc' }], limit: limit + 1, disableIdentityMap: true },
      ),
    )
    const items = rows.slice(0, limit).map(toChatMessage)
    const last = items[items.length - 1]
    const nextCursor = rows.length > limit && last !== undefined ? encodeCursor(last.at, last.id) : null
    return { items, nextCursor }
  }

  async setSourceFiles(taskId: string, files: Array<Omit<SourceFile, 'taskId'>>): Promise<void> {
    const { TaskSchema } = this.entities
    try {
      await this.fork().transactional(async (em) => {
        const written = await this.replaceSourceFiles(em, taskId, files)
        if (written === 0 && (await em.count(TaskSchema, { id: taskId, deletedAt: null })) === 0) {
          throw new TaskNotFoundError(taskId)
        }
      })
    } catch (error) {
      throw this.unknownTaskOr(error, taskId, 'record changed files')
    }
  }

  async listSourceFiles(taskId: string): Promise<SourceFile[]> {
    const rows = await guarded('list changed files', this.at, () =>
      this.fork().find(
        this.entities.SourceFileSchema,
        { task: taskId },
        { orderBy: { path: 'asc' }, disableIdentityMap: true },
      ),
    )
    return rows.map(toSourceFile)
  }

  async getRelations(
    taskIds: string[],
    options: { messagesPerTask?: number } = {},
  ): Promise<Map<string, TaskRelations>> {
    const perTask = options.messagesPerTask ?? defaultMessagesPerTask
    if (!Number.isInteger(perTask) || perTask < 0) {
      throw new ValidationError(`messagesPerTask must be a whole number, at least 0, not ${perTask}.`, {
        context: { messagesPerTask: perTask },
      })
    }
    const ids = [...new Set(taskIds)]
    const relations = new Map<string, TaskRelations>(ids.map((id) => [id, { sourceFiles: [], chatMessages: [] }]))
    // Two queries per 500 tasks, however many tasks: never one query per task.
    for (const batch of chunks(ids, idsPerQuery)) {
      const em = this.fork()
      const files = await guarded('load changed files', this.at, () =>
        em.find(
          this.entities.SourceFileSchema,
          { task: { $in: batch } },
          { orderBy: [{ task: 'asc' }, { path: 'asc' }], disableIdentityMap: true },
        ),
      )
      for (const file of files) relations.get(file.task)?.sourceFiles.push(toSourceFile(file))
      if (perTask === 0) continue
      const messages = await guarded('load chat messages', this.at, () =>
        em
          .createQueryBuilder(this.entities.ChatMessageSchema, 'm')
          .select('*')
          .where({ task: { $in: batch } })
          // The latest `perTask` of each task, ranked in one pass by a window function.
          .andWhere(
            `m.id in (select ranked.id from (select id, row_number() over (partition by task_id order by at desc, id desc) as position from chat_message where task_id in (${batch.map(() => '?').join(', ')})) ranked where ranked.position <= ?)`,
            [...batch, perTask],
          )
          .orderBy([{ task: 'asc' }, { at: 'asc' }, { id: 'asc' }])
          .getResultList(),
      )
      for (const message of messages) relations.get(message.task)?.chatMessages.push(toChatMessage(message))
    }
    return relations
  }

  async claimNotifications(limit: number, now: string): Promise<OutboxEntry[]> {
    const { NotificationOutboxSchema, claimLockMode } = this.entities
    const at = new Date(now)
    const postgres = this.at.dialect.name === 'postgresql'
    return guarded('claim notifications', this.at, () =>
      this.fork().transactional(async (em) => {
        const rows = await em.find(
          NotificationOutboxSchema,
          { deliveredAt: null, failedAt: null, nextAttemptAt: { $lte: at } },
          {
            orderBy: { nextAttemptAt: 'asc', id: 'asc' },
            limit: Math.max(1, limit),
            disableIdentityMap: true,
            // Two daemons never claim the same entry; SQLite serialises writers anyway.
            ...(postgres ? { lockMode: claimLockMode } : {}),
          },
        )
        if (rows.length === 0) return []
        // The lease: an entry whose delivery is interrupted is due again after it.
        await em.nativeUpdate(
          NotificationOutboxSchema,
          { id: { $in: rows.map((row) => row.id) } },
          { nextAttemptAt: new Date(at.getTime() + notificationLeaseMs) },
        )
        return rows.map(toOutboxEntry)
      }),
    )
  }

  async markNotificationDelivered(id: string, at: string): Promise<void> {
    await guarded('mark a notification delivered', this.at, () =>
      this.fork().nativeUpdate(this.entities.NotificationOutboxSchema, { id }, { deliveredAt: new Date(at) }),
    )
  }

  async markNotificationFailed(id: string, error: string, nextAttemptAt: string | null, at?: string): Promise<void> {
    const { NotificationOutboxSchema } = this.entities
    await guarded('mark a notification failed', this.at, () =>
      this.fork().transactional(async (em) => {
        const row = await em.findOne(NotificationOutboxSchema, { id }, { disableIdentityMap: true })
        if (row === null) return
        await em.nativeUpdate(
          NotificationOutboxSchema,
          { id },
          {
            attempts: row.attempts + 1,
            lastError: error.slice(0, 2000),
            ...(nextAttemptAt === null
              ? { failedAt: at === undefined ? new Date() : new Date(at) }
              : { nextAttemptAt: new Date(nextAttemptAt) }),
          },
        )
      }),
    )
  }

  async listNotifications(query: NotificationQuery = {}): Promise<Page<NotificationRecord>> {
    const limit = pageSize(query.limit)
    const after = decodeCursor(query.cursor)
    const conditions: FilterQuery<NotificationOutboxRow>[] = []
    const states = new Set(query.states ?? [])
    if (states.size > 0 && states.size < 3) {
      const byState: Record<NotificationState, FilterQuery<NotificationOutboxRow>> = {
        pending: { deliveredAt: null, failedAt: null },
        delivered: { deliveredAt: { $ne: null } },
        failed: { deliveredAt: null, failedAt: { $ne: null } },
      }
      conditions.push({ $or: [...states].map((state) => byState[state]) })
    }
    if (query.taskId !== undefined) conditions.push({ taskId: query.taskId })
    if (query.ids !== undefined) conditions.push({ id: { $in: query.ids } })
    if (after !== undefined) conditions.push(afterCursor('createdAt', after, 'desc'))
    const rows = await guarded('list notifications', this.at, () =>
      this.fork().find(this.entities.NotificationOutboxSchema, conditions.length === 0 ? {} : { $and: conditions }, {
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        limit: limit + 1,
        disableIdentityMap: true,
      }),
    )
    const items = rows.slice(0, limit).map(toNotificationRecord)
    const last = items[items.length - 1]
    const nextCursor = rows.length > limit && last !== undefined ? encodeCursor(last.createdAt, last.id) : null
    return { items, nextCursor }
  }

  async requeueNotifications(ids: string[], now: string): Promise<number> {
    let changed = 0
    for (const batch of chunks(ids, idsPerQuery)) {
      changed += await guarded('retry notifications', this.at, () =>
        this.fork().nativeUpdate(
          this.entities.NotificationOutboxSchema,
          { id: { $in: batch }, deliveredAt: null },
          { attempts: 0, failedAt: null, lastError: null, nextAttemptAt: new Date(now) },
        ),
      )
    }
    return changed
  }

  async pruneNotifications(options: NotificationPruneOptions): Promise<{ delivered: number; failed: number }> {
    const { NotificationOutboxSchema } = this.entities
    const limit = Math.max(1, options.limit)
    // Select the ids first (by the indexed instant, bounded), then delete them: SQLite has no DELETE … LIMIT.
    const prune = (operation: string, where: FilterQuery<NotificationOutboxRow>) =>
      guarded(operation, this.at, async () => {
        const em = this.fork()
        const rows = await em.find(NotificationOutboxSchema, where, {
          fields: ['id'],
          limit,
          disableIdentityMap: true,
        })
        if (rows.length === 0) return 0
        return em.nativeDelete(NotificationOutboxSchema, { id: { $in: rows.map((row) => row.id) } })
      })
    const delivered = await prune('prune delivered notifications', {
      deliveredAt: { $lt: new Date(options.deliveredBefore) },
    })
    const failed = await prune('prune failed notifications', {
      deliveredAt: null,
      failedAt: { $lt: new Date(options.failedBefore) },
    })
    return { delivered, failed }
  }

  close(): Promise<void> {
    return this.closeStorage()
  }

  /** Appends history lines inside `em`'s transaction. */
  private async insertEvents(em: SqlEntityManager, taskId: string, events: NewTaskEvent[]): Promise<void> {
    const rows = events.map((event) => toEventRow(taskId, event))
    for (const batch of chunks(rows, rowsPerInsert)) await em.insertMany(this.entities.TaskEventSchema, batch)
  }

  /** Writes notifications to the outbox inside `em`'s transaction, beside the events that cause them. */
  private async insertNotifications(em: SqlEntityManager, notifications: NewNotification[] | undefined): Promise<void> {
    if (notifications === undefined || notifications.length === 0) return
    const rows = notifications.map(toOutboxRow)
    for (const batch of chunks(rows, rowsPerInsert)) await em.insertMany(this.entities.NotificationOutboxSchema, batch)
  }

  /** Inserts chat messages inside `em`'s transaction; returns how many were new. */
  private async insertChatMessages(em: SqlEntityManager, rows: ChatMessageRow[]): Promise<number> {
    let added = 0
    for (const batch of chunks(rows, rowsPerInsert)) {
      // The unique (task_id, activity_id) index makes a repeated activity a no-op.
      const result = await em
        .createQueryBuilder(this.entities.ChatMessageSchema)
        .insert(batch)
        .onConflict(['task', 'activityId'])
        .ignore()
        .execute('run')
      added += result.affectedRows
    }
    return added
  }

  /** Binds messages recorded without an activity to their activities, inside `em`'s transaction. */
  private async bindMessages(
    em: SqlEntityManager,
    taskId: string,
    bindings: MessageBinding[] | undefined,
  ): Promise<void> {
    for (const { messageId, activityId, at } of bindings ?? []) {
      await em.nativeUpdate(
        this.entities.ChatMessageSchema,
        { id: messageId, task: taskId, activityId: null },
        { activityId, at: toDate(at) },
      )
    }
  }

  /** Replaces a task's changed files inside `em`'s transaction; returns how many rows it wrote. */
  private async replaceSourceFiles(
    em: SqlEntityManager,
    taskId: string,
    files: Array<Omit<SourceFile, 'taskId'>>,
  ): Promise<number> {
    const { SourceFileSchema } = this.entities
    // The last entry for a path wins, as if the list were applied in order.
    const byPath = new Map(files.map((file) => [file.path, file.changeType]))
    const rows = [...byPath].map(([path, changeType]) => ({ id: nextId(), task: taskId, path, changeType }))
    // The delete takes SQLite's write lock before anything is read.
    await em.nativeDelete(SourceFileSchema, { task: taskId })
    for (const batch of chunks(rows, rowsPerInsert)) await em.insertMany(SourceFileSchema, batch)
    return rows.length
  }

  /**
   * Binds the intent under `key` to the task just inserted in `em`'s
   * transaction, so that the task and "this key is done" commit together.
   */
  private async completeCreation(em: SqlEntityManager, key: string, task: Task): Promise<void> {
    const { CreationIntentSchema } = this.entities
    const bound = await em.nativeUpdate(
      CreationIntentSchema,
      { key, state: { $ne: 'done' } },
      // Dated by core's clock (the task's creation), not the machine's.
      {
        state: 'done',
        task: task.id,
        // A pending task has no session yet: its start binds one under its own key.
        sessionName: task.sessionName === '' ? null : task.sessionName,
        error: null,
        updatedAt: new Date(task.createdAt),
      },
    )
    if (bound > 0) return
    const intent = await this.requireIntent(em, key)
    throw new StorageError(
      `The idempotency key "${key}" already created task ${intent.task ?? '(since purged)'}; task ${task.id} was not recorded.`,
      { context: { operation: 'create task', ...this.at.where, idempotencyKey: key, taskId: task.id } },
    )
  }

  /** The intent under `key`; refuses a key that beginCreation never recorded. */
  private async requireIntent(em: SqlEntityManager, key: string): Promise<CreationIntentRow> {
    const intent = await em.findOne(this.entities.CreationIntentSchema, { key }, { disableIdentityMap: true })
    if (intent !== null) return intent
    throw new StorageError(`No creation is recorded under the idempotency key "${key}" (beginCreation comes first).`, {
      context: { ...this.at.where, idempotencyKey: key },
    })
  }

  /** A foreign key violation on a task's child row means the task does not exist. */
  private unknownTaskOr(error: unknown, taskId: string, operation: string): Error {
    if (isForeignKeyViolation(this.at.dialect.classifyError(error))) return new TaskNotFoundError(taskId)
    return toStorageError(error, operation, this.at)
  }

  async importTask(record: TaskImport): Promise<TaskImportResult> {
    const { TaskSchema, TaskSyncSchema, TaskEventSchema, CreationIntentSchema } = this.entities
    const { task, creationIntent: intent } = record
    try {
      return await this.fork().transactional(async (em) => {
        // The task first: a task already here (by id or session, deleted or not) fails
        // this insert, and the whole import of this task is rolled back.
        // The version comes along, so that an ETag a client holds still matches after a migration.
        const version = Number.isInteger(task.version) && task.version > 0 ? task.version : 1
        await em.insert(TaskSchema, {
          ...toTaskRow(task),
          deletedAt: null,
          version,
          startedAt: isPending(task.state) ? null : toDate(task.createdAt),
        })
        await em.insert(TaskSyncSchema, {
          task: task.id,
          cursor: record.syncCursor === null ? null : toSyncCursor(record.syncCursor),
          lastSyncedAt: task.lastSyncedAt === null ? null : toDate(task.lastSyncedAt),
          leaseHolder: null,
          leaseUntil: null,
          activityAt: null,
          // A stall is judged again by the destination's monitor, from its own activity.
          stalledSince: null,
        })
        const events = record.events.map((event) => toEventRow(task.id, event))
        for (const batch of chunks(events, rowsPerInsert)) await em.insertMany(TaskEventSchema, batch)
        const messages = record.chatMessages.map((message) => toChatMessageRow(task.id, message))
        const chatMessages = messages.length === 0 ? 0 : await this.insertChatMessages(em, messages)
        const sourceFiles = await this.replaceSourceFiles(em, task.id, record.sourceFiles)
        if (intent !== undefined) {
          // As it was when it completed, held by nobody; a key the destination already knows stays as it is there.
          await em
            .createQueryBuilder(CreationIntentSchema)
            .insert({
              key: intent.key,
              requestHash: intent.requestHash,
              state: 'done',
              sessionName: task.sessionName,
              task: task.id,
              error: null,
              createdAt: toDate(intent.createdAt),
              updatedAt: toDate(intent.updatedAt),
              leaseHolder: null,
              leaseExpiresAt: null,
            })
            .onConflict('key')
            .ignore()
            .execute('run')
        }
        return { imported: true, chatMessages, sourceFiles }
      })
    } catch (error) {
      if (isUniqueViolation(this.at.dialect.classifyError(error)))
        return { imported: false, chatMessages: 0, sourceFiles: 0 }
      throw toStorageError(error, 'import a task', this.at)
    }
  }
}

class SqlSimStateStore implements SimStateStore {
  constructor(
    private readonly em: SqlEntityManager,
    private readonly entities: Entities,
    private readonly at: StoreContext,
  ) {}

  async get(id: string): Promise<SimSessionRecord | undefined> {
    const row = await guarded('read a simulated session', this.at, () =>
      this.em.fork().findOne(this.entities.SimSessionSchema, { id }, { disableIdentityMap: true }),
    )
    return row === null ? undefined : toSimSession(row)
  }

  async put(record: SimSessionRecord): Promise<void> {
    const row: SimSessionRow = { id: record.id, createdAt: toDate(record.createdAt), state: record.state }
    await guarded('save a simulated session', this.at, async () => {
      await this.em
        .fork()
        .createQueryBuilder(this.entities.SimSessionSchema)
        .insert(row)
        .onConflict('id')
        .merge(['state'])
        .execute()
    })
  }

  async list(): Promise<SimSessionRecord[]> {
    const rows = await guarded('list simulated sessions', this.at, () =>
      this.em
        .fork()
        .find(
          this.entities.SimSessionSchema,
          {},
          { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], disableIdentityMap: true },
        ),
    )
    return rows.map(toSimSession)
  }
}
