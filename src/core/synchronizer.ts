/**
 * The one owner of "read the session, record what changed". The monitor, the
 * daemon and every command that refreshes a task (`tasks show|wait`,
 * `message`, `approve`, `resume`) sync through here, so a task's history is
 * recorded by one code path, under one lease, with one compare-and-set:
 *
 * 1. The Jules budget grants the request first; only then is the task's sync
 *    lease taken (a lease is never held while waiting out a 429).
 * 2. Under the lease (short, renewed while the sync runs) the session and its
 *    new activities are read, and the changes computed against the task as stored.
 * 3. `commitSync` writes them in one transaction, only while the lease is
 *    still held and only when the task's version is the one the changes were
 *    computed from. A user's edit in between makes the commit stale: the task
 *    is read again and the changes computed again from the same session, so
 *    the edit survives and nothing is recorded twice. A lost lease records nothing.
 * 4. A sync where Jules reports nothing new leaves the task row alone.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import {
  advanceCursor,
  bindSentMessages,
  type ChangedFile,
  digestActivities,
  listNewActivities,
} from './activity-sync.js'
import { InvalidStateError, isJjmError, RateLimitedError } from './errors.js'
import type { Activity, JulesClient, Session } from './jules/client.js'
import { pullRequestOf, taskStateOf } from './jules/session-view.js'
import type { Metrics } from './metrics.js'
import type {
  Clock,
  Logger,
  MessageBinding,
  NewChatMessage,
  NewTaskEvent,
  SyncCommit,
  SyncCursor,
  SyncState,
  TaskStore,
  TaskUpdate,
} from './ports.js'
import type { JulesBudget, RateLimitPause, Sleep } from './rate-limit.js'
import { storableText, storableValue } from './storable.js'
import { awaitingPerson, type ChatMessage, isPending, isTerminal, type Task, type TaskState } from './task.js'

/** What one sync recorded about a task that changed. */
export interface TaskChange {
  taskId: string
  title: string
  from: TaskState
  to: TaskState
  /** Event types recorded by this sync, in order. */
  events: string[]
  pullRequestUrl: string | null
}

/**
 * How one sync ended. `busy`: another process holds the task's lease and
 * records what Jules says; `lease_lost`: this process's lease ran out and was
 * taken over during the sync, so nothing was recorded. In both cases `task`
 * is the task as stored.
 */
export type SyncResult =
  | { status: 'synced'; task: Task; change: TaskChange | undefined }
  | { status: 'busy'; task: Task }
  | { status: 'lease_lost'; task: Task }

export interface SynchronizerDeps {
  jules: JulesClient
  store: TaskStore
  clock: Clock
  logger: Logger
  budget: JulesBudget
  /** This process's name on sync leases: unique per process. */
  holder: string
  /** How long a lease lasts unless renewed; renewed every third of it while a sync runs. Default 30 s. */
  leaseTtlMs?: number
  /** How long an operation (`message`, `approve`, `resume`) waits for another process's sync of its task. Default 10 s. */
  leaseWaitMs?: number
  /** Publishes a change for live consumers; best effort. */
  publish?: (update: TaskUpdate) => Promise<void>
  metrics?: Metrics
  /** Waits between lease attempts; tests move their clock instead. */
  sleep?: Sleep
  /**
   * How long a task may go without new activity from Jules, by state
   * (milliseconds; null or absent: never), before a sync marks it stalled
   * (`monitor.stalledAfter`). States waiting for a person are never stalled.
   * Absent: {@link defaultStalledAfter}.
   */
  stalledAfter?: Readonly<Record<string, number | null>>
  /** Sent to the agent, once, by the sync that marks a task stalled (`monitor.nudgeStalled`); absent: no nudge. */
  nudgeMessage?: string
}

/** `monitor.stalledAfter`'s defaults: 10 min queued, 15 min planning, 30 min in progress. */
export const defaultStalledAfter: Readonly<Record<string, number | null>> = {
  queued: 10 * 60_000,
  planning: 15 * 60_000,
  in_progress: 30 * 60_000,
}

