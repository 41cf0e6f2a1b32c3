/**
 * The JSON storage backend: every task, its history and the simulator's
 * sessions in one JSON file (see format.ts). Meant for the original job
 * manager's files and for small single-user setups; a team shares PostgreSQL.
 *
 * Every write rewrites the whole file atomically (temporary file, fsync,
 * rename), and the writes of one process are serialised, so the file is
 * always either the old or the new version. Two processes writing one file at
 * the same moment can still lose one of the writes: there is no cross-process lock.
 */
import { mkdir, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { monotonicFactory } from 'ulidx'
import writeFileAtomic from 'write-file-atomic'
import {
  isJjmError,
  StorageError,
  TaskNotFoundError,
  TaskVersionConflictError,
  ValidationError,
} from '../../core/errors.js'
import { decodeCursor, encodeCursor, type PageCursor, pageSize, parseTimeBound } from '../../core/page-cursor.js'
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
  OutboxEntry,
  SimSessionRecord,
  SimStateStore,
  SyncCommit,
  SyncCommitResult,
  SyncCursor,
  SyncState,
  TaskRelations,
  TaskStore,
} from '../../core/ports.js'
import { silentLogger } from '../../core/ports.js'
import {
  type ChatMessage,
  isTerminal,
  type Page,
  type SourceFile,
  type Task,
  type TaskEvent,
  type TaskFilter,
} from '../../core/task.js'
import {
  type FileSignature,
  type JsonStoreContents,
  type OutboxRecord,
  parseJsonStore,
  readJsonStoreFile,
  type StoredTask,
  serialiseJsonStore,
} from './format.js'
import { normaliseInstant } from './paging.js'

export interface JsonStoreOptions {
  /** The JSON file; `:memory:` for a store that never touches the disk. The file and its directory are created on the first write. */
  path: string
  logger?: Logger
  /** Ids of new events and chat messages (default: monotonic ULIDs). */
  newId?: () => string
  /** The time that stamps events written without one (default: the system clock). */
  now?: () => number
}

export interface JsonStorage {
  store: TaskStore
  sim: SimStateStore
  /** The file the store reads and writes (absolute), or `:memory:`. */
  path: string
  close(): Promise<void>
}

const ulidPrefixPattern = /^[0-9A-HJKMNP-TV-Z]+$/
const minPrefixLength = 4
const defaultMessagesPerTask = 3

/**
 * Opens the JSON store at `options.path`, reading the file at once so that a
 * corrupt file is reported before anything else happens.
 *
 * @throws StorageError when the file is unreadable, not JSON or not shaped
 *   like a store; the file is then left exactly as it was.
 */
export async function openJsonStore(options: JsonStoreOptions): Promise<JsonStorage> {
  const path = options.path === ':memory:' ? options.path : resolve(options.path)
  const file = new JsonFile(
    path,
    options.logger ?? silentLogger,
    options.newId ?? monotonicFactory(),
    options.now ?? Date.now,
  )
  await file.read('open', () => undefined)
  const close = () => file.close()
  return { store: new JsonTaskStore(file), sim: new JsonSimStateStore(file), path, close }
}

interface State {
  /** In the order of the file, which is the order the tasks were recorded in. */
  tasks: Map<string, StoredTask>
  invalidRaw: Map<string, unknown>
  simSessions: Map<string, SimSessionRecord>
  creationIntents: Map<string, CreationIntent>
  /** Oldest first; a delivered entry is removed. */
  notificationOutbox: OutboxRecord[]
}

/** The file, its content in memory, and the queue that serialises every access to both. */
class JsonFile {
  private state: State | undefined
  private signature: FileSignature | undefined
  /** For `:memory:`: the last text written, standing in for the file. */
  private memoryText = ''
  private tail: Promise<unknown> = Promise.resolve()
  private closed = false

  constructor(
    readonly path: string,
    private readonly logger: Logger,
    readonly newId: () => string,
    readonly now: () => number,
  ) {}

  private get inMemory(): boolean {
    return this.path === ':memory:'
  }

  read<T>(operation: string, work: (state: State) => T): Promise<T> {
    return this.exclusive(async () => work(await this.load(operation)))
  }

