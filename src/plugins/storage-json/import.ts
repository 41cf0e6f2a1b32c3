/**
 * Copies the tasks of a JSON store file (the original job manager's format)
 * into any TaskStore, idempotently: a task whose id is already in the
 * destination is skipped, so running the import twice adds nothing.
 */
import { randomUUID } from 'node:crypto'
import { StorageError, ValidationError } from '../../core/errors.js'
import type { CreationIntent, NewTaskEvent, SyncCursor, TaskStore } from '../../core/ports.js'
import type { Task } from '../../core/task.js'
import { type InvalidRecord, readJsonStoreFile, type StoredTask } from './format.js'

/** What an import reads from: a JSON store file as `readJsonStoreFile` returns it. */
export interface ImportSource {
  tasks: StoredTask[]
  invalid: InvalidRecord[]
  /** Creations under idempotency keys, so that a key used before the import still never starts a second session. */
  creationIntents?: CreationIntent[]
}

/** What an import did (or, with `dryRun`, would do); the `--json` shape of `jjm migrate import-json`. */
export interface ImportReport {
  imported: { tasks: number; events: number; chatMessages: number; sourceFiles: number }
  /** Tasks already in the destination (by id or Jules session), or deleted in the source. */
  skipped: number
  /** Records of the source that are not valid tasks; nothing of them was imported. */
  invalid: Array<{ id: string; field: string; reason: string }>
}

export interface ImportOptions {
  /** Count what would be imported, write nothing. */
  dryRun?: boolean
  /** Called after each task, e.g. to log progress. */
  onTask?: (taskId: string, outcome: 'imported' | 'skipped') => void
}

/**
 * Reads the file to import with the JSON store's reader. Unlike a store,
 * which starts empty where there is no file, an import of a missing file is a mistake.
 *
 * @throws ValidationError when there is no such file; StorageError when it is not a JSON store.
 */
export async function readImportFile(path: string): Promise<ImportSource> {
  const contents = await readJsonStoreFile(path)
  if (contents.signature === undefined) {
    throw new ValidationError(`There is no file ${path}. Give the path of the JSON file to import.`, {
      context: { path },
    })
  }
  return contents
}

/**
 * Copies every valid task of `source` with its events, chat messages, source
 * files and sync cursor into `destination`, oldest task first, then the
 * creation intents of the keys the destination does not know yet. Each task
 * and its events are created in one write (bound to its idempotency key, when
 * one created it); its messages, files and cursor follow.
 *
 * A failure of the destination stops the import with its StorageError; what
 * was imported stays, and running the import again carries on from there.
 */
export async function importTasks(
  source: ImportSource,
  destination: TaskStore,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const report: ImportReport = {
    imported: { tasks: 0, events: 0, chatMessages: 0, sourceFiles: 0 },
    skipped: 0,
    invalid: source.invalid.map(({ id, field, reason }) => ({ id, field, reason })),
  }
  const ordered = [...source.tasks].sort(
    (a, b) => Date.parse(a.task.createdAt) - Date.parse(b.task.createdAt) || (a.task.id < b.task.id ? -1 : 1),
  )
  const intents = source.creationIntents ?? []
  const doneIntents = new Map(
    intents.flatMap((intent) => (intent.state === 'done' && intent.taskId !== null ? [[intent.taskId, intent]] : [])),
  )
  for (const stored of ordered) {
    const outcome = await importOne(
      stored,
      destination,
      report,
      options.dryRun === true,
      doneIntents.get(stored.task.id),
    )
    options.onTask?.(stored.task.id, outcome)
  }
  if (options.dryRun !== true) {
    for (const intent of intents) if (intent.state !== 'done') await importOpenIntent(intent, destination)
  }
  return report
}