/** What a sync records about a stall beside what Jules said: events, and the sync state's marks. */
interface StallMarks {
  events: NewTaskEvent[]
  activityAt?: string
  stalledSince?: string | null
}

/** A name for this process on sync leases: unique per process, readable in the database. */
export function leaseHolderName(): string {
  return `${hostname().slice(0, 40)}:${process.pid}:${randomBytes(4).toString('hex')}`
}

/** A short lease, so that a killed process's tasks are taken over within a minute. */
export const defaultLeaseTtlMs = 30_000
const defaultLeaseWaitMs = 10_000
const leaseRetryMs = 200
/** How often a commit is computed again after a concurrent edit before giving up for this pass. */
const maxStaleRetries = 5

/** What a read of Jules found, computed once and applied to the task as stored (again after a concurrent edit). */
interface SessionReading {
  session: Session
  cursor: SyncCursor
  events: NewTaskEvent[]
  chatMessages: NewChatMessage[]
  boundMessages: MessageBinding[]
  sourceFiles: ChangedFile[] | undefined
  failureReason: string | null
}

export class SessionSynchronizer {
  private readonly ttlMs: number
  /** Leases this process holds now, renewed while they are held. */
  private readonly held = new Map<string, number>()
  private renewTimer: NodeJS.Timeout | undefined
  private lastPause: RateLimitPause | null = null

  constructor(private readonly deps: SynchronizerDeps) {
    this.ttlMs = deps.leaseTtlMs ?? defaultLeaseTtlMs
  }

  get holder(): string {
    return this.deps.holder
  }

  /**
   * The pause a 429 caused since `sinceMs` (clock time), in this process or,
   * with a shared budget, in any other: for a pass's report. Reading it
   * forgets this process's own.
   */
  takePause(sinceMs: number): RateLimitPause | null {
    const { budget } = this.deps
    const pause = this.lastPause ?? budget.pausedSince?.(sinceMs) ?? budget.currentPause()
    this.lastPause = null
    return pause
  }

  /**
   * Syncs a batch of tasks (a monitor pass): once the budget grants a
   * request, the leases are claimed in one statement, the claimed tasks
   * synced at once (each request within the budget), and the leases given
   * back in one statement. A task another process holds (or synced since
   * `syncedBefore`) is `busy` and costs no request.
   */
  async syncBatch(
    listed: readonly Task[],
    options: { syncedBefore?: string } = {},
  ): Promise<Map<string, SyncResult | { status: 'error'; task: Task; error: unknown }>> {
    const results = new Map<string, SyncResult | { status: 'error'; task: Task; error: unknown }>()
    // A pending task has no session to read: it waits in the local queue (the monitor leaves it out anyway).
    for (const task of listed)
      if (isPending(task.state)) results.set(task.id, { status: 'synced', task, change: undefined })
    const tasks = listed.filter((task) => !isPending(task.state))
    if (tasks.length === 0) return results
    // The budget grants the batch's first request (after any pause) before a lease is taken; the
    // others are spent only for tasks claimed, so a task another process holds costs no request.
    await this.deps.budget.acquire()
    const claimed = new Set(await this.claim(tasks, options.syncedBefore))
    let prepaid = true
    try {
      await Promise.all(
        tasks.map(async (task) => {
          if (!claimed.has(task.id)) {
            results.set(task.id, { status: 'busy', task })
            return
          }
          const first = prepaid
          prepaid = false
          try {
            results.set(task.id, await this.syncLeased(task, { prepaid: first, unlessSyncedSinceListed: true }))
          } catch (error) {
            results.set(task.id, { status: 'error', task, error })
          }
        }),
      )
    } finally {
      await this.release([...claimed])
    }
    return results
  }

