/**
 * The file format of the JSON store, which is the one the original job
 * manager kept: one JSON document per store, every task keyed by its id and
 * carrying its own history. docs/migration.md describes it for users.
 *
 * jjm always writes the versioned form:
 *
 * ```json
 * { "version": 1,
 *   "tasks": { "<id>": { "id": "<id>", "sessionName": "sessions/…", …every Task field…,
 *                        "deletedAt": "<RFC 3339>" (only on a task deleted without purge),
 *                        "syncCursor": { "sessionUpdateTime", "lastActivityTime", "lastActivityNames" }
 *                                      (only once the task was synced),
 *                        "events": [{ "id", "type", "data", "at" }],
 *                        "chatMessages": [{ "id", "role", "text", "activityId", "at" }],
 *                        "sourceFiles": [{ "path", "changeType" }] } },
 *   "simSessions": { "<id>": { "id", "createdAt", "state" } },
 *   "creationIntents": { "<key>": { "key", "requestHash", "state", "sessionName", "taskId",
 *                                   "error", "createdAt", "updatedAt", "leaseHolder", "leaseExpiresAt" } },
 *   "notificationOutbox": [{ "id", "notifier", "taskId", "eventType", "payload", "attempts",
 *                            "nextAttemptAt", "deliveredAt", "failedAt", "lastError", "createdAt" }] }
 * ```
 *
 * (`simSessions`, `creationIntents` and `notificationOutbox` only when they
 * hold something; delivered and given-up notifications stay until pruned; files
 * without them, or without `syncCursor`, are read as having none.)
 *
 * and reads, besides, the older bare shape `{ "<id>": { …task… } }` (no
 * `version`) and snake_case names (`session_name`, `created_at`, …), because
 * legacy files exist in every one of these forms.
 */
import { open } from 'node:fs/promises'
import { monotonicFactory } from 'ulidx'
import { StorageError } from '../../core/errors.js'
import { repositoryOf, sourceNameOf, toSourceName } from '../../core/jules/names.js'
import type { CreationIntent, NotificationPayload, SimSessionRecord, SyncCursor } from '../../core/ports.js'
import type { AutomationMode, ChatMessage, PullRequest, SourceFile, Task, TaskEvent } from '../../core/task.js'

export const formatVersion = 1

/** One task as the file holds it: the task, its whole history, and what jjm does not know about it. */
export interface StoredTask {
  task: Task
  /** Set when the task was deleted without purge: hidden from lookups, history kept. */
  deletedAt: string | null
  /** In the order they were written. */
  events: TaskEvent[]
  /** In the order they were recorded. */
  chatMessages: ChatMessage[]
  sourceFiles: SourceFile[]
  /** Where the activity sync has got to; absent or null before the first sync. */
  syncCursor?: SyncCursor | null
  /** Fields of the record that this format does not know, written back as they came so that a rewrite loses nothing. */
  extra: Record<string, unknown>
}

/** A record that could not be read as a task, and why. */
export interface InvalidRecord {
  /** The key the record is filed under (its id). */
  id: string
  /** The field at fault (`prompt`, `events[2].type`), or '' for the record as a whole. */
  field: string
  reason: string
}

/** One notification waiting for delivery (or given up), as the file keeps it. */
export interface OutboxRecord {
  id: string
  notifier: string
  taskId: string
  eventType: string
  payload: NotificationPayload
  attempts: number
  nextAttemptAt: string
  deliveredAt: string | null
  failedAt: string | null
  lastError: string | null
  createdAt: string
}

/** What a JSON store file holds once read. */
export interface JsonStoreContents {
  /** Which form the file was in; `missing` when there was no file (or an empty one). */
  shape: 'versioned' | 'bare' | 'missing'
  tasks: StoredTask[]
  invalid: InvalidRecord[]
  /** The invalid records exactly as they were in the file, so that the store writes them back untouched. */
  invalidRaw: Map<string, unknown>
  simSessions: SimSessionRecord[]
  /** Creations under idempotency keys, in the order of the file. */
  creationIntents: CreationIntent[]
  /** Notifications pending, delivered or given up (until pruned), oldest first. */
  notificationOutbox: OutboxRecord[]
}

