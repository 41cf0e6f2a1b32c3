/**
 * The one way history enters jjm from elsewhere: `jjm migrate import-json`
 * (the legacy JSON file) and `jjm migrate import-sqlite` (a jjm SQLite
 * database) both read their source through a {@link HistoryReader} and write
 * through {@link ImportService}.
 *
 * What is imported is the past, so the service writes to the store itself,
 * underneath the notifying decorator (a task that failed in 2024 pages nobody
 * today), and keeps every instant the source has: the task's createdAt,
 * updatedAt, completedAt and lastSyncedAt, its events' and messages' `at`.
 * It is idempotent: a task the destination already holds, by id or by Jules
 * session, is skipped, so running an import twice (or after an interruption)
 * writes nothing twice. Each task is written with its whole history in one
 * transaction (TaskStore.importTask): an interrupted import leaves no task
 * half copied.
 */
import type { CacheHandle, StorageHandle } from './backends.js'
import { listGenerationKey } from './cached-store.js'
import { ConfigurationError } from './errors.js'
import type {
  CreationIntent,
  CreationIntents,
  Logger,
  NewChatMessage,
  SyncCursor,
  TaskImport,
  TaskImportResult,
  TaskRecords,
  TaskStore,
} from './ports.js'
import { silentLogger } from './ports.js'
import type { SourceFile, Task } from './task.js'

/** The ports an import writes through: it looks tasks up, replays creation intents, and imports each task whole. */
export type ImportTarget = TaskRecords & CreationIntents & Pick<TaskStore, 'importTask'>

/** One task of a source with its whole history, as a reader hands it to the import. */
export interface TaskHistory {
  task: Task
  /** Deleted (not purged) in the source: an import never brings it back. */
  deleted: boolean
  /** Oldest first, each with the time it happened. */
  events: Array<{ type: string; data: Record<string, unknown>; at: string }>
  chatMessages: NewChatMessage[]
  sourceFiles: Array<Omit<SourceFile, 'taskId'>>
  syncCursor: SyncCursor | null
}

/** A record of the source that is not a valid task, and why; listed by the import, never written. */
export interface InvalidRecord {
  /** The key the record is filed under (its id). */
  id: string
  /** The field at fault (`prompt`, `events[2].type`), or '' for the record as a whole. */
  field: string
  reason: string
}

/**
 * Where an import reads from: the port a source implements (the legacy JSON
 * file in src/plugins/storage-json, a jjm SQL database in src/plugins/storage-sql).
 */
export interface HistoryReader {
  /** Every valid task of the source with its history, in any order. */
  tasks(): AsyncIterable<TaskHistory>
  /** The records that are not valid tasks. */
  invalid(): Promise<InvalidRecord[]>
  /** Creations under idempotency keys, so that a key used before the import never starts a second session after it. */
  creationIntents(): Promise<CreationIntent[]>
}

/** What an import did (or, with `dryRun`, would do); the `--json` shape of `jjm migrate import-json|import-sqlite`. */
export interface ImportReport {
  imported: { tasks: number; events: number; chatMessages: number; sourceFiles: number }
  /** Tasks already in the destination (by id or Jules session), or deleted in the source. */
  skipped: number
  /** Records of the source that are not valid tasks; nothing of them was imported. */
  invalid: InvalidRecord[]
}

export interface ImportServiceOptions {
  /**
   * The store the history goes to: the storage backend's own store, not the
   * notifying decorator core's commands write through.
   */
  target: ImportTarget
  /** The storage backend's name, for the message when its store cannot import. */
  backend?: string
  /**
   * Called once after tasks were written, so that task lists cached before
   * the import show them. Must not throw.
   */
  listsChanged?: () => Promise<void>
  logger?: Logger
}

export class ImportService {
  private readonly target: ImportTarget
  private readonly backend: string
  private readonly listsChanged: () => Promise<void>
  private readonly logger: Logger

  constructor(options: ImportServiceOptions) {
    this.target = options.target
    this.backend = options.backend ?? 'configured'
    this.listsChanged = options.listsChanged ?? (async () => {})
    this.logger = options.logger ?? silentLogger
  }