  /**
   * Syncs one task (`tasks show|wait`). When another process holds its lease,
   * waits a little for that sync to finish and answers with the task as it
   * then stands: the other process records what Jules said.
   */
  async sync(listed: Task): Promise<SyncResult> {
    // A pending task has no session yet: the task as stored, which the queue may have started since it was read.
    const task = isPending(listed.state) ? ((await this.deps.store.getTask(listed.id)) ?? listed) : listed
    if (isTerminal(task.state) || isPending(task.state)) return { status: 'synced', task, change: undefined }
    await this.deps.budget.acquire()
    if (!(await this.claimOne(task, this.deps.leaseWaitMs ?? defaultLeaseWaitMs))) {
      return { status: 'busy', task: (await this.deps.store.getTask(task.id)) ?? task }
    }
    try {
      return await this.syncLeased(task, { prepaid: true })
    } finally {
      await this.release([task.id])
    }
  }

  /**
   * Runs `operation` on the task as Jules has it now, holding the task's
   * lease from the sync until the operation is recorded, so that no other
   * sync reads what the operation caused (a message's activity) before the
   * operation itself is recorded. With `sync: false`, the operation gets the
   * task as stored, read under the lease, and Jules is not read first.
   */
  async withLease<T>(
    task: Task,
    operation: (current: Task) => Promise<T>,
    options: { sync?: boolean } = {},
  ): Promise<T> {
    // Without the sync (archive, delete: any state will do, and a session gone at Jules must not stop them)
    // no request is made before the operation's own, which waits for the budget itself.
    const sync = options.sync !== false
    if (sync) await this.deps.budget.acquire()
    const waitMs = this.deps.leaseWaitMs ?? defaultLeaseWaitMs
    if (!(await this.claimOne(task, waitMs))) {
      throw new InvalidStateError(
        `Task ${task.id} is being synced by another jjm process and did not become free within ${Math.round(waitMs / 1000)} s; try again in a moment.`,
        { context: { taskId: task.id } },
      )
    }
    try {
      let current = sync && !isPending(task.state) ? task : ((await this.deps.store.getTask(task.id)) ?? task)
      // A pending task has no session to read (the queue may have started it since it was read: then it has).
      if (sync && !isTerminal(current.state) && !isPending(current.state)) {
        // The person's own operation follows: no nudge before it.
        const result = await this.syncLeased(current, { prepaid: true, nudge: false })
        if (result.status === 'lease_lost') {
          throw new InvalidStateError(
            `Task ${task.id} was taken over by another jjm process during the sync; try again.`,
            { context: { taskId: task.id } },
          )
        }
        current = result.task
      }
      return await operation(current)
    } finally {
      await this.release([task.id])
    }
  }

  /** One request to Jules within the budget; a 429 pauses every request that shares the budget. */
  async call<T>(request: () => Promise<T>, prepaid?: { used: boolean }): Promise<T> {
    const { budget } = this.deps
    if (prepaid !== undefined && !prepaid.used && budget.currentPause() === null) prepaid.used = true
    else await budget.acquire()
    try {
      const result = await request()
      budget.succeeded()
      return result
    } catch (error) {
      if (error instanceof RateLimitedError || (isJjmError(error) && error.code === 'JJM_RATE_LIMITED')) {
        const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds
        // The client may have told the budget already, as the 429 arrived: one pause, not two strikes.
        const pause =
          budget.currentPause() ?? budget.rateLimited(typeof retryAfter === 'number' ? retryAfter : undefined)
        this.lastPause = pause
        this.deps.metrics?.rateLimited('jules')
        this.deps.logger.warn('Jules is rate limiting: pausing every sync', { until: pause.until })
      }
      throw error
    }
  }

  /** Stops renewing; leases still held run out on their own. */
  close(): void {
    if (this.renewTimer) clearInterval(this.renewTimer)
    this.renewTimer = undefined
    this.held.clear()
  }