/** What identifies one version of a file on disk, to notice that another process rewrote it. */
export interface FileSignature {
  ino: number
  size: number
  mtimeMs: number
}

export interface ParseOptions {
  /** The time given to a record that says nothing about when it was created (the file's modification time). */
  defaultTime: string
  /** Ids for events and messages that have none in the file. */
  newId?: () => string
}

const generateId = monotonicFactory()

export function emptyContents(): JsonStoreContents {
  return {
    shape: 'missing',
    tasks: [],
    invalid: [],
    invalidRaw: new Map(),
    simSessions: [],
    creationIntents: [],
    notificationOutbox: [],
  }
}

/**
 * Reads a JSON store file. A missing file is an empty store.
 *
 * @throws StorageError when the file cannot be read, is not JSON, or is not
 *   shaped like a store; the message names the file, the line and column when
 *   known, and what to do. Records that are objects but not valid tasks are
 *   not errors: they are listed in `invalid`.
 */
export async function readJsonStoreFile(
  path: string,
  options: { newId?: () => string } = {},
): Promise<JsonStoreContents & { signature: FileSignature | undefined }> {
  let text: string
  let signature: FileSignature
  try {
    // Stat and content from one open file, so that they describe the same version of it.
    const handle = await open(path, 'r')
    try {
      const stats = await handle.stat()
      if (stats.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' })
      signature = { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs }
      text = await handle.readFile('utf8')
    } finally {
      await handle.close()
    }
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return { ...emptyContents(), signature: undefined }
    throw new StorageError(
      `Cannot read the JSON store ${path} (${errorCode(error) || messageOf(error)}). Check that it is a readable file, or choose another one (--db).`,
      { context: { operation: 'read', path }, cause: error },
    )
  }
  const contents = parseJsonStore(text, path, {
    defaultTime: new Date(signature.mtimeMs).toISOString(),
    ...(options.newId === undefined ? {} : { newId: options.newId }),
  })
  return { ...contents, signature }
}

/**
 * Parses the text of a JSON store. `path` is only used in error messages.
 *
 * @throws StorageError when the text is not JSON or not shaped like a store.
 */
export function parseJsonStore(text: string, path: string, options: ParseOptions): JsonStoreContents {
  // A zero-byte file holds nothing to lose; the original job manager created them.
  if (text.trim() === '') return emptyContents()
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (error) {
    const message = messageOf(error)
    const position = /at position (\d+)/.exec(message)
    // V8 quotes the text around the error; it may be a prompt, so it stays out of the message.
    const reason = message
      .replace(/,?\s*"[\s\S]*" is not valid JSON$/, '')
      .replace(/ in JSON at position \d+[\s\S]*$/, '')
      .trim()
    const at = position?.[1] === undefined ? undefined : lineAndColumn(text, Number(position[1]))
    throw corruptFile(
      path,
      `is not valid JSON${at === undefined ? '' : ` at line ${at.line}, column ${at.column}`} (${reason})`,
      at,
    )
  }
  if (!isObject(document)) {
    throw corruptFile(path, `holds ${describeJson(document)} where a JSON object of tasks was expected`)
  }

  let records: Record<string, unknown>
  let simSessions: SimSessionRecord[] = []
  let creationIntents: CreationIntent[] = []
  let notificationOutbox: OutboxRecord[] = []
  let shape: JsonStoreContents['shape']
  if ('version' in document) {
    if (document.version !== formatVersion) {
      const newer = typeof document.version === 'number' && document.version > formatVersion
      throw corruptFile(
        path,
        newer
          ? `is in format version ${document.version}, written by a newer jjm; this one reads version ${formatVersion} (upgrade jjm)`
          : `says "version": ${JSON.stringify(document.version)}, but the only version is ${formatVersion}`,
      )
    }
    if (!isObject(document.tasks)) {
      throw corruptFile(
        path,
        `has "version": 1 but ${describeJson(document.tasks)} where the "tasks" object was expected`,
      )
    }
    records = document.tasks
    simSessions = parseSimSessions(document.simSessions, path)
    creationIntents = parseCreationIntents(document.creationIntents, path)
    notificationOutbox = parseNotificationOutbox(document.notificationOutbox, path)
    shape = 'versioned'
  } else {
    records = document
    shape = 'bare'
  }

  const newId = options.newId ?? generateId
  const tasks: StoredTask[] = []
  const invalid: InvalidRecord[] = []
  const invalidRaw = new Map<string, unknown>()
  const sessionOwners = new Map<string, string>()
  for (const [key, raw] of Object.entries(records)) {
    try {
      const stored = parseTaskRecord(key, raw, { defaultTime: options.defaultTime, newId })
      const owner = sessionOwners.get(stored.task.sessionName)
      if (owner !== undefined) {
        throw new RecordProblem('sessionName', `${stored.task.sessionName} is also the session of task ${owner}`)
      }
      sessionOwners.set(stored.task.sessionName, key)
      tasks.push(stored)
    } catch (error) {
      if (!(error instanceof RecordProblem)) throw error
      invalid.push({ id: key, field: error.field, reason: error.message })
      invalidRaw.set(key, raw)
    }
  }
  return { shape, tasks, invalid, invalidRaw, simSessions, creationIntents, notificationOutbox }
}

/** The text of a JSON store in the versioned form: pretty-printed, as people read and diff these files. */
export function serialiseJsonStore(contents: {
  tasks: Iterable<StoredTask>
  invalidRaw: ReadonlyMap<string, unknown>
  simSessions: Iterable<SimSessionRecord>
  creationIntents?: Iterable<CreationIntent>
  notificationOutbox?: readonly OutboxRecord[]
}): string {
  const tasks: Record<string, unknown> = {}
  for (const stored of contents.tasks) tasks[stored.task.id] = toRecord(stored)
  // Records jjm could not read go back as they came: the file's owner may still fix them.
  for (const [key, raw] of contents.invalidRaw) if (!(key in tasks)) tasks[key] = raw
  const simSessions: Record<string, unknown> = {}
  for (const session of contents.simSessions) simSessions[session.id] = session
  const document: Record<string, unknown> = { version: formatVersion, tasks }
  if (Object.keys(simSessions).length > 0) document.simSessions = simSessions
  const creationIntents: Record<string, unknown> = {}
  for (const intent of contents.creationIntents ?? []) creationIntents[intent.key] = intent
  if (Object.keys(creationIntents).length > 0) document.creationIntents = creationIntents
  if (contents.notificationOutbox !== undefined && contents.notificationOutbox.length > 0)
    document.notificationOutbox = contents.notificationOutbox
  return `${JSON.stringify(document, null, 2)}\n`
}

function toRecord(stored: StoredTask): Record<string, unknown> {
  const { task } = stored
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
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
    completedAt: task.completedAt,
    lastSyncedAt: task.lastSyncedAt,
    ...(stored.deletedAt === null ? {} : { deletedAt: stored.deletedAt }),
    ...(stored.syncCursor == null ? {} : { syncCursor: stored.syncCursor }),
    ...stored.extra,
    events: stored.events.map(({ id, type, data, at }) => ({ id, type, data, at })),
    chatMessages: stored.chatMessages.map(({ id, role, text, activityId, at }) => ({ id, role, text, activityId, at })),
    sourceFiles: stored.sourceFiles.map(({ path, changeType }) => ({ path, changeType })),
  }
}

