/**
 * The legacy JSON file as an import source: what `jjm migrate import-json`
 * hands to core's import service (src/core/import-service.ts).
 */
import { ValidationError } from '../../core/errors.js'
import type { HistoryReader, TaskHistory } from '../../core/import-service.js'
import type { Task } from '../../core/task.js'
import { type LegacyFileContents, readLegacyFile, type StoredTask } from './format.js'

/**
 * Reads the whole file at once, so that a file that is missing or corrupt is
 * reported before any database is opened.
 *
 * @throws ValidationError when there is no such file; StorageError when it is not a legacy JSON task file.
 */
export async function openLegacyJsonFile(path: string): Promise<HistoryReader> {
  const contents = await readLegacyFile(path)
  if (contents === undefined) {
    throw new ValidationError(`There is no file ${path}. Give the path of the JSON file to import.`, {
      context: { path },
    })
  }
  return legacyJsonReader(contents)
}

/** The contents of a legacy file, already parsed, as an import source. */
export function legacyJsonReader(contents: LegacyFileContents): HistoryReader {
  return {
    async *tasks() {
      yield* contents.tasks.map(toHistory)
    },
    invalid: async () => contents.invalid,
    creationIntents: async () => contents.creationIntents,
  }
}

function toHistory(stored: StoredTask): TaskHistory {
  return {
    task: withLegacyFields(stored.task, stored.extra),
    deleted: stored.deletedAt !== null,
    events: stored.events.map(({ type, data, at }) => ({ type, data, at })),
    chatMessages: stored.chatMessages.map(({ role, text, activityId, at }) => ({ role, text, activityId, at })),
    sourceFiles: stored.sourceFiles.map(({ path, changeType }) => ({ path, changeType })),
    syncCursor: stored.syncCursor,
  }
}

/** Fields jjm does not know travel in `metadata.legacy`, so that nothing of the old record is lost. */
function withLegacyFields(task: Task, extra: Record<string, unknown>): Task {
  if (Object.keys(extra).length === 0 || 'legacy' in task.metadata) return task
  return { ...task, metadata: { ...task.metadata, legacy: extra } }
}
