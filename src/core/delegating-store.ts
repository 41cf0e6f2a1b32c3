/**
 * The base of jjm's TaskStore decorators (the cache, the notifications):
 * every method passes to the store underneath, so that a decorator writes
 * only the methods it changes.
 */
import type {
  CreationClaim,
  CreationLease,
  EventQuery,
  EventWriteOptions,
  NewChatMessage,
  NewTaskEvent,
  NotificationPruneOptions,
  NotificationQuery,
  NotificationRecord,
  OutboxEntry,
  SessionUsage,
  SyncCommit,
  SyncCommitResult,
  SyncState,
  TaskRelations,
  TaskStore,
} from './ports.js'
import type { ChatMessage, Page, SourceFile, Task, TaskEvent, TaskFilter } from './task.js'

export class DelegatingTaskStore implements TaskStore {
  constructor(protected readonly store: TaskStore) {}

  createTask(
    task: Task,
    events: NewTaskEvent[],
    options?: { idempotencyKey?: string } & EventWriteOptions,
  ): Promise<void> {
    return this.store.createTask(task, events, options)
  }

  updateTask(
    task: Task,
    events: NewTaskEvent[],
    options: { expectedVersion: number } & EventWriteOptions,
  ): Promise<Task> {
    return this.store.updateTask(task, events, options)
  }

  listPendingTasks(): Promise<Task[]> {
    return this.store.listPendingTasks()
  }

  sessionUsage(since: string): Promise<SessionUsage> {
    return this.store.sessionUsage(since)
  }

  startTask(
    task: Task,
    events: NewTaskEvent[],
    options: { expectedVersion: number; startedAt: string; idempotencyKey?: string } & EventWriteOptions,
  ): Promise<Task> {
    return this.store.startTask(task, events, options)
  }

  commitSync(commit: SyncCommit): Promise<SyncCommitResult> {
    return this.store.commitSync(commit)
  }

  getSyncState(taskId: string): Promise<SyncState | undefined> {
    return this.store.getSyncState(taskId)
  }

  claimSyncLeases(
    taskIds: string[],
    holder: string,
    ttlMs: number,
    options?: { syncedBefore?: string },
  ): Promise<string[]> {
    return this.store.claimSyncLeases(taskIds, holder, ttlMs, options)
  }

  renewSyncLeases(taskIds: string[], holder: string, ttlMs: number): Promise<string[]> {
    return this.store.renewSyncLeases(taskIds, holder, ttlMs)
  }

  releaseSyncLeases(taskIds: string[], holder: string): Promise<void> {
    return this.store.releaseSyncLeases(taskIds, holder)
  }

  beginCreation(key: string, requestHash: string, at: string, lease: CreationLease): Promise<CreationClaim> {
    return this.store.beginCreation(key, requestHash, at, lease)
  }

  releaseCreation(key: string, holder: string): Promise<void> {
    return this.store.releaseCreation(key, holder)
  }

  holdCreation(key: string, holder: string, until: string): Promise<void> {
    return this.store.holdCreation(key, holder, until)
  }

  noteCreationSession(key: string, sessionName: string, at: string): Promise<void> {
    return this.store.noteCreationSession(key, sessionName, at)
  }

  failCreation(key: string, message: string, at: string): Promise<void> {
    return this.store.failCreation(key, message, at)
  }

  getTask(id: string): Promise<Task | undefined> {
    return this.store.getTask(id)
  }

  findTask(ref: string): Promise<Task | undefined> {
    return this.store.findTask(ref)
  }

  listTasks(filter: TaskFilter): Promise<Page<Task>> {
    return this.store.listTasks(filter)
  }

  listActiveTasks(): Promise<Task[]> {
    return this.store.listActiveTasks()
  }

  getEvents(taskId: string, query?: EventQuery): Promise<Page<TaskEvent>> {
    return this.store.getEvents(taskId, query)
  }

  logEvent(taskId: string, event: NewTaskEvent, options?: EventWriteOptions): Promise<TaskEvent> {
    return this.store.logEvent(taskId, event, options)
  }

  deleteTask(id: string, options?: { purge?: boolean; at?: string }): Promise<boolean> {
    return this.store.deleteTask(id, options)
  }

  addChatMessages(taskId: string, messages: NewChatMessage[]): Promise<number> {
    return this.store.addChatMessages(taskId, messages)
  }

  listChatMessages(taskId: string, query?: { limit?: number; cursor?: string }): Promise<Page<ChatMessage>> {
    return this.store.listChatMessages(taskId, query)
  }

  setSourceFiles(taskId: string, files: Array<Omit<SourceFile, 'taskId'>>): Promise<void> {
    return this.store.setSourceFiles(taskId, files)
  }

  listSourceFiles(taskId: string): Promise<SourceFile[]> {
    return this.store.listSourceFiles(taskId)
  }

  getRelations(taskIds: string[], options?: { messagesPerTask?: number }): Promise<Map<string, TaskRelations>> {
    return this.store.getRelations(taskIds, options)
  }

  claimNotifications(limit: number, now: string): Promise<OutboxEntry[]> {
    return this.store.claimNotifications(limit, now)
  }

  markNotificationDelivered(id: string, at: string): Promise<void> {
    return this.store.markNotificationDelivered(id, at)
  }

  markNotificationFailed(id: string, error: string, nextAttemptAt: string | null, at?: string): Promise<void> {
    return this.store.markNotificationFailed(id, error, nextAttemptAt, at)
  }

  listNotifications(query?: NotificationQuery): Promise<Page<NotificationRecord>> {
    return this.store.listNotifications(query)
  }

  requeueNotifications(ids: string[], now: string): Promise<number> {
    return this.store.requeueNotifications(ids, now)
  }

  pruneNotifications(options: NotificationPruneOptions): Promise<{ delivered: number; failed: number }> {
    return this.store.pruneNotifications(options)
  }

  /** The store underneath's, when it has one; else the writes run one after another. */
  unitOfWork<T>(work: () => Promise<T>): Promise<T> {
    return this.store.unitOfWork ? this.store.unitOfWork(work) : work()
  }

  close(): Promise<void> {
    return this.store.close()
  }
}
