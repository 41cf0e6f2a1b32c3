/**
 * The SQL storage backend on MikroORM: tasks and their history, the
 * simulator's sessions, and the schema migrations. SQLite today; PostgreSQL
 * will use the same entities, with its own migrations folder and its own
 * `SqlDialect` below.
 *
 * The ORM is imported inside `openSqlStore` so that `jjm --help` never loads it.
 */
import { mkdir } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { BetterSqliteDriver } from '@mikro-orm/better-sqlite'
import type { FilterQuery, MigrationObject, Logger as OrmLogger, QueryOrder } from '@mikro-orm/core'
import type { MikroORM, SqlEntityManager } from '@mikro-orm/knex'
import { monotonicFactory } from 'ulidx'
import {
  isJjmError,
  MigrationRequiredError,
  StorageError,
  TaskNotFoundError,
  ValidationError,
} from '../../core/errors.js'
import type {
  EventQuery,
  Logger,
  MigrationStatus,
  NewTaskEvent,
  SchemaManager,
  SimSessionRecord,
  SimStateStore,
  TaskStore,
} from '../../core/ports.js'
import { silentLogger } from '../../core/ports.js'
import type { AutomationMode, Page, Task, TaskEvent, TaskFilter } from '../../core/task.js'
import type { SimSessionRow, TaskEventRow, TaskRow } from './entities.js'

export type MigrationPolicy = 'auto' | 'check' | 'none'

export interface SqlStoreOptions {
  dialect: 'sqlite'
  /** The database file; `:memory:` for a throw-away database. The parent directory is created when missing. */
  path: string
  logger?: Logger
  /**
   * `auto` (default): apply pending migrations (silently on a new database,
   * with an info line naming them on an existing one). `check`: refuse to open
   * a database with pending migrations (MigrationRequiredError). `none`: leave
   * the schema alone (for `jjm migrate status|up`).
   */
  migrate?: MigrationPolicy
  /** Called with the SQL of every query, e.g. so that a test can count them. */
  debugQueries?: (sql: string) => void
}

export interface SqlStorage {
  store: TaskStore
  sim: SimStateStore
  schema: SchemaManager
  /** Closes the database; the store, sim and schema are unusable afterwards. */
  close(): Promise<void>
}

export const defaultPageSize = 50
export const maxPageSize = 200
/** How long a write waits for another process's lock before giving up. */
const busyTimeoutMs = 5000
const migrationsTable = 'mikro_orm_migrations'
/** Crockford base32, the alphabet of ULIDs. */
const ulidPrefixPattern = /^[0-9A-HJKMNP-TV-Z]+$/
const minPrefixLength = 4

/** The few pieces of SQL (and of error handling) that differ between databases. */
interface SqlDialect {
  /** A condition true when the JSON array column `column` contains the bound value. */
  jsonArrayContains(column: string): string
  /** A condition true when `column` contains the bound pattern (lower-cased, LIKE-escaped with `\`). */
  containsIgnoringCase(column: string): string
  /** Ascending order with NULLs first (PostgreSQL puts them last by default). */
  ascNullsFirst: QueryOrder
  /** The driver's raw error as one of MikroORM's named exceptions, which `toStorageError` understands. */
  classifyError(error: unknown): unknown
}

function sqliteDialect(orm: typeof import('@mikro-orm/better-sqlite')): SqlDialect {
  const converter = new orm.BetterSqliteExceptionConverter()
  return {
    jsonArrayContains: (column) => `exists (select 1 from json_each(${column}) where json_each.value = ?)`,
    containsIgnoringCase: (column) => `lower(${column}) like ? escape '\\'`,
    ascNullsFirst: orm.QueryOrder.ASC_NULLS_FIRST,
    // Query builders hand back the driver's raw error; the EntityManager has converted it already.
    classifyError: (error) =>
      error instanceof Error && !(error instanceof orm.DriverException) ? converter.convertException(error) : error,
  }
}

/** Where a store writes, for error messages, and how to read its driver's errors. */
interface StoreContext {
  path: string
  dialect: SqlDialect
}

type Entities = typeof import('./entities.js')