  /**
   * Applies `work` to the content and writes the result. When anything fails
   * the content in memory is dropped (it may be half changed) and read again
   * from the file, which is still the previous version.
   */
  write<T>(operation: string, work: (state: State) => T): Promise<T> {
    return this.exclusive(async () => {
      const state = await this.load(operation)
      try {
        const result = work(state)
        await this.persist(state, operation)
        return result
      } catch (error) {
        this.state = undefined
        if (isJjmError(error)) throw error
        throw new StorageError(`Could not ${operation} in the JSON store ${this.path}: ${messageOf(error)}.`, {
          context: { operation, path: this.path },
          cause: error,
        })
      }
    })
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      this.closed = true
      this.state = undefined
    })
  }

  /** Runs `work` once every earlier call has finished: reads see whole writes, and writes never interleave. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work)
    this.tail = run.catch(() => {})
    return run
  }

  private async load(operation: string): Promise<State> {
    if (this.closed) {
      throw new StorageError(`Could not ${operation}: the JSON store ${this.path} is closed.`, {
        context: { operation, path: this.path },
      })
    }
    if (this.inMemory) {
      this.state ??= toState(
        parseJsonStore(this.memoryText, this.path, {
          defaultTime: new Date(this.now()).toISOString(),
          newId: this.newId,
        }),
      )
      return this.state
    }
    // Another process (a second CLI, the daemon) may have rewritten the file since.
    if (this.state !== undefined && (await this.unchangedOnDisk())) return this.state
    const contents = await readJsonStoreFile(this.path, { newId: this.newId })
    if (contents.invalid.length > 0) {
      this.logger.warn(
        `The JSON store ${this.path} has ${contents.invalid.length} record(s) that are not valid tasks; jjm ignores them and keeps them in the file as they are.`,
        { path: this.path, invalid: contents.invalid },
      )
    }
    this.state = toState(contents)
    this.signature = contents.signature
    return this.state
  }

  private async unchangedOnDisk(): Promise<boolean> {
    const now = await signatureOf(this.path)
    const before = this.signature
    if (now === undefined || before === undefined) return now === before
    return now.ino === before.ino && now.size === before.size && now.mtimeMs === before.mtimeMs
  }

  private async persist(state: State, operation: string): Promise<void> {
    let text: string
    try {
      text = serialiseJsonStore({
        tasks: state.tasks.values(),
        invalidRaw: state.invalidRaw,
        simSessions: state.simSessions.values(),
        creationIntents: state.creationIntents.values(),
        notificationOutbox: state.notificationOutbox,
      })
    } catch (error) {
      throw new StorageError(
        `Could not ${operation}: the data cannot be written as JSON (${messageOf(error)}). Nothing was written to ${this.path}.`,
        { context: { operation, path: this.path }, cause: error },
      )
    }
    if (this.inMemory) {
      this.memoryText = text
      return
    }
    try {
      await mkdir(dirname(this.path), { recursive: true })
      await writeFileAtomic(this.path, text)
    } catch (error) {
      throw new StorageError(
        `Could not ${operation}: cannot write the JSON store ${this.path} (${errorCode(error) || messageOf(error)}); the file is as it was. Check that its directory is writable, or choose another file (--db).`,
        { context: { operation, path: this.path }, cause: error },
      )
    }
    this.signature = await signatureOf(this.path)
  }
}

function toState(contents: JsonStoreContents): State {
  return {
    tasks: new Map(contents.tasks.map((stored) => [stored.task.id, stored])),
    invalidRaw: contents.invalidRaw,
    simSessions: new Map(contents.simSessions.map((session) => [session.id, session])),
    creationIntents: new Map(contents.creationIntents.map((intent) => [intent.key, intent])),
    notificationOutbox: contents.notificationOutbox,
  }
}

async function signatureOf(path: string): Promise<FileSignature | undefined> {
  try {
    const stats = await stat(path)
    return { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs }
  } catch {
    return undefined
  }
}

/** How long a claimed notification is held back from other claims while it is being delivered. */
const notificationLeaseMs = 5 * 60_000

/** A TaskStore over one JSON file. Everything it returns is a copy: callers cannot change the store by accident. */
export class JsonTaskStore implements TaskStore {
  /**
   * Sync leases, in memory: a JSON file is used by one process at a time, so
   * the process's own clock is the only one there is.
   */
  private readonly leases = new Map<string, { holder: string; until: number }>()

  constructor(private readonly file: JsonFile) {}

  async createTask(
    task: Task,
    events: NewTaskEvent[],
    options: { idempotencyKey?: string } & EventWriteOptions = {},
  ): Promise<void> {
    const record = { ...normaliseTask(task), version: 1 }
    const history = this.toEvents(task.id, events)
    const outbox = this.toOutbox(options.notifications)
    const key = options.idempotencyKey
    const at = new Date(this.file.now()).toISOString()
    await this.file.write('create task', (state) => {
      const clash = [...state.tasks.values()].find(
        (stored) => stored.task.id === record.id || stored.task.sessionName === record.sessionName,
      )
      if (clash !== undefined || state.invalidRaw.has(record.id)) {
        throw new StorageError(
          `A task with id ${record.id} or session ${record.sessionName} is already recorded. Use \`jjm tasks show ${record.id}\` to see it.`,
          {
            context: {
              operation: 'create task',
              path: this.file.path,
              taskId: record.id,
              sessionName: record.sessionName,
            },
          },
        )
      }
      // Checked before anything changes; the task and "this key is done" are written in one go.
      const intent = key === undefined ? undefined : this.openIntent(state, key, record.id)
      state.tasks.set(record.id, {
        task: record,
        deletedAt: null,
        events: history,
        chatMessages: [],
        sourceFiles: [],
        syncCursor: null,
        extra: {},
      })
      state.notificationOutbox.push(...outbox)
      if (intent !== undefined) {
        state.creationIntents.set(intent.key, {
          ...intent,
          state: 'done',
          taskId: record.id,
          sessionName: record.sessionName,
          error: null,
          updatedAt: at,
        })
      }
    })
  }