async function importOne(
  stored: StoredTask,
  destination: TaskStore,
  report: ImportReport,
  dryRun: boolean,
  doneIntent: CreationIntent | undefined,
): Promise<'imported' | 'skipped'> {
  const { task } = stored
  const skip = (): 'skipped' => {
    report.skipped += 1
    return 'skipped'
  }
  // A task deleted in a jjm-written JSON store stays deleted: it is not brought back by an import.
  if (stored.deletedAt !== null) return skip()
  if ((await destination.getTask(task.id)) !== undefined) return skip()
  // The same Jules session under another jjm id (e.g. imported from a copy of the file) is the same task.
  if ((await destination.findTask(task.sessionName)) !== undefined) return skip()

  const events: NewTaskEvent[] = stored.events.map(({ type, data, at }) => ({ type, data, at }))
  const messages = stored.chatMessages.map(({ role, text, activityId, at }) => ({ role, text, activityId, at }))
  const files = stored.sourceFiles.map(({ path, changeType }) => ({ path, changeType }))
  if (dryRun) {
    const activities = new Set(messages.flatMap((message) => (message.activityId === null ? [] : [message.activityId])))
    report.imported.tasks += 1
    report.imported.events += events.length
    report.imported.chatMessages += messages.filter((message) => message.activityId === null).length + activities.size
    report.imported.sourceFiles += new Set(files.map((file) => file.path)).size
    return 'imported'
  }

  const idempotencyKey = doneIntent === undefined ? undefined : await beginIntent(doneIntent, destination)
  const copy = withLegacyFields(task, stored.extra)
  try {
    await destination.createTask(copy, events, idempotencyKey === undefined ? {} : { idempotencyKey })
  } catch (error) {
    // A task deleted (not purged) in the destination is invisible to getTask but still holds
    // its id: the destination refuses it as a duplicate, which for an import means "present".
    if (error instanceof StorageError && error.context.taskId === task.id) return skip()
    throw error
  }
  report.imported.tasks += 1
  report.imported.events += events.length
  if (messages.length > 0) report.imported.chatMessages += await destination.addChatMessages(task.id, messages)
  if (files.length > 0) {
    await destination.setSourceFiles(task.id, files)
    report.imported.sourceFiles += (await destination.listSourceFiles(task.id)).length
  }
  // Without its cursor, the monitor would read the task's activities from the
  // start again and record the events above a second time.
  if (stored.syncCursor != null) await importCursor(destination, copy, stored.syncCursor)
  return 'imported'
}

/** Writes an imported task's sync cursor as a sync would, under a lease of its own, keeping its lastSyncedAt. */
async function importCursor(destination: TaskStore, task: Task, cursor: SyncCursor): Promise<void> {
  const holder = `import-${randomUUID()}`
  if (!(await destination.claimSyncLeases([task.id], holder, 60_000)).includes(task.id)) return
  try {
    await destination.commitSync({
      taskId: task.id,
      holder,
      events: [],
      cursor,
      syncedAt: task.lastSyncedAt ?? task.updatedAt,
    })
  } finally {
    await destination.releaseSyncLeases([task.id], holder)
  }
}

/**
 * Records `intent` in the destination as it was first begun (same key,
 * request hash and creation time), returning its key; undefined when the
 * destination already knows the key, which then stays as it is there.
 */
async function beginIntent(intent: CreationIntent, destination: TaskStore): Promise<string | undefined> {
  // A lease that has run out as it is taken: the import holds nobody off.
  const holder = `import-${randomUUID()}`
  const claim = await destination.beginCreation(intent.key, intent.requestHash, intent.createdAt, {
    holder,
    expiresAt: intent.createdAt,
  })
  await destination.releaseCreation(intent.key, holder)
  return claim.created ? intent.key : undefined
}

/** Copies an intent that is not done: pending (a retry looks for its session), session created, or failed. */
async function importOpenIntent(intent: CreationIntent, destination: TaskStore): Promise<void> {
  if ((await beginIntent(intent, destination)) === undefined) return
  if (intent.state === 'session_created' && intent.sessionName !== null) {
    await destination.noteCreationSession(intent.key, intent.sessionName, intent.updatedAt)
  } else if (intent.state === 'failed') {
    await destination.failCreation(intent.key, intent.error ?? 'failed before the import', intent.updatedAt)
  }
}

/** Fields jjm does not know travel in `metadata.legacy`, so that nothing of the old record is lost. */
function withLegacyFields(task: Task, extra: Record<string, unknown>): Task {
  if (Object.keys(extra).length === 0 || 'legacy' in task.metadata) return task
  return { ...task, metadata: { ...task.metadata, legacy: extra } }
}
