/**
 * Creating many tasks from one file (`jjm tasks create --from FILE`): parse
 * and check the file, then create each entry under an idempotency key within
 * a concurrency bound and the Jules request budget. Re-running the same file
 * creates nothing twice, because each entry's key is derived from the file
 * and the entry.
 */
import pLimit from 'p-limit'
import { isMap, isNode, isSeq, LineCounter, type Node, parseDocument } from 'yaml'
import { canonicalHash } from './canonical-json.js'
import {
  IdempotencyConflictError,
  isJjmError,
  JulesConnectionError,
  RateLimitedError,
  ValidationError,
} from './errors.js'
import type { CreateTaskOptions, CreateTaskResult } from './manager.js'
import { type JulesBudget, JulesThrottle, realSleep, type Sleep } from './rate-limit.js'
import { automationModeSchema, taskFileEntrySchema } from './representation.js'
import { checkStorableTaskInput } from './storable.js'
import type { AutomationMode, Task, TaskInput } from './task.js'

/** The free plan runs 3 sessions at once; more at once only earns 429s there. */
export const defaultBulkConcurrency = 3

/** One task of a file, checked for shape (field names and types); its content is checked when created. */
export interface TaskFileEntry {
  /** Position in the file, counting from 1: what messages and the summary call "entry N". */
  index: number
  /** The line the entry starts on, when the file says. */
  line?: number
  input: TaskInput
  /** The entry's own key; otherwise one is derived from the file and the entry. */
  idempotencyKey?: string
}

/** What createMany needs of the JobManager. */
export interface TaskCreator {
  createTaskWithOutcome(input: TaskInput, options: CreateTaskOptions): Promise<CreateTaskResult>
}

export interface BulkFailure {
  index: number
  line?: number
  title?: string
  repository?: string
  code: string
  message: string
}

/** What became of one entry. */
export interface BulkOutcome {
  index: number
  line?: number
  title?: string
  repository?: string
  idempotencyKey: string
  /** `replayed`: an earlier run already created it; nothing new. */
  status: 'created' | 'replayed' | 'failed'
  task?: Task
  error?: { code: string; message: string }
}

export interface BulkResult {
  /** Tasks this run recorded, in file order. */
  created: Task[]
  /** Tasks an earlier run recorded under the same keys, in file order. */
  replayed: Task[]
  failed: BulkFailure[]
  /** Every entry, in file order. */
  outcomes: BulkOutcome[]
}

export interface BulkProgress {
  done: number
  total: number
  outcome: BulkOutcome
}

export interface CreateManyOptions {
  /** Entries created at once; default 3. */
  concurrency?: number
  /** The file the entries come from (best an absolute path): part of every derived key. */
  sourceName: string
  /** After each entry is settled. */
  onProgress?: (progress: BulkProgress) => void
  /**
   * The Jules request budget every create waits in (the core's, shared with
   * the monitor and, through Redis, with other processes). Absent: no
   * ceiling, but a 429 still pauses the entries not yet sent.
   */
  budget?: JulesBudget
  /** Before an entry waits for its key's lock to end after a create that may have started a session. */
  onWait?: (wait: BulkWait) => void
  /** Injectable for tests: how the run waits (a pause, a locked key), and the default budget's clock. */
  sleep?: Sleep
  now?: () => number
}

export interface BulkWait {
  index: number
  delayMs: number
  error: unknown
}

/** How many times an entry looks again after creates that may have started a session (each after its key's lock). */
const maxLooksAfterUncertainCreate = 2

/**
 * Creates every entry, at most `concurrency` at once, each create waiting
 * for the budget first. An entry is sent once: the Jules client already
 * retries what is worth retrying (a 429, a 503, a connection that failed
 * before the request went out) with its own backoff, so a failure that
 * reaches here is final for this run, and the entry is reported failed;
 * running the same file again retries it under the same key, creating
 * nothing twice. The one exception is a create that may have started a
 * session (no answer in time): its key stays locked for a while, and the
 * entry is looked at again once the lock ends, which records the session
 * Jules started, or starts one only if Jules has none. A 429 that reaches here pauses the budget, so the entries
 * not yet sent wait until Jules' Retry-After instead of earning more 429s.
 */