  async updateTask(
    task: Task,
    events: NewTaskEvent[],
    options: { expectedVersion: number } & EventWriteOptions,
  ): Promise<Task> {
    return this.writeTask('update task', task, events, options.expectedVersion, options.notifications, undefined)
  }

  async commitSync(commit: SyncCommit): Promise<SyncCommitResult> {
    const lease = this.leases.get(commit.taskId)
    if (lease === undefined || lease.holder !== commit.holder || lease.until <= this.file.now()) {
      return { outcome: 'lease_lost' }
    }
    try {
      const stored = await this.writeTask(
        'record a sync',
        commit.task,
        commit.events,
        commit.task?.version,
        commit.notifications,
        commit,
      )
      return { outcome: 'committed', task: stored }
    } catch (error) {
      if (!(error instanceof TaskVersionConflictError)) throw error
      const current = await this.getTask(commit.taskId)
      if (current === undefined) throw new TaskNotFoundError(commit.taskId)
      return { outcome: 'stale', task: current }
    }
  }

  async getSyncState(taskId: string): Promise<SyncState | undefined> {
    const lease = this.leases.get(taskId)
    return this.file.read('read the sync state', (state) => {
      const stored = state.tasks.get(taskId)
      if (stored === undefined || stored.deletedAt !== null) return undefined
      return {
        cursor: stored.syncCursor == null ? null : copyCursor(stored.syncCursor),
        lastSyncedAt: stored.task.lastSyncedAt,
        leaseHolder: lease?.holder ?? null,
        leaseUntil: lease === undefined ? null : new Date(lease.until).toISOString(),
      }
    })
  }

  async claimSyncLeases(
    taskIds: string[],
    holder: string,
    ttlMs: number,
    options: { syncedBefore?: string } = {},
  ): Promise<string[]> {
    const before = options.syncedBefore === undefined ? undefined : Date.parse(options.syncedBefore)
    return this.file.read('claim the sync of tasks', (state) => {
      const now = this.file.now()
      const claimed: string[] = []
      for (const id of new Set(taskIds)) {
        const stored = state.tasks.get(id)
        if (stored === undefined || stored.deletedAt !== null) continue
        const synced = stored.task.lastSyncedAt
        if (before !== undefined && synced !== null && Date.parse(synced) >= before) continue
        const lease = this.leases.get(id)
        if (lease !== undefined && lease.holder !== holder && lease.until > now) continue
        this.leases.set(id, { holder, until: now + Math.max(0, ttlMs) })
        claimed.push(id)
      }
      return claimed
    })
  }

  async renewSyncLeases(taskIds: string[], holder: string, ttlMs: number): Promise<string[]> {
    const now = this.file.now()
    const renewed: string[] = []
    for (const id of new Set(taskIds)) {
      const lease = this.leases.get(id)
      if (lease?.holder !== holder) continue
      lease.until = now + Math.max(0, ttlMs)
      renewed.push(id)
    }
    return renewed
  }

  async releaseSyncLeases(taskIds: string[], holder: string): Promise<void> {
    for (const id of taskIds) if (this.leases.get(id)?.holder === holder) this.leases.delete(id)
  }

  /**
   * One write of a task's row (compare-and-set on `expectedVersion`) and its
   * history; with `sync`, the sync state too. Without `task`, only the sync
   * state and history are written. Returns the task as stored.
   */
  private async writeTask(
    operation: string,
    task: Task | undefined,
    events: NewTaskEvent[],
    expectedVersion: number | undefined,
    notifications: NewNotification[] | undefined,
    sync: SyncCommit | undefined,
  ): Promise<Task> {
    const taskId = task?.id ?? sync?.taskId ?? ''
    const record = task === undefined ? undefined : normaliseTask(task)
    const history = this.toEvents(taskId, events)
    const outbox = this.toOutbox(notifications)
    const cursor = sync === undefined ? undefined : copyCursor(sync.cursor)
    const syncedAt = sync === undefined ? undefined : normaliseInstant(sync.syncedAt, 'syncedAt')
    const messages = this.toChatMessages(taskId, sync?.chatMessages ?? [])
    const bindings = (sync?.boundMessages ?? []).map((binding) => ({
      ...binding,
      at: normaliseInstant(binding.at, 'at'),
    }))
    const files = sync?.sourceFiles === undefined ? undefined : uniqueFiles(taskId, sync.sourceFiles)
    return this.file.write(operation, (state) => {
      const stored = visible(state, taskId)
      if (record !== undefined) {
        if (stored.task.version !== expectedVersion) {
          throw new TaskVersionConflictError(taskId, expectedVersion ?? 0, stored.task.version)
        }
        const clash = [...state.tasks.values()].find(
          (other) => other.task.id !== record.id && other.task.sessionName === record.sessionName,
        )
        if (clash !== undefined) {
          throw new StorageError(
            `Task ${record.id} cannot take session ${record.sessionName}: task ${clash.task.id} has it already.`,
            {
              context: {
                operation,
                path: this.file.path,
                taskId: record.id,
                sessionName: record.sessionName,
              },
            },
          )
        }
        // lastSyncedAt belongs to the sync state: an edit never moves it.
        stored.task = { ...record, version: stored.task.version + 1, lastSyncedAt: stored.task.lastSyncedAt }
      }
      if (syncedAt !== undefined) stored.task = { ...stored.task, lastSyncedAt: syncedAt }
      stored.events.push(...history)
      // The file is written once, with all of it, or not at all: a sync repeats whole.
      if (cursor !== undefined) stored.syncCursor = cursor
      appendChatMessages(stored, messages)
      bindMessages(stored, bindings)
      if (files !== undefined) stored.sourceFiles = files
      state.notificationOutbox.push(...outbox)
      return structuredClone(stored.task)
    })
  }