  /**
   * Syncs a task whose lease this process holds. With
   * `unlessSyncedSinceListed` (a pass), a task another process synced after
   * `task` was read is left alone: its sync is as fresh as this one would be.
   */
  private async syncLeased(
    task: Task,
    options: { prepaid: boolean; unlessSyncedSinceListed?: boolean; nudge?: boolean },
  ): Promise<SyncResult> {
    const { jules, store } = this.deps
    const prepaid = { used: !options.prepaid }
    const state = await store.getSyncState(task.id)
    if (options.unlessSyncedSinceListed === true && state !== undefined && state.lastSyncedAt !== task.lastSyncedAt) {
      return { status: 'busy', task }
    }
    const cursor = state?.cursor ?? undefined
    let reading: SessionReading
    try {
      const session = await this.call(() => jules.getSession(task.sessionName), prepaid)
      reading = await this.read(task, session, cursor)
    } catch (error) {
      await this.recordSyncError(task, cursor, error)
      throw error
    }

    let current = task
    for (let attempt = 0; ; attempt++) {
      const { commit, change } = this.changesOf(current, reading, state)
      const result = await store.commitSync(commit)
      if (result.outcome === 'lease_lost') {
        this.deps.logger.warn('The sync lease of a task ran out during its sync; nothing was recorded', {
          taskId: task.id,
        })
        return { status: 'lease_lost', task: current }
      }
      if (result.outcome === 'stale') {
        // Someone edited the task meanwhile: compute the same reading against their version.
        if (attempt >= maxStaleRetries) return { status: 'synced', task: result.task, change: undefined }
        current = result.task
        continue
      }
      const updated = result.task
      if (commit.task !== undefined && isTerminal(updated.state) && !isTerminal(current.state)) {
        this.deps.metrics?.taskFinished(updated)
      }
      // Only the sync that marked the stall gets here with it (the lease and the commit make it one): one nudge per stall.
      if (typeof commit.stalledSince === 'string' && options.nudge !== false) await this.nudge(updated)
      if (change === undefined) return { status: 'synced', task: updated, change: undefined }
      this.deps.logger.info('task changed', {
        taskId: task.id,
        from: change.from,
        to: change.to,
        events: change.events.length,
      })
      await this.deps.publish?.({
        taskId: task.id,
        type: change.events.at(-1) ?? 'updated',
        task: updated,
        at: commit.syncedAt,
      })
      return { status: 'synced', task: updated, change }
    }
  }

  /** Reads what the session says beyond the cursor: activities are read only when the session moved. */
  private async read(task: Task, session: Session, cursor: SyncCursor | undefined): Promise<SessionReading> {
    const { jules } = this.deps
    const state = taskStateOf(session)
    const sessionMoved =
      cursor === undefined || cursor.sessionUpdateTime !== (session.updateTime ?? null) || state !== task.state
    const reading: SessionReading = {
      session,
      cursor: cursor ?? { sessionUpdateTime: null, lastActivityTime: null, lastActivityNames: [] },
      events: [],
      chatMessages: [],
      boundMessages: [],
      sourceFiles: undefined,
      failureReason: null,
    }
    if (!sessionMoved) return reading
    const fresh = await listNewActivities(
      (request) => this.call(() => jules.listActivities(session.name, request)),
      cursor,
    )
    const digest = digestActivities(fresh.activities)
    // What Jules sends is recorded even when it holds what a person's input may not (a NUL, a `constructor` key).
    reading.events = digest.events.map((event) => ({
      ...event,
      data: storableValue(event.data) as NewTaskEvent['data'],
    }))
    reading.chatMessages = digest.chatMessages.map((message) => ({ ...message, text: storableText(message.text) }))
    if (reading.chatMessages.some((message) => message.role === 'user')) {
      // Messages sent through jjm are recorded already: bind them to their activities instead of adding copies.
      const bound = bindSentMessages(reading.chatMessages, await this.chatMessagesOf(task.id))
      reading.chatMessages = bound.chatMessages
      reading.boundMessages = bound.boundMessages
    }
    reading.failureReason = digest.failureReason
    if (digest.changedFiles.length > 0) reading.sourceFiles = await this.mergeFiles(task.id, digest.changedFiles)
    reading.cursor = advanceCursor(
      cursor,
      fresh.activities,
      // A 404 right after creation says nothing about the activities: read them again next time.
      fresh.notFound ? (cursor?.sessionUpdateTime ?? null) : (session.updateTime ?? null),
    )
    if (fresh.notFound) this.deps.logger.debug('no activities yet', { taskId: task.id, sessionName: session.name })
    if (isTerminal(state) && state === 'failed' && !isTerminal(task.state) && reading.failureReason === null) {
      reading.failureReason = await this.failureReasonOf(session)
    }
    if (reading.failureReason !== null) reading.failureReason = storableText(reading.failureReason)
    return reading
  }