/** Why one record is not a valid task; caught per record, never escapes this module. */
class RecordProblem extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(reason)
  }
}

const taskFields = new Set([
  'id',
  'version',
  'sessionName',
  'sessionId',
  'title',
  'prompt',
  'repository',
  'repo',
  'source',
  'branch',
  'state',
  'requirePlanApproval',
  'automationMode',
  'url',
  'pullRequest',
  'labels',
  'metadata',
  'createdAt',
  'updatedAt',
  'completedAt',
  'lastSyncedAt',
  'deletedAt',
  'syncCursor',
  'events',
  'chatMessages',
  'sourceFiles',
])

const automationModes: readonly AutomationMode[] = ['AUTOMATION_MODE_UNSPECIFIED', 'AUTO_CREATE_PR']

interface RecordContext {
  defaultTime: string
  newId: () => string
}

function parseTaskRecord(key: string, raw: unknown, context: RecordContext): StoredTask {
  if (!isObject(raw)) throw new RecordProblem('', `is ${describeJson(raw)}, not a JSON object`)
  const record = camelKeys(raw)
  const extra: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(raw)) if (!taskFields.has(toCamel(name))) extra[name] = value

  // The key is the id; a record may repeat it, but must not contradict it.
  const id = optionalString(record, 'id') ?? key
  if (id !== key) throw new RecordProblem('id', `is "${id}" but the record is filed under "${key}"`)
  if (id.trim() === '') throw new RecordProblem('id', 'is empty')

  const sessionId = optionalString(record, 'sessionId')
  const session = optionalString(record, 'sessionName') ?? sessionId
  if (session === undefined || session.trim() === '') throw new RecordProblem('sessionName', 'is missing')
  const sessionName = session.startsWith('sessions/') ? session : `sessions/${session}`

  const prompt = optionalString(record, 'prompt')
  if (prompt === undefined) throw new RecordProblem('prompt', 'is missing')

  const { repository, source } = repositoryAndSource(record)
  const createdAt = optionalInstant(record, 'createdAt')
  const updatedAt = optionalInstant(record, 'updatedAt')
  const task: Task = {
    id,
    sessionName,
    title: optionalString(record, 'title') ?? firstLine(prompt),
    prompt,
    repository,
    source,
    branch: optionalString(record, 'branch') ?? 'main',
    // Older files keep Jules' own upper-case names (IN_PROGRESS); jjm's are lower-case.
    state: (optionalString(record, 'state') ?? 'queued').toLowerCase(),
    requirePlanApproval: optionalBoolean(record, 'requirePlanApproval') ?? false,
    automationMode: automationMode(record),
    url: optionalString(record, 'url') ?? null,
    pullRequest: pullRequest(record.pullRequest),
    labels: labels(record.labels),
    metadata: optionalObject(record, 'metadata') ?? {},
    createdAt: createdAt ?? updatedAt ?? context.defaultTime,
    updatedAt: updatedAt ?? createdAt ?? context.defaultTime,
    completedAt: optionalInstant(record, 'completedAt') ?? null,
    lastSyncedAt: optionalInstant(record, 'lastSyncedAt') ?? null,
    // Files written before versions existed have none: their tasks start at 1.
    version:
      typeof record.version === 'number' && Number.isInteger(record.version) && record.version > 0 ? record.version : 1,
  }
  return {
    task,
    deletedAt: optionalInstant(record, 'deletedAt') ?? null,
    syncCursor: syncCursor(record.syncCursor),
    events: list(record, 'events').map((item, index) => parseEvent(item, `events[${index}]`, task, context)),
    chatMessages: list(record, 'chatMessages').map((item, index) =>
      parseChatMessage(item, `chatMessages[${index}]`, task, context),
    ),
    sourceFiles: list(record, 'sourceFiles').map((item, index) => parseSourceFile(item, `sourceFiles[${index}]`, id)),
    extra,
  }
}