  async beginCreation(key: string, requestHash: string, at: string, lease: CreationLease): Promise<CreationClaim> {
    const now = normaliseInstant(at, 'at')
    const expiresAt = normaliseInstant(lease.expiresAt, 'lease.expiresAt')
    // One write at a time in this process: the check and the claim below cannot interleave with another begin.
    return this.file.write('record a creation intent', (state) => {
      const existing = state.creationIntents.get(key)
      const leased = { leaseHolder: lease.holder, leaseExpiresAt: expiresAt, updatedAt: now }
      if (existing === undefined) {
        const intent: CreationIntent = {
          key,
          requestHash,
          state: 'pending',
          sessionName: null,
          taskId: null,
          error: null,
          createdAt: now,
          ...leased,
        }
        state.creationIntents.set(key, intent)
        return { intent: structuredClone(intent), created: true, claimed: true }
      }
      const leaseLive = existing.leaseExpiresAt !== null && Date.parse(existing.leaseExpiresAt) > Date.parse(now)
      if (existing.state === 'done' || existing.requestHash !== requestHash || leaseLive) {
        return { intent: structuredClone(existing), created: false, claimed: false }
      }
      // A failed attempt may be tried again, with the same request only.
      const created = existing.state === 'failed'
      const claimed: CreationIntent = created
        ? { ...existing, state: 'pending', error: null, ...leased }
        : { ...existing, ...leased }
      state.creationIntents.set(key, claimed)
      return { intent: structuredClone(claimed), created, claimed: true }
    })
  }

  async releaseCreation(key: string, holder: string): Promise<void> {
    await this.file.write('release a creation intent', (state) => {
      const intent = state.creationIntents.get(key)
      if (intent?.leaseHolder !== holder) return
      state.creationIntents.set(key, { ...intent, leaseHolder: null, leaseExpiresAt: null })
    })
  }

  async noteCreationSession(key: string, sessionName: string, at: string): Promise<void> {
    const now = normaliseInstant(at, 'at')
    await this.file.write('record the session of a creation', (state) => {
      const intent = this.requireIntent(state, key)
      // A done or failed intent stays as it is: its outcome is already decided.
      if (intent.state !== 'pending' && intent.state !== 'session_created') return
      state.creationIntents.set(key, { ...intent, state: 'session_created', sessionName, updatedAt: now })
    })
  }

  async failCreation(key: string, message: string, at: string): Promise<void> {
    const now = normaliseInstant(at, 'at')
    await this.file.write('record a failed creation', (state) => {
      const intent = this.requireIntent(state, key)
      // A done intent has its task: failing it would let the key create a second session.
      if (intent.state === 'done') return
      state.creationIntents.set(key, { ...intent, state: 'failed', error: message, updatedAt: now })
    })
  }

  async getTask(id: string): Promise<Task | undefined> {
    return this.file.read('get task', (state) => {
      const stored = state.tasks.get(id)
      return stored === undefined || stored.deletedAt !== null ? undefined : structuredClone(stored.task)
    })
  }

  async findTask(ref: string): Promise<Task | undefined> {
    const wanted = ref.trim()
    if (wanted === '') return undefined
    return this.file.read('find task', (state) => {
      const tasks = [...state.tasks.values()].filter((stored) => stored.deletedAt === null).map((stored) => stored.task)
      const byId = tasks.find((task) => task.id === wanted) ?? tasks.find((task) => task.id === wanted.toUpperCase())
      if (byId !== undefined) return structuredClone(byId)
      const sessionName = wanted.startsWith('sessions/') ? wanted : `sessions/${wanted}`
      const bySession = tasks.find((task) => task.sessionName === sessionName)
      if (bySession !== undefined) return structuredClone(bySession)

      const prefix = wanted.toUpperCase()
      if (prefix.length < minPrefixLength || !ulidPrefixPattern.test(prefix)) return undefined
      const matches = tasks
        .filter((task) => task.id.startsWith(prefix))
        .map((task) => task.id)
        .sort()
      const [first, ...others] = matches
      if (first === undefined) return undefined
      if (others.length === 0) return structuredClone(tasks.find((task) => task.id === first))
      const shown = matches.slice(0, 5)
      throw new ValidationError(
        `"${ref}" matches several tasks (${shown.join(', ')}${matches.length > 5 ? ', …' : ''}). Give more characters of the id.`,
        { context: { ref, matches: shown } },
      )
    })
  }