  /**
   * The commit that records `reading` against `task` as stored. The task row
   * is written only when one of its fields changes; a quiet sync moves only
   * the sync state.
   */
  private changesOf(
    task: Task,
    reading: SessionReading,
    syncState: SyncState | undefined,
  ): { commit: SyncCommit; change?: TaskChange } {
    const { session } = reading
    const now = new Date(this.deps.clock.now()).toISOString()
    const state = taskStateOf(session)
    const reported = pullRequestOf(session)
    const pullRequest = reported ? (storableValue(reported) as typeof reported) : task.pullRequest
    const events: NewTaskEvent[] = [...reading.events]
    if (state !== task.state) events.push({ type: 'state_changed', data: { from: task.state, to: state }, at: now })
    if (pullRequest && pullRequest.url !== task.pullRequest?.url) {
      events.push({ type: 'pull_request', data: { ...pullRequest }, at: now })
    }
    // Completion and failure come from the state transition alone, so that the
    // sessionCompleted/sessionFailed activities cannot record them a second time.
    const becameTerminal = isTerminal(state) && !isTerminal(task.state)
    if (becameTerminal && state === 'completed') {
      events.push({ type: 'completed', data: { pullRequestUrl: pullRequest?.url ?? null }, at: now })
    }
    if (becameTerminal && state === 'failed') {
      events.push({ type: 'failed', data: { reason: reading.failureReason }, at: now })
    }
    const url = session.url ?? task.url
    const julesActed = events.length > 0
    const rowChanged = julesActed || url !== task.url
    // Recorded beside the row, not in it: a stall changes no field of the task.
    const stall = this.stallOf(task, state, julesActed, syncState, now)
    events.push(...stall.events)
    const updated: Task | undefined = rowChanged
      ? {
          ...task,
          state,
          url,
          pullRequest,
          updatedAt: julesActed ? now : task.updatedAt,
          completedAt: becameTerminal ? (session.updateTime ?? now) : task.completedAt,
        }
      : undefined
    const commit: SyncCommit = {
      taskId: task.id,
      holder: this.deps.holder,
      ...(updated === undefined ? {} : { task: updated }),
      events,
      cursor: reading.cursor,
      syncedAt: now,
      ...(reading.chatMessages.length > 0 ? { chatMessages: reading.chatMessages } : {}),
      ...(reading.boundMessages.length > 0 ? { boundMessages: reading.boundMessages } : {}),
      ...(reading.sourceFiles === undefined ? {} : { sourceFiles: reading.sourceFiles }),
      ...(stall.activityAt === undefined ? {} : { activityAt: stall.activityAt }),
      ...(stall.stalledSince === undefined ? {} : { stalledSince: stall.stalledSince }),
    }
    const change: TaskChange | undefined =
      events.length === 0
        ? undefined
        : {
            taskId: task.id,
            title: task.title,
            from: task.state,
            to: state,
            events: events.map((event) => event.type),
            pullRequestUrl: pullRequest?.url ?? null,
          }
    return { commit, ...(change === undefined ? {} : { change }) }
  }

