import {
  InvalidStateError,
  isJjmError,
  TaskNotFoundError,
  TaskVersionConflictError,
  ValidationError,
} from './errors.js'
import type { ChangeSet, JulesClient } from './jules/client.js'
import { optional } from './jules/optional.js'
import { taskStateOf } from './jules/session-view.js'
import type { Clock, Logger, TaskConversation, TaskEventLog, TaskRecords, TaskStore, TaskUpdate } from './ports.js'
import { checkStorableMetadata, checkStorableTaskChanges, checkStorableText } from './storable.js'
import type { SessionSynchronizer } from './synchronizer.js'
import {
  awaitingPerson,
  type ChatMessage,
  isKnownState,
  isTerminal,
  type SourceFile,
  type Task,
  type TaskEvent,
  type TaskState,
  taskStates,
} from './task.js'

/** The operations that send something to the agent. */
export type TaskOperation = 'message' | 'approve' | 'resume'

/**
 * What `jjm message|approve|resume` and `POST /api/v1/tasks/{id}/message|approve|resume`
 * answer: the operation was accepted by Jules at `at`. The agent's reply comes
 * later, as activities seen by the monitor.
 */
export interface OperationResult {
  taskId: string
  operation: TaskOperation
  /** The task's state when the operation was sent. */
  state: TaskState
  /** RFC 3339 */
  at: string
}

/** The fields of a task a person may change; the same names as `PATCH /api/v1/tasks/{id}`. */
export interface TaskChanges {
  title?: string
  /** Replaces every label; not together with addLabels/removeLabels. */
  labels?: string[]
  addLabels?: string[]
  removeLabels?: string[]
  /** Merged into the task's metadata; a key set to null is removed. */
  metadata?: Record<string, unknown>
}

/** How an edit meets a concurrent change. */
export interface UpdateOptions {
  /**
   * The version the editor read (HTTP `If-Match`): the edit applies only to
   * that version, else TaskVersionConflictError (412). Absent: the edit is
   * applied to the task as it is now, read again after any concurrent change.
   */
  expectedVersion?: number
  /** The given metadata replaces the task's whole metadata (PUT), instead of being merged into it. */
  replaceMetadata?: boolean
}

/** What `jjm tasks delete` answers. */
export interface DeleteResult {
  taskId: string
  /** False when a person declined the confirmation. */
  deleted: boolean
  /** True when the history went too. */
  purged: boolean
  /**
   * The Jules session: `kept` (jjm's record only), `deleted` at Jules too
   * (`--remote`), or `already_gone` (Jules had no such session any more).
   */
  session: 'kept' | 'deleted' | 'already_gone'
  /** RFC 3339 */
  at: string
}

/** Archiving puts a task away at Jules and in jjm; unarchiving brings it back. */
export type ArchiveAction = 'archive' | 'unarchive'

/** What `jjm tasks archive|unarchive` and `POST /api/v1/tasks/{id}/archive|unarchive` did to one task. */
export interface ArchiveResult {
  taskId: string
  action: ArchiveAction
  /** `unchanged`: jjm's record already said so (Jules was told again all the same). */
  outcome: 'done' | 'unchanged'
  task: Task
  /** RFC 3339 */
  at: string
}

/** How `waitForTask` ended; each has its own exit code in `jjm tasks wait`. */
export type WaitOutcome = 'reached' | 'failed' | 'ended' | 'needs_person' | 'timed_out'

export interface WaitOptions {
  /** States to wait for; default `['completed']`. */
  until?: string[]
  /** Give up after this long (clock milliseconds); default: never. */
  timeoutMs?: number
  /** Between two looks at Jules; default 10 s. */
  pollIntervalMs?: number
  /** Called with the task after every look at Jules. */
  onProgress?: (task: Task) => void
}

export interface WaitResult {
  task: Task
  outcome: WaitOutcome
}

/** The plan the agent proposed, from the latest `plan_generated` event. */
export interface PlanView {
  at: string
  steps: Array<{ title: string; description: string }>
}

