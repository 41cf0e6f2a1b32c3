/**
 * The consumer side of the event bus (monitor --realtime, the daemon's live
 * stream): listen to the bus while it is healthy, poll the store while it is
 * not. Live updates are best-effort; the store is the source of truth, so a
 * consumer never waits on a broken bus.
 */
import type { EventBus, Logger, TaskUpdate } from './ports.js'

export interface WatchTaskUpdatesOptions {
  bus: EventBus
  /**
   * Reads what changed in the store since the previous call (the caller keeps
   * its own cursor). Called every `intervalMs` while live delivery is broken,
   * and once more when it comes back, to catch up on the switch.
   */
  poll: () => Promise<TaskUpdate[]>
  /** How often to poll while the bus is down, and how often to check whether it came back. */
  intervalMs: number
  onUpdate: (update: TaskUpdate) => void
  /** One task only; all tasks when absent. */
  taskId?: string
  logger: Logger
}

export interface TaskUpdateWatch {
  /** Stops polling and listening; resolves once nothing more will be delivered. */
  stop(): Promise<void>
}

type Mode = 'starting' | 'live' | 'polling'

/**
 * Delivers task updates from the bus or, while the bus is unhealthy or
 * refuses to subscribe, from `poll()`.
 *
 * Delivery is at least once across a switch: the poll that catches up when
 * the bus recovers may repeat an update the bus delivered, so `onUpdate`
 * should be idempotent (a task update carries the whole task, so applying it
 * twice is harmless). While polling, updates from the bus are ignored: the
 * polls deliver them.
 */
export function watchTaskUpdates(options: WatchTaskUpdatesOptions): TaskUpdateWatch {
  const { bus, poll, intervalMs, onUpdate, taskId, logger } = options
  let mode: Mode = 'starting'
  let stopped = false
  let unsubscribe: (() => Promise<void>) | undefined
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let subscribing: Promise<void> | undefined
  let subscribeFailing = false
  let pollFailing = false

  const deliver = (update: TaskUpdate): void => {
    if (stopped) return
    try {
      onUpdate(update)
    } catch (error) {
      // One bad update must not end the watch.
      logger.error('A task update consumer threw; watching continues', {
        taskId: update.taskId,
        error: errorMessage(error),
      })
    }
  }

  const fromBus = (update: TaskUpdate): void => {
    // From the moment the subscription is confirmed, unless polling has taken over.
    if (mode !== 'polling') deliver(update)
  }

  const subscribe = async (): Promise<void> => {
    try {
      const release = await bus.subscribe(taskId === undefined ? {} : { taskId }, fromBus)
      if (stopped) {
        await release()
        return
      }
      unsubscribe = release
      subscribeFailing = false
    } catch (error) {
      if (!subscribeFailing) {
        logger.warn('Could not subscribe to live task updates; polling instead', { taskId, error: errorMessage(error) })
      }
      subscribeFailing = true
    }
  }

  /**
   * Starts subscribing and waits for it at most one interval: a subscription
   * that hangs (a half-open connection) must not hold up the polling. One
   * that completes later is picked up by a later tick.
   */
  const startSubscribing = async (): Promise<void> => {
    if (subscribing === undefined) {
      subscribing = subscribe().finally(() => {
        subscribing = undefined
      })
    }
    let timeout: NodeJS.Timeout | undefined
    await Promise.race([subscribing, new Promise<void>((resolve) => (timeout = setTimeout(resolve, intervalMs)))])
    clearTimeout(timeout)
  }

  const pollOnce = async (): Promise<void> => {
    let updates: TaskUpdate[]
    try {
      updates = await poll()
    } catch (error) {
      // The next tick tries again; one warning per run of failures, not one per tick.
      if (!pollFailing) logger.warn('Polling for task updates failed; retrying', { taskId, error: errorMessage(error) })
      pollFailing = true
      return
    }
    if (pollFailing) logger.info('Polling for task updates works again', { taskId })
    pollFailing = false
    for (const update of updates) deliver(update)
  }

  const tick = async (): Promise<void> => {
    if (bus.healthy && unsubscribe === undefined) await startSubscribing()
    if (stopped) return
    const canListen = bus.healthy && unsubscribe !== undefined
    if (canListen) {
      if (mode === 'polling') {
        mode = 'live'
        logger.info('Live task updates are back; polling stopped', { taskId })
        // Catches what changed between the last poll and the bus coming back.
        await pollOnce()
      }
      mode = 'live'
      return
    }
    if (mode !== 'polling') {
      logger.warn(`Live task updates are unavailable; polling every ${intervalMs} ms`, { taskId })
    }
    mode = 'polling'
    await pollOnce()
  }

  const schedule = (): void => {
    running = tick()
      .catch((error: unknown) => logger.error('Watching task updates failed; retrying', { error: errorMessage(error) }))
      .finally(() => {
        // Chained rather than setInterval, so a slow poll never overlaps the next one.
        if (!stopped) timer = setTimeout(schedule, intervalMs)
      })
  }
  schedule()

  return {
    async stop() {
      if (stopped) return
      stopped = true
      clearTimeout(timer)
      await running
      const release = unsubscribe
      unsubscribe = undefined
      if (release !== undefined) {
        await release().catch((error: unknown) =>
          logger.debug('Unsubscribing from task updates failed', { error: errorMessage(error) }),
        )
      }
    },
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