export async function openSqlStore(options: SqlStoreOptions): Promise<SqlStorage> {
  if (options.dialect !== 'sqlite') {
    throw new StorageError(`The SQL store does not support the "${String(options.dialect)}" dialect yet.`, {
      context: { dialect: options.dialect },
    })
  }
  const logger = options.logger ?? silentLogger
  const inMemory = options.path === ':memory:'
  const path = inMemory ? options.path : resolve(options.path)
  if (!inMemory) {
    try {
      await mkdir(dirname(path), { recursive: true })
    } catch (error) {
      throw new StorageError(
        `Cannot create the directory for the database ${path}: ${reason(error)}. Choose another path (--db) or fix the permissions.`,
        { context: { operation: 'open', path }, cause: error },
      )
    }
  }

  const [orm, migrations, entities, migrationList] = await Promise.all([
    import('@mikro-orm/better-sqlite'),
    import('@mikro-orm/migrations'),
    import('./entities.js'),
    import('../../../migrations/sqlite/index.js'),
  ])

  const dialect = sqliteDialect(orm)
  const at: StoreContext = { path, dialect }
  let instance: MikroORM<BetterSqliteDriver, SqlEntityManager<BetterSqliteDriver>>
  try {
    instance = await orm.MikroORM.init<BetterSqliteDriver, SqlEntityManager<BetterSqliteDriver>>({
      dbName: path,
      entities: entities.entities,
      extensions: [migrations.Migrator],
      migrations: {
        tableName: migrationsTable,
        migrationsList: migrationList.sqliteMigrations,
        silent: true,
        snapshot: false,
        transactional: true,
        allOrNothing: true,
      },
      pool: { afterCreate: configureSqliteConnection(inMemory) },
      loggerFactory: () => ormLogger(logger, options.debugQueries),
      debug: options.debugQueries === undefined ? false : ['query'],
      allowGlobalContext: false,
      ensureIndexes: false,
    })
  } catch (error) {
    throw toStorageError(error, 'open', at)
  }

  const em = instance.em
  const schema = new MigrationManager(instance.migrator, migrationList.sqliteMigrations, at)
  try {
    await applyMigrationPolicy(schema, options.migrate ?? 'auto', logger, path)
  } catch (error) {
    await instance.close(true).catch(() => {})
    throw error
  }

  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await instance.close(true)
  }
  const store = new SqlTaskStore(em, entities, at, close)
  const sim = new SqlSimStateStore(em, entities, at)
  return { store, sim, schema, close }
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

/** MikroORM's own log lines go to jjm's logger at debug level; queries go to the optional hook. */
function ormLogger(logger: Logger, onQuery: ((sql: string) => void) | undefined): OrmLogger {
  const forward = (namespace: string, message: string): void =>
    logger.debug(message, { component: 'mikro-orm', namespace })
  return {
    log: forward,
    error: forward,
    warn: forward,
    logQuery: (context) => {
      if (onQuery !== undefined && typeof context.query === 'string') onQuery(context.query)
    },
    setDebugMode: () => {},
    isEnabled: (namespace) => namespace === 'query' && onQuery !== undefined,
  }
}

interface OrmMigrator {
  getExecutedMigrations(): Promise<Array<{ name: string }>>
  getPendingMigrations(): Promise<Array<{ name: string }>>
  up(options?: { to?: string }): Promise<Array<{ name: string }>>
}

class MigrationManager implements SchemaManager {
  constructor(
    private readonly migrator: OrmMigrator,
    private readonly known: MigrationObject[],
    private readonly at: StoreContext,
  ) {}

  async status(): Promise<MigrationStatus> {
    try {
      const executed = await this.migrator.getExecutedMigrations()
      const pending = await this.migrator.getPendingMigrations()
      return { executed: executed.map((row) => row.name), pending: pending.map((row) => row.name) }
    } catch (error) {
      throw toStorageError(error, 'migrate status', this.at)
    }
  }

  async up(options: { to?: string } = {}): Promise<string[]> {
    const names = this.known.map((migration) => migration.name)
    if (options.to !== undefined && !names.includes(options.to)) {
      throw new ValidationError(`There is no migration named "${options.to}". Known migrations: ${names.join(', ')}.`, {
        context: { to: options.to, known: names },
      })
    }
    try {
      const applied = await this.migrator.up(options.to === undefined ? undefined : { to: options.to })
      return applied.map((migration) => migration.name)
    } catch (error) {
      throw toStorageError(error, 'migrate up', this.at)
    }
  }
}

