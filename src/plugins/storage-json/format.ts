/**
 * The legacy JSON file format: the one the original job manager kept, and
 * jjm's former json storage backend after it. One JSON document, every task
 * keyed by its id and carrying its own history. jjm only reads it, to import
 * it (src/core/import-service.ts); docs/migration.md describes it for users.
 *
 * The versioned form, as jjm's json backend wrote it:
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
 *   "creationIntents": { "<key>": { "key", "requestHash", "state", "sessionName", "taskId",
 *                                   "error", "createdAt", "updatedAt", "leaseHolder", "leaseExpiresAt" } } }
 * ```
 *
 * (`simSessions` and `notificationOutbox`, which that backend also wrote, are
 * ignored: simulated sessions are no history, and notifications of the past
 * are not sent again.) Besides, the older bare shape `{ "<id>": { …task… } }`
 * (no `version`) and snake_case names (`session_name`, `created_at`, …),
 * because legacy files exist in every one of these forms.
 */
import { open } from 'node:fs/promises'
import { monotonicFactory } from 'ulidx'
import { StorageError } from '../../core/errors.js'
import type { InvalidRecord } from '../../core/import-service.js'
import { repositoryOf, sourceNameOf, toSourceName } from '../../core/jules/names.js'
import type { CreationIntent, SyncCursor } from '../../core/ports.js'
import type { AutomationMode, ChatMessage, PullRequest, SourceFile, Task, TaskEvent } from '../../core/task.js'

export const formatVersion = 1

/** One task as the file holds it: the task, its whole history, and what jjm does not know about it. */
export interface StoredTask {
  task: Task
  /** Set when the task was deleted without purge: an import does not bring it back. */
  deletedAt: string | null
  /** In the order they were written. */
  events: TaskEvent[]
  /** In the order they were recorded. */
  chatMessages: ChatMessage[]
  sourceFiles: SourceFile[]
  /** Where the activity sync had got to; null before the first sync. */
  syncCursor: SyncCursor | null
  /** Fields of the record that this format does not know, kept as they came. */
  extra: Record<string, unknown>
}

/** What a legacy JSON file holds once read. */
export interface LegacyFileContents {
  /** Which form the file is in; `empty` for a zero-byte (or blank) file, which the original job manager created. */
  shape: 'versioned' | 'bare' | 'empty'
  tasks: StoredTask[]
  /** Records that are objects but not valid tasks. */
  invalid: InvalidRecord[]
  /** Creations under idempotency keys, in the order of the file. */
  creationIntents: CreationIntent[]
}

export interface ParseOptions {
  /** The time given to a record that says nothing about when it was created (the file's modification time). */
  defaultTime: string
  /** Ids for events and messages that have none in the file. */
  newId?: () => string
}

const generateId = monotonicFactory()

/**
 * Reads a legacy JSON file; undefined when there is no such file.
 *
 * @throws StorageError when the file cannot be read, is not JSON, or is not
 *   shaped like a task file; the message names the file, the line and column
 *   when known, and what to do. Records that are objects but not valid tasks
 *   are not errors: they are listed in `invalid`.
 */
export async function readLegacyFile(
  path: string,
  options: { newId?: () => string } = {},
): Promise<LegacyFileContents | undefined> {
  let text: string
  let modifiedAt: number
  try {
    // Stat and content from one open file, so that they describe the same version of it.
    const handle = await open(path, 'r')
    try {
      const stats = await handle.stat()
      if (stats.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' })
      modifiedAt = stats.mtimeMs
      text = await handle.readFile('utf8')
    } finally {
      await handle.close()
    }
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined
    throw new StorageError(
      `Cannot read the JSON file ${path} (${errorCode(error) || messageOf(error)}). Check that it is a readable file.`,
      { context: { operation: 'read', path }, cause: error },
    )
  }
  return parseLegacyFile(text, path, {
    defaultTime: new Date(modifiedAt).toISOString(),
    ...(options.newId === undefined ? {} : { newId: options.newId }),
  })
}

/**
 * Parses the text of a legacy JSON file. `path` is only used in error messages.
 *
 * @throws StorageError when the text is not JSON or not shaped like a task file.
 */
export function parseLegacyFile(text: string, path: string, options: ParseOptions): LegacyFileContents {
  if (text.trim() === '') return { shape: 'empty', tasks: [], invalid: [], creationIntents: [] }
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
  let creationIntents: CreationIntent[] = []
  let shape: LegacyFileContents['shape']
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
    creationIntents = parseCreationIntents(document.creationIntents, path)
    shape = 'versioned'
  } else {
    records = document
    shape = 'bare'
  }

  const newId = options.newId ?? generateId
  const tasks: StoredTask[] = []
  const invalid: InvalidRecord[] = []
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
    }
  }
  return { shape, tasks, invalid, creationIntents }
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
  // Written by exports of newer jjm; a stall is judged again by the importing monitor.
  'stalledSince',
  'archived',
  // The local queue's order, and where a task stood in it (worked out again on import).
  'priority',
  'queue',
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
    stalledSince: null,
    // The json backend never archived: a file that says so is kept as it says.
    archived: optionalBoolean(record, 'archived') ?? false,
    // Files written before versions existed have none: their tasks start at 1.
    version:
      typeof record.version === 'number' && Number.isInteger(record.version) && record.version > 0 ? record.version : 1,
    // The legacy file knows no local queue: its tasks have the default order, unless a newer export says otherwise.
    priority:
      typeof record.priority === 'number' && Number.isInteger(record.priority) && Math.abs(record.priority) <= 1000
        ? record.priority
        : 0,
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
    `The JSON file ${path} ${problem}. jjm only reads it and left it untouched: correct it, or restore it from a backup, then run the import again.`,
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

function isObject(value: unknown): value is Record<string, unknown> {
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