  async listTasks(filter: TaskFilter): Promise<Page<Task>> {
    const limit = pageSize(filter.limit)
    const after = decodeCursor(filter.cursor)
    const since = parseTimeBound(filter.since, 'since')
    const until = parseTimeBound(filter.until, 'until')
    const updatedSince = parseTimeBound(filter.updatedSince, 'updatedSince')
    const updatedUntil = parseTimeBound(filter.updatedUntil, 'updatedUntil')
    const states = filter.states !== undefined && filter.states.length > 0 ? new Set(filter.states) : undefined
    const search = filter.search === undefined || filter.search === '' ? undefined : filter.search.toLowerCase()
    const within = (value: string, from: number | undefined, to: number | undefined): boolean => {
      const ms = Date.parse(value)
      return (from === undefined || ms >= from) && (to === undefined || ms < to)
    }
    return this.file.read('list tasks', (state) => {
      const matching = [...state.tasks.values()]
        .filter((stored) => stored.deletedAt === null)
        .map((stored) => stored.task)
        .filter(
          (task) =>
            (states === undefined || states.has(task.state)) &&
            (filter.repository === undefined || filter.repository === '' || task.repository === filter.repository) &&
            (filter.label === undefined || filter.label === '' || task.labels.includes(filter.label)) &&
            (search === undefined || task.title.toLowerCase().includes(search)) &&
            within(task.createdAt, since, until) &&
            within(task.updatedAt, updatedSince, updatedUntil) &&
            (after === undefined || comesAfter(task, after)),
        )
        .sort(newestFirst)
      const items = matching.slice(0, limit)
      const last = items.at(-1)
      const nextCursor = matching.length > limit && last !== undefined ? encodeCursor(last.createdAt, last.id) : null
      return { items: structuredClone(items), nextCursor }
    })
  }

  async listActiveTasks(): Promise<Task[]> {
    return this.file.read('list active tasks', (state) => {
      const active = [...state.tasks.values()]
        .filter((stored) => stored.deletedAt === null && !isTerminal(stored.task.state))
        .map((stored) => stored.task)
        .sort(
          (a, b) =>
            syncOrder(a) - syncOrder(b) ||
            Date.parse(a.createdAt) - Date.parse(b.createdAt) ||
            compareStrings(a.id, b.id),
        )
      return structuredClone(active)
    })
  }

  async getEvents(taskId: string, query: EventQuery = {}): Promise<Page<TaskEvent>> {
    const limit = pageSize(query.limit)
    const after = decodeCursor(query.cursor)
    const since = parseTimeBound(query.since, 'since')
    const until = parseTimeBound(query.until, 'until')
    const types = query.types !== undefined && query.types.length > 0 ? new Set(query.types) : undefined
    return this.file.read('get events', (state) => {
      // Deleted (not purged) tasks keep their history.
      const events = state.tasks.get(taskId)?.events ?? []
      // The order of writing breaks ties between events of one instant: the file keeps that order.
      const ordered = events
        .map((event, index) => ({ event, index, ms: Date.parse(event.at) }))
        .filter(
          ({ event, ms }) =>
            (types === undefined || types.has(event.type)) &&
            (since === undefined || ms >= since) &&
            (until === undefined || ms < until),
        )
        .sort((a, b) => b.ms - a.ms || b.index - a.index)
        .map(({ event }) => event)
      return paginate(ordered, after, limit, (event) => event.at, 'desc')
    })
  }

  async logEvent(taskId: string, event: NewTaskEvent, options: EventWriteOptions = {}): Promise<TaskEvent> {
    const [logged] = this.toEvents(taskId, [event])
    if (logged === undefined) throw new Error('toEvents returned nothing for one event')
    const outbox = this.toOutbox(options.notifications)
    await this.file.write('log event', (state) => {
      visible(state, taskId).events.push(logged)
      state.notificationOutbox.push(...outbox)
    })
    return structuredClone(logged)
  }

  async deleteTask(id: string, options: { purge?: boolean } = {}): Promise<boolean> {
    const at = new Date(this.file.now()).toISOString()
    const eventId = this.file.newId()
    return this.file.write('delete task', (state) => {
      const stored = state.tasks.get(id)
      if (stored === undefined) return false
      if (options.purge === true) {
        state.tasks.delete(id)
        // The intent stays, so its key still never creates a second session; it just loses its task.
        for (const intent of state.creationIntents.values()) {
          if (intent.taskId === id) state.creationIntents.set(intent.key, { ...intent, taskId: null })
        }
        return true
      }
      if (stored.deletedAt !== null) return false
      stored.deletedAt = at
      stored.events.push({ id: eventId, taskId: id, type: 'deleted', data: {}, at })
      return true
    })
  }

