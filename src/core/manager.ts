import { randomUUID } from 'node:crypto'
import type { StorageHandle } from './backends.js'
import { type BulkActionReport, type BulkActionRequest, runBulkAction } from './bulk-actions.js'
import { canonicalHash } from './canonical-json.js'
import {
  AuthenticationError,
  IdempotencyConflictError,
  IdempotencyKeyReusedError,
  InvalidStateError,
  isJjmError,
  JulesConnectionError,
  julesDidNotAct,
  RateLimitedError,
  StorageError,
  TaskNotFoundError,
  TaskVersionConflictError,
  ValidationError,
} from './errors.js'
import type { IdGenerator } from './ids.js'
import type { JulesClient, Session, Source } from './jules/client.js'
import { parseRepository, repositoryOf, sourceNameOf, toSourceName } from './jules/names.js'
import { pullRequestOf, taskStateOf } from './jules/session-view.js'
import type { Metrics } from './metrics.js'
import { type PlanLimits, priorityRange, TaskQueue } from './plan-quota.js'
import type { Clock, CreationClaim, CreationIntent, EventBus, EventQuery, Logger, TaskStore } from './ports.js'
import { JulesThrottle } from './rate-limit.js'
import { checkStorableFilter, checkStorableTaskInput, isStorableText } from './storable.js'
import { leaseHolderName, SessionSynchronizer } from './synchronizer.js'
import type { AutomationMode, Page, Task, TaskEvent, TaskFilter, TaskInput } from './task.js'
import { isKnownState, isPending, taskStates } from './task.js'
import {
  type ArchiveAction,
  type ArchiveResult,
  type DeleteResult,
  defaultResumeText,
  type OperationResult,
  realSleep,
  type Sleep,
  type TaskChanges,
  type TaskDetails,
  TaskOperations,
  type TaskPatch,
  type TaskWithDetails,
  type UpdateOptions,
  type WaitOptions,
  type WaitResult,
} from './task-operations.js'

export interface JobManagerDeps {
  jules: JulesClient
  store: TaskStore
  clock: Clock
  logger: Logger
  newId: IdGenerator
  /** Where task changes are published for live consumers; best effort. */
  bus?: EventBus
  /** How `waitForTask` waits between looks at Jules; tests pass one that moves their clock. */
  sleep?: Sleep
  /** What `resumeTask` sends when given no text; default "Please continue with the task." */
  resumeText?: string
  /** Counts created tasks and failed creations; absent: nothing is recorded. */
  metrics?: Metrics
  /** The one sync path of this process (shared with the monitor); absent: the manager builds its own. */
  synchronizer?: SessionSynchronizer
  /**
   * How long jjm waits for one answer from Jules (`jules.timeoutMs`); default
   * 30000. With `createGraceMs`, how long a create that may have reached
   * Jules keeps its idempotency key locked (see createTaskWithOutcome).
   */
  julesTimeoutMs?: number
  /**
   * How long, beyond `julesTimeoutMs`, Jules may take to show a session it
   * started for a create whose answer was lost (`jules.createGraceMs`);
   * default 60000.
   */
  createGraceMs?: number
  /** The plan's quotas (`jules.plan`, `jules.limits`); absent: no local limit, every task starts at once. */
  limits?: PlanLimits
  /** The database-wide lock the queue's start step holds (StorageHandle.tryLock); absent: no other process. */
  tryLock?: StorageHandle['tryLock']
}

/** A repository Jules can work on, as jjm shows it. */
export interface SourceView {
  name: string
  repository: string
  defaultBranch: string | null
  isPrivate: boolean | null
}

/** What createTask may be told beside the input. */
export interface CreateTaskOptions {
  /**
   * The same key never starts a second Jules session: a retry after success
   * returns the first task, a retry after a lost answer adopts the session
   * Jules started for it, and the same key with another input is refused.
   */
  idempotencyKey?: string
}

/** A task from createTaskWithOutcome and how it came about. */
export interface CreateTaskResult {
  task: Task
  /**
   * `created`: a new Jules session; `replayed`: the task an earlier request
   * under the key recorded, nothing new; `adopted`: the session an earlier
   * attempt under the key started, recorded now.
   */
  outcome: 'created' | 'replayed' | 'adopted'
}

/** The Jules request ceiling of a process that builds its own sync path (`monitor.requestsPerMinute`'s default). */
const defaultRequestsPerMinute = 60
const maxPromptLength = 100_000
/** How far Jules' clock may be behind ours when matching a session to an earlier attempt. */
const creationClockSkewMs = 60_000
/**
 * How long one attempt under an idempotency key holds it. Longer than an
 * attempt takes (a default-branch lookup, a createSession with its retries,
 * two writes), so a live attempt is never taken over; short enough that a
 * retry after a crash waits a little only.
 */
export const creationLeaseMs = 120_000
/** Defaults of JobManagerDeps.julesTimeoutMs and createGraceMs. */
export const defaultJulesTimeoutMs = 30_000
export const defaultCreateGraceMs = 60_000
const reconcilePageSize = 50
/** Bounds the look for an earlier attempt's session when very many sessions are recent. */
const reconcileMaxPages = 20
/** Bounds the sessions read one by one when Jules' listing leaves their prompt out. */
const reconcileMaxReads = 20
const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/
const labelPattern = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/

/**
 * Every use case of jjm, over the ports. Commands and API routes call this and
 * nothing else.
 */
export class JobManager {
  /** The local queue of tasks waiting for the plan's quotas; the monitor starts them as slots free. */
  readonly queue: TaskQueue