async function applyMigrationPolicy(
  schema: SchemaManager,
  policy: MigrationPolicy,
  logger: Logger,
  path: string,
): Promise<void> {
  if (policy === 'none') return
  const { executed, pending } = await schema.status()
  if (pending.length === 0) return
  if (policy === 'check') {
    throw new MigrationRequiredError(
      `The database ${path} needs ${pending.length} migration(s): ${pending.join(', ')}. Run \`jjm migrate up\` first.`,
      { context: { path, pending } },
    )
  }
  let applied: string[]
  try {
    applied = await schema.up()
  } catch (error) {
    // Two processes starting at once on a new database both try to migrate;
    // the loser finds the work done and carries on.
    const after = await schema.status()
    if (after.pending.length > 0) throw error
    return
  }
  // A brand-new database is set up silently; upgrading an existing one is worth a line.
  if (executed.length > 0 && applied.length > 0) {
    logger.info(`Applied database migrations: ${applied.join(', ')}`, { path, migrations: applied })
  }
}

/** Turns whatever the driver threw into a StorageError that says what happened and what to do. */
function toStorageError(raw: unknown, operation: string, at: StoreContext): Error {
  if (isJjmError(raw)) return raw
  const error = at.dialect.classifyError(raw)
  const path = at.path
  const context = { operation, path }
  const name = error instanceof Error ? error.name : ''
  const code = errorCode(error)
  const why = reason(error)
  if (name === 'UniqueConstraintViolationException' || code.startsWith('SQLITE_CONSTRAINT_UNIQUE')) {
    return new StorageError(`Could not ${operation}: it conflicts with an existing row (${why}).`, {
      context,
      cause: error,
    })
  }
  if (name === 'LockWaitTimeoutException' || code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StorageError(
      `Could not ${operation}: the database ${path} stayed locked by another process for ${busyTimeoutMs / 1000} s. Try again, or stop the process that holds it.`,
      { context, cause: error },
    )
  }
  if (name === 'TableNotFoundException') {
    return new MigrationRequiredError(
      `Could not ${operation}: the database ${path} has no jjm schema (${why}). Run \`jjm migrate up\`.`,
      { context, cause: error },
    )
  }
  if (
    name === 'ConnectionException' ||
    name === 'ReadOnlyException' ||
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_NOTADB') ||
    ['ENOTDIR', 'EACCES', 'EPERM', 'EROFS', 'EEXIST', 'EISDIR'].includes(code)
  ) {
    return new StorageError(
      `Could not ${operation}: cannot open or write the database ${path} (${why}). Check that the path is a writable file, or choose another one (--db).`,
      { context, cause: error },
    )
  }
  return new StorageError(`Could not ${operation} in the database ${path}: ${why}.`, { context, cause: error })
}

function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string')
    return error.code
  return ''
}

/** The driver's own words, without the SQL statement that MikroORM prepends. */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  const parts = message.split(' - ')
  return (parts[parts.length - 1] ?? message).trim()
}

async function guarded<T>(operation: string, at: StoreContext, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    throw toStorageError(error, operation, at)
  }
}

const nextId = monotonicFactory()

class SqlTaskStore implements TaskStore {
  constructor(
    private readonly em: SqlEntityManager,
    private readonly entities: Entities,
    private readonly at: StoreContext,
    private readonly closeStorage: () => Promise<void>,
  ) {}

  async createTask(task: Task, events: NewTaskEvent[]): Promise<void> {
    const { TaskSchema, TaskEventSchema } = this.entities
    try {
      await this.em.fork().transactional(async (em) => {
        await em.insert(TaskSchema, toTaskRow(task))
        if (events.length > 0) await em.insertMany(TaskEventSchema, toEventRows(task.id, events))
      })
    } catch (error) {
      const storageError = toStorageError(error, 'create task', this.at)
      if (storageError instanceof StorageError && isUniqueViolation(this.at.dialect.classifyError(error))) {
        throw new StorageError(
          `A task with id ${task.id} or session ${task.sessionName} is already recorded. Use \`jjm tasks show ${task.id}\` to see it.`,
          {
            context: { operation: 'create task', path: this.at.path, taskId: task.id, sessionName: task.sessionName },
            cause: error,
          },
        )
      }
      throw storageError
    }
  }