function repositoryAndSource(record: Record<string, unknown>): { repository: string; source: string } {
  const repositoryField = record.repository === undefined && record.repo !== undefined ? 'repo' : 'repository'
  const repository = optionalString(record, repositoryField)
  const source = optionalString(record, 'source')
  try {
    if (repository !== undefined) {
      const normalised = repositoryOf(sourceNameOf(repository))
      return { repository: normalised, source: source === undefined ? sourceNameOf(normalised) : toSourceName(source) }
    }
    if (source !== undefined) return { repository: repositoryOf(source), source: toSourceName(source) }
  } catch (error) {
    throw new RecordProblem(repository === undefined ? 'source' : repositoryField, messageOf(error))
  }
  throw new RecordProblem('repository', 'is missing, and so is source')
}

function automationMode(record: Record<string, unknown>): AutomationMode {
  const value = optionalString(record, 'automationMode')
  if (value === undefined) return 'AUTOMATION_MODE_UNSPECIFIED'
  const mode = automationModes.find((candidate) => candidate === value)
  if (mode === undefined) {
    throw new RecordProblem('automationMode', `is "${value}"; expected one of ${automationModes.join(', ')}`)
  }
  return mode
}

function pullRequest(value: unknown): PullRequest | null {
  if (value === undefined || value === null) return null
  if (!isObject(value)) throw new RecordProblem('pullRequest', `is ${describeJson(value)}, not an object`)
  const url = optionalString(value, 'url', { field: 'pullRequest.url' })
  if (url === undefined) throw new RecordProblem('pullRequest.url', 'is missing')
  return {
    url,
    title: optionalString(value, 'title', { field: 'pullRequest.title' }) ?? '',
    description: optionalString(value, 'description', { field: 'pullRequest.description' }) ?? '',
  }
}

