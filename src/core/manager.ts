import { isJjmError, StorageError, TaskNotFoundError, ValidationError } from './errors.js'
import type { IdGenerator } from './ids.js'
import type { JulesClient, Source } from './jules/client.js'
import { parseRepository, repositoryOf, sourceNameOf, toSourceName } from './jules/names.js'
import { pullRequestOf, taskStateOf } from './jules/session-view.js'
import type { Clock, EventBus, EventQuery, Logger, TaskStore } from './ports.js'
import type { AutomationMode, Page, Task, TaskEvent, TaskFilter, TaskInput } from './task.js'
import { isKnownState, taskStates } from './task.js'

export interface JobManagerDeps {
  jules: JulesClient
  store: TaskStore
  clock: Clock
  logger: Logger
  newId: IdGenerator
  /** Where task changes are published for live consumers; best effort. */
  bus?: EventBus
}

/** A repository Jules can work on, as jjm shows it. */
export interface SourceView {
  name: string
  repository: string
  defaultBranch: string | null
  isPrivate: boolean | null
}

const maxPromptLength = 100_000
const labelPattern = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/

/**
 * Every use case of jjm, over the ports. Commands and API routes call this and
 * nothing else.
 */
export class JobManager {
  constructor(private readonly deps: JobManagerDeps) {}

  /** Creates a Jules session for the input and records it as a task. */
  async createTask(input: TaskInput): Promise<Task> {
    const request = normaliseInput(input)
    const { jules, store, clock, logger } = this.deps
    const branch = request.branch ?? (await this.defaultBranchOf(request.source))
    const log = logger.child({ operation: 'tasks.create', repository: request.repository })

    const session = await jules.createSession({
      prompt: request.prompt,
      sourceContext: { source: request.source, githubRepoContext: { startingBranch: branch } },
      ...(request.title === undefined ? {} : { title: request.title }),
      requirePlanApproval: request.requirePlanApproval,
      automationMode: request.automationMode,
    })
    const now = new Date(clock.now()).toISOString()
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
    }
    try {
      await store.createTask(task, [
        { type: 'created', data: { sessionName: session.name, state: task.state, julesBackend: jules.kind }, at: now },
      ])
    } catch (error) {
      // Jules already runs the session: say so, so that nobody launches it twice by retrying.
      log.error('Jules created the session but jjm could not record it', { sessionName: session.name, error })
      throw new StorageError(
        `Jules created session ${session.name}, but jjm could not record it: ${messageOf(error)}. Do not create the task again; fix the storage problem and the session can be found at ${session.url ?? session.name}.`,
        { context: { sessionName: session.name }, cause: error },
      )
    }
    log.info('task created', { taskId: task.id, sessionName: task.sessionName })
    await publishUpdate(this.deps.bus, logger, { taskId: task.id, type: 'created', task, at: now })
    return task
  }

  /** Newest first, one page. */
  async listTasks(filter: TaskFilter = {}): Promise<Page<Task>> {
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

  /** A task by its id, its Jules session id or name, or a unique id prefix. */
  async getTask(ref: string): Promise<Task> {
    const trimmed = ref.trim()
    if (trimmed === '') throw new ValidationError('A task id is required. Run `jjm tasks list` to see them.')
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
    const task = await this.getTask(ref)
    return this.deps.store.getEvents(task.id, query)
  }

  /** The repositories Jules can work on (those with the Jules GitHub app installed). */
  async listSources(
    options: { pageSize?: number; pageToken?: string; filter?: string } = {},
  ): Promise<Page<SourceView>> {
    const answer = await this.deps.jules.listSources(options)
    return { items: answer.sources.map(sourceView), nextCursor: answer.nextPageToken ?? null }
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

interface NormalisedInput {
  prompt: string
  repository: string
  source: string
  branch: string | undefined
  title: string | undefined
  labels: string[]
  requirePlanApproval: boolean
  automationMode: AutomationMode
  metadata: Record<string, unknown>
}

function normaliseInput(input: TaskInput): NormalisedInput {
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
    throw new ValidationError(
      'A task needs a repository: pass --repo owner/repo (or --source sources/github/owner/repo).',
    )
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
  const title = input.title?.trim()
  return {
    prompt,
    repository: repositoryOf(source),
    source,
    branch,
    title: title === '' ? undefined : title,
    labels,
    requirePlanApproval: input.requirePlanApproval ?? false,
    automationMode: input.automationMode ?? 'AUTOMATION_MODE_UNSPECIFIED',
    metadata: input.metadata ?? {},
  }
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