  async updateTask(task: Task, events: NewTaskEvent[]): Promise<void> {
    const { TaskSchema, TaskEventSchema } = this.entities
    const { id, ...changes } = toTaskRow(task)
    await guarded('update task', this.at, () =>
      this.em.fork().transactional(async (em) => {
        // The write comes first so that SQLite takes the write lock at once
        // (a read first would risk SQLITE_BUSY_SNAPSHOT under concurrency).
        const updated = await em.nativeUpdate(TaskSchema, { id }, changes)
        if (updated === 0) throw new TaskNotFoundError(id)
        if (events.length > 0) await em.insertMany(TaskEventSchema, toEventRows(id, events))
      }),
    )
  }

  async getTask(id: string): Promise<Task | undefined> {
    const row = await guarded('get task', this.at, () =>
      this.em.fork().findOne(this.entities.TaskSchema, { id }, { disableIdentityMap: true }),
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
      this.em.fork().findOne(this.entities.TaskSchema, { sessionName }, { disableIdentityMap: true }),
    )
    if (bySession !== null) return toTask(bySession)

    const prefix = wanted.toUpperCase()
    if (prefix.length < minPrefixLength || !ulidPrefixPattern.test(prefix)) return undefined
    // The alphabet check above guarantees no LIKE wildcard in the prefix.
    const matches = await guarded('find task', this.at, () =>
      this.em
        .fork()
        .find(
          this.entities.TaskSchema,
          { id: { $like: `${prefix}%` } },
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
    const after = filter.cursor === undefined || filter.cursor === '' ? undefined : decodeCursor(filter.cursor)
    const conditions: FilterQuery<TaskRow>[] = []
    if (filter.states !== undefined && filter.states.length > 0) conditions.push({ state: { $in: filter.states } })
    if (filter.repository !== undefined && filter.repository !== '') {
      conditions.push({ repository: filter.repository })
    }
    if (filter.since !== undefined && filter.since !== '') {
      conditions.push({ createdAt: { $gte: parseInstant(filter.since, 'since') } })
    }
    if (after !== undefined) {
      const at = new Date(after.at)
      conditions.push({ $or: [{ createdAt: { $lt: at } }, { createdAt: at, id: { $lt: after.id } }] })
    }
    const rows = await guarded('list tasks', this.at, () => {
      const qb = this.em
        .fork()
        .createQueryBuilder(this.entities.TaskSchema, 't')
        .select('*')
        .where({ $and: conditions })
        .orderBy([{ createdAt: 'desc' }, { id: 'desc' }])
        .limit(limit + 1)
      if (filter.label !== undefined && filter.label !== '') {
        qb.andWhere(this.at.dialect.jsonArrayContains('t.labels'), [filter.label])
      }
      if (filter.search !== undefined && filter.search !== '') {
        qb.andWhere(this.at.dialect.containsIgnoringCase('t.title'), [`%${escapeLike(filter.search.toLowerCase())}%`])
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
      this.em.fork().find(
        this.entities.TaskSchema,
        { state: { $nin: ['completed', 'failed'] } },
        {
          orderBy: [{ lastSyncedAt: this.at.dialect.ascNullsFirst }, { createdAt: 'asc' }, { id: 'asc' }],
          disableIdentityMap: true,
        },
      ),
    )
    return rows.map(toTask)
  }

  async getEvents(taskId: string, query: EventQuery = {}): Promise<Page<TaskEvent>> {
    const limit = pageSize(query.limit)
    const after = query.cursor === undefined || query.cursor === '' ? undefined : decodeCursor(query.cursor)
    const conditions: FilterQuery<TaskEventRow>[] = [{ task: taskId }]
    if (query.types !== undefined && query.types.length > 0) conditions.push({ type: { $in: query.types } })
    if (after !== undefined) {
      const at = new Date(after.at)
      conditions.push({ $or: [{ at: { $lt: at } }, { at, id: { $lt: after.id } }] })
    }
    const rows = await guarded('get events', this.at, () =>
      this.em
        .fork()
        .find(
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

  close(): Promise<void> {
    return this.closeStorage()
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

function isUniqueViolation(error: unknown): boolean {
  return (
    (error instanceof Error && error.name === 'UniqueConstraintViolationException') ||
    errorCode(error).startsWith('SQLITE_CONSTRAINT_UNIQUE') ||
    errorCode(error).startsWith('SQLITE_CONSTRAINT_PRIMARYKEY')
  )
}

function pageSize(limit: number | undefined): number {
  if (limit === undefined) return defaultPageSize
  if (!Number.isInteger(limit) || limit <= 0) {
    throw new ValidationError(`The page size must be a positive whole number, not ${limit}.`, { context: { limit } })
  }
  return Math.min(limit, maxPageSize)
}

interface Cursor {
  at: string
  id: string
}

/** Opaque to clients: base64url of the last row's sort key, so that the next page starts right after it. */
function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify({ createdAt: at, id }), 'utf8').toString('base64url')
}

function decodeCursor(cursor: string): Cursor {
  const refuse = (): never => {
    throw new ValidationError(
      'The cursor is not one that jjm gave out. Drop --cursor (or the cursor parameter) to start from the first page.',
      { context: { cursor } },
    )
  }
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return refuse()
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    return refuse()
  }
  if (typeof value !== 'object' || value === null) return refuse()
  const { createdAt, id } = value as Record<string, unknown>
  if (typeof createdAt !== 'string' || typeof id !== 'string' || id === '') return refuse()
  if (Number.isNaN(Date.parse(createdAt))) return refuse()
  return { at: createdAt as string, id: id as string }
}

function parseInstant(value: string, field: string): Date {
  const date = new Date(value)
  if (Number.isNaN(date.getTime())) {
    throw new ValidationError(`"${value}" is not a date and time; use RFC 3339, e.g. 2026-01-31T12:00:00Z.`, {
      context: { [field]: value },
    })
  }
  return date
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`)
}

function toDate(value: string): Date {
  return new Date(value)
}

function toIso(value: Date | string | number): string {
  return (value instanceof Date ? value : new Date(value)).toISOString()
}

function toTaskRow(task: Task): TaskRow {
  return {
    id: task.id,
    sessionName: task.sessionName,
    title: task.title,
    prompt: task.prompt,
    repository: task.repository,
    source: task.source,
    branch: task.branch,
    state: task.state,
    requirePlanApproval: task.requirePlanApproval,
    automationMode: task.automationMode,
    url: task.url,
    pullRequest: task.pullRequest,
    labels: task.labels,
    metadata: task.metadata,
    createdAt: toDate(task.createdAt),
    updatedAt: toDate(task.updatedAt),
    completedAt: task.completedAt === null ? null : toDate(task.completedAt),
    lastSyncedAt: task.lastSyncedAt === null ? null : toDate(task.lastSyncedAt),
  }
}

function toTask(row: TaskRow): Task {
  return {
    id: row.id,
    sessionName: row.sessionName,
    title: row.title,
    prompt: row.prompt,
    repository: row.repository,
    source: row.source,
    branch: row.branch,
    state: row.state,
    requirePlanApproval: Boolean(row.requirePlanApproval),
    automationMode: row.automationMode as AutomationMode,
    url: row.url ?? null,
    pullRequest: row.pullRequest ?? null,
    labels: row.labels,
    metadata: row.metadata,
    createdAt: toIso(row.createdAt),
    updatedAt: toIso(row.updatedAt),
    completedAt: row.completedAt == null ? null : toIso(row.completedAt),
    lastSyncedAt: row.lastSyncedAt == null ? null : toIso(row.lastSyncedAt),
  }
}

function toEventRows(taskId: string, events: NewTaskEvent[]): TaskEventRow[] {
  return events.map((event) => ({
    id: nextId(),
    task: taskId,
    type: event.type,
    data: event.data,
    at: event.at === undefined ? new Date() : toDate(event.at),
  }))
}

function toEvent(row: TaskEventRow): TaskEvent {
  return { id: row.id, taskId: row.task, type: row.type, data: row.data, at: toIso(row.at) }
}

function toSimSession(row: SimSessionRow): SimSessionRecord {
  return { id: row.id, createdAt: toIso(row.createdAt), state: row.state }
}