  /**
   * What a sync says about a stall: anything Jules did (`active`) is activity
   * and ends a stall; a task in a state with a `stalledAfter` that has seen no
   * activity for that long is stalled, once, until activity comes back. The
   * last activity is the sync state's; for a task no sync has seen activity
   * of yet, its last recorded change (`updatedAt`: its creation, or its entry
   * into its state).
   */
  private stallOf(
    task: Task,
    state: TaskState,
    active: boolean,
    syncState: SyncState | undefined,
    now: string,
  ): StallMarks {
    const stalledSince = syncState?.stalledSince ?? null
    if (active) {
      if (stalledSince === null) return { events: [], activityAt: now }
      const stalledMs = Math.max(0, Date.parse(now) - Date.parse(stalledSince))
      this.deps.logger.info('task active again', { taskId: task.id, state })
      return {
        events: [
          {
            type: 'unstalled',
            data: { state, stalledSince, stalledSeconds: Math.round(stalledMs / 1000) },
            at: now,
          },
        ],
        activityAt: now,
        stalledSince: null,
      }
    }
    if (stalledSince !== null) return { events: [] }
    const limits = this.deps.stalledAfter ?? defaultStalledAfter
    const afterMs = awaitingPerson(state) || isTerminal(state) || !Object.hasOwn(limits, state) ? null : limits[state]
    if (afterMs === null || afterMs === undefined || afterMs <= 0) return { events: [] }
    const lastActivityAt = syncState?.lastActivityAt ?? task.updatedAt
    const quietMs = Date.parse(now) - Date.parse(lastActivityAt)
    if (!(quietMs >= afterMs)) return { events: [] }
    this.deps.logger.info('task stalled: no activity from Jules', { taskId: task.id, state, quietMs })
    return {
      events: [
        {
          type: 'stalled',
          data: {
            state,
            lastActivityAt,
            quietSeconds: Math.round(quietMs / 1000),
            stalledAfterSeconds: Math.round(afterMs / 1000),
          },
          at: now,
        },
      ],
      stalledSince: now,
    }
  }

  /**
   * Sends `nudgeMessage` to a task the sync just marked stalled, under its
   * lease, and records it as a message sent. At most once per stall: a
   * failed send is logged, not retried.
   */
  private async nudge(task: Task): Promise<void> {
    const text = this.deps.nudgeMessage
    if (text === undefined || text.trim() === '') return
    const { jules, store, clock, logger } = this.deps
    try {
      await this.call(() => jules.sendMessage(task.sessionName, text))
      const at = new Date(clock.now()).toISOString()
      const record = async () => {
        await store.logEvent(task.id, { type: 'message_sent', data: { text, nudge: true }, at })
        await store.addChatMessages(task.id, [{ role: 'user', text, activityId: null, at }])
      }
      await (store.unitOfWork ? store.unitOfWork(record) : record())
      logger.info('stalled task nudged', { taskId: task.id })
    } catch (error) {
      logger.warn('Could not nudge a stalled task; it stays stalled and is not nudged again for this stall', {
        taskId: task.id,
        error: error instanceof Error ? error.message : String(error),
      })
    }
  }

  /**
   * A session that Jules no longer knows, or answers jjm cannot read, is worth
   * a line of history (under the lease, once per sync); a passing outage is not.
   */
  private async recordSyncError(task: Task, cursor: SyncCursor | undefined, error: unknown): Promise<void> {
    const code = isJjmError(error) ? error.code : 'JJM_UNEXPECTED'
    if (code !== 'JJM_JULES_NOT_FOUND' && code !== 'JJM_JULES_PROTOCOL') return
    const message = error instanceof Error ? error.message : String(error)
    const now = new Date(this.deps.clock.now()).toISOString()
    try {
      await this.deps.store.commitSync({
        taskId: task.id,
        holder: this.deps.holder,
        events: [{ type: 'sync_error', data: { code, message }, at: now }],
        cursor: cursor ?? { sessionUpdateTime: null, lastActivityTime: null, lastActivityNames: [] },
        syncedAt: now,
      })
    } catch (storeError) {
      this.deps.logger.error('could not record the sync error', { taskId: task.id, error: storeError })
    }
  }

  /** Claims the leases of `tasks` in one statement; a store failure leaves them to a later pass. */
  private async claim(tasks: readonly Task[], syncedBefore: string | undefined): Promise<string[]> {
    try {
      const ids = await this.deps.store.claimSyncLeases(
        tasks.map((task) => task.id),
        this.deps.holder,
        this.ttlMs,
        syncedBefore === undefined ? {} : { syncedBefore },
      )
      this.hold(ids)
      return ids
    } catch (error) {
      this.deps.logger.warn('Could not take the sync leases; the tasks are left to the next pass', {
        tasks: tasks.length,
        error: error instanceof Error ? error.message : String(error),
      })
      return []
    }
  }