/** What `jjm tasks show` prints beside the task. */
export interface TaskDetails {
  plan: PlanView | null
  /** The latest messages, oldest first. */
  chatMessages: ChatMessage[]
  sourceFiles: SourceFile[]
  /** Newest first. */
  events: TaskEvent[]
}

/** `jjm tasks show --json` and `GET /api/v1/tasks/{id}?include=details`: the task's own fields, and what the human view shows. */
export type TaskWithDetails = Task & { details: TaskDetails }

/** The session's final change set (`jjm tasks pull`, `GET /api/v1/tasks/{id}/patch`). */
export interface TaskPatch {
  taskId: string
  /** The task's state when the patch was read. */
  state: TaskState
  /** `owner/repo`: the repository the patch applies to. */
  repository: string
  /** A unified diff (git's format). */
  patch: string
  /** Where it came from: the session's outputs (its final change set) or its newest changeSet activity. */
  from: 'outputs' | 'activity'
  baseCommitId: string | null
  suggestedCommitMessage: string | null
}

export type Sleep = (ms: number) => Promise<void>

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** What `jjm resume` sends when no text is given: Jules has no resume method, only messages. */
export const defaultResumeText = 'Please continue with the task.'

export interface TaskOperationsDeps {
  jules: JulesClient
  /** Operations read and edit tasks, log events and record sent messages; syncs go through the synchronizer. */
  store: TaskRecords & TaskEventLog & TaskConversation & Pick<TaskStore, 'unitOfWork'>
  /** The one sync path: every refresh, and every operation under the task's lease. */
  synchronizer: SessionSynchronizer
  clock: Clock
  logger: Logger
  publish: (update: TaskUpdate) => Promise<void>
  sleep: Sleep
  resumeText: string
}

const maxMessageLength = 100_000
const maxTitleLength = 500
const defaultPollIntervalMs = 10_000
const labelPattern = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/
const activeStates = taskStates.filter((state) => !isTerminal(state))
/** How often an edit is applied again after a concurrent change before giving up. */
const maxEditAttempts = 10
/** Bounds the activities read looking for a change set (100 a page). */
const maxActivityPages = 50

/**
 * The operations on an existing task, behind JobManager: each refreshes the
 * task from Jules once, validates its state, calls Jules, records the event
 * and publishes the change.
 */
export class TaskOperations {
  constructor(private readonly deps: TaskOperationsDeps) {}

  /**
   * Applies a person's edit with a compare-and-set on the task's version, so
   * that a concurrent sync (or another edit) never reverts it and it never
   * reverts them: on a conflict the task is read again and the edit applied
   * to what is there, unless the caller named the version it edits.
   */
  async update(task: Task, changes: TaskChanges, options: UpdateOptions = {}): Promise<Task> {
    const wanted = normaliseChanges(changes)
    const { store, clock } = this.deps
    let current = (await store.getTask(task.id)) ?? task
    for (let attempt = 1; ; attempt++) {
      if (options.expectedVersion !== undefined && current.version !== options.expectedVersion) {
        throw versionConflict(current, options.expectedVersion)
      }
      const now = iso(clock.now())
      const edit = applyChanges(current, wanted, options.replaceMetadata === true)
      if (edit === undefined) return current
      try {
        const stored = await store.updateTask(
          { ...edit.next, updatedAt: now },
          [{ type: 'updated', data: edit.data, at: now }],
          {
            expectedVersion: current.version,
          },
        )
        this.deps.logger.info('task updated', { taskId: task.id, fields: Object.keys(edit.data) })
        await this.deps.publish({ taskId: task.id, type: 'updated', task: stored, at: now })
        return stored
      } catch (error) {
        if (!(error instanceof TaskVersionConflictError) || options.expectedVersion !== undefined) throw error
        if (attempt >= maxEditAttempts) throw error
        current = (await store.getTask(task.id)) ?? current
      }
    }
  }

