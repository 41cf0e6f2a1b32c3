/**
 * A cache-aside decorator of any TaskStore. Reads of one task and of list
 * pages are served from the Cache; every write goes to the store first and
 * then invalidates what it could have changed. The store stays the truth:
 * when the cache fails, everything goes straight to the store.
 *
 * How a write invalidates, and why a write followed by a read is never stale
 * (in this process or in another one sharing the same Redis):
 *
 * - Lists. Every cached page's key contains the list generation, a counter at
 *   `tasks:list:gen`. Any write that could change any list (create, update,
 *   delete) increments it after the store write. A reader reads the
 *   generation before it reads the store, so a page computed from data older
 *   than a write is filed under a generation that is already superseded and
 *   never read again; it simply expires. Deleting pages by pattern is not
 *   needed, and one INCR moves every process at once.
 *
 * - One task. `task:{id}` holds the task together with the value of the
 *   task's version counter `task:{id}:version` read before the store was
 *   read; updates and deletes increment the counter after the store write.
 *   An entry counts only while its version equals the counter. Deleting the
 *   key on write alone would leave a race: a reader that read the store just
 *   before a write and stores its copy just after the write's delete would
 *   leave the old task in the cache for 300 s. The version closes that race.
 *   A missing counter reads as 0; a counter never expires, so Redis holds one
 *   small key per task ever updated.
 *
 * - The cache is down during a write. The store write succeeds and the
 *   invalidation is lost, and a Redis that only this process could not reach
 *   (or that comes back with its data) would serve old entries. So after the
 *   first failure this process stops trusting the cache: reads and writes go
 *   to the store only, and the ids it writes are remembered. It retries the
 *   cache at most every `retryIntervalMs`, on the next call; the retry
 *   replays the missed invalidations (versions of the remembered tasks, and
 *   one generation bump for the lists) and only when that succeeds is the
 *   cache trusted again. close() tries once more, so a CLI process that wrote
 *   during a blip and exits does not leave its invalidations behind.
 *   What remains, by nature: another process that can still reach Redis may
 *   serve the old copy of a task written here until this process replays
 *   (or the entry expires: 300 s for a task, 60 s for a page); the same holds
 *   if this process dies with invalidations pending, or when more than
 *   `maxPendingInvalidations` tasks were written during one outage (logged).
 *
 * Every write must go through this decorator: a write straight to the
 * underlying store (another tool, a bulk import) must call {@link invalidate}.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { createHash } from 'node:crypto'
import { systemClock } from './clock.js'
import { DelegatingTaskStore } from './delegating-store.js'
import type { Metrics } from './metrics.js'
import type {
  Cache,
  Clock,
  EventWriteOptions,
  Logger,
  NewTaskEvent,
  SyncCommit,
  SyncCommitResult,
  TaskStore,
} from './ports.js'
import { silentLogger } from './ports.js'
import type { Page, Task, TaskFilter } from './task.js'

export const taskTtlMs = 300_000
export const listTtlMs = 60_000
/** The counter whose value is part of every cached list page's key. */
export const listGenerationKey = 'tasks:list:gen'

export function taskKey(id: string): string {
  return `task:${id}`
}

export function taskVersionKey(id: string): string {
  return `task:${id}:version`
}

/**
 * The key of one list page: the generation, then a digest of the filter with
 * its keys sorted and its states sorted and deduplicated, so that the same
 * question asked in a different order shares a page.
 */
export function listKey(generation: number, filter: TaskFilter): string {
  const normal: Record<string, unknown> = {}
  for (const name of Object.keys(filter).sort()) {
    const value: unknown = filter[name as keyof TaskFilter]
    if (value === undefined) continue
    normal[name] = name === 'states' && Array.isArray(value) ? [...new Set(value.map(String))].sort() : value
  }
  // A digest keeps keys short and free of whatever a search text contains.
  const digest = createHash('sha256').update(JSON.stringify(normal)).digest('base64url').slice(0, 27)
  return `tasks:list:${generation}:${digest}`
}

export interface CacheStats {
  hits: number
  misses: number
  /** Cache calls that failed or timed out. */
  errors: number
}

