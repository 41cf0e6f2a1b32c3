import { EventEmitter } from 'node:events'
import type { EventBus, TaskUpdate } from './ports.js'

/** The all-tasks channel; one task's updates go to `task:updates:{id}` as well. */
export const allTasksChannel = 'task:updates'

export function taskChannel(taskId: string): string {
  return `${allTasksChannel}:${taskId}`
}

/**
 * The default event bus: in one process. Listeners never break a publisher: a
 * listener that throws is reported to `onListenerError` and the others still run.
 */
export class InProcessEventBus implements EventBus {
  readonly healthy = true
  private readonly emitter = new EventEmitter()

  constructor(private readonly onListenerError: (error: unknown) => void = () => {}) {
    // Many SSE clients may listen at once; this is not a leak.
    this.emitter.setMaxListeners(0)
  }

  async publish(update: TaskUpdate): Promise<void> {
    this.emit(taskChannel(update.taskId), update)
    this.emit(allTasksChannel, update)
  }

  async subscribe(filter: { taskId?: string }, listener: (update: TaskUpdate) => void): Promise<() => Promise<void>> {
    const channel = filter.taskId === undefined ? allTasksChannel : taskChannel(filter.taskId)
    this.emitter.on(channel, listener)
    return async () => {
      this.emitter.off(channel, listener)
    }
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners()
  }

  private emit(channel: string, update: TaskUpdate): void {
    for (const listener of this.emitter.listeners(channel) as Array<(update: TaskUpdate) => void>) {
      try {
        listener(structuredClone(update))
      } catch (error) {
        this.onListenerError(error)
      }
    }
  }
}