  constructor(private readonly deps: JobManagerDeps) {
    this.queue = new TaskQueue({
      store: deps.store,
      clock: deps.clock,
      logger: deps.logger.child({ component: 'queue' }),
      limits: deps.limits,
      ...(deps.tryLock === undefined ? {} : { tryLock: deps.tryLock }),
      start: (task) => this.startPendingTask(task),
      ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }),
    })
  }

  /**
   * Creates a Jules session for the input and records it as a task. With an
   * idempotency key, the same key never starts a second session (see
   * createTaskWithOutcome).
   */
  async createTask(input: TaskInput, options: CreateTaskOptions = {}): Promise<Task> {
    return (await this.createTaskWithOutcome(input, options)).task
  }

  /**
   * createTask, also saying whether the task is new. Under an idempotency key
   * the intent is recorded before Jules is called and bound to the session as
   * soon as Jules answers, so that a retry after any failure finds out what
   * the earlier attempt did instead of guessing.
   *
   * When jjm cannot tell whether Jules started the session (a timeout, a
   * connection lost after the request went out, a 5xx), the key stays locked
   * for the Jules timeout plus the grace period: the call fails with 503
   * saying after how many seconds to retry, and a retry before then gets 409
   * (IdempotencyConflictError with `retryAfterSeconds`). The first retry after
   * that looks for the session at Jules and records it when found; only when
   * Jules has none does it create one.
   */
  async createTaskWithOutcome(input: TaskInput, options: CreateTaskOptions = {}): Promise<CreateTaskResult> {
    try {
      const request = normaliseInput(input)
      if (this.queue.enabled) {
        const key = options.idempotencyKey === undefined ? undefined : checkIdempotencyKey(options.idempotencyKey)
        return await this.createQueued(request, key)
      }
      if (options.idempotencyKey === undefined) {
        return { task: await this.startAndRecord(request, undefined), outcome: 'created' }
      }
      return await this.createIdempotently(request, checkIdempotencyKey(options.idempotencyKey))
    } catch (error) {
      this.deps.metrics?.error(error, 'create_task')
      throw error
    }
  }

  /** Newest first, one page. Archived tasks only with `archived: true`; never mixed with the others. */
  async listTasks(filter: TaskFilter = {}): Promise<Page<Task>> {
    return this.queryTasks({ ...filter, archived: filter.archived ?? false })
  }

  /** listTasks with the store's meaning of `archived` (absent: archived or not). */
  private async queryTasks(filter: TaskFilter): Promise<Page<Task>> {
    checkStorableFilter(filter)
    for (const state of filter.states ?? []) {
      if (!isKnownState(state)) {
        throw new ValidationError(`Unknown state "${state}". Use one of: ${taskStates.join(', ')}.`, {
          context: { state },
        })
      }
    }
    const repository = filter.repository === undefined ? undefined : normaliseRepository(filter.repository)
    return this.deps.store.listTasks({ ...filter, ...(repository === undefined ? {} : { repository }) })
  }

  /** A task read on its own (`tasks show`, GET /api/v1/tasks/{id}): with its place in the queue when pending. */
  async showTask(ref: string): Promise<Task> {
    const task = await this.getTask(ref)
    const queue = await this.queue.positionOf(task)
    return queue === undefined ? task : { ...task, queue }
  }

  /** A task by its id, its Jules session id or name, or a unique id prefix. */
  async getTask(ref: string): Promise<Task> {
    const trimmed = ref.trim()
    if (trimmed === '') throw new ValidationError('A task id is required. Run `jjm tasks list` to see them.')
    // No task is stored under a ref jjm could not have stored (a NUL, say): not found, without asking the database.
    if (!isStorableText(trimmed)) throw new TaskNotFoundError(trimmed)
    const task = await this.deps.store.findTask(trimmed)
    if (!task && trimmed.length < 4) {
      throw new ValidationError(
        `"${trimmed}" is too short to pick a task: give at least 4 characters of its id, or the whole id.`,
        { context: { taskId: trimmed } },
      )
    }
    if (!task) throw new TaskNotFoundError(trimmed)
    return task
  }

  /** A task's history, newest first. */
  async getEvents(ref: string, query: EventQuery = {}): Promise<Page<TaskEvent>> {
    checkStorableFilter(query)
    const task = await this.getTask(ref)
    return this.deps.store.getEvents(task.id, query)
  }

  /**
   * Changes a task's title, labels or metadata; records an `updated` event
   * with what changed. A concurrent change is never reverted: the edit is
   * applied again to the task as it then is, or, with `expectedVersion`
   * (HTTP If-Match), refused with TaskVersionConflictError when it moved.
   */
  async updateTask(ref: string, changes: TaskChanges, options: UpdateOptions = {}): Promise<Task> {
    return this.operations().update(await this.getTask(ref), changes, options)
  }

  /**
   * Removes a task from lists and lookups (its history stays, with a `deleted` event), or with `purge` removes it all.
   * With `remote`, deletes the Jules session first (one Jules no longer has counts as deleted).
   */
  async deleteTask(ref: string, options: { purge?: boolean; remote?: boolean } = {}): Promise<DeleteResult> {
    return this.operations().delete(await this.getTask(ref), options)
  }

  /** Archives (or unarchives) the session at Jules and jjm's record of it; any state will do. */
  async archiveTask(ref: string, action: ArchiveAction = 'archive'): Promise<ArchiveResult> {
    return this.operations().setArchived(await this.getTask(ref), action)
  }

  /** One action on the tasks picked by ids or a filter, each task's result reported (see bulk-actions.ts). */
  async runBulkAction(request: BulkActionRequest): Promise<BulkActionReport> {
    const operations = this.operations()
    return runBulkAction(
      {
        getTask: (ref) => this.getTask(ref),
        listTasks: (filter) => this.queryTasks(filter),
        setArchived: (task, action) => operations.setArchived(task, action),
        delete: (task, options) => operations.delete(task, options),
      },
      request,
    )
  }

  /**
   * The session's final change set as a unified diff, read from Jules now:
   * its outputs, else the newest change set among its activities. Refused
   * with InvalidStateError while there is none.
   */
  async getTaskPatch(ref: string): Promise<TaskPatch> {
    return this.operations().patch(await this.getTask(ref))
  }

  /** The task with what `jjm tasks show` prints beside it, under `details` (`GET /api/v1/tasks/{id}?include=details`). */
  async getTaskWithDetails(ref: string): Promise<TaskWithDetails> {
    const { task, ...details } = await this.getTaskDetails(ref)
    return { ...task, details }
  }

  /** Sends a message to the agent; refused once the task has finished. */
  async sendMessage(ref: string, text: string): Promise<OperationResult> {
    return this.operations().sendMessage(await this.getTask(ref), text)
  }

  /** Approves the agent's plan; only while the task is awaiting plan approval. */
  async approvePlan(ref: string): Promise<OperationResult> {
    return this.operations().approvePlan(await this.getTask(ref))
  }

  /** Resumes a paused task by asking the agent to continue (Jules has no resume method). */
  async resumeTask(ref: string, text?: string): Promise<OperationResult> {
    return this.operations().resume(await this.getTask(ref), text)
  }

  /** Polls Jules until the task reaches one of `until` (default completed), finishes, needs a person, or times out. */
  async waitForTask(ref: string, options: WaitOptions = {}): Promise<WaitResult> {
    return this.operations().wait(await this.getTask(ref), options)
  }

  /** The plan, the latest messages, the changed files and the recent history of a task. */
  async getTaskDetails(ref: string): Promise<{ task: Task } & TaskDetails> {
    const task = await this.showTask(ref)
    return { task, ...(await this.operations().details(task)) }
  }

  private taskOperations: TaskOperations | undefined

  private operations(): TaskOperations {
    const { jules, store, clock, logger, bus } = this.deps
    this.taskOperations ??= new TaskOperations({
      jules,
      store,
      synchronizer:
        this.deps.synchronizer ??
        new SessionSynchronizer({
          jules,
          store,
          clock,
          logger,
          budget: new JulesThrottle({ perMinute: defaultRequestsPerMinute, clock }),
          holder: leaseHolderName(),
          publish: (update) => publishUpdate(bus, logger, update),
          ...(this.deps.sleep === undefined ? {} : { sleep: this.deps.sleep }),
          ...(this.deps.metrics === undefined ? {} : { metrics: this.deps.metrics }),
        }),
      clock,
      logger,
      publish: (update) => publishUpdate(bus, logger, update),
      sleep: this.deps.sleep ?? realSleep,
      resumeText: this.deps.resumeText ?? defaultResumeText,
    })
    return this.taskOperations
  }

  /**
   * Under plan quotas: records the task as `pending` (its branch resolved
   * now, so that a repository Jules cannot work on is refused at once), then
   * runs the queue's start step, which starts it if the limits leave room
   * and it is next in the queue. Under an idempotency key, the key names the
   * pending task (a retry replays it, started or not); a key an earlier
   * attempt left half-way (a session may exist) is finished the usual way.
   */
  private async createQueued(request: NormalisedInput, key: string | undefined): Promise<CreateTaskResult> {
    const { store, clock, logger } = this.deps
    const log = logger.child({ operation: 'tasks.create', repository: request.repository })
    const now = isoAt(clock.now())
    const events = [
      {
        type: 'queued_locally',
        data: { priority: request.priority, ...(key === undefined ? {} : { idempotencyKey: key }) },
        at: now,
      },
    ]
    // Only a task about to be recorded asks Jules for the branch: a replay does not.
    const pendingTask = async (): Promise<Task> => ({
      id: this.deps.newId(clock.now()),
      sessionName: '',
      title: request.title ?? firstLine(request.prompt),
      prompt: request.prompt,
      repository: request.repository,
      source: request.source,
      // A task on no repository ("repoless") has no branch.
      branch: request.source === '' ? '' : (request.branch ?? (await this.defaultBranchOf(request.source))),
      state: 'pending',
      requirePlanApproval: request.requirePlanApproval,
      automationMode: request.automationMode,
      url: null,
      pullRequest: null,
      labels: request.labels,
      metadata: request.metadata,
      createdAt: now,
      updatedAt: now,
      completedAt: null,
      lastSyncedAt: null,
      version: 1,
      priority: request.priority,
      archived: false,
      stalledSince: null,
    })
    let task: Task
    if (key === undefined) {
      task = await pendingTask()
      await store.createTask(task, events)
    } else {
      const lease = { holder: randomUUID(), expiresAt: isoAt(clock.now() + creationLeaseMs) }
      const claim = await store.beginCreation(key, requestHashOf(request), now, lease)
      const { intent } = claim
      if (intent.requestHash !== requestHashOf(request)) {
        throw new IdempotencyKeyReusedError(
          `The idempotency key "${key}" was already used for another request. Use a new key for a different task.`,
          { context: { idempotencyKey: key } },
        )
      }
      if (intent.state === 'done') return { task: await this.taskOfIntent(intent), outcome: 'replayed' }
      if (!claim.claimed) {
        const retryAfterSeconds = secondsUntil(intent.leaseExpiresAt, clock.now())
        throw new IdempotencyConflictError(
          `Another attempt to create a task with the idempotency key "${key}" is in progress. Retry with the same key after ${retryAfterSeconds} s: it then returns that attempt's task.`,
          { context: { idempotencyKey: key, leaseExpiresAt: intent.leaseExpiresAt, retryAfterSeconds } },
        )
      }
      const attempt: KeyedAttempt = { key, holder: lease.holder, earlierMayHaveStarted: false, held: false }
      try {
        // An attempt from before the limits were set may have started a session: record that one.
        if (!claim.created && intent.state === 'session_created') {
          return await this.createUnderLease(request, attempt, claim, log.child({ idempotencyKey: key }))
        }
        if (!claim.created && intent.state === 'pending') {
          attempt.earlierMayHaveStarted = true
          const session = await this.findAcceptedSession(request, intent)
          if (session) {
            await store.noteCreationSession(key, session.name, isoAt(clock.now()))
            return { task: await this.recordTask(request, session, key, log), outcome: 'adopted' }
          }
        }
        task = await pendingTask()
        await store.createTask(task, events, { idempotencyKey: key })
      } catch (error) {
        // Jules was not asked to start anything: the key is free to try again.
        if (!attempt.held && claim.created) await this.failIntent(attempt, error, log)
        throw error
      } finally {
        if (!attempt.held) await store.releaseCreation(key, lease.holder).catch(() => undefined)
      }
    }
    log.info('task queued locally', { taskId: task.id, priority: task.priority })
    await publishUpdate(this.deps.bus, logger, { taskId: task.id, type: 'queued_locally', task, at: now })
    try {
      await this.queue.startDue({ lockAttempts: 8 })
    } catch (error) {
      // The task is recorded; the monitor's next pass starts it.
      log.warn('could not run the queue after queueing a task', { taskId: task.id, error })
    }
    return { task: (await store.getTask(task.id)) ?? task, outcome: 'created' }
  }

  /**
   * Starts the Jules session of a pending task and records it onto the task
   * (the queue's start step calls this, under the queue's lock). The start
   * has an idempotency key of its own (`start-{taskId}`), with the creation
   * machinery of every keyed create: an attempt that died after Jules
   * answered is adopted, not repeated, by whichever process tries next. A
   * start Jules refuses for good (the repository is no longer a source) marks
   * the task failed; any other failure leaves it pending and is thrown.
   *
   * @returns the task as stored after: started, failed, or still pending when
   *   another process's attempt holds its key.
   */
  async startPendingTask(task: Task): Promise<Task> {
    const { store, clock, logger } = this.deps
    if (!isPending(task.state)) return task
    const key = `start-${task.id}`
    const log = logger.child({ operation: 'tasks.start', taskId: task.id, idempotencyKey: key })
    const request: NormalisedInput = {
      prompt: task.prompt,
      repository: task.repository,
      source: task.source,
      branch: task.source === '' ? undefined : task.branch,
      title: task.title,
      labels: task.labels,
      requirePlanApproval: task.requirePlanApproval,
      automationMode: task.automationMode,
      metadata: task.metadata,
      priority: 0,
    }
    const now = clock.now()
    const lease = { holder: randomUUID(), expiresAt: isoAt(now + creationLeaseMs) }
    const claim = await store.beginCreation(key, canonicalHash({ start: task.id }), isoAt(now), lease)
    if (claim.intent.state === 'done' || !claim.claimed) return (await store.getTask(task.id)) ?? task
    const attempt: KeyedAttempt = {
      key,
      holder: lease.holder,
      earlierMayHaveStarted: !claim.created && claim.intent.state === 'pending',
      held: false,
    }
    try {
      const { task: started } = await this.createUnderLease(request, attempt, claim, log, (session, sessionKey) =>
        this.recordStart(task, session, sessionKey, log),
      )
      return started
    } catch (error) {
      if (error instanceof ValidationError || (isJjmError(error) && error.code === 'JJM_JULES_NOT_FOUND')) {
        return this.failPendingTask(task, error, log)
      }
      throw error
    } finally {
      if (!attempt.held) await store.releaseCreation(key, lease.holder).catch(() => undefined)
    }
  }

  /** Writes the session Jules started onto the pending task, marking the start's key done in the same transaction. */
  private async recordStart(pending: Task, session: Session, key: string | undefined, log: Logger): Promise<Task> {
    const { jules, store, clock, logger } = this.deps
    const now = isoAt(clock.now())
    const waitedSeconds = Math.max(0, Math.round((clock.now() - Date.parse(pending.createdAt)) / 1000))
    let current = pending
    for (let attempt = 0; ; attempt++) {
      const started: Task = {
        ...current,
        sessionName: session.name,
        state: taskStateOf(session),
        url: session.url ?? null,
        pullRequest: pullRequestOf(session),
        updatedAt: now,
      }
      const events = [
        {
          type: 'started',
          data: { sessionName: session.name, state: started.state, julesBackend: jules.kind, waitedSeconds },
          at: now,
        },
      ]
      try {
        const stored = await store.startTask(started, events, {
          expectedVersion: current.version,
          startedAt: now,
          ...(key === undefined ? {} : { idempotencyKey: key }),
        })
        log.info('pending task started', { sessionName: session.name, waitedSeconds })
        this.deps.metrics?.taskCreated(stored.repository)
        await publishUpdate(this.deps.bus, logger, { taskId: stored.id, type: 'started', task: stored, at: now })
        return stored
      } catch (error) {
        // Someone edited its title or labels meanwhile: apply the start to the task as it now is.
        if (error instanceof TaskVersionConflictError && attempt < 3) {
          const fresh = await store.getTask(pending.id)
          if (fresh !== undefined && isPending(fresh.state)) {
            current = fresh
            continue
          }
        }
        log.error('Jules started the session but jjm could not record it onto the pending task', {
          sessionName: session.name,
          error,
        })
        throw new StorageError(
          `Jules started session ${session.name} for pending task ${pending.id}, but jjm could not record it: ${messageOf(error)}. The next start of the queue records it (under the key "${key ?? ''}"); the session is at ${session.url ?? session.name}.`,
          { context: { taskId: pending.id, sessionName: session.name }, cause: error },
        )
      }
    }
  }

  /** A pending task Jules refused to start for good: it fails, with the reason, instead of blocking the queue. */
  private async failPendingTask(task: Task, error: unknown, log: Logger): Promise<Task> {
    const { store, clock, logger } = this.deps
    const now = isoAt(clock.now())
    const current = (await store.getTask(task.id)) ?? task
    if (!isPending(current.state)) return current
    log.warn('Jules refused to start a pending task; it fails', { error })
    const failed = await store.updateTask(
      { ...current, state: 'failed', completedAt: now, updatedAt: now },
      [
        {
          type: 'failed',
          data: { reason: messageOf(error), code: isJjmError(error) ? error.code : 'JJM_UNEXPECTED' },
          at: now,
        },
      ],
      { expectedVersion: current.version },
    )
    this.deps.metrics?.error(error, 'start_task')
    await publishUpdate(this.deps.bus, logger, { taskId: failed.id, type: 'failed', task: failed, at: now })
    return failed
  }

  /** The repositories Jules can work on (those with the Jules GitHub app installed). */
  async listSources(
    options: { pageSize?: number; pageToken?: string; filter?: string } = {},
  ): Promise<Page<SourceView>> {
    const answer = await this.deps.jules.listSources(options)
    return { items: answer.sources.map(sourceView), nextCursor: answer.nextPageToken ?? null }
  }

  private async createIdempotently(request: NormalisedInput, key: string): Promise<CreateTaskResult> {
    const { store, clock, logger } = this.deps
    const log = logger.child({ operation: 'tasks.create', repository: request.repository, idempotencyKey: key })
    const requestHash = requestHashOf(request)
    const now = clock.now()
    const lease = { holder: randomUUID(), expiresAt: isoAt(now + creationLeaseMs) }
    const claim = await store.beginCreation(key, requestHash, isoAt(now), lease)
    const { intent } = claim
    if (intent.requestHash !== requestHash) {
      throw new IdempotencyKeyReusedError(
        `The idempotency key "${key}" was already used for another request. Use a new key for a different task.`,
        { context: { idempotencyKey: key } },
      )
    }
    if (intent.state === 'done') return { task: await this.taskOfIntent(intent), outcome: 'replayed' }
    if (!claim.claimed) {
      const retryAfterSeconds = secondsUntil(intent.leaseExpiresAt, now)
      throw new IdempotencyConflictError(
        `Another attempt to create a task with the idempotency key "${key}" is in progress, or could not tell whether Jules started its session. Retry with the same key after ${retryAfterSeconds} s: it then returns that attempt's task, or looks for its session at Jules before starting one.`,
        { context: { idempotencyKey: key, leaseExpiresAt: intent.leaseExpiresAt, retryAfterSeconds } },
      )
    }
    const attempt: KeyedAttempt = {
      key,
      holder: lease.holder,
      // A pending intent taken over: an earlier attempt may have reached Jules, and its session may appear yet.
      earlierMayHaveStarted: !claim.created && intent.state === 'pending',
      held: false,
    }
    try {
      return await this.createUnderLease(request, attempt, claim, log)
    } finally {
      if (!attempt.held) {
        try {
          await store.releaseCreation(key, lease.holder)
        } catch (error) {
          // The lease then runs out on its own; a retry before that is told to wait.
          log.warn('could not release the idempotency key', { error })
        }
      }
    }
  }

  /** The work of one attempt that holds the key's lease: reconcile what an earlier attempt left, then create. */
  private async createUnderLease(
    request: NormalisedInput,
    attempt: KeyedAttempt,
    { intent, created }: CreationClaim,
    log: Logger,
    record: Recorder = (session, key, recordLog, branch) => this.recordTask(request, session, key, recordLog, branch),
  ): Promise<CreateTaskResult> {
    const { jules, store, clock } = this.deps
    const { key } = attempt
    if (!created) {
      switch (intent.state) {
        case 'session_created': {
          // Jules answered an earlier attempt and only the recording was lost: record that session.
          if (intent.sessionName === null) throw new StorageError(`The creation under key "${key}" names no session.`)
          const session = await jules.getSession(intent.sessionName)
          log.info('recording the session an earlier attempt under this key created', { sessionName: session.name })
          return { task: await record(session, key, log), outcome: 'adopted' }
        }
        case 'pending': {
          // An earlier attempt may have timed out (or died) after Jules accepted it: look before creating.
          const session = await this.findAcceptedSession(request, intent)
          if (session) {
            log.info('adopting the session an earlier attempt under this key created', { sessionName: session.name })
            await store.noteCreationSession(key, session.name, isoAt(clock.now()))
            return { task: await record(session, key, log), outcome: 'adopted' }
          }
          log.info('no Jules session matches the earlier attempt under this key; creating one', {
            attemptedAt: intent.createdAt,
          })
          break
        }
        case 'failed':
          log.info('Jules refused the earlier attempt under this key; trying again', { error: intent.error })
          break
      }
    }
    return { task: await this.startAndRecord(request, attempt, log, record), outcome: 'created' }
  }

  /** Starts a Jules session for the request and records it; with a key, keeps that key's intent up to date. */
  private async startAndRecord(
    request: NormalisedInput,
    attempt: KeyedAttempt | undefined,
    keyLog?: Logger,
    record: Recorder = (session, key, recordLog, branch) => this.recordTask(request, session, key, recordLog, branch),
  ): Promise<Task> {
    const { jules, store, clock, logger } = this.deps
    const log = keyLog ?? logger.child({ operation: 'tasks.create', repository: request.repository })
    const key = attempt?.key
    let branch: string
    try {
      branch = request.source === '' ? '' : (request.branch ?? (await this.defaultBranchOf(request.source)))
    } catch (error) {
      // Jules was not asked to create anything yet: the key is free to try again.
      if (attempt !== undefined) await this.failIntent(attempt, error, log)
      throw error
    }
    let session: Session
    try {
      session = await jules.createSession({
        prompt: request.prompt,
        // No source: a session on no repository, whose result is a change set.
        ...(request.source === ''
          ? {}
          : { sourceContext: { source: request.source, githubRepoContext: { startingBranch: branch } } }),
        ...(request.title === undefined ? {} : { title: request.title }),
        requirePlanApproval: request.requirePlanApproval,
        automationMode: request.automationMode,
      })
    } catch (error) {
      if (attempt === undefined) throw error
      throw await this.settleFailedCreation(attempt, error, log)
    }
    if (key !== undefined) {
      try {
        await store.noteCreationSession(key, session.name, isoAt(clock.now()))
      } catch (error) {
        // Still pending: a retry lists Jules' sessions and finds this one. Recording the task comes first.
        log.warn('could not bind the idempotency key to the new session', { sessionName: session.name, error })
      }
    }
    return record(session, key, log, branch)
  }

  /** Records a session Jules created (now or on an earlier attempt) as a task; with a key, completes its intent. */
  private async recordTask(
    request: NormalisedInput,
    session: Session,
    key: string | undefined,
    log: Logger,
    startingBranch?: string,
  ): Promise<Task> {
    const { jules, store, clock, logger } = this.deps
    const branch =
      request.source === ''
        ? ''
        : (startingBranch ??
          session.sourceContext?.githubRepoContext?.startingBranch ??
          request.branch ??
          (await this.defaultBranchOf(request.source)))
    const now = isoAt(clock.now())
    const task: Task = {
      id: this.deps.newId(clock.now()),
      sessionName: session.name,
      title: session.title ?? request.title ?? firstLine(request.prompt),
      prompt: request.prompt,
      repository: request.repository,
      source: request.source,
      branch,
      state: taskStateOf(session),
      requirePlanApproval: request.requirePlanApproval,
      automationMode: request.automationMode,
      url: session.url ?? null,
      pullRequest: pullRequestOf(session),
      labels: request.labels,
      metadata: request.metadata,
      createdAt: now,
      updatedAt: now,
      completedAt: null,
      lastSyncedAt: now,
      stalledSince: null,
      archived: false,
      version: 1,
      priority: request.priority,
    }
    const data = {
      sessionName: session.name,
      state: task.state,
      julesBackend: jules.kind,
      ...(key === undefined ? {} : { idempotencyKey: key }),
    }
    try {
      if (key === undefined) await store.createTask(task, [{ type: 'created', data, at: now }])
      else await store.createTask(task, [{ type: 'created', data, at: now }], { idempotencyKey: key })
    } catch (error) {
      // Jules already runs the session: say so, so that nobody launches it twice by retrying.
      log.error('Jules created the session but jjm could not record it', { sessionName: session.name, error })
      const advice =
        key === undefined
          ? 'Do not create the task again; fix the storage problem and the session can be found at'
          : `Fix the storage problem and retry with the same idempotency key ("${key}") to record it; the session is at`
      throw new StorageError(
        `Jules created session ${session.name}, but jjm could not record it: ${messageOf(error)}. ${advice} ${session.url ?? session.name}.`,
        { context: { sessionName: session.name, ...(key === undefined ? {} : { idempotencyKey: key }) }, cause: error },
      )
    }
    log.info('task created', { taskId: task.id, sessionName: task.sessionName })
    this.deps.metrics?.taskCreated(task.repository)
    await publishUpdate(this.deps.bus, logger, { taskId: task.id, type: 'created', task, at: now })
    return task
  }

  /** The task an earlier request under the same key recorded: the replayed answer. */
  private async taskOfIntent(intent: CreationIntent): Promise<Task> {
    const task = intent.taskId === null ? undefined : await this.deps.store.getTask(intent.taskId)
    if (!task) {
      throw new InvalidStateError(
        `The idempotency key "${intent.key}" already created task ${intent.taskId ?? '(unknown)'}, which no longer exists. Use a new key to create another task.`,
        { context: { idempotencyKey: intent.key, taskId: intent.taskId } },
      )
    }
    return task
  }

  /**
   * The session a pending intent's earlier attempt created, if Jules has one:
   * same prompt and repository (and branch when given), created no earlier
   * than the intent (less clock skew), and not already recorded as a task.
   */
  private async findAcceptedSession(request: NormalisedInput, intent: CreationIntent): Promise<Session | undefined> {
    const { jules, store, logger } = this.deps
    const since = parseTime(intent.createdAt) - creationClockSkewMs
    const matches: Session[] = []
    const unsure: Session[] = []
    let pageToken: string | undefined
    for (let page = 1; ; page++) {
      const answer = await jules.listSessions({
        pageSize: reconcilePageSize,
        ...(pageToken === undefined ? {} : { pageToken }),
      })
      let reachedOlder = false
      for (const session of answer.sessions) {
        // Jules stamps a session when it makes it, which may be as late as the
        // attempt's timeout (or later) after the attempt began: no upper bound.
        // A session without a readable time can be neither ruled out nor used to stop.
        const createdAt = Date.parse(session.createTime)
        if (createdAt < since) {
          reachedOlder = true
          continue
        }
        const match = sessionMatch(session, request)
        if (match === 'yes') matches.push(session)
        else if (match === 'unknown') unsure.push(session)
      }
      pageToken = answer.nextPageToken
      // Newest first: once a page reaches back before the intent, later pages are older still.
      if (reachedOlder || pageToken === undefined || pageToken === '') break
      if (page >= reconcileMaxPages) {
        logger.warn('stopped looking for an earlier attempt’s session: too many recent sessions', {
          idempotencyKey: intent.key,
          pages: page,
        })
        break
      }
    }
    // A listing that leaves the prompt out: read those sessions whole (few: same repository, recent).
    for (const listed of unsure.slice(0, reconcileMaxReads)) {
      const session = await jules.getSession(listed.name)
      if (sessionMatch(session, request) === 'yes') matches.push(session)
    }
    // The earliest match after the intent is the likeliest to be its own.
    const madeAt = (session: Session): number => {
      const at = Date.parse(session.createTime)
      return Number.isNaN(at) ? Number.POSITIVE_INFINITY : at
    }
    matches.sort((a, b) => madeAt(a) - madeAt(b))
    for (const session of matches) {
      if (!(await store.findTask(session.name))) return session
    }
    return undefined
  }

  /**
   * After createSession failed under a key. A definite failure (Jules refused
   * it, or it never went out) frees the key for another try. Anything else may
   * have started a session that Jules shows only later, so the intent stays
   * pending and the key stays locked until the Jules timeout plus the grace
   * period have passed: then the next attempt looks for the session first.
   */
  private async settleFailedCreation(attempt: KeyedAttempt, error: unknown, log: Logger): Promise<unknown> {
    const { key } = attempt
    if (isDefiniteRefusal(error) || julesDidNotAct(error)) {
      await this.failIntent(attempt, error, log)
      return error
    }
    const holdMs =
      (this.deps.julesTimeoutMs ?? defaultJulesTimeoutMs) + (this.deps.createGraceMs ?? defaultCreateGraceMs)
    const retryAfterSeconds = Math.max(1, Math.ceil(holdMs / 1000))
    const until = isoAt(this.deps.clock.now() + holdMs)
    // From here the lease is not given back: it ends at `until` (or, if that write fails, when it would have).
    attempt.held = true
    try {
      await this.deps.store.holdCreation(key, attempt.holder, until)
    } catch (storeError) {
      log.warn('could not extend the lock on the idempotency key; it ends with the attempt’s lease', {
        error: storeError,
      })
    }
    log.warn('Jules may have created the session: the key stays locked, then a retry looks for the session first', {
      error,
      lockedUntil: until,
    })
    if (!isJjmError(error)) return error
    return new JulesConnectionError(
      `jjm could not tell whether Jules started the session (${error.message.replace(/\.$/, '')}). Retry with the same idempotency key ("${key}") after ${retryAfterSeconds} s: jjm then records the session if Jules started it, and starts one only if not.`,
      {
        context: {
          ...error.context,
          idempotencyKey: key,
          retryAfterSeconds,
          lockedUntil: until,
          sessionMayExist: true,
        },
        cause: error,
      },
    )
  }

  /** Marks the intent failed so the key may create again, unless an earlier attempt's session may still appear. */
  private async failIntent(attempt: KeyedAttempt, error: unknown, log: Logger): Promise<void> {
    // Pending it stays: the next attempt looks for that session again before it creates.
    if (attempt.earlierMayHaveStarted) return
    try {
      await this.deps.store.failCreation(attempt.key, messageOf(error), isoAt(this.deps.clock.now()))
    } catch (storeError) {
      // The caller reports Jules' refusal; a pending intent only costs the next attempt a look at Jules.
      log.warn('could not mark the creation intent failed', { error: storeError })
    }
  }

  private async defaultBranchOf(source: string): Promise<string> {
    try {
      const found = await this.deps.jules.getSource(source)
      return found.githubRepo?.defaultBranch?.displayName ?? 'main'
    } catch (error) {
      if (isJjmError(error) && error.code === 'JJM_JULES_NOT_FOUND') {
        throw new ValidationError(
          `Jules cannot work on ${repositoryOf(source)}: it is not one of your sources. Install the Jules GitHub app on the repository, then check \`jjm sources list\`.`,
          { context: { source } },
        )
      }
      throw error
    }
  }
}