export interface CachedTaskStoreOptions {
  logger?: Logger
  clock?: Clock
  /** While the cache is down, how long to go without trying it again. Default 5000 ms. */
  retryIntervalMs?: number
  /** A cache call slower than this counts as failed. Default 2000 ms; the Redis client's own timeout is shorter. */
  timeoutMs?: number
  /** How many task ids written during one outage are remembered for invalidation. Default 10,000. */
  maxPendingInvalidations?: number
  /** Counts hits, misses and cache errors (`jjm_cache_requests_total`); absent: nothing is recorded. */
  metrics?: Pick<Metrics, 'cacheRequest'>
}

interface CachedTask {
  version: number
  task: Task
}

interface Outage {
  since: number
  errors: number
}

/** jjm's ids are ULIDs; only such a reference can be looked up by id in the cache. */
const ulidPattern = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/

export class CachedTaskStore extends DelegatingTaskStore {
  private readonly logger: Logger
  private readonly clock: Clock
  private readonly retryIntervalMs: number
  private readonly timeoutMs: number
  private readonly maxPending: number
  private readonly counts: CacheStats = { hits: 0, misses: 0, errors: 0 }
  private readonly metrics: Pick<Metrics, 'cacheRequest'> | undefined
  private outage: Outage | undefined
  private retryAt = 0
  private recovering: Promise<boolean> | undefined
  /** Tasks written while the cache was not trusted, to invalidate once it is. */
  private readonly pending = new Set<string>()
  /** Tasks written inside the current unit of work: invalidated again once it commits. */
  private readonly unitWrites = new AsyncLocalStorage<Set<string>>()
  private pendingOverflow = false

  constructor(
    store: TaskStore,
    private readonly cache: Cache,
    options: CachedTaskStoreOptions = {},
  ) {
    super(store)
    this.logger = (options.logger ?? silentLogger).child({ component: 'cache' })
    this.clock = options.clock ?? systemClock
    this.retryIntervalMs = options.retryIntervalMs ?? 5000
    this.timeoutMs = options.timeoutMs ?? 2000
    this.maxPending = options.maxPendingInvalidations ?? 10_000
    this.metrics = options.metrics
  }

  /** Lookups answered by the cache, lookups that went to the store, and failed cache calls, since start. */
  stats(): CacheStats {
    return { ...this.counts }
  }

  /** False while the cache is failing and every call goes straight to the store. */
  get cacheAvailable(): boolean {
    return this.outage === undefined
  }

  override async getTask(id: string): Promise<Task | undefined> {
    if (!(await this.usable())) return this.store.getTask(id)
    let entry: unknown
    let version: number
    try {
      const [cached, counter] = await this.guard(
        Promise.all([this.cache.get<unknown>(taskKey(id)), this.cache.get<unknown>(taskVersionKey(id))]),
      )
      entry = cached
      version = typeof counter === 'number' ? counter : 0
    } catch (error) {
      this.failed(error)
      return this.store.getTask(id)
    }
    if (isCachedTask(entry) && entry.version === version && entry.task.id === id) {
      this.counted('hit')
      return entry.task
    }
    this.counted('miss')
    const task = await this.store.getTask(id)
    // An absent task is not cached: creating it would then need an invalidation too.
    if (task !== undefined) await this.quietly(this.cache.set(taskKey(id), { version, task }, taskTtlMs))
    return task
  }

  override async findTask(ref: string): Promise<Task | undefined> {
    // Prefixes and session names go to the store: only the store knows whether a prefix is ambiguous.
    if (ulidPattern.test(ref)) {
      const task = await this.getTask(ref)
      if (task !== undefined) return task
    }
    return this.store.findTask(ref)
  }

  override async listTasks(filter: TaskFilter): Promise<Page<Task>> {
    if (!(await this.usable())) return this.store.listTasks(filter)
    let key: string
    let cached: unknown
    try {
      const generation = await this.guard(this.cache.get<unknown>(listGenerationKey))
      key = listKey(typeof generation === 'number' ? generation : 0, filter)
      cached = await this.guard(this.cache.get<unknown>(key))
    } catch (error) {
      this.failed(error)
      return this.store.listTasks(filter)
    }
    if (isPage(cached)) {
      this.counted('hit')
      return cached
    }
    this.counted('miss')
    const page = await this.store.listTasks(filter)
    await this.quietly(this.cache.set(key, page, listTtlMs))
    return page
  }