  /**
   * Deletes jjm's record of the task; with `remote`, deletes the Jules
   * session first (a session Jules no longer has counts as deleted), under
   * the task's lease so that no sync reads the session meanwhile.
   */
  async delete(task: Task, options: { purge?: boolean; remote?: boolean } = {}): Promise<DeleteResult> {
    if (options.remote !== true) return this.deleteRecord(task, options.purge === true, 'kept')
    return this.deps.synchronizer.withLease(
      task,
      async (current) => {
        let session: DeleteResult['session'] = 'deleted'
        try {
          const deleteSession = optional(this.deps.jules, 'deleteSession')
          await this.deps.synchronizer.call(() => deleteSession(current.sessionName))
        } catch (error) {
          if (!(isJjmError(error) && error.code === 'JJM_JULES_NOT_FOUND')) throw error
          session = 'already_gone'
        }
        const at = iso(this.deps.clock.now())
        if (options.purge !== true) {
          await this.deps.store.logEvent(current.id, {
            type: 'session_deleted',
            data: { sessionName: current.sessionName, alreadyGone: session === 'already_gone' },
            at,
          })
        }
        return this.deleteRecord(current, options.purge === true, session)
      },
      { sync: false },
    )
  }

  private async deleteRecord(task: Task, purge: boolean, session: DeleteResult['session']): Promise<DeleteResult> {
    const at = iso(this.deps.clock.now())
    const removed = await this.deps.store.deleteTask(task.id, { purge, at })
    if (!removed) throw new TaskNotFoundError(task.id)
    this.deps.logger.info('task deleted', { taskId: task.id, purge, session })
    await this.deps.publish({ taskId: task.id, type: 'deleted', ...(purge ? {} : { task }), at })
    return { taskId: task.id, deleted: true, purged: purge, session, at }
  }

  /**
   * Archives (or unarchives) the session at Jules, then marks jjm's record,
   * under the task's lease; any state will do. Jules is told even when the
   * record already says so, so that the two agree again after a change made
   * in the Jules web app.
   */
  async setArchived(task: Task, action: ArchiveAction): Promise<ArchiveResult> {
    const archived = action === 'archive'
    return this.deps.synchronizer.withLease(
      task,
      async (current) => {
        const send = optional(this.deps.jules, archived ? 'archiveSession' : 'unarchiveSession')
        await this.deps.synchronizer.call(() => send(current.sessionName))
        const { store, clock } = this.deps
        let stored = current
        for (let attempt = 1; ; attempt++) {
          const at = iso(clock.now())
          if (stored.archived === archived) return { taskId: task.id, action, outcome: 'unchanged', task: stored, at }
          try {
            // Not an edit of the work: updatedAt stays, so that "older than" still means the task's own age.
            const next = await store.updateTask(
              { ...stored, archived },
              [{ type: archived ? 'archived' : 'unarchived', data: { sessionName: stored.sessionName }, at }],
              { expectedVersion: stored.version },
            )
            this.deps.logger.info(`task ${action}d`, { taskId: task.id })
            await this.deps.publish({ taskId: task.id, type: archived ? 'archived' : 'unarchived', task: next, at })
            return { taskId: task.id, action, outcome: 'done', task: next, at }
          } catch (error) {
            if (!(error instanceof TaskVersionConflictError) || attempt >= maxEditAttempts) throw error
            stored = (await store.getTask(task.id)) ?? stored
          }
        }
      },
      { sync: false },
    )
  }

  async sendMessage(task: Task, text: string): Promise<OperationResult> {
    const message = typeof text === 'string' ? text.trim() : ''
    if (message === '') throw new ValidationError('A message needs some text: `jjm message ID "your answer"`.')
    if (message.length > maxMessageLength) {
      throw new ValidationError(`The message is ${message.length} characters; the limit is ${maxMessageLength}.`)
    }
    checkStorableText('message', message)
    // Under the task's lease until the message is recorded: no sync reads its activity before that.
    return this.deps.synchronizer.withLease(task, async (current) => {
      if (isTerminal(current.state)) {
        throw refused(current, 'message', activeStates, `messages go only to a task that has not finished`)
      }
      await this.deps.synchronizer.call(() => this.deps.jules.sendMessage(current.sessionName, message))
      const at = iso(this.deps.clock.now())
      // The history line and the conversation line together, or neither.
      await this.inOneTransaction(async () => {
        await this.deps.store.logEvent(current.id, { type: 'message_sent', data: { text: message }, at })
        await this.deps.store.addChatMessages(current.id, [{ role: 'user', text: message, activityId: null, at }])
      })
      return this.done(current, 'message', 'message_sent', at)
    })
  }