/** One attempt to create under an idempotency key, holding the key's lease. */
interface KeyedAttempt {
  key: string
  /** The attempt's lease holder id. */
  holder: string
  /** An earlier attempt under the key may have reached Jules: never mark the intent failed. */
  earlierMayHaveStarted: boolean
  /** The key stays locked after this attempt (see settleFailedCreation): its lease is not released. */
  held: boolean
}

interface NormalisedInput {
  prompt: string
  /** `''` with `source` for a task on no repository. */
  repository: string
  source: string
  branch: string | undefined
  title: string | undefined
  labels: string[]
  requirePlanApproval: boolean
  automationMode: AutomationMode
  metadata: Record<string, unknown>
  priority: number
}

/** Records a session Jules created for a request: as a new task, or onto the pending task it starts. */
type Recorder = (session: Session, key: string | undefined, log: Logger, startingBranch?: string) => Promise<Task>

function normaliseInput(input: TaskInput): NormalisedInput {
  // Before anything else, so that Jules never starts a session jjm could not record.
  checkStorableTaskInput(input)
  const prompt = typeof input.prompt === 'string' ? input.prompt.trim() : ''
  if (prompt === '') {
    throw new ValidationError(
      'A task needs a prompt: pass it as an argument, with --prompt-file, or on standard input.',
    )
  }
  if (prompt.length > maxPromptLength) {
    throw new ValidationError(`The prompt is ${prompt.length} characters; the limit is ${maxPromptLength}.`)
  }
  let source: string
  if (input.source !== undefined && input.source !== '') {
    source = toSourceName(input.source)
    if (input.repository !== undefined && sourceNameOf(input.repository) !== source) {
      throw new ValidationError(
        `--repo ${input.repository} and --source ${input.source} name different repositories; give one of them.`,
      )
    }
  } else if (input.repository !== undefined && input.repository !== '') {
    source = sourceNameOf(input.repository)
  } else {
    // Jules runs a session on no repository ("repoless") and leaves a change set.
    source = ''
  }
  const labels = [...new Set((input.labels ?? []).map((label) => label.trim()).filter((label) => label !== ''))]
  for (const label of labels) {
    if (!labelPattern.test(label)) {
      throw new ValidationError(
        `Label "${label}" is not allowed: use up to 64 letters, digits and . _ : / - (starting with a letter or digit).`,
        { context: { label } },
      )
    }
  }
  const branch = input.branch?.trim()
  if (branch !== undefined && (branch === '' || /\s/.test(branch))) {
    throw new ValidationError(`"${input.branch}" is not a branch name.`, { context: { branch: input.branch } })
  }
  if (branch !== undefined && source === '') {
    throw new ValidationError(
      `A branch (${branch}) needs a repository: pass --repo owner/repo too, or leave out --branch for a task on no repository.`,
      { context: { branch } },
    )
  }
  const title = input.title?.trim()
  const priority = input.priority ?? 0
  if (!Number.isInteger(priority) || priority < priorityRange.min || priority > priorityRange.max) {
    throw new ValidationError(
      `The priority must be a whole number from ${priorityRange.min} to ${priorityRange.max} (higher starts first), got ${String(input.priority)}.`,
      { context: { priority: input.priority } },
    )
  }
  return {
    prompt,
    repository: source === '' ? '' : repositoryOf(source),
    source,
    branch,
    title: title === '' ? undefined : title,
    labels,
    requirePlanApproval: input.requirePlanApproval ?? false,
    automationMode: input.automationMode ?? 'AUTOMATION_MODE_UNSPECIFIED',
    metadata: input.metadata ?? {},
    priority,
  }
}

