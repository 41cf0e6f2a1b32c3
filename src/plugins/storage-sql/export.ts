import type { CreationIntent, TaskStore } from '../../core/ports.js'
import type { ChatMessage, TaskEvent } from '../../core/task.js'
import type { ImportSource } from '../storage-json/import.js'

/**
 * Reads every task of a store, with its whole history and sync cursor, as an
 * import source: what `jjm migrate import-sqlite` copies into another store,
 * with `creationIntents` (the port lists none, so the caller reads them).
 * Deleted tasks are not listed by a store, so they are not copied (an import
 * never brings one back).
 */
export async function readStoreForImport(
  store: TaskStore,
  creationIntents: CreationIntent[] = [],
): Promise<ImportSource> {
  const tasks: ImportSource['tasks'] = []
  let cursor: string | null = null
  do {
    const page = await store.listTasks({ limit: 200, ...(cursor ? { cursor } : {}) })
    for (const task of page.items) {
      tasks.push({
        task,
        deletedAt: null,
        events: await allPages<TaskEvent>((next) => store.getEvents(task.id, { limit: 200, ...next })),
        chatMessages: await allPages<ChatMessage>((next) => store.listChatMessages(task.id, { limit: 200, ...next })),
        sourceFiles: await store.listSourceFiles(task.id),
        syncCursor: (await store.getSyncState(task.id))?.cursor ?? null,
        extra: {},
      })
    }
    cursor = page.nextCursor
  } while (cursor)
  for (const stored of tasks) stored.events.reverse() // getEvents is newest first; the import writes in order
  tasks.reverse() // oldest task first, as the import expects
  return { tasks, invalid: [], creationIntents }
}

async function allPages<T>(
  fetch: (next: { cursor?: string }) => Promise<{ items: T[]; nextCursor: string | null }>,
): Promise<T[]> {
  const items: T[] = []
  let cursor: string | null = null
  do {
    const page = await fetch(cursor ? { cursor } : {})
    items.push(...page.items)
    cursor = page.nextCursor
  } while (cursor)
  return items
}