export async function createMany(
  manager: TaskCreator,
  entries: TaskFileEntry[],
  options: CreateManyOptions,
): Promise<BulkResult> {
  const concurrency = options.concurrency ?? defaultBulkConcurrency
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ValidationError(`The concurrency must be a whole number of at least 1, got ${concurrency}.`)
  }
  const sleep = options.sleep ?? realSleep
  const budget =
    options.budget ??
    new JulesThrottle({
      // No ceiling of its own: only the pause after a 429.
      perMinute: Number.MAX_SAFE_INTEGER,
      clock: { now: options.now ?? Date.now },
      sleep,
    })
  const limit = pLimit(concurrency)

  const keys = entries.map((entry) => entry.idempotencyKey ?? derivedKey(options.sourceName, entry))
  const firstWithKey = new Map<string, number>()

  const create = (entry: TaskFileEntry, key: string) =>
    limit(async () => {
      await budget.acquire()
      try {
        const result = await manager.createTaskWithOutcome(entry.input, { idempotencyKey: key })
        budget.succeeded()
        return result
      } catch (error) {
        if (error instanceof RateLimitedError) budget.rateLimited(error.retryAfterSeconds)
        throw error
      }
    })

  async function createOne(entry: TaskFileEntry, key: string, duplicateOf: number | undefined): Promise<BulkOutcome> {
    const base = {
      index: entry.index,
      ...(entry.line === undefined ? {} : { line: entry.line }),
      ...describeEntry(entry),
      idempotencyKey: key,
    }
    const problem =
      duplicateOf === undefined
        ? missingField(entry)
        : new ValidationError(
            `Entry ${entry.index} repeats entry ${duplicateOf} (same idempotency key); give one of them its own idempotencyKey to create both.`,
          )
    if (problem) return { ...base, status: 'failed', error: errorView(problem) }
    for (let lookedAgain = 0; ; lookedAgain++) {
      try {
        const result = await create(entry, key)
        return { ...base, status: result.outcome === 'replayed' ? 'replayed' : 'created', task: result.task }
      } catch (error) {
        // Not a second try at a refused call: once the key's lock ends, the manager records the session
        // Jules may have started, and creates one only if Jules has none.
        const lockedSeconds = lockedKeySeconds(error)
        if (lockedSeconds === undefined || lookedAgain >= maxLooksAfterUncertainCreate) {
          return { ...base, status: 'failed', error: errorView(error) }
        }
        options.onWait?.({ index: entry.index, delayMs: lockedSeconds * 1000, error })
        await sleep(lockedSeconds * 1000)
      }
    }
  }

  let done = 0
  const outcomes = await Promise.all(
    entries.map(async (entry, position) => {
      const key = keys[position] ?? derivedKey(options.sourceName, entry)
      const first = firstWithKey.get(key)
      if (first === undefined) firstWithKey.set(key, entry.index)
      const outcome = await createOne(entry, key, first)
      done += 1
      options.onProgress?.({ done, total: entries.length, outcome })
      return outcome
    }),
  )
  return {
    created: outcomes.flatMap((outcome) => (outcome.status === 'created' && outcome.task ? [outcome.task] : [])),
    replayed: outcomes.flatMap((outcome) => (outcome.status === 'replayed' && outcome.task ? [outcome.task] : [])),
    failed: outcomes.flatMap((outcome) =>
      outcome.status === 'failed'
        ? [
            {
              index: outcome.index,
              ...(outcome.line === undefined ? {} : { line: outcome.line }),
              ...(outcome.title === undefined ? {} : { title: outcome.title }),
              ...(outcome.repository === undefined ? {} : { repository: outcome.repository }),
              code: outcome.error?.code ?? 'JJM_UNEXPECTED',
              message: outcome.error?.message ?? 'unknown error',
            },
          ]
        : [],
    ),
    outcomes,
  }
}

/**
 * The key an entry without its own gets: the same file (by name) with the
 * same entry gives the same key, wherever the entry sits in the file, so a
 * re-run, or a run after adding entries, creates only what is new.
 */
export function derivedKey(sourceName: string, entry: TaskFileEntry): string {
  return `file-${canonicalHash({ file: sourceName, task: entry.input }).slice(0, 48)}`
}

/**
 * How long an entry's key stays locked, when creating it failed in a way
 * that may have started a session anyway (Jules did not answer in time, or
 * the connection broke after the request went out), or while another
 * attempt holds it; undefined for any other failure.
 */