  override async createTask(
    task: Task,
    events: NewTaskEvent[],
    options?: { idempotencyKey?: string } & EventWriteOptions,
  ): Promise<void> {
    // A new task changes lists only: its own key was never cached (absent tasks are not).
    try {
      await this.store.createTask(task, events, options)
    } finally {
      await this.invalidate()
    }
  }

  override async updateTask(
    task: Task,
    events: NewTaskEvent[],
    options: { expectedVersion: number } & EventWriteOptions,
  ): Promise<Task> {
    // Invalidate even when the write failed: a write that timed out may still have committed.
    try {
      return await this.store.updateTask(task, events, options)
    } finally {
      await this.invalidate([task.id])
    }
  }

  override async startTask(
    task: Task,
    events: NewTaskEvent[],
    options: { expectedVersion: number; startedAt: string; idempotencyKey?: string } & EventWriteOptions,
  ): Promise<Task> {
    try {
      return await this.store.startTask(task, events, options)
    } finally {
      await this.invalidate([task.id])
    }
  }

  /**
   * Invalidates only when the sync wrote the task's row (`commit.task`, and
   * committed, or failed in a way that may have committed): a quiet sync
   * invalidates nothing, so a pass over 10 000 unchanged tasks keeps every
   * cached task and page. The price: a cached task (and page) may show an
   * older `lastSyncedAt` for up to its TTL (300 s for a task, 60 s for a
   * page); nothing that a sync changed in the row itself is ever shown stale.
   */
  override async commitSync(commit: SyncCommit): Promise<SyncCommitResult> {
    // A quiet sync leaves the cached task as it is, unless it marks or clears a stall.
    if (commit.task === undefined && commit.stalledSince === undefined) return this.store.commitSync(commit)
    let result: SyncCommitResult | undefined
    try {
      result = await this.store.commitSync(commit)
      return result
    } finally {
      // Stale and lease_lost wrote nothing; a failure may have committed all the same.
      if (result === undefined || result.outcome === 'committed') await this.invalidate([commit.taskId])
    }
  }

  // Sync state, leases and creation intents are not cached (DelegatingTaskStore
  // passes them through): a stale cursor would make a sync skip activities, a
  // stale lease let two processes sync one task, a stale intent let a retry
  // create a second session.

  override async deleteTask(id: string, options?: { purge?: boolean; at?: string }): Promise<boolean> {
    try {
      return await this.store.deleteTask(id, options)
    } finally {
      await this.invalidate([id])
    }
  }

  /**
   * Makes every process sharing the cache stop using cached lists and the
   * cached copies of `taskIds`. The decorator's own writes call it; call it
   * after changing the underlying store by other means. Never throws: when the
   * cache is down the invalidation is replayed once it is back.
   */
  /**
   * The store underneath's unit of work; the tasks written inside it are
   * invalidated again after it commits, since a read in between may have
   * cached what was there before.
   */
  override async unitOfWork<T>(work: () => Promise<T>): Promise<T> {
    const touched = new Set<string>()
    const result = await this.unitWrites.run(touched, () => super.unitOfWork(work))
    if (touched.size > 0) await this.invalidate([...touched].filter((id) => id !== ''))
    return result
  }

  async invalidate(taskIds: string[] = []): Promise<void> {
    const unit = this.unitWrites.getStore()
    // '' stands for the lists alone (a new task).
    for (const id of taskIds.length === 0 ? [''] : taskIds) unit?.add(id)
    const ids = [...new Set(taskIds)]
    if (!(await this.usable())) {
      this.remember(ids)
      return
    }
    try {
      await this.guard(this.invalidateNow(ids))
    } catch (error) {
      this.remember(ids)
      this.failed(error)
    }
  }

  // Events, messages and files are not cached: they are not part of a Task or a list page.

  // Everything else (intents, events, chat messages, files, leases, the outbox)
  // passes to the store (DelegatingTaskStore): the outbox is never cached,
  // every claim must see the database.