  async approvePlan(task: Task): Promise<OperationResult> {
    return this.deps.synchronizer.withLease(task, async (current) => {
      if (current.state !== 'awaiting_plan_approval') {
        throw refused(
          current,
          'approve',
          ['awaiting_plan_approval'],
          'only a task awaiting plan approval can be approved',
        )
      }
      await this.deps.synchronizer.call(() => this.deps.jules.approvePlan(current.sessionName))
      const at = iso(this.deps.clock.now())
      await this.deps.store.logEvent(current.id, { type: 'plan_approved', data: { by: 'user' }, at })
      return this.done(current, 'approve', 'plan_approved', at)
    })
  }

  async resume(task: Task, text?: string): Promise<OperationResult> {
    const message = text?.trim() || this.deps.resumeText
    checkStorableText('message', message)
    return this.deps.synchronizer.withLease(task, async (current) => {
      if (current.state !== 'paused') {
        throw refused(current, 'resume', ['paused'], 'only a paused task can be resumed')
      }
      // Jules has no resume method: a message asking the agent to continue is what resumes a session.
      await this.deps.synchronizer.call(() => this.deps.jules.sendMessage(current.sessionName, message))
      const at = iso(this.deps.clock.now())
      await this.deps.store.logEvent(current.id, { type: 'resumed', data: { text: message }, at })
      return this.done(current, 'resume', 'resumed', at)
    })
  }

  async wait(task: Task, options: WaitOptions = {}): Promise<WaitResult> {
    const until = new Set(options.until && options.until.length > 0 ? options.until : ['completed'])
    for (const state of until) {
      if (!isKnownState(state)) {
        throw new ValidationError(`Unknown state "${state}". Use one of: ${taskStates.join(', ')}.`, {
          context: { state },
        })
      }
    }
    const interval = options.pollIntervalMs ?? defaultPollIntervalMs
    if (!(interval > 0)) throw new ValidationError('The poll interval must be more than 0.')
    if (options.timeoutMs !== undefined && !(options.timeoutMs >= 0)) {
      throw new ValidationError('The timeout must not be negative.')
    }
    const { clock, logger } = this.deps
    const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : clock.now() + options.timeoutMs
    let current = task
    for (;;) {
      try {
        current = await this.refresh(current)
      } catch (error) {
        // A long wait outlives a passing outage; anything else (a session gone, a bad key) ends it.
        if (!isJjmError(error) || !['JJM_JULES_UNAVAILABLE', 'JJM_RATE_LIMITED'].includes(error.code)) throw error
        logger.warn('could not reach Jules while waiting; trying again', { taskId: task.id, code: error.code })
      }
      options.onProgress?.(current)
      if (until.has(current.state)) return { task: current, outcome: 'reached' }
      if (current.state === 'failed') return { task: current, outcome: 'failed' }
      if (isTerminal(current.state)) return { task: current, outcome: 'ended' }
      if (awaitingPerson(current.state)) return { task: current, outcome: 'needs_person' }
      const remaining = deadline - clock.now()
      if (remaining <= 0) return { task: current, outcome: 'timed_out' }
      await this.deps.sleep(Math.min(interval, remaining))
    }
  }

  async details(task: Task, options: { messages?: number; events?: number } = {}): Promise<TaskDetails> {
    const { store } = this.deps
    const [relations, plans, events] = await Promise.all([
      store.getRelations([task.id], { messagesPerTask: options.messages ?? 5 }),
      store.getEvents(task.id, { types: ['plan_generated'], limit: 1 }),
      store.getEvents(task.id, { limit: options.events ?? 10 }),
    ])
    const related = relations.get(task.id)
    const planEvent = plans.items[0]
    return {
      plan: planEvent ? planOf(planEvent) : null,
      chatMessages: related?.chatMessages ?? [],
      sourceFiles: related?.sourceFiles ?? [],
      events: events.items,
    }
  }