function lockedKeySeconds(error: unknown): number | undefined {
  const uncertain =
    error instanceof IdempotencyConflictError ||
    (error instanceof JulesConnectionError && error.context.sessionMayExist === true)
  if (!uncertain) return undefined
  const seconds = error.context.retryAfterSeconds
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined
}

function errorView(error: unknown): { code: string; message: string } {
  if (isJjmError(error)) return { code: error.code, message: error.message }
  return { code: 'JJM_UNEXPECTED', message: error instanceof Error ? error.message : String(error) }
}

function describeEntry(entry: TaskFileEntry): { title?: string; repository?: string } {
  const { title, prompt, repository, source } = entry.input
  const label = title ?? (typeof prompt === 'string' ? (prompt.trim().split('\n', 1)[0] ?? '') : '')
  const where = repository ?? source
  return {
    ...(label === '' ? {} : { title: label.length > 60 ? `${label.slice(0, 59)}…` : label }),
    ...(where === undefined ? {} : { repository: where }),
  }
}

/** The field every entry needs, said in the file's terms (the manager's messages speak of flags). */
function missingField(entry: TaskFileEntry): ValidationError | undefined {
  const where = entry.line === undefined ? '' : ` (line ${entry.line})`
  if (entry.input.prompt.trim() === '') {
    return new ValidationError(`Entry ${entry.index}${where} has no prompt: say what Jules should do in "prompt".`, {
      context: { entry: entry.index },
    })
  }
  // No repository is allowed: the task runs on none and leaves a change set.
  return undefined
}

// -- the file ---------------------------------------------------------------

// The names come from the file's schema, so that the parser and the published schema cannot disagree.
const entryFields = Object.keys(taskFileEntrySchema.shape)
const automationModes: readonly AutomationMode[] = automationModeSchema.options

/**
 * Reads a task file: YAML or JSON (JSON is YAML), either a list of entries or
 * `{tasks: [...]}`. Entries use the names of `POST /api/v1/tasks`, plus `repo`
 * for `repository` and `idempotencyKey`. A malformed file (syntax, shape, an
 * unknown field, a wrong type) is refused as a whole, every problem listed, so
 * that a typo never half-creates a batch.
 */
export function parseTaskFile(text: string, fileName: string): TaskFileEntry[] {
  const lineCounter = new LineCounter()
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  const syntax = document.errors[0]
  if (syntax) {
    // Positions are offsets unless the parser prettified its message; the line counter turns them into lines.
    const position = syntax.linePos?.[0] ?? lineCounter.linePos(syntax.pos[0])
    const where = position ? `${fileName}:${position.line}:${position.col}` : fileName
    throw new ValidationError(
      `${where}: ${firstLineOf(syntax.message)}${position ? ` (line ${position.line}, column ${position.col})` : ''}`,
      { context: { file: fileName, ...(position ? { line: position.line, column: position.col } : {}) } },
    )
  }
  let list: Node | null = document.contents
  if (isMap(list)) {
    const keys = list.items.map((pair) => String((pair.key as { value?: unknown } | null)?.value ?? pair.key))
    const extra = keys.filter((key) => key !== 'tasks')
    if (extra.length > 0 || !keys.includes('tasks')) {
      throw new ValidationError(
        `${fileName}: expected a list of tasks, or a mapping with only "tasks:" holding that list${extra.length > 0 ? `; found ${extra.map((key) => `"${key}"`).join(', ')}` : ''}.`,
        { context: { file: fileName } },
      )
    }
    list = list.get('tasks', true) as Node | null
  }
  if (!isSeq(list)) {
    throw new ValidationError(`${fileName}: expected a list of tasks (or "tasks:" holding one).`, {
      context: { file: fileName },
    })
  }
  const data = document.toJS({ maxAliasCount: 100 }) as unknown
  const values = (Array.isArray(data) ? data : (data as { tasks: unknown[] }).tasks) ?? []
  if (values.length === 0) throw new ValidationError(`${fileName}: the list of tasks is empty.`)

  const problems: string[] = []
  const entries: TaskFileEntry[] = []
  values.forEach((value, position) => {
    const index = position + 1
    const node = list.items[position]
    const offset = isNode(node) ? node.range?.[0] : undefined
    const line = offset === undefined ? undefined : lineCounter.linePos(offset).line
    const entry = readEntry(value, index, line, problems)
    if (entry) entries.push(entry)
  })
  if (problems.length > 0) {
    const shown = problems.slice(0, 20)
    const more = problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : ''
    throw new ValidationError(`${fileName}: nothing was created, fix these first:\n  ${shown.join('\n  ')}${more}`, {
      context: { file: fileName, problems },
    })
  }
  return entries
}

