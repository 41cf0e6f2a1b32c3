import { EventEmitter } from 'node:events'
import type { ApiKeyRevocation, EventBus, TaskUpdate } from './ports.js'

/** The all-tasks channel; one task's updates go to `task:updates:{id}` as well. */
export const allTasksChannel = 'task:updates'

/** Where API key revocations go, apart from task updates (stream clients never see them). */
export const apiKeyRevocationsChannel = 'api-keys:revoked'

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

  async publishApiKeyRevocation(revocation: ApiKeyRevocation): Promise<void> {
    this.emit(apiKeyRevocationsChannel, revocation)
  }

  async subscribeApiKeyRevocations(listener: (revocation: ApiKeyRevocation) => void): Promise<() => Promise<void>> {
    this.emitter.on(apiKeyRevocationsChannel, listener)
    return async () => {
      this.emitter.off(apiKeyRevocationsChannel, listener)
    }
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners()
  }

  private emit<T>(channel: string, message: T): void {
    for (const listener of this.emitter.listeners(channel) as Array<(message: T) => void>) {
      try {
        listener(structuredClone(message))
      } catch (error) {
        this.onListenerError(error)
      }
    }
  }
}