function labels(value: unknown): string[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value) || !value.every((label) => typeof label === 'string')) {
    throw new RecordProblem('labels', `is ${describeJson(value)}, not a list of strings`)
  }
  return value
}

function parseEvent(raw: unknown, field: string, task: Task, context: RecordContext): TaskEvent {
  if (!isObject(raw)) throw new RecordProblem(field, `is ${describeJson(raw)}, not an object`)
  const event = camelKeys(raw)
  const type = optionalString(event, 'type', { field: `${field}.type` })
  if (type === undefined) throw new RecordProblem(`${field}.type`, 'is missing')
  // Data that is not an object is kept rather than refused: history is worth more than its shape.
  const data =
    event.data === undefined || event.data === null ? {} : isObject(event.data) ? event.data : { value: event.data }
  return {
    id: optionalId(event, `${field}.id`) ?? context.newId(),
    taskId: task.id,
    type,
    data,
    at: optionalInstant(event, 'at', `${field}.at`) ?? task.updatedAt,
  }
}

function parseChatMessage(raw: unknown, field: string, task: Task, context: RecordContext): ChatMessage {
  if (!isObject(raw)) throw new RecordProblem(field, `is ${describeJson(raw)}, not an object`)
  const message = camelKeys(raw)
  const role = optionalString(message, 'role', { field: `${field}.role` })
  if (role !== 'user' && role !== 'agent') {
    throw new RecordProblem(`${field}.role`, role === undefined ? 'is missing' : `is "${role}"; expected user or agent`)
  }
  const text = optionalString(message, 'text', { field: `${field}.text` })
  if (text === undefined) throw new RecordProblem(`${field}.text`, 'is missing')
  return {
    id: optionalId(message, `${field}.id`) ?? context.newId(),
    taskId: task.id,
    role,
    text,
    activityId: optionalString(message, 'activityId', { field: `${field}.activityId` }) ?? null,
    at: optionalInstant(message, 'at', `${field}.at`) ?? task.updatedAt,
  }
}

function parseSourceFile(raw: unknown, field: string, taskId: string): SourceFile {
  // Some legacy files list bare paths.
  if (typeof raw === 'string') return { taskId, path: raw, changeType: 'modified' }
  if (!isObject(raw)) throw new RecordProblem(field, `is ${describeJson(raw)}, not an object or a path`)
  const file = camelKeys(raw)
  const path = optionalString(file, 'path', { field: `${field}.path` })
  if (path === undefined || path === '') throw new RecordProblem(`${field}.path`, 'is missing')
  return {
    taskId,
    path,
    changeType: optionalString(file, 'changeType', { field: `${field}.changeType` }) ?? 'modified',
  }
}