function readEntry(
  value: unknown,
  index: number,
  line: number | undefined,
  problems: string[],
): TaskFileEntry | undefined {
  const at = `entry ${index}${line === undefined ? '' : ` (line ${line})`}`
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${at}: expected a mapping with at least "prompt" and "repository", got ${kindOf(value)}`)
    return undefined
  }
  const fields = value as Record<string, unknown>
  const before = problems.length
  for (const name of Object.keys(fields)) {
    if (!(entryFields as readonly string[]).includes(name)) {
      problems.push(`${at}: unknown field "${name}" (known: ${entryFields.join(', ')})`)
    }
  }
  const text = (name: string): string | undefined => {
    const field = fields[name]
    if (field === undefined || field === null) return undefined
    if (typeof field === 'string') return field
    problems.push(
      `${at}: "${name}" must be a string, got ${kindOf(field)}${typeof field === 'number' ? ' (quote it)' : ''}`,
    )
    return undefined
  }
  const prompt = text('prompt') ?? ''
  const repository = text('repository')
  const repo = text('repo')
  if (repository !== undefined && repo !== undefined && repository !== repo) {
    problems.push(`${at}: "repo" and "repository" differ; give one of them`)
  }
  const source = text('source')
  const branch = text('branch')
  const title = text('title')
  const idempotencyKey = text('idempotencyKey')
  let labels: string[] | undefined
  const rawLabels = fields.labels
  if (typeof rawLabels === 'string') labels = [rawLabels]
  else if (Array.isArray(rawLabels) && rawLabels.every((label) => typeof label === 'string')) labels = rawLabels
  else if (rawLabels !== undefined && rawLabels !== null) {
    problems.push(`${at}: "labels" must be a list of strings`)
  }
  const requirePlanApproval = fields.requirePlanApproval
  if (requirePlanApproval !== undefined && typeof requirePlanApproval !== 'boolean') {
    problems.push(`${at}: "requirePlanApproval" must be true or false, got ${kindOf(requirePlanApproval)}`)
  }
  const automationMode = fields.automationMode
  if (automationMode !== undefined && !automationModes.includes(automationMode as AutomationMode)) {
    problems.push(`${at}: "automationMode" must be one of ${automationModes.join(', ')}`)
  }
  const metadata = fields.metadata
  if (metadata !== undefined && (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))) {
    problems.push(`${at}: "metadata" must be a mapping`)
  }
  if (idempotencyKey !== undefined && idempotencyKey.trim() === '') {
    problems.push(`${at}: "idempotencyKey" is empty`)
  }
  if (problems.length > before) return undefined
  try {
    // Refused here, with the entry's line, so that nothing in the file reaches Jules before it is fixed.
    checkStorableTaskInput({ prompt, title, repository, source, branch, metadata })
  } catch (error) {
    problems.push(`${at}: ${error instanceof Error ? error.message : String(error)}`)
    return undefined
  }
  const repositoryName = repository ?? repo
  const input: TaskInput = {
    prompt,
    ...(repositoryName === undefined ? {} : { repository: repositoryName }),
    ...(source === undefined ? {} : { source }),
    ...(branch === undefined ? {} : { branch }),
    ...(title === undefined ? {} : { title }),
    ...(labels === undefined ? {} : { labels }),
    ...(typeof requirePlanApproval === 'boolean' ? { requirePlanApproval } : {}),
    ...(automationMode === undefined ? {} : { automationMode: automationMode as AutomationMode }),
    ...(metadata === undefined ? {} : { metadata: metadata as Record<string, unknown> }),
  }
  return {
    index,
    ...(line === undefined ? {} : { line }),
    input,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  }
}

function kindOf(value: unknown): string {
  if (value === null) return 'nothing'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return `${typeof value} ${JSON.stringify(value)}`
}

function firstLineOf(text: string): string {
  return text.split('\n', 1)[0] ?? text
}