  async addChatMessages(taskId: string, messages: NewChatMessage[]): Promise<number> {
    const incoming = this.toChatMessages(taskId, messages)
    return this.file.write('add chat messages', (state) => appendChatMessages(visible(state, taskId), incoming))
  }

  async listChatMessages(taskId: string, query: { limit?: number; cursor?: string } = {}): Promise<Page<ChatMessage>> {
    const limit = pageSize(query.limit)
    const after = decodeCursor(query.cursor)
    return this.file.read('list chat messages', (state) => {
      const ordered = oldestFirst(state.tasks.get(taskId)?.chatMessages ?? [])
      return paginate(ordered, after, limit, (message) => message.at, 'asc')
    })
  }

  async setSourceFiles(taskId: string, files: Array<Omit<SourceFile, 'taskId'>>): Promise<void> {
    const unique = uniqueFiles(taskId, files)
    await this.file.write('set source files', (state) => {
      visible(state, taskId).sourceFiles = unique
    })
  }

  async listSourceFiles(taskId: string): Promise<SourceFile[]> {
    return this.file.read('list source files', (state) => byPath(state.tasks.get(taskId)?.sourceFiles ?? []))
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
    return this.file.read('get relations', (state) => {
      const relations = new Map<string, TaskRelations>()
      for (const id of taskIds) {
        const stored = state.tasks.get(id)
        const messages = oldestFirst(stored?.chatMessages ?? [])
        relations.set(id, {
          sourceFiles: byPath(stored?.sourceFiles ?? []),
          chatMessages: perTask === 0 ? [] : structuredClone(messages.slice(-perTask)),
        })
      }
      return relations
    })
  }

  close(): Promise<void> {
    return this.file.close()
  }

  /** The intent under `key`, ready to be bound to task `taskId`; refuses a missing or already done one. */
  private openIntent(state: State, key: string, taskId: string): CreationIntent {
    const intent = this.requireIntent(state, key)
    if (intent.state !== 'done') return intent
    throw new StorageError(
      `The idempotency key "${key}" already created task ${intent.taskId ?? '(since purged)'}; task ${taskId} was not recorded.`,
      { context: { operation: 'create task', path: this.file.path, idempotencyKey: key, taskId } },
    )
  }

  /** The intent under `key`; refuses a key that beginCreation never recorded. */
  private requireIntent(state: State, key: string): CreationIntent {
    const intent = state.creationIntents.get(key)
    if (intent !== undefined) return intent
    throw new StorageError(`No creation is recorded under the idempotency key "${key}" (beginCreation comes first).`, {
      context: { path: this.file.path, idempotencyKey: key },
    })
  }

  private toChatMessages(taskId: string, messages: NewChatMessage[]): ChatMessage[] {
    return messages.map((message) => ({
      id: this.file.newId(),
      taskId,
      role: message.role,
      text: message.text,
      activityId: message.activityId ?? null,
      at: normaliseInstant(message.at, 'at'),
    }))
  }

  async claimNotifications(limit: number, now: string): Promise<OutboxEntry[]> {
    const at = Date.parse(now)
    const lease = new Date(at + notificationLeaseMs).toISOString()
    return this.file.write('claim notifications', (state) => {
      const due = state.notificationOutbox
        .filter(
          (entry) => entry.deliveredAt === null && entry.failedAt === null && Date.parse(entry.nextAttemptAt) <= at,
        )
        .sort((a, b) => Date.parse(a.nextAttemptAt) - Date.parse(b.nextAttemptAt) || (a.id < b.id ? -1 : 1))
        .slice(0, Math.max(1, limit))
      // The lease: an entry whose delivery is interrupted is due again after it.
      for (const entry of due) entry.nextAttemptAt = lease
      return due.map(({ id, notifier, taskId, eventType, payload, attempts }) =>
        structuredClone({ id, notifier, taskId, eventType, payload, attempts }),
      )
    })
  }

  async markNotificationDelivered(id: string, at: string): Promise<void> {
    await this.file.write('mark a notification delivered', (state) => {
      // Kept, like in SQL, so that `jjm notifications list` shows what was sent; pruned after the retention.
      const entry = state.notificationOutbox.find((candidate) => candidate.id === id)
      if (entry !== undefined) entry.deliveredAt = normaliseInstant(at, 'at')
    })
  }

  async markNotificationFailed(id: string, error: string, nextAttemptAt: string | null): Promise<void> {
    const failedAt = new Date(this.file.now()).toISOString()
    await this.file.write('mark a notification failed', (state) => {
      const entry = state.notificationOutbox.find((candidate) => candidate.id === id)
      if (entry === undefined) return
      entry.attempts += 1
      entry.lastError = error.slice(0, 2000)
      if (nextAttemptAt === null) entry.failedAt = failedAt
      else entry.nextAttemptAt = normaliseInstant(nextAttemptAt, 'nextAttemptAt')
    })
  }