/**
 * The cursor as jjm wrote it. One that is not (a hand edit) counts as none
 * rather than making the whole task unreadable: the next sync reads the
 * session's activities from the start again.
 */
function syncCursor(value: unknown): SyncCursor | null {
  if (!isObject(value)) return null
  const { sessionUpdateTime, lastActivityTime, lastActivityNames } = value
  const stringOrNull = (item: unknown): item is string | null => item === null || typeof item === 'string'
  if (!stringOrNull(sessionUpdateTime) || !stringOrNull(lastActivityTime)) return null
  if (!Array.isArray(lastActivityNames) || !lastActivityNames.every((name) => typeof name === 'string')) return null
  return { sessionUpdateTime, lastActivityTime, lastActivityNames: [...lastActivityNames] }
}

const intentStates: ReadonlySet<string> = new Set<CreationIntent['state']>([
  'pending',
  'session_created',
  'done',
  'failed',
])

function parseCreationIntents(value: unknown, path: string): CreationIntent[] {
  if (value === undefined) return []
  if (!isObject(value)) {
    throw corruptFile(path, `has ${describeJson(value)} where the "creationIntents" object was expected`)
  }
  return Object.entries(value).map(([key, raw]) => {
    const text = (name: string): string | null | undefined => {
      const field = isObject(raw) ? raw[name] : undefined
      return field === null ? null : typeof field === 'string' ? field : undefined
    }
    const requestHash = text('requestHash')
    const state = text('state')
    const createdAt = text('createdAt')
    const updatedAt = text('updatedAt')
    if (
      typeof requestHash !== 'string' ||
      typeof state !== 'string' ||
      !intentStates.has(state) ||
      typeof createdAt !== 'string' ||
      typeof updatedAt !== 'string'
    ) {
      throw corruptFile(
        path,
        `has a creation intent "${key}" without requestHash, a known state, createdAt and updatedAt`,
      )
    }
    return {
      key,
      requestHash,
      state: state as CreationIntent['state'],
      sessionName: text('sessionName') ?? null,
      taskId: text('taskId') ?? null,
      error: text('error') ?? null,
      createdAt,
      updatedAt,
      // Files written before leases existed have none: nobody holds those intents.
      leaseHolder: text('leaseHolder') ?? null,
      leaseExpiresAt: text('leaseExpiresAt') ?? null,
    }
  })
}

function parseNotificationOutbox(value: unknown, path: string): OutboxRecord[] {
  if (value === undefined) return []
  if (!Array.isArray(value))
    throw corruptFile(path, `has ${describeJson(value)} where the "notificationOutbox" list was expected`)
  return value.map((raw: unknown, index) => {
    const nullable = (field: unknown): string | null => (typeof field === 'string' ? field : null)
    if (
      !isObject(raw) ||
      typeof raw.id !== 'string' ||
      typeof raw.notifier !== 'string' ||
      typeof raw.taskId !== 'string' ||
      typeof raw.eventType !== 'string' ||
      !isObject(raw.payload) ||
      typeof raw.attempts !== 'number' ||
      typeof raw.nextAttemptAt !== 'string' ||
      typeof raw.createdAt !== 'string'
    ) {
      throw corruptFile(
        path,
        `has a notificationOutbox entry (number ${index + 1}) without id, notifier, taskId, eventType, payload, attempts, nextAttemptAt and createdAt`,
      )
    }
    return {
      id: raw.id,
      notifier: raw.notifier,
      taskId: raw.taskId,
      eventType: raw.eventType,
      payload: raw.payload as unknown as NotificationPayload,
      attempts: raw.attempts,
      nextAttemptAt: raw.nextAttemptAt,
      deliveredAt: nullable(raw.deliveredAt),
      failedAt: nullable(raw.failedAt),
      lastError: nullable(raw.lastError),
      createdAt: raw.createdAt,
    }
  })
}