  /** See JobManager.getTaskPatch. */
  async patch(task: Task): Promise<TaskPatch> {
    const { jules, synchronizer } = this.deps
    const session = await synchronizer.call(() => jules.getSession(task.sessionName))
    const state = taskStateOf(session)
    let found: { changeSet: ChangeSet; from: TaskPatch['from'] } | undefined
    for (const output of session.outputs ?? []) {
      if (output.changeSet?.gitPatch?.unidiffPatch) found = { changeSet: output.changeSet, from: 'outputs' }
    }
    if (found === undefined) {
      let newest: { at: string; changeSet: ChangeSet } | undefined
      let pageToken: string | undefined
      for (let page = 0; page < maxActivityPages; page++) {
        const answer = await synchronizer.call(() =>
          jules.listActivities(task.sessionName, { pageSize: 100, ...(pageToken === undefined ? {} : { pageToken }) }),
        )
        for (const activity of answer.activities) {
          for (const artifact of activity.artifacts ?? []) {
            const changeSet = artifact.changeSet
            if (!changeSet?.gitPatch?.unidiffPatch) continue
            if (newest === undefined || activity.createTime >= newest.at)
              newest = { at: activity.createTime, changeSet }
          }
        }
        pageToken = answer.nextPageToken
        if (pageToken === undefined || pageToken === '') break
      }
      if (newest !== undefined) found = { changeSet: newest.changeSet, from: 'activity' }
    }
    if (found === undefined) {
      const next = isTerminal(state)
        ? 'It finished without one: nothing to pull.'
        : `Wait for the agent to write one (\`jjm tasks wait ${task.id}\`), then pull again.`
      throw new InvalidStateError(`Task ${task.id} is ${state} and has no change set yet. ${next}`, {
        context: { taskId: task.id, state },
      })
    }
    const gitPatch = found.changeSet.gitPatch
    return {
      taskId: task.id,
      state,
      repository: task.repository,
      patch: gitPatch?.unidiffPatch ?? '',
      from: found.from,
      baseCommitId: gitPatch?.baseCommitId ?? null,
      suggestedCommitMessage: gitPatch?.suggestedCommitMessage ?? null,
    }
  }

  /**
   * Syncs the task from Jules through the one sync path (the same events as a
   * monitor pass), so that what is shown is Jules' state, not a stale local
   * one. A finished task is not read again; a task another process is syncing
   * right now is answered as that process records it.
   */
  async refresh(task: Task): Promise<Task> {
    return (await this.deps.synchronizer.sync(task)).task
  }

  private inOneTransaction(work: () => Promise<void>): Promise<void> {
    const { store } = this.deps
    return store.unitOfWork ? store.unitOfWork(work) : work()
  }

  private async done(task: Task, operation: TaskOperation, type: string, at: string): Promise<OperationResult> {
    this.deps.logger.info(`task ${operation} sent`, { taskId: task.id, state: task.state })
    await this.deps.publish({ taskId: task.id, type, task, at })
    return { taskId: task.id, operation, state: task.state, at }
  }
}

/** The task after a person's changes, with what changed, or undefined when nothing would. */
function applyChanges(
  current: Task,
  wanted: NormalisedChanges,
  replaceMetadata: boolean,
): { next: Task; data: Record<string, unknown> } | undefined {
  const data: Record<string, unknown> = {}
  const next: Task = { ...current }
  if (wanted.title !== undefined && wanted.title !== current.title) {
    data.title = { from: current.title, to: wanted.title }
    next.title = wanted.title
  }
  const labels = labelsAfter(current.labels, wanted)
  if (!sameList(labels, current.labels)) {
    data.labels = { from: current.labels, to: labels }
    next.labels = labels
  }
  if (wanted.metadata !== undefined) {
    const metadata = replaceMetadata ? {} : { ...current.metadata }
    for (const [key, value] of Object.entries(wanted.metadata)) {
      if (value === null) delete metadata[key]
      else metadata[key] = value
    }
    // The merge may outgrow the size limit that each part kept to.
    checkStorableMetadata('metadata', metadata)
    if (JSON.stringify(metadata) !== JSON.stringify(current.metadata)) {
      data.metadata = { from: current.metadata, to: metadata }
      next.metadata = metadata
    }
  }
  return Object.keys(data).length === 0 ? undefined : { next, data }
}

