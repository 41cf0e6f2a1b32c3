/**
 * A jjm SQL database as an import source: what `jjm migrate import-sqlite`
 * hands to core's import service (src/core/import-service.ts).
 */
import type { HistoryReader, TaskHistory } from '../../core/import-service.js'
import type { TaskStore } from '../../core/ports.js'
import type { ChatMessage, Task, TaskEvent } from '../../core/task.js'
import type { SqlStorage } from './sql-store.js'

const pageLimit = 200

/**
 * Reads every task of `storage` with its whole history and sync cursor, one
 * task at a time, and its creation intents. Deleted tasks are not listed by
 * a store, so they are not copied (an import never brings one back).
 */
export function sqlHistoryReader(storage: Pick<SqlStorage, 'store' | 'listCreationIntents'>): HistoryReader {
  const { store } = storage
  return {
    async *tasks() {
      let cursor: string | null = null
      do {
        const page = await store.listTasks({ limit: pageLimit, ...(cursor ? { cursor } : {}) })
        for (const task of page.items) yield await historyOf(store, task)
        cursor = page.nextCursor
      } while (cursor)
    },
    invalid: async () => [],
    creationIntents: () => storage.listCreationIntents(),
  }
}

async function historyOf(store: TaskStore, task: Task): Promise<TaskHistory> {
  const taskId = task.id
  // getEvents is newest first; the import writes them oldest first.
  const events = await allPages<TaskEvent>((next) => store.getEvents(taskId, { limit: pageLimit, ...next }))
  events.reverse()
  return {
    task,
    deleted: false,
    events: events.map(({ type, data, at }) => ({ type, data, at })),
    chatMessages: (
      await allPages<ChatMessage>((next) => store.listChatMessages(taskId, { limit: pageLimit, ...next }))
    ).map(({ role, text, activityId, at }) => ({ role, text, activityId, at })),
    sourceFiles: (await store.listSourceFiles(taskId)).map(({ path, changeType }) => ({ path, changeType })),
    syncCursor: (await store.getSyncCursor(taskId)) ?? null,
  }
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