function parseSimSessions(value: unknown, path: string): SimSessionRecord[] {
  if (value === undefined) return []
  if (!isObject(value))
    throw corruptFile(path, `has ${describeJson(value)} where the "simSessions" object was expected`)
  return Object.entries(value).map(([id, raw]) => {
    if (!isObject(raw) || typeof raw.createdAt !== 'string' || !isObject(raw.state)) {
      throw corruptFile(path, `has a simulated session "${id}" without createdAt and state`)
    }
    return { id, createdAt: raw.createdAt, state: raw.state }
  })
}

function list(record: Record<string, unknown>, name: string): unknown[] {
  const value = record[name]
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) throw new RecordProblem(name, `is ${describeJson(value)}, not a list`)
  return value
}

function optionalString(
  record: Record<string, unknown>,
  name: string,
  options: { field?: string } = {},
): string | undefined {
  const value = record[name]
  // null is how legacy files (and jjm) write "no value".
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') {
    throw new RecordProblem(options.field ?? name, `is ${describeJson(value)}, not a string`)
  }
  return value
}

function optionalId(record: Record<string, unknown>, field: string): string | undefined {
  const value = record.id
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string' && value !== '') return value
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  throw new RecordProblem(field, `is ${describeJson(value)}, not an id`)
}

function optionalBoolean(record: Record<string, unknown>, name: string): boolean | undefined {
  const value = record[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'boolean') throw new RecordProblem(name, `is ${describeJson(value)}, not true or false`)
  return value
}

function optionalObject(record: Record<string, unknown>, name: string): Record<string, unknown> | undefined {
  const value = record[name]
  if (value === undefined || value === null) return undefined
  if (!isObject(value)) throw new RecordProblem(name, `is ${describeJson(value)}, not an object`)
  return value
}

const zonelessDateTime = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/

/**
 * An RFC 3339 instant from a timestamp as legacy files write them: RFC 3339,
 * a date-time without a zone (read as UTC, the way the original job manager
 * wrote them), or a Unix time in seconds or milliseconds.
 */
function optionalInstant(record: Record<string, unknown>, name: string, field = name): string | undefined {
  const value = record[name]
  if (value === undefined || value === null) return undefined
  let ms: number
  if (typeof value === 'number' && Number.isFinite(value)) {
    // Before the year 5138 in seconds, after 1973 in milliseconds: the two never overlap in practice.
    ms = Math.abs(value) < 1e11 ? value * 1000 : value
  } else if (typeof value === 'string' && value.trim() !== '') {
    const text = value.trim()
    ms = Date.parse(zonelessDateTime.test(text) ? `${text.replace(' ', 'T')}Z` : text)
  } else {
    throw new RecordProblem(field, `is ${describeJson(value)}, not a date and time`)
  }
  if (Number.isNaN(ms)) throw new RecordProblem(field, `is "${String(value)}", not a date and time (RFC 3339 expected)`)
  return new Date(ms).toISOString()
}

/** snake_case names of legacy files as jjm's camelCase ones; a camelCase name wins when a record has both. */
function camelKeys(record: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(record)) {
    const camel = toCamel(name)
    if (camel !== name && camel in record) continue
    result[camel] = value
  }
  return result
}

function toCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase())
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? text
  return line.length > 80 ? `${line.slice(0, 77)}...` : line
}

function corruptFile(path: string, problem: string, at?: { line: number; column: number }): StorageError {
  return new StorageError(
    `The JSON store ${path} ${problem}. jjm left the file untouched: restore it from a backup, or move it away to start an empty store, then try again.`,
    { context: { operation: 'read', path, line: at?.line, column: at?.column } },
  )
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const lines = text.slice(0, offset).split('\n')
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 }
}

function describeJson(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return 'a string'
  return `${typeof value} ${JSON.stringify(value)}`
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function errorCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : ''
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