  /**
   * Copies every valid task of `source` that the destination does not hold
   * yet, with its history, then the creation intents still open in the
   * source (pending, session created, failed) whose keys the destination
   * does not know.
   *
   * @throws ConfigurationError when the destination store cannot import
   *   (checked before anything is read or written); StorageError when the
   *   destination fails: the tasks imported so far stay, and running the
   *   import again carries on from there.
   */
  async import(source: HistoryReader, options: { dryRun?: boolean } = {}): Promise<ImportReport> {
    const dryRun = options.dryRun === true
    const importTask = this.target.importTask?.bind(this.target)
    if (importTask === undefined) {
      throw new ConfigurationError(
        `The ${this.backend} storage backend cannot import history (its store has no importTask). Import into sqlite (the default) or postgresql storage.`,
        { context: { backend: this.backend } },
      )
    }
    const report: ImportReport = {
      imported: { tasks: 0, events: 0, chatMessages: 0, sourceFiles: 0 },
      skipped: 0,
      invalid: (await source.invalid()).map(({ id, field, reason }) => ({ id, field, reason })),
    }
    const intents = await source.creationIntents()
    const doneIntents = new Map(
      intents.flatMap((intent) => (intent.state === 'done' && intent.taskId !== null ? [[intent.taskId, intent]] : [])),
    )
    for await (const history of source.tasks()) {
      if (history.deleted) {
        report.skipped += 1
        continue
      }
      const record = toImport(history, doneIntents.get(history.task.id))
      const written = dryRun ? await this.wouldImport(record) : await importTask(record)
      if (!written.imported) {
        report.skipped += 1
        continue
      }
      report.imported.tasks += 1
      report.imported.events += record.events.length
      report.imported.chatMessages += written.chatMessages
      report.imported.sourceFiles += written.sourceFiles
    }
    if (!dryRun) {
      for (const intent of intents) if (intent.state !== 'done') await this.importOpenIntent(intent)
      if (report.imported.tasks > 0) await this.listsChanged()
    }
    this.logger.debug('import finished', { ...report.imported, skipped: report.skipped, dryRun })
    return report
  }

  /** What importTask would write, by reads only. */
  private async wouldImport(record: TaskImport): Promise<TaskImportResult> {
    const { task } = record
    // The same Jules session under another jjm id (a copy of the file imported before) is the same task.
    if (
      (await this.target.getTask(task.id)) !== undefined ||
      (await this.target.findTask(task.sessionName)) !== undefined
    ) {
      return { imported: false, chatMessages: 0, sourceFiles: 0 }
    }
    const activities = new Set(record.chatMessages.flatMap((message) => message.activityId ?? []))
    return {
      imported: true,
      chatMessages: record.chatMessages.filter((message) => message.activityId === null).length + activities.size,
      sourceFiles: new Set(record.sourceFiles.map((file) => file.path)).size,
    }
  }

  /**
   * Records an intent that was not done in the source (a retry with its key
   * looks for its session, or may try again after a failure) as it was
   * begun: same key, request hash and creation time, held by nobody.
   */
  private async importOpenIntent(intent: CreationIntent): Promise<void> {
    // A lease that has run out as it is taken: the import holds nobody off.
    const holder = `import:${intent.key}`
    const claim = await this.target.beginCreation(intent.key, intent.requestHash, intent.createdAt, {
      holder,
      expiresAt: intent.createdAt,
    })
    if (claim.claimed) await this.target.releaseCreation(intent.key, holder)
    if (!claim.created) return // the destination knows the key: it stays as it is there
    if (intent.state === 'session_created' && intent.sessionName !== null) {
      await this.target.noteCreationSession(intent.key, intent.sessionName, intent.updatedAt)
    } else if (intent.state === 'failed') {
      await this.target.failCreation(intent.key, intent.error ?? 'failed before the import', intent.updatedAt)
    }
  }
}

function toImport(history: TaskHistory, doneIntent: CreationIntent | undefined): TaskImport {
  return {
    task: history.task,
    events: history.events.map(({ type, data, at }) => ({ type, data, at })),
    chatMessages: history.chatMessages.map(({ role, text, activityId, at }) => ({ role, text, activityId, at })),
    sourceFiles: history.sourceFiles.map(({ path, changeType }) => ({ path, changeType })),
    syncCursor: history.syncCursor,
    ...(doneIntent === undefined ? {} : { creationIntent: doneIntent }),
  }
}

/**
 * The import service of an opened core: it writes to the storage backend's
 * own store (below the notifications and the cache), then moves the cached
 * lists' generation so that every process sharing the cache lists the
 * imported tasks at once.
 */
export function importServiceOf(core: {
  storage: StorageHandle
  cache: CacheHandle
  config: { storage: { backend: string } }
  logger: Logger
}): ImportService {
  const { cache } = core.cache
  const logger = core.logger.child({ component: 'import' })
  return new ImportService({
    target: core.storage.store,
    backend: core.config.storage.backend,
    logger,
    listsChanged: async () => {
      try {
        await cache?.increment(listGenerationKey)
      } catch (error) {
        logger.warn(
          'The imported tasks may be missing from cached task lists for up to a minute: the cache did not answer.',
          { error: error instanceof Error ? error.message : String(error) },
        )
      }
    },
  })
}
