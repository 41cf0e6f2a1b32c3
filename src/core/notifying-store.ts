/**
 * A TaskStore decorator that gives every write of events the notifications
 * those events cause, so that the store writes them to the outbox in the same
 * transaction (at least once, even across a crash), and starts a delivery pass
 * after such a write. Every writer (the manager, the monitor, bulk creation)
 * goes through it without knowing about notifications.
 */

import { DelegatingTaskStore } from './delegating-store.js'
import type { NotificationCenter } from './notifications.js'
import type {
  EventWriteOptions,
  NewNotification,
  NewTaskEvent,
  SyncCommit,
  SyncCommitResult,
  TaskStore,
} from './ports.js'
import type { Task, TaskEvent } from './task.js'

export class NotifyingTaskStore extends DelegatingTaskStore {
  constructor(
    store: TaskStore,
    private readonly center: NotificationCenter,
  ) {
    super(store)
  }

  override async createTask(
    task: Task,
    events: NewTaskEvent[],
    options: { idempotencyKey?: string } & EventWriteOptions = {},
  ): Promise<void> {
    const notifications = this.with(options.notifications, task, events)
    await this.store.createTask(task, events, { ...options, notifications })
    this.after(notifications)
  }

  override async updateTask(
    task: Task,
    events: NewTaskEvent[],
    options: { expectedVersion: number } & EventWriteOptions,
  ): Promise<Task> {
    const notifications = this.with(options.notifications, task, events)
    const stored = await this.store.updateTask(task, events, { ...options, notifications })
    this.after(notifications)
    return stored
  }

  /**
   * A sync's events notify like an edit's. A quiet sync (no task row) that
   * still brings events is routed with the task as stored now (one read, only
   * when notifications are configured). Nothing is kicked unless it committed.
   */
  override async commitSync(commit: SyncCommit): Promise<SyncCommitResult> {
    if (commit.events.length === 0 || !this.center.enabled) return this.store.commitSync(commit)
    const task = commit.task ?? (await this.store.getTask(commit.taskId))
    const notifications =
      task === undefined ? commit.notifications : this.with(commit.notifications, task, commit.events)
    const result = await this.store.commitSync({ ...commit, ...(notifications === undefined ? {} : { notifications }) })
    if (result.outcome === 'committed') this.after(notifications)
    return result
  }

  override async logEvent(taskId: string, event: NewTaskEvent, options: EventWriteOptions = {}): Promise<TaskEvent> {
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

  /** Lets the deliveries in flight finish (a CLI command exits right after), then closes the store. */
  override async close(): Promise<void> {
    await this.center.idle()
    await this.store.close()
  }
}