  async listNotifications(query: NotificationQuery = {}): Promise<Page<NotificationRecord>> {
    const limit = pageSize(query.limit)
    const after = decodeCursor(query.cursor)
    const states = query.states !== undefined && query.states.length > 0 ? new Set(query.states) : undefined
    const ids = query.ids === undefined ? undefined : new Set(query.ids)
    return this.file.read('list notifications', (state) => {
      const ordered = state.notificationOutbox
        .map(toNotificationRecord)
        .filter(
          (record) =>
            (states === undefined || states.has(record.state)) &&
            (query.taskId === undefined || record.taskId === query.taskId) &&
            (ids === undefined || ids.has(record.id)),
        )
        .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || compareStrings(b.id, a.id))
      return paginate(ordered, after, limit, (record) => record.createdAt, 'desc')
    })
  }

  async requeueNotifications(ids: string[], now: string): Promise<number> {
    const due = normaliseInstant(now, 'now')
    const wanted = new Set(ids)
    return this.file.write('retry notifications', (state) => {
      let changed = 0
      for (const entry of state.notificationOutbox) {
        if (!wanted.has(entry.id) || entry.deliveredAt !== null) continue
        Object.assign(entry, { attempts: 0, failedAt: null, lastError: null, nextAttemptAt: due })
        changed += 1
      }
      return changed
    })
  }

  async pruneNotifications(options: NotificationPruneOptions): Promise<{ delivered: number; failed: number }> {
    const deliveredBefore = Date.parse(options.deliveredBefore)
    const failedBefore = Date.parse(options.failedBefore)
    const limit = Math.max(1, options.limit)
    const expired = (entry: OutboxRecord): 'delivered' | 'failed' | undefined => {
      if (entry.deliveredAt !== null) return Date.parse(entry.deliveredAt) < deliveredBefore ? 'delivered' : undefined
      if (entry.failedAt !== null) return Date.parse(entry.failedAt) < failedBefore ? 'failed' : undefined
      return undefined
    }
    const counted = { delivered: 0, failed: 0 }
    // Reading first spares a rewrite of the whole file when there is nothing to prune (most monitor passes).
    const any = await this.file.read('prune notifications', (state) => state.notificationOutbox.some(expired))
    if (!any) return counted
    return this.file.write('prune notifications', (state) => {
      state.notificationOutbox = state.notificationOutbox.filter((entry) => {
        const kind = expired(entry)
        if (kind === undefined || counted[kind] >= limit) return true
        counted[kind] += 1
        return false
      })
      return counted
    })
  }

  private toOutbox(notifications: NewNotification[] | undefined): OutboxRecord[] {
    const createdAt = new Date(this.file.now()).toISOString()
    return (notifications ?? []).map((notification) => {
      const due = Date.parse(notification.payload.at)
      return {
        id: this.file.newId(),
        notifier: notification.notifier,
        taskId: notification.taskId,
        eventType: notification.eventType,
        payload: structuredClone(notification.payload),
        attempts: 0,
        nextAttemptAt: Number.isNaN(due) ? createdAt : new Date(due).toISOString(),
        deliveredAt: null,
        failedAt: null,
        lastError: null,
        createdAt,
      }
    })
  }

  private toEvents(taskId: string, events: NewTaskEvent[]): TaskEvent[] {
    return events.map((event) => ({
      id: this.file.newId(),
      taskId,
      type: event.type,
      data: structuredClone(event.data),
      at: event.at === undefined ? new Date(this.file.now()).toISOString() : normaliseInstant(event.at, 'at'),
    }))
  }
}

/** Where the simulator keeps its sessions: the `simSessions` object of the same file. */
class JsonSimStateStore implements SimStateStore {
  constructor(private readonly file: JsonFile) {}

  async get(id: string): Promise<SimSessionRecord | undefined> {
    return this.file.read('read a simulated session', (state) => structuredClone(state.simSessions.get(id)))
  }

  async put(record: SimSessionRecord): Promise<void> {
    const copy = structuredClone(record)
    await this.file.write('save a simulated session', (state) => {
      state.simSessions.set(copy.id, copy)
    })
  }

  async list(): Promise<SimSessionRecord[]> {
    return this.file.read('list simulated sessions', (state) =>
      structuredClone(
        [...state.simSessions.values()].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt)),
      ),
    )
  }
}

/** The stored task that lookups can see; a deleted one is as good as absent. */
function visible(state: State, taskId: string): StoredTask {
  const stored = state.tasks.get(taskId)
  if (stored === undefined || stored.deletedAt !== null) throw new TaskNotFoundError(taskId)
  return stored
}

