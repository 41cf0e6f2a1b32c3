/**
 * A TaskStore decorator that gives every write of events the notifications
 * those events cause, so that the store writes them to the outbox in the same
 * transaction (at least once, even across a crash), and starts a delivery pass
 * after such a write. Every writer (the manager, the monitor, bulk creation)
 * goes through it without knowing about notifications.
 */

import type { NotificationCenter } from './notifications.js'
import type {
  CreationClaim,
  CreationLease,
  EventQuery,
  EventWriteOptions,
  NewChatMessage,
  NewNotification,
  NewTaskEvent,
  NotificationPruneOptions,
  NotificationQuery,
  NotificationRecord,
  OutboxEntry,
  SyncCursor,
  SyncWrite,
  TaskRelations,
  TaskStore,
} from './ports.js'
import { passSyncLeases, type SyncLeases } from './sync-lease.js'
import type { ChatMessage, Page, SourceFile, Task, TaskEvent, TaskFilter } from './task.js'

export class NotifyingTaskStore implements TaskStore {
  constructor(
    private readonly store: TaskStore,
    private readonly center: NotificationCenter,
  ) {}

  async createTask(
    task: Task,
    events: NewTaskEvent[],
    options: { idempotencyKey?: string } & EventWriteOptions = {},
  ): Promise<void> {
    const notifications = this.with(options.notifications, task, events)
    await this.store.createTask(task, events, { ...options, notifications })
    this.after(notifications)
  }

  async updateTask(
    task: Task,
    events: NewTaskEvent[],
    sync?: SyncWrite,
    options: EventWriteOptions = {},
  ): Promise<void> {
    const notifications = this.with(options.notifications, task, events)
    await this.store.updateTask(task, events, sync, { ...options, notifications })
    this.after(notifications)
  }

  async logEvent(taskId: string, event: NewTaskEvent, options: EventWriteOptions = {}): Promise<TaskEvent> {
    // The task as it is now (one read, only when notifications are configured): a deleted one sends nothing.
    const task = this.center.enabled ? await this.store.getTask(taskId) : undefined
    const notifications = task === undefined ? options.notifications : this.with(options.notifications, task, [event])
    const logged = await this.store.logEvent(taskId, event, { ...options, notifications })
    this.after(notifications)
    return logged
  }

  private with(given: NewNotification[] | undefined, task: Task, events: readonly NewTaskEvent[]): NewNotification[] {
    return [...(given ?? []), ...this.center.route(task, events)]
  }

  private after(notifications: NewNotification[] | undefined): void {
    if (notifications !== undefined && notifications.length > 0) this.center.kick()
  }

  claimNotifications(limit: number, now: string): Promise<OutboxEntry[]> {
    return this.store.claimNotifications(limit, now)
  }

  markNotificationDelivered(id: string, at: string): Promise<void> {
    return this.store.markNotificationDelivered(id, at)
  }

  markNotificationFailed(id: string, error: string, nextAttemptAt: string | null): Promise<void> {
    return this.store.markNotificationFailed(id, error, nextAttemptAt)
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

  getSyncCursor(taskId: string): Promise<SyncCursor | undefined> {
    return this.store.getSyncCursor(taskId)
  }

  beginCreation(key: string, requestHash: string, at: string, lease: CreationLease): Promise<CreationClaim> {
    return this.store.beginCreation(key, requestHash, at, lease)
  }

  releaseCreation(key: string, holder: string): Promise<void> {
    return this.store.releaseCreation(key, holder)
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

  /** Sync leases belong to the store underneath. */
  get claimSyncLease(): SyncLeases['claimSyncLease'] {
    return passSyncLeases(this.store).claimSyncLease
  }

  get releaseSyncLease(): SyncLeases['releaseSyncLease'] {
    return passSyncLeases(this.store).releaseSyncLease
  }

  getEvents(taskId: string, query?: EventQuery): Promise<Page<TaskEvent>> {
    return this.store.getEvents(taskId, query)
  }

  deleteTask(id: string, options?: { purge?: boolean }): Promise<boolean> {
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

  /** Lets the deliveries in flight finish (a CLI command exits right after), then closes the store. */
  async close(): Promise<void> {
    await this.center.idle()
    await this.store.close()
  }
}