  /** Closes the store. The cache belongs to its CacheHandle, which closes it. */
  override async close(): Promise<void> {
    if (this.pending.size > 0 || this.pendingOverflow) {
      // Last chance to hand missed invalidations to the other processes; the cache may be back by now.
      this.retryAt = 0
      if (!(await this.usable())) {
        this.logger.warn(
          'Exiting with cache invalidations not delivered: other processes sharing the cache may show old copies of these tasks until their entries expire (at most 300 s).',
          { taskIds: [...this.pending].slice(0, 20), count: this.pending.size },
        )
      }
    }
    await this.store.close()
  }

  private async invalidateNow(ids: string[]): Promise<void> {
    // Counters first: they are what makes old entries invalid; the deletes only free space.
    await Promise.all([
      ...ids.map((id) => this.cache.increment(taskVersionKey(id))),
      this.cache.increment(listGenerationKey),
    ])
    if (ids.length > 0) await this.cache.delete(ids.map(taskKey))
  }

  /** True when the cache may be used now; while it is down, retries (and replays) at most once per interval. */
  private usable(): Promise<boolean> | boolean {
    if (this.outage === undefined) return true
    if (this.recovering !== undefined) return this.recovering
    if (this.clock.now() < this.retryAt) return false
    this.recovering = this.recover().finally(() => {
      this.recovering = undefined
    })
    return this.recovering
  }

  private async recover(): Promise<boolean> {
    const outage = this.outage
    let replayed = 0
    try {
      // Loop: a write may remember an id while the replay is in flight.
      do {
        const ids = [...this.pending]
        await this.guard(this.invalidateNow(ids))
        for (const id of ids) this.pending.delete(id)
        replayed += ids.length
      } while (this.pending.size > 0)
    } catch (error) {
      this.failed(error)
      return false
    }
    this.outage = undefined
    if (outage !== undefined) {
      this.logger.info('Cache available again; using it from now on', {
        downForMs: this.clock.now() - outage.since,
        errors: outage.errors,
        replayedInvalidations: replayed,
      })
    }
    if (this.pendingOverflow) {
      this.pendingOverflow = false
      this.logger.warn(
        `More than ${this.maxPending} tasks were written while the cache was down; other processes may show old copies of some of them for up to 300 s.`,
      )
    }
    return true
  }

  private remember(ids: string[]): void {
    for (const id of ids) {
      if (this.pending.size >= this.maxPending) {
        this.pendingOverflow = true
        return
      }
      this.pending.add(id)
    }
  }

  /** Counts a failed cache call; the first failure of an outage is the only one logged as a warning. */
  private counted(result: 'hit' | 'miss'): void {
    if (result === 'hit') this.counts.hits++
    else this.counts.misses++
    this.metrics?.cacheRequest(result)
  }

  private failed(error: unknown): void {
    this.counts.errors++
    this.metrics?.cacheRequest('error')
    this.retryAt = this.clock.now() + this.retryIntervalMs
    if (this.outage !== undefined) {
      this.outage.errors++
      return
    }
    this.outage = { since: this.clock.now(), errors: 1 }
    this.logger.warn('Cache unavailable: reading and writing straight to the store until it is back', {
      error: error instanceof Error ? error.message : String(error),
      retryIntervalMs: this.retryIntervalMs,
    })
  }

  /** Filling the cache is best effort: a failure is counted and the caller still gets its answer. */
  private async quietly(call: Promise<unknown>): Promise<void> {
    try {
      await this.guard(call)
    } catch (error) {
      this.failed(error)
    }
  }

  /** A cache that neither answers nor fails must not hold a request: after `timeoutMs` it counts as failed. */
  private async guard<T>(call: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`cache did not answer within ${this.timeoutMs} ms`)), this.timeoutMs)
    })
    try {
      return await Promise.race([call, timeout])
    } finally {
      clearTimeout(timer)
    }
  }
}

// The cache lives outside the process (Redis): what comes back is checked before it is trusted.
function isCachedTask(value: unknown): value is CachedTask {
  if (typeof value !== 'object' || value === null) return false
  const entry = value as Record<string, unknown>
  return typeof entry.version === 'number' && typeof entry.task === 'object' && entry.task !== null
}

function isPage(value: unknown): value is Page<Task> {
  if (typeof value !== 'object' || value === null) return false
  const page = value as Record<string, unknown>
  return Array.isArray(page.items) && (page.nextCursor === null || typeof page.nextCursor === 'string')
}