function versionConflict(task: Task, expectedVersion: number): TaskVersionConflictError {
  return new TaskVersionConflictError(task.id, expectedVersion, task.version)
}

function refused(task: Task, operation: TaskOperation, wanted: readonly string[], rule: string): InvalidStateError {
  const waiting = awaitingPerson(task.state)
  const next = isTerminal(task.state)
    ? ' It has finished.'
    : waiting
      ? ` It waits for ${waiting}.`
      : ' Follow it with `jjm tasks wait` or `jjm monitor --once`.'
  const needs = wanted.length === 1 ? wanted[0] : `one of ${wanted.join(', ')}`
  return new InvalidStateError(`Task ${task.id} is ${task.state}: ${rule} (${operation} needs ${needs}).${next}`, {
    context: { taskId: task.id, state: task.state, wanted: [...wanted] },
  })
}

interface NormalisedChanges {
  title?: string
  labels?: string[]
  addLabels: string[]
  removeLabels: string[]
  metadata?: Record<string, unknown>
}

function normaliseChanges(changes: TaskChanges): NormalisedChanges {
  const { title, labels, addLabels, removeLabels, metadata } = changes
  if (
    title === undefined &&
    labels === undefined &&
    addLabels === undefined &&
    removeLabels === undefined &&
    metadata === undefined
  ) {
    throw new ValidationError('Nothing to change: give a title, labels or metadata.')
  }
  if (labels !== undefined && (addLabels !== undefined || removeLabels !== undefined)) {
    throw new ValidationError('Either replace the labels or add and remove some, not both.')
  }
  const result: NormalisedChanges = {
    addLabels: checkedLabels(addLabels ?? []),
    removeLabels: (removeLabels ?? []).map((label) => label.trim()),
  }
  if (title !== undefined) {
    const trimmed = typeof title === 'string' ? title.trim() : ''
    if (trimmed === '') throw new ValidationError('A title cannot be empty.')
    if (trimmed.length > maxTitleLength) {
      throw new ValidationError(`The title is ${trimmed.length} characters; the limit is ${maxTitleLength}.`)
    }
    result.title = trimmed
  }
  if (labels !== undefined) result.labels = checkedLabels(labels)
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
      throw new ValidationError('Metadata must be an object of key-value pairs.')
    }
    for (const key of Object.keys(metadata)) {
      if (key.trim() === '') throw new ValidationError('A metadata key cannot be empty.')
    }
    result.metadata = metadata
  }
  checkStorableTaskChanges(changes)
  return result
}

/** The same rule as `tasks create`: trimmed, de-duplicated, empty ones dropped. */
function checkedLabels(labels: string[]): string[] {
  const unique = [...new Set(labels.map((label) => label.trim()).filter((label) => label !== ''))]
  for (const label of unique) {
    if (!labelPattern.test(label)) {
      throw new ValidationError(
        `Label "${label}" is not allowed: use up to 64 letters, digits and . _ : / - (starting with a letter or digit).`,
        { context: { label } },
      )
    }
  }
  return unique
}

function labelsAfter(current: string[], changes: NormalisedChanges): string[] {
  if (changes.labels !== undefined) return changes.labels
  const removed = new Set(changes.removeLabels)
  return [...new Set([...current, ...changes.addLabels])].filter((label) => !removed.has(label))
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((item, index) => item === b[index])
}

/** Reads a `plan_generated` event's steps, whether the data holds the plan or the plan's steps. */
function planOf(event: TaskEvent): PlanView {
  const data = event.data
  const plan = isRecord(data.plan) ? data.plan : data
  const steps = Array.isArray(plan.steps) ? plan.steps : []
  return {
    at: event.at,
    steps: steps.filter(isRecord).map((step) => ({
      title: typeof step.title === 'string' ? step.title : '',
      description: typeof step.description === 'string' ? step.description : '',
    })),
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}