  /** Claims one task's lease, waiting up to `waitMs` for another process's sync of it to end. */
  private async claimOne(task: Task, waitMs: number): Promise<boolean> {
    const sleep = this.deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)))
    for (let waited = 0; ; waited += leaseRetryMs) {
      const ids = await this.deps.store.claimSyncLeases([task.id], this.deps.holder, this.ttlMs)
      if (ids.includes(task.id)) {
        this.hold(ids)
        return true
      }
      if (waited >= waitMs) return false
      await sleep(leaseRetryMs)
    }
  }

  private hold(ids: readonly string[]): void {
    for (const id of ids) this.held.set(id, (this.held.get(id) ?? 0) + 1)
    if (this.held.size > 0 && this.renewTimer === undefined) {
      this.renewTimer = setInterval(() => void this.renew(), Math.max(1000, Math.floor(this.ttlMs / 3)))
      this.renewTimer.unref()
    }
  }

  private async renew(): Promise<void> {
    const ids = [...this.held.keys()]
    if (ids.length === 0) return
    try {
      const kept = new Set(await this.deps.store.renewSyncLeases(ids, this.deps.holder, this.ttlMs))
      const lost = ids.filter((id) => !kept.has(id))
      // A lost lease is not renewed again; the commit under it records nothing.
      if (lost.length > 0) this.deps.logger.warn('Sync leases were taken over by another process', { tasks: lost })
    } catch (error) {
      this.deps.logger.warn('Could not renew sync leases; syncs under them record nothing once they run out', {
        error: error instanceof Error ? error.message : String(error),
      })
    }
  }

  /** Gives leases back (best effort: a lease not given back runs out on its own). */
  private async release(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    for (const id of ids) {
      const count = (this.held.get(id) ?? 1) - 1
      if (count <= 0) this.held.delete(id)
      else this.held.set(id, count)
    }
    if (this.held.size === 0 && this.renewTimer) {
      clearInterval(this.renewTimer)
      this.renewTimer = undefined
    }
    await this.deps.store.releaseSyncLeases([...ids], this.deps.holder).catch((error: unknown) => {
      this.deps.logger.debug('could not give sync leases back; they run out on their own', { error })
    })
  }

  /** Every chat message of the task, oldest first. */
  private async chatMessagesOf(taskId: string): Promise<ChatMessage[]> {
    const messages: ChatMessage[] = []
    let cursor: string | undefined
    do {
      const page = await this.deps.store.listChatMessages(taskId, { limit: 200, ...(cursor ? { cursor } : {}) })
      messages.push(...page.items)
      cursor = page.nextCursor || undefined
    } while (cursor)
    return messages
  }

  /** The task's changed files with a new change set's laid over them: later change sets may cover only part of the work. */
  private async mergeFiles(taskId: string, changed: ChangedFile[]): Promise<ChangedFile[]> {
    const files = new Map<string, string>()
    for (const file of await this.deps.store.listSourceFiles(taskId)) files.set(file.path, file.changeType)
    for (const file of changed) files.set(file.path, file.changeType)
    return [...files].map(([path, changeType]) => ({ path, changeType }))
  }

  /** The reason Jules gave for a failure, from all the session's activities; best effort. */
  private async failureReasonOf(session: Session): Promise<string | null> {
    try {
      let pageToken: string | undefined
      let reason: string | null = null
      do {
        const token = pageToken
        const page = await this.call(() =>
          this.deps.jules.listActivities(session.name, { pageSize: 100, ...(token ? { pageToken: token } : {}) }),
        )
        for (const activity of page.activities as Activity[]) {
          if (activity.sessionFailed) reason = activity.sessionFailed.reason ?? reason
        }
        pageToken = page.nextPageToken
      } while (pageToken)
      return reason
    } catch (error) {
      this.deps.logger.warn('could not read the failure reason', { sessionName: session.name, error })
      return null
    }
  }
}