/** Adds the messages whose activity the task has not recorded yet; returns how many were new. */
function appendChatMessages(stored: StoredTask, incoming: ChatMessage[]): number {
  const seen = new Set(stored.chatMessages.map((message) => message.activityId).filter((id) => id !== null))
  let added = 0
  for (const message of incoming) {
    if (message.activityId !== null) {
      if (seen.has(message.activityId)) continue
      seen.add(message.activityId)
    }
    stored.chatMessages.push(message)
    added += 1
  }
  return added
}

/** Binds messages recorded without an activity to their activities; one already bound stays as it is. */
function bindMessages(stored: StoredTask, bindings: MessageBinding[]): void {
  for (const { messageId, activityId, at } of bindings) {
    const message = stored.chatMessages.find((candidate) => candidate.id === messageId && candidate.activityId === null)
    if (message === undefined) continue
    message.activityId = activityId
    message.at = at
  }
}

/** One entry per path; the last one given wins, as a later patch line would. */
function uniqueFiles(taskId: string, files: Array<Omit<SourceFile, 'taskId'>>): SourceFile[] {
  return [
    ...new Map(files.map((file) => [file.path, { taskId, path: file.path, changeType: file.changeType }])).values(),
  ]
}

/** A copy with exactly the cursor's three fields. */
function copyCursor(cursor: SyncCursor): SyncCursor {
  return {
    sessionUpdateTime: cursor.sessionUpdateTime ?? null,
    lastActivityTime: cursor.lastActivityTime ?? null,
    lastActivityNames: [...(cursor.lastActivityNames ?? [])],
  }
}

/** A copy of the task with its timestamps in jjm's one form, refusing what is not a date. */
function normaliseTask(task: Task): Task {
  const copy = structuredClone(task)
  copy.createdAt = normaliseInstant(task.createdAt, 'createdAt')
  copy.updatedAt = normaliseInstant(task.updatedAt, 'updatedAt')
  copy.completedAt = task.completedAt === null ? null : normaliseInstant(task.completedAt, 'completedAt')
  copy.lastSyncedAt = task.lastSyncedAt === null ? null : normaliseInstant(task.lastSyncedAt, 'lastSyncedAt')
  return copy
}

function newestFirst(a: Task, b: Task): number {
  return Date.parse(b.createdAt) - Date.parse(a.createdAt) || compareStrings(b.id, a.id)
}

/** True when `task` sorts after the cursor's task in newest-first order. */
function comesAfter(task: Task, cursor: PageCursor): boolean {
  const ms = Date.parse(task.createdAt)
  return ms < cursor.atMs || (ms === cursor.atMs && task.id < cursor.id)
}

/** Never-synced tasks first, then the longest unsynced. */
function syncOrder(task: Task): number {
  return task.lastSyncedAt === null ? Number.NEGATIVE_INFINITY : Date.parse(task.lastSyncedAt)
}

function oldestFirst(messages: ChatMessage[]): ChatMessage[] {
  return messages
    .map((message, index) => ({ message, index, ms: Date.parse(message.at) }))
    .sort((a, b) => a.ms - b.ms || a.index - b.index)
    .map(({ message }) => message)
}

function byPath(files: SourceFile[]): SourceFile[] {
  return structuredClone([...files].sort((a, b) => compareStrings(a.path, b.path)))
}

/**
 * One page of an already ordered list of history items. Items are never
 * reordered or removed singly (only purged with their task), so the page
 * after a cursor starts right after the item the cursor names; a cursor whose
 * item is gone falls back to comparing times.
 */
function paginate<T extends { id: string }>(
  ordered: T[],
  after: PageCursor | undefined,
  limit: number,
  timeOf: (item: T) => string,
  direction: 'asc' | 'desc',
): Page<T> {
  let start = 0
  if (after !== undefined) {
    const position = ordered.findIndex((item) => item.id === after.id)
    start =
      position >= 0
        ? position + 1
        : ordered.findIndex((item) => {
            const ms = Date.parse(timeOf(item))
            return direction === 'desc' ? ms < after.atMs : ms > after.atMs
          })
    if (start < 0) start = ordered.length
  }
  const rest = ordered.slice(start)
  const items = rest.slice(0, limit)
  const last = items.at(-1)
  const nextCursor = rest.length > limit && last !== undefined ? encodeCursor(timeOf(last), last.id) : null
  return { items: structuredClone(items), nextCursor }
}

function toNotificationRecord(entry: OutboxRecord): NotificationRecord {
  const state = entry.deliveredAt !== null ? 'delivered' : entry.failedAt !== null ? 'failed' : 'pending'
  return {
    id: entry.id,
    taskId: entry.taskId,
    eventType: entry.eventType,
    notifier: entry.notifier,
    state,
    title: typeof entry.payload.title === 'string' ? entry.payload.title : '',
    attempts: entry.attempts,
    lastError: entry.lastError,
    nextAttemptAt: state === 'pending' ? entry.nextAttemptAt : null,
    deliveredAt: entry.deliveredAt,
    failedAt: entry.failedAt,
    createdAt: entry.createdAt,
  }
}

/** Code-unit order, as SQL's binary collation sorts ids and paths. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function errorCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : ''
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