/** The hash an idempotency key is bound to; a priority of 0 leaves it as it was before priorities. */
function requestHashOf(request: NormalisedInput): string {
  const { priority, ...rest } = request
  return canonicalHash(priority === 0 ? rest : request)
}

function normaliseRepository(repository: string): string {
  const { owner, repo } = parseRepository(repository)
  return `${owner}/${repo}`
}

function sourceView(source: Source): SourceView {
  let repository: string
  try {
    repository = repositoryOf(source.name)
  } catch {
    repository = source.id
  }
  return {
    name: source.name,
    repository,
    defaultBranch: source.githubRepo?.defaultBranch?.displayName ?? null,
    isPrivate: source.githubRepo?.isPrivate ?? null,
  }
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? text
  return line.length > 80 ? `${line.slice(0, 77)}...` : line
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** A definite "no" from Jules: the request created nothing, so the same key may try again. */
function isDefiniteRefusal(error: unknown): boolean {
  return (
    error instanceof ValidationError ||
    error instanceof AuthenticationError ||
    error instanceof InvalidStateError ||
    error instanceof RateLimitedError ||
    (isJjmError(error) && error.code === 'JJM_JULES_NOT_FOUND')
  )
}

/**
 * Whether a session Jules shows is the one `request` would have made:
 * `unknown` when it is on the same repository (and branch) but Jules showed
 * no prompt (the adapters read a missing one as empty), as a listing may
 * leave it out.
 */
function sessionMatch(session: Session, request: NormalisedInput): 'yes' | 'no' | 'unknown' {
  const prompt = typeof session.prompt === 'string' ? session.prompt.trim() : ''
  if (prompt !== '' && prompt !== request.prompt) return 'no'
  let source = ''
  if (session.sourceContext?.source) {
    try {
      source = toSourceName(session.sourceContext.source)
    } catch {
      return 'no'
    }
  }
  if (source !== request.source) return 'no'
  const branch = session.sourceContext?.githubRepoContext?.startingBranch
  if (request.branch !== undefined && branch !== undefined && branch !== request.branch) return 'no'
  return prompt === '' ? 'unknown' : 'yes'
}

function checkIdempotencyKey(key: string): string {
  const trimmed = key.trim()
  if (!idempotencyKeyPattern.test(trimmed)) {
    throw new ValidationError(
      'An idempotency key is 1 to 255 visible ASCII characters (letters, digits, punctuation; no spaces).',
      { context: { idempotencyKey: key } },
    )
  }
  return trimmed
}

/** Milliseconds since the epoch; Jules may send up to nine fraction digits. */
function parseTime(iso: string): number {
  const ms = Date.parse(iso)
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms
}

/** Whole seconds from `now` until `iso` (at least 1); 1 when there is no time. */
function secondsUntil(iso: string | null, now: number): number {
  const at = iso === null ? Number.NaN : Date.parse(iso)
  return Number.isNaN(at) ? 1 : Math.max(1, Math.ceil((at - now) / 1000))
}

function isoAt(ms: number): string {
  return new Date(ms).toISOString()
}

/**
 * Publishes a task change. Live updates are best effort: the store is the
 * source of truth, so a failed publish is logged and never fails the operation.
 */
export async function publishUpdate(
  bus: EventBus | undefined,
  logger: Logger,
  update: Parameters<EventBus['publish']>[0],
): Promise<void> {
  if (!bus) return
  try {
    await bus.publish(update)
  } catch (error) {
    logger.warn('could not publish a task update', { taskId: update.taskId, type: update.type, error })
  }
}
