/**
 * The Jules simulator: an in-process model of the Jules v1alpha API that the
 * `sim` adapter, `jjm sim serve` and every test use instead of Google.
 *
 * Sessions follow a script on the clock. Nothing runs in the background:
 * every read (get, list, activities) computes what should have happened by
 * `clock.now()`, appends those activities with the time they were due (not
 * the time of the read) and persists the record. Separate processes sharing
 * one SimStateStore and one clock therefore see the same sessions progress.
 *
 * The default life, in fractions of `runSeconds` after creation:
 *   0.10 PLANNING
 *   0.25 planGenerated (AWAITING_PLAN_APPROVAL when requirePlanApproval)
 *   0.28 planApproved → IN_PROGRESS (waits for approvePlan, or for
 *        autoApproveSeconds, when approval is required; the rest of the
 *        script then runs relative to the approval time)
 *   0.30 agentMessaged
 *   0.40, 0.65, 0.80 progressUpdated with a bashOutput artifact
 *   0.90 progressUpdated with a changeSet artifact (a small git patch)
 *   1.00 sessionCompleted → COMPLETED, with the change set in `outputs` (and a
 *        pullRequest output too on a repository with AUTO_CREATE_PR)
 *
 * A session created without a sourceContext works on no repository, as
 * Jules' "repoless" sessions do: same life, a change set and no pull request.
 *
 * Scenarios, chosen by a marker anywhere in the prompt or by setScenario():
 *   [sim:fail]      in progress, then FAILED with sessionFailed{reason} at 0.60
 *   [sim:feedback]  at 0.50 the agent asks a question → AWAITING_USER_FEEDBACK
 *                   until sendMessage, then continues to completion
 *   [sim:pause]     at 0.50 → PAUSED until sendMessage, then continues
 *   [sim:slow]      every delay (including auto-approval) is 5× longer;
 *                   combines with the others
 *   [sim:late]      activities.list answers 404 for the first 5 clock seconds
 *                   (as Jules does just after a create); combines
 *   [sim:linger]    stays IN_PROGRESS (no outputs) for a tenth of the run time
 *                   after its sessionCompleted activity, as Jules sometimes
 *                   does; combines
 * A scenario set on a running session takes effect from the point the
 * session has reached.
 *
 * Everything the agent writes says "[simulated]", so a simulated session is
 * never mistaken for real work.
 */
import { createHash, randomBytes } from 'node:crypto'
import type {
  Activity,
  Artifact,
  ChangeSet,
  CreateSessionRequest,
  ListActivitiesRequest,
  ListActivitiesResponse,
  ListSessionsRequest,
  ListSessionsResponse,
  ListSourcesRequest,
  ListSourcesResponse,
  PageRequest,
  Session,
  Source,
} from '../core/jules/client.js'
import { type GoogleErrorBody, googleErrorBody, googleStatusByHttp } from '../core/jules/google-errors.js'
import type { Clock, SimSessionRecord, SimStateStore } from '../core/ports.js'

/** An error answer of the simulated API, in Google's terms. */
export class SimApiError extends Error {
  /** HTTP status, e.g. 404. */
  readonly httpStatus: number
  /** Google status string, e.g. `NOT_FOUND`. */
  readonly status: string

  /** Typed details of Google's error body, e.g. a `google.rpc.BadRequest`. */
  readonly details: Array<Record<string, unknown>> | undefined

  constructor(httpStatus: number, status: string, message: string, details?: Array<Record<string, unknown>>) {
    super(message)
    this.name = 'SimApiError'
    this.httpStatus = httpStatus
    this.status = status
    this.details = details
  }

  /** The Google JSON error body for this error. */
  toBody(): GoogleErrorBody {
    return googleErrorBody(this.httpStatus, this.message, this.status, this.details)
  }
}

/** The API methods, named as Google names them; faults are aimed at these. */
export type SimMethod =
  | 'sources.list'
  | 'sources.get'
  | 'sessions.create'
  | 'sessions.get'
  | 'sessions.list'
  | 'sessions.sendMessage'
  | 'sessions.approvePlan'
  | 'sessions.activities.list'
  | 'sessions.activities.get'
  | 'sessions.archive'
  | 'sessions.unarchive'
  | 'sessions.delete'

/** Scenario names accepted by setScenario() (and the `[sim:…]` prompt markers). */
export type SimScenario = 'default' | 'fail' | 'feedback' | 'pause' | 'slow'

export const simScenarios: readonly SimScenario[] = ['default', 'fail', 'feedback', 'pause', 'slow']

/** A fault to inject into the next matching call(s). */
export interface SimFaultOptions {
  /** HTTP status to answer with; below 400 the call succeeds (use with delayMs or malformed). */
  status: number
  /** How many calls it hits; default 1. */
  count?: number
  /** Sent as `Retry-After` (and passed to RateLimitedError by the sim adapter). */
  retryAfterSeconds?: number
  /** Only calls of these methods, e.g. `['sessions.create']`; default all. */
  methods?: string[]
  /** Real milliseconds to wait before answering. */
  delayMs?: number
  /** Answer with a body that is not valid JSON. */
  malformed?: boolean
}

/** What a transport must do to one call; returned by takeFault(). */
export interface SimFault {
  status: number
  retryAfterSeconds?: number
  delayMs?: number
  malformed?: boolean
}

export interface SimulatorOptions {
  store: SimStateStore
  clock: Clock
  /** Clock seconds a default session takes from QUEUED to COMPLETED; default 20. */
  runSeconds?: number
  /** A plan left waiting is approved after this many seconds, as Jules does; 0 disables; default 600. */
  autoApproveSeconds?: number
  /** The repositories the simulated Jules app is installed on; default acme/api, acme/web, acme/infra, acme/mobile. */
  sources?: Source[]
  /** Session ids; default random 20-digit numbers like Jules'. */
  idGenerator?: () => string
  /**
   * Clock seconds after a create during which activities.list answers 404,
   * as Jules does; default 0 (only `[sim:late]` sessions, for 5 s).
   */
  activitiesNotFoundSeconds?: number
}

type ScriptName = 'default' | 'fail' | 'feedback' | 'pause'

/** What the simulator persists per session (SimSessionRecord.state). */
type SimSessionState = {
  v: 1
  id: string
  prompt: string
  /** `''` for a session on no repository. */
  source: string
  startingBranch: string
  workingBranch?: string
  environmentVariablesEnabled?: boolean
  title: string
  createMs: number
  updateMs: number
  state: string
  requirePlanApproval: boolean
  automationMode: string
  script: ScriptName
  slow: boolean
  /** Clock ms a default session takes; fixed at creation so every process agrees. */
  runMs: number
  autoApproveMs: number
  /** Script fraction of the last step taken (0 before the first). */
  position: number
  /** A step at fraction f is due at anchorMs + f × run time; moves when a wait ends. */
  anchorMs: number
  lastStepMs: number
  planId: string
  activities: Activity[]
  pullRequest?: { url: string; title: string; description: string; baseRef?: string; headRef?: string }
  changeSet?: ChangeSet
  archived?: boolean
  /** A tombstone: sessions.delete keeps the record (the store has no delete) and answers 404 from then on. */
  deleted?: boolean
  /** Clock ms after createMs during which activities.list answers 404. */
  activitiesHiddenMs?: number
  /** Clock ms the session still shows IN_PROGRESS after its sessionCompleted activity. */
  lingerMs?: number
  completedMs?: number
}

type Gate = 'approval' | 'message'

interface Step {
  /** Fraction of the run time; distinct and increasing within a script, shared between scripts. */
  at: number
  gate?: Gate
  run(session: SimSessionState, at: number, originator: string): void
}

const terminalStates = new Set(['COMPLETED', 'FAILED'])
const slowFactor = 5
const maxPageSize = 100
const lateActivitiesMs = 5000
const lingerFraction = 0.1

const defaultSources: Source[] = [
  source('acme', 'api', false, ['main', 'develop']),
  source('acme', 'web', false, ['main']),
  source('acme', 'infra', true, ['main', 'staging']),
  source('acme', 'mobile', true, ['trunk']),
]

function source(owner: string, repo: string, isPrivate: boolean, branches: string[]): Source {
  return {
    name: `sources/github/${owner}/${repo}`,
    id: `github/${owner}/${repo}`,
    githubRepo: {
      owner,
      repo,
      isPrivate,
      defaultBranch: { displayName: branches[0] ?? 'main' },
      branches: branches.map((displayName) => ({ displayName })),
    },
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}

function digest(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex')
}

function defaultSessionId(): string {
  return BigInt(`0x${randomBytes(8).toString('hex')}`)
    .toString()
    .padStart(20, '1')
}

function invalid(message: string): SimApiError {
  return new SimApiError(400, 'INVALID_ARGUMENT', message)
}

function notFound(message: string): SimApiError {
  return new SimApiError(404, 'NOT_FOUND', message)
}

function failedPrecondition(message: string): SimApiError {
  return new SimApiError(400, 'FAILED_PRECONDITION', message)
}

// ---------------------------------------------------------------------------
// Scripts

function addActivity(
  session: SimSessionState,
  at: number,
  originator: string,
  fields: { description?: string; artifacts?: Artifact[] } & Partial<Activity>,
): void {
  const seq = session.activities.length + 1
  // Derived, not random: two processes advancing the same record write the same ids.
  const id = digest(session.id, 'activity', String(seq)).slice(0, 16)
  const { description, artifacts, ...kind } = fields
  // Strictly increasing times, as Jules' (finer than a millisecond) are: clients
  // such as Google's SDK page and de-duplicate by createTime.
  const previous = session.activities.at(-1)
  const previousMs = previous === undefined ? Number.NEGATIVE_INFINITY : Date.parse(previous.createTime)
  const activity: Activity = {
    name: `sessions/${session.id}/activities/${id}`,
    id,
    ...(description === undefined ? {} : { description }),
    createTime: iso(Math.max(at, previousMs + 1)),
    originator,
    ...(artifacts === undefined ? {} : { artifacts }),
    ...kind,
  }
  session.activities.push(activity)
}

function bashStep(at: number, title: string, command: string, output: string, exitCode = 0): Step {
  return {
    at,
    run(session, time) {
      addActivity(session, time, 'agent', {
        description: `[simulated] ${title}`,
        artifacts: [{ bashOutput: { command, output, exitCode } }],
        progressUpdated: { title, description: `[simulated] Ran \`${command}\`.` },
      })
    },
  }
}

function planSteps(session: SimSessionState): Array<{ id: string; title: string; description: string; index: number }> {
  const titles = [
    session.source === ''
      ? ['Read the task', 'Work from the prompt alone: this session has no repository.']
      : [
          'Explore the repository',
          `Read the code of ${session.source.slice('sources/github/'.length)} that the task touches.`,
        ],
    ['Make the change', `Implement: ${session.title}`],
    ['Test the change', 'Add or update tests and run the test suite.'],
  ] as const
  return titles.map(([title, description], index) => ({
    id: digest(session.planId, String(index)).slice(0, 12),
    title,
    description,
    index,
  }))
}

function gitPatch(session: SimSessionState): string {
  const slug = session.title.replace(/[^A-Za-z0-9 ]/g, '').slice(0, 50) || 'the task'
  return [
    'diff --git a/README.md b/README.md',
    'index 3b18e51..a1c2d3e 100644',
    '--- a/README.md',
    '+++ b/README.md',
    '@@ -1,3 +1,4 @@',
    ' # Project',
    ' ',
    ` Jules (simulated) worked on: ${slug}`,
    '+Updated by a simulated Jules session.',
    'diff --git a/src/index.ts b/src/index.ts',
    'index 8f4e2a1..c0ffee1 100644',
    '--- a/src/index.ts',
    '+++ b/src/index.ts',
    '@@ -1,3 +1,4 @@',
    ' export function main(): void {',
    "-  console.log('hello')",
    '+  // [simulated] change',
    "+  console.log('hello, world')",
    ' }',
    'diff --git a/test/index.test.ts b/test/index.test.ts',
    'new file mode 100644',
    'index 0000000..5e6f7a8',
    '--- /dev/null',
    '+++ b/test/index.test.ts',
    '@@ -0,0 +1,3 @@',
    "+import { main } from '../src/index.js'",
    '+',
    '+main() // [simulated] smoke test',
    '',
  ].join('\n')
}

const commonSteps: Step[] = [
  {
    at: 0.1,
    run(session) {
      session.state = 'PLANNING'
    },
  },
  {
    at: 0.25,
    run(session, time) {
      addActivity(session, time, 'agent', {
        description: '[simulated] Plan generated',
        planGenerated: { plan: { id: session.planId, steps: planSteps(session), createTime: iso(time) } },
      })
      if (session.requirePlanApproval) session.state = 'AWAITING_PLAN_APPROVAL'
    },
  },
  {
    at: 0.28,
    gate: 'approval',
    run(session, time, originator) {
      addActivity(session, time, originator, {
        description: 'Plan approved',
        planApproved: { planId: session.planId },
      })
      session.state = 'IN_PROGRESS'
    },
  },
  {
    at: 0.3,
    run(session, time) {
      addActivity(session, time, 'agent', {
        agentMessaged: {
          agentMessage: `[simulated] I have a plan with 3 steps and I am starting on "${session.title}".`,
        },
      })
    },
  },
  bashStep(0.4, 'Installed dependencies', 'npm ci', 'added 312 packages in 4s\n'),
]

const finishSteps: Step[] = [
  bashStep(0.65, 'Ran the tests', 'npm test', '# tests 42\n# pass 42\n# fail 0\n'),
  bashStep(0.8, 'Ran the linter', 'npm run lint', 'Checked 57 files. No fixes applied.\n'),
  {
    at: 0.9,
    run(session, time) {
      addActivity(session, time, 'agent', {
        description: '[simulated] Code changes ready',
        artifacts: [{ changeSet: changeSetOf(session) }],
        progressUpdated: { title: 'Code changes ready', description: '[simulated] 3 files changed.' },
      })
    },
  },
  {
    at: 1,
    run(session, time) {
      session.changeSet = changeSetOf(session)
      if (session.automationMode === 'AUTO_CREATE_PR' && session.source !== '') {
        const repository = session.source.slice('sources/github/'.length)
        const number = 100 + (Number.parseInt(digest(session.id, 'pr').slice(0, 6), 16) % 900)
        session.pullRequest = {
          url: `https://github.simulated.invalid/${repository}/pull/${number}`,
          title: session.title,
          description: `[simulated] This pull request was made by the jjm Jules simulator, not by Jules.\n\nTask: ${session.prompt}`,
          baseRef: session.startingBranch,
          headRef: workingBranchOf(session),
        }
      }
      addActivity(session, time, 'system', { description: 'Session completed', sessionCompleted: {} })
      session.state = 'COMPLETED'
      session.completedMs = time
    },
  },
]

/** The branch the agent works on: the one asked for, or one named after the session. */
function workingBranchOf(session: SimSessionState): string {
  return session.workingBranch ?? `jules/simulated-${session.id.slice(-8)}`
}

function changeSetOf(session: SimSessionState): ChangeSet {
  return {
    ...(session.source === '' ? {} : { source: session.source }),
    gitPatch: {
      unidiffPatch: gitPatch(session),
      baseCommitId: digest(session.id, 'base').slice(0, 40),
      suggestedCommitMessage: `${session.title}\n\n[simulated] Change made by a simulated Jules session.`,
    },
  }
}

function resumeStep(): Step {
  return {
    at: 0.55,
    gate: 'message',
    run(session, time) {
      // Jules answers the person before it goes on (Google's SDK `ask()` waits for this reply).
      if (session.state === 'AWAITING_USER_FEEDBACK') {
        addActivity(session, time, 'agent', {
          agentMessaged: { agentMessage: '[simulated] Thanks for the answer; I will go on with that in mind.' },
        })
      }
      addActivity(session, time, 'agent', {
        description: '[simulated] Resumed',
        progressUpdated: { title: 'Resumed', description: '[simulated] Continuing with the task.' },
      })
      session.state = 'IN_PROGRESS'
    },
  }
}

const scripts: Record<ScriptName, Step[]> = {
  default: [...commonSteps, ...finishSteps],
  fail: [
    ...commonSteps,
    bashStep(0.5, 'Ran the tests', 'npm test', '# tests 42\n# pass 39\n# fail 3\n', 1),
    {
      at: 0.6,
      run(session, time) {
        addActivity(session, time, 'system', {
          description: 'Session failed',
          sessionFailed: { reason: '[simulated] The test suite kept failing after 3 attempts.' },
        })
        session.state = 'FAILED'
      },
    },
  ],
  feedback: [
    ...commonSteps,
    {
      at: 0.5,
      run(session, time) {
        addActivity(session, time, 'agent', {
          agentMessaged: {
            agentMessage: '[simulated] Should I also update the documentation, or only the code? Please reply.',
          },
        })
        session.state = 'AWAITING_USER_FEEDBACK'
      },
    },
    resumeStep(),
    ...finishSteps,
  ],
  pause: [
    ...commonSteps,
    {
      at: 0.5,
      run(session, time) {
        addActivity(session, time, 'system', {
          description: '[simulated] Paused',
          progressUpdated: { title: 'Paused', description: '[simulated] The session is paused until you message it.' },
        })
        session.state = 'PAUSED'
      },
    },
    resumeStep(),
    ...finishSteps,
  ],
}

/** Reads `[sim:…]` markers; the last script marker wins, `slow`, `late` and `linger` combine. */
function scenarioOfPrompt(prompt: string): { script: ScriptName; slow: boolean; late: boolean; linger: boolean } {
  let script: ScriptName = 'default'
  let slow = false
  let late = false
  let linger = false
  for (const match of prompt.matchAll(/\[sim:([a-z]+)\]/gi)) {
    const name = match[1]?.toLowerCase()
    if (name === 'slow') slow = true
    else if (name === 'late') late = true
    else if (name === 'linger') linger = true
    else if (name === 'fail' || name === 'feedback' || name === 'pause') script = name
  }
  return { script, slow, late, linger }
}

function titleOfPrompt(prompt: string): string {
  const line =
    prompt
      .replace(/\[sim:[a-z0-9]+\]/gi, '')
      .split('\n')
      .map((text) => text.trim())
      .find((text) => text.length > 0) ?? ''
  const words = line.replace(/\s+/g, ' ')
  if (words === '') return 'Simulated task'
  return words.length > 60 ? `${words.slice(0, 59).trimEnd()}…` : words
}

// ---------------------------------------------------------------------------
// Pages and filters

function encodePageToken(offset: number): string {
  return Buffer.from(`offset:${offset}`).toString('base64url')
}

function decodePageToken(token: string | undefined): number {
  if (token === undefined || token === '') return 0
  const match = /^offset:(\d{1,9})$/.exec(Buffer.from(token, 'base64url').toString('utf8'))
  if (!match?.[1]) throw invalid(`Invalid page token "${token}".`)
  return Number(match[1])
}

function pageSizeOf(value: number | undefined, fallback: number): number {
  if (value === undefined || value === 0) return fallback
  if (!Number.isInteger(value) || value < 0) throw invalid(`pageSize must be a non-negative integer, got ${value}.`)
  return Math.min(value, maxPageSize)
}

function paginate<T>(items: T[], request: PageRequest, fallback: number): { items: T[]; nextPageToken?: string } {
  const size = pageSizeOf(request.pageSize, fallback)
  const offset = decodePageToken(request.pageToken)
  const page = items.slice(offset, offset + size)
  const next = offset + size
  return next < items.length ? { items: page, nextPageToken: encodePageToken(next) } : { items: page }
}

/**
 * sources.list's filter: `name=sources/a OR name=sources/b` (spaces and
 * quotes optional); anything else is refused, as Jules refuses what it does not parse.
 */
function sourceFilter(filter: string | undefined): (source: Source) => boolean {
  if (filter === undefined || filter.trim() === '') return () => true
  const names = new Set<string>()
  for (const term of filter.split(/\s+OR\s+/i)) {
    const match = /^\s*name\s*=\s*"?([^"\s]+)"?\s*$/.exec(term)
    const name = match?.[1] === undefined ? undefined : normaliseSourceName(match[1])
    if (name === undefined) {
      throw invalid(
        `Unsupported filter "${filter}"; the simulator understands name=sources/github/{owner}/{repo}, joined by OR.`,
      )
    }
    names.add(name)
  }
  return (source) => names.has(source.name)
}

/** sessions.list's filter: `archived = true` or `archived = false`; none hides archived sessions. */
function archivedWanted(filter: string | undefined): boolean {
  if (filter === undefined || filter.trim() === '') return false
  const match = /^\s*archived\s*=\s*(true|false)\s*$/i.exec(filter)
  if (!match?.[1]) throw invalid(`Unsupported filter "${filter}"; the simulator understands archived = true.`)
  return match[1].toLowerCase() === 'true'
}

/** Supports `create_time>"<RFC 3339>"` (and `>=`, with or without quotes); anything else is refused. */
function activityFilter(filter: string | undefined): (activity: Activity) => boolean {
  if (filter === undefined || filter.trim() === '') return () => true
  const match = /^\s*create_?time\s*(>=|>)\s*"?([^"\s]+)"?\s*$/i.exec(filter)
  const at = match?.[2] === undefined ? Number.NaN : Date.parse(match[2])
  if (!match || Number.isNaN(at)) {
    throw invalid(`Unsupported filter "${filter}"; the simulator understands create_time>"<RFC 3339 timestamp>".`)
  }
  const inclusive = match[1] === '>='
  return (activity) => {
    const time = Date.parse(activity.createTime)
    return inclusive ? time >= at : time > at
  }
}

// ---------------------------------------------------------------------------
// Persisted state

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isStoredSession(value: Record<string, unknown>): value is SimSessionState {
  return (
    value.v === 1 &&
    typeof value.id === 'string' &&
    typeof value.prompt === 'string' &&
    typeof value.source === 'string' &&
    typeof value.state === 'string' &&
    typeof value.createMs === 'number' &&
    typeof value.anchorMs === 'number' &&
    typeof value.position === 'number' &&
    typeof value.runMs === 'number' &&
    (value.script === 'default' ||
      value.script === 'fail' ||
      value.script === 'feedback' ||
      value.script === 'pause') &&
    Array.isArray(value.activities)
  )
}

function sessionIdOfRef(ref: string): string {
  const id = ref.startsWith('sessions/') ? ref.slice('sessions/'.length) : ref
  if (!/^[A-Za-z0-9_-]+$/.test(id)) throw invalid(`"${ref}" is not a session name; expected sessions/{id}.`)
  return id
}

/** `sources/github/o/r`, `sources/github-o-r`, `github/o/r` → `sources/github/o/r` (undefined when malformed). */
function normaliseSourceName(ref: string): string | undefined {
  const body = ref.startsWith('sources/') ? ref.slice('sources/'.length) : ref
  const slash = /^github\/([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+)$/.exec(body)
  if (slash) return `sources/github/${slash[1]}/${slash[2]}`
  const dash = /^github-([A-Za-z0-9]+)-([A-Za-z0-9._-]+)$/.exec(body)
  if (dash) return `sources/github/${dash[1]}/${dash[2]}`
  return undefined
}

/**
 * The simulated Jules API. Methods mirror the REST methods and throw
 * SimApiError for the answers Jules gives as errors.
 */
export class Simulator {
  private readonly store: SimStateStore
  private readonly clock: Clock
  private readonly runMs: number
  private readonly autoApproveMs: number
  private readonly sources: Source[]
  private readonly newId: () => string
  private readonly activitiesNotFoundMs: number
  private readonly faults: Array<SimFaultOptions & { remaining: number }> = []
  /** Serialises read-modify-write per session within this process. */
  private readonly locks = new Map<string, Promise<void>>()

  constructor(options: SimulatorOptions) {
    this.store = options.store
    this.clock = options.clock
    this.runMs = Math.max(0, options.runSeconds ?? 20) * 1000
    this.autoApproveMs = Math.max(0, options.autoApproveSeconds ?? 600) * 1000
    this.sources = options.sources ?? defaultSources
    this.newId = options.idGenerator ?? defaultSessionId
    this.activitiesNotFoundMs = Math.max(0, options.activitiesNotFoundSeconds ?? 0) * 1000
  }

  /** The clock the simulator reads; exposed so transports can stamp answers. */
  now(): number {
    return this.clock.now()
  }

  // -- sources --------------------------------------------------------------

  async listSources(request: ListSourcesRequest = {}): Promise<ListSourcesResponse> {
    const page = paginate(this.sources.filter(sourceFilter(request.filter)), request, 30)
    return {
      sources: structuredClone(page.items),
      ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
    }
  }

  async getSource(name: string): Promise<Source> {
    const normalised = normaliseSourceName(name)
    if (normalised === undefined)
      throw invalid(`"${name}" is not a source name; expected sources/github/{owner}/{repo}.`)
    const found = this.sources.find((candidate) => candidate.name === normalised)
    if (!found) throw notFound(`Source ${normalised} not found, or the Jules GitHub app is not installed on it.`)
    return structuredClone(found)
  }

  // -- sessions -------------------------------------------------------------

  /**
   * sessions.create. `request` is a CreateSessionRequest; it is validated the
   * way Jules validates it, since over HTTP it is whatever the client sent.
   */
  async createSession(request: CreateSessionRequest | Record<string, unknown>): Promise<Session> {
    const input: Record<string, unknown> = { ...request }
    const prompt = input.prompt
    if (typeof prompt !== 'string' || prompt.trim() === '') throw invalid('prompt is required and must not be empty.')
    const context = input.sourceContext
    let sourceName = ''
    let found: Source | undefined
    if (context !== undefined) {
      if (!isRecord(context) || typeof context.source !== 'string' || context.source === '') {
        throw invalid('sourceContext.source is required when sourceContext is given, e.g. sources/github/acme/api.')
      }
      const normalised = normaliseSourceName(context.source)
      if (normalised === undefined) {
        throw invalid(
          `sourceContext.source "${context.source}" is not a source name; expected sources/github/{owner}/{repo}.`,
        )
      }
      found = this.sources.find((candidate) => candidate.name === normalised)
      if (!found) throw notFound(`Source ${normalised} not found, or the Jules GitHub app is not installed on it.`)
      sourceName = normalised
    }
    const repoContext = isRecord(context) ? context.githubRepoContext : undefined
    if (repoContext !== undefined && !isRecord(repoContext))
      throw invalid('sourceContext.githubRepoContext must be an object.')
    const branch = repoContext?.startingBranch
    if (branch !== undefined && (typeof branch !== 'string' || branch === '')) {
      throw invalid('sourceContext.githubRepoContext.startingBranch must be a non-empty string.')
    }
    const workingBranch = isRecord(context) ? context.workingBranch : undefined
    if (workingBranch !== undefined && (typeof workingBranch !== 'string' || workingBranch === '')) {
      throw invalid('sourceContext.workingBranch must be a non-empty string.')
    }
    const environmentVariablesEnabled = isRecord(context) ? context.environmentVariablesEnabled : undefined
    if (environmentVariablesEnabled !== undefined && typeof environmentVariablesEnabled !== 'boolean') {
      throw invalid('sourceContext.environmentVariablesEnabled must be a boolean.')
    }
    const title = input.title
    if (title !== undefined && typeof title !== 'string') throw invalid('title must be a string.')
    const requirePlanApproval = input.requirePlanApproval
    if (requirePlanApproval !== undefined && typeof requirePlanApproval !== 'boolean') {
      throw invalid('requirePlanApproval must be a boolean.')
    }
    const automationMode = input.automationMode ?? 'AUTOMATION_MODE_UNSPECIFIED'
    if (automationMode !== 'AUTOMATION_MODE_UNSPECIFIED' && automationMode !== 'AUTO_CREATE_PR') {
      throw invalid(
        `automationMode must be AUTOMATION_MODE_UNSPECIFIED or AUTO_CREATE_PR, got ${String(automationMode)}.`,
      )
    }

    let id = this.newId()
    for (let attempt = 0; (await this.store.get(id)) !== undefined; attempt++) {
      if (attempt >= 5) throw new SimApiError(409, 'ALREADY_EXISTS', `Session id ${id} already exists.`)
      id = this.newId()
    }
    const now = this.clock.now()
    const scenario = scenarioOfPrompt(prompt)
    const session: SimSessionState = {
      v: 1,
      id,
      prompt,
      source: sourceName,
      startingBranch:
        typeof branch === 'string' ? branch : (found?.githubRepo?.defaultBranch?.displayName ?? (found ? 'main' : '')),
      ...(typeof workingBranch === 'string' ? { workingBranch } : {}),
      ...(typeof environmentVariablesEnabled === 'boolean' ? { environmentVariablesEnabled } : {}),
      title: typeof title === 'string' && title.trim() !== '' ? title : titleOfPrompt(prompt),
      createMs: now,
      updateMs: now,
      state: 'QUEUED',
      requirePlanApproval: requirePlanApproval === true,
      automationMode,
      script: scenario.script,
      slow: scenario.slow,
      runMs: this.runMs,
      autoApproveMs: this.autoApproveMs,
      position: 0,
      anchorMs: now,
      lastStepMs: now,
      planId: digest(id, 'plan').slice(0, 16),
      activities: [],
      ...(scenario.late || this.activitiesNotFoundMs > 0
        ? { activitiesHiddenMs: Math.max(this.activitiesNotFoundMs, scenario.late ? lateActivitiesMs : 0) }
        : {}),
      ...(scenario.linger ? { lingerMs: Math.round(this.runMs * lingerFraction) } : {}),
    }
    await this.save(session)
    return this.toSession(session)
  }

  async getSession(name: string): Promise<Session> {
    return this.toSession(await this.advanced(sessionIdOfRef(name)))
  }

  /** Newest first; archived sessions only when the filter asks for them (`archived = true`). */
  async listSessions(request: ListSessionsRequest = {}): Promise<ListSessionsResponse> {
    const archived = archivedWanted(request.filter)
    const records = (await this.store.list())
      .reverse()
      .filter((record) => record.state.deleted !== true && (record.state.archived === true) === archived)
    const page = paginate(records, request, 30)
    const sessions: Session[] = []
    for (const record of page.items) sessions.push(this.toSession(await this.advanced(record.id)))
    return { sessions, ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) }
  }

  /**
   * Activities in creation order; `filter` supports `create_time>"<RFC 3339>"`.
   * Just after a create Jules may answer 404 here for a while; so does the simulator (see `[sim:late]`).
   */
  async listActivities(name: string, request: ListActivitiesRequest = {}): Promise<ListActivitiesResponse> {
    const session = await this.advanced(sessionIdOfRef(name))
    this.refuseEarlyActivities(session)
    const keep = activityFilter(request.filter)
    const page = paginate(session.activities.filter(keep), request, 50)
    return { activities: page.items, ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) }
  }

  /** sessions.activities.get: `sessions/{s}/activities/{a}`. */
  async getActivity(name: string): Promise<Activity> {
    const match = /^(?:sessions\/)?([^/]+)\/activities\/([^/]+)$/.exec(name)
    if (!match?.[1] || !match[2])
      throw invalid(`"${name}" is not an activity name; expected sessions/{s}/activities/{a}.`)
    const session = await this.advanced(sessionIdOfRef(match[1]))
    this.refuseEarlyActivities(session)
    const activity = session.activities.find((candidate) => candidate.id === match[2])
    if (!activity) throw notFound(`Activity ${name} not found.`)
    return activity
  }

  /**
   * sessions.sendMessage: records a userMessaged activity. A session waiting
   * for feedback or paused resumes; otherwise the agent acknowledges.
   */
  async sendMessage(name: string, prompt: string): Promise<void> {
    if (typeof prompt !== 'string' || prompt.trim() === '') throw invalid('prompt is required and must not be empty.')
    const id = sessionIdOfRef(name)
    await this.exclusive(id, async () => {
      const session = await this.load(id)
      const now = this.clock.now()
      this.advance(session, now)
      if (terminalStates.has(session.state)) {
        await this.save(session)
        throw failedPrecondition(`Session ${id} is ${session.state}; it no longer accepts messages.`)
      }
      addActivity(session, now, 'user', { userMessaged: { userMessage: prompt } })
      session.updateMs = now
      const next = this.nextStep(session)
      if (next?.gate === 'message') {
        this.take(session, next, now, 'agent')
      } else {
        addActivity(session, now, 'agent', {
          agentMessaged: { agentMessage: '[simulated] Thanks, I will take that into account.' },
        })
      }
      await this.save(session)
    })
  }

  /** sessions.approvePlan: only in AWAITING_PLAN_APPROVAL. */
  async approvePlan(name: string): Promise<void> {
    const id = sessionIdOfRef(name)
    await this.exclusive(id, async () => {
      const session = await this.load(id)
      const now = this.clock.now()
      this.advance(session, now)
      const next = this.nextStep(session)
      if (session.state !== 'AWAITING_PLAN_APPROVAL' || next?.gate !== 'approval') {
        await this.save(session)
        throw failedPrecondition(
          `Session ${id} is ${session.state}; only a session in AWAITING_PLAN_APPROVAL can be approved.`,
        )
      }
      this.take(session, next, now, 'user')
      this.advance(session, now)
      await this.save(session)
    })
  }

  /** sessions.archive: hides the session from sessions.list; archiving twice is harmless. */
  async archiveSession(name: string): Promise<void> {
    await this.setArchived(name, true)
  }

  /** sessions.unarchive: shows the session in sessions.list again. */
  async unarchiveSession(name: string): Promise<void> {
    await this.setArchived(name, false)
  }

  /** sessions.delete: from then on the session answers 404 everywhere. */
  async deleteSession(name: string): Promise<void> {
    const id = sessionIdOfRef(name)
    await this.exclusive(id, async () => {
      const session = await this.load(id)
      session.deleted = true
      session.updateMs = this.clock.now()
      await this.save(session)
    })
  }

  private async setArchived(name: string, archived: boolean): Promise<void> {
    const id = sessionIdOfRef(name)
    await this.exclusive(id, async () => {
      const session = await this.load(id)
      this.advance(session, this.clock.now())
      session.archived = archived
      await this.save(session)
    })
  }

  private refuseEarlyActivities(session: SimSessionState): void {
    const hiddenMs = session.activitiesHiddenMs ?? 0
    if (hiddenMs > 0 && this.clock.now() < session.createMs + hiddenMs) {
      throw notFound(`Requested entity was not found.`)
    }
  }

  /**
   * The session as sessions.get answers it. A `[sim:linger]` session shows
   * IN_PROGRESS, without outputs, for a while after it has completed.
   */
  private toSession(session: SimSessionState): Session {
    const lingering =
      session.state === 'COMPLETED' &&
      session.completedMs !== undefined &&
      this.clock.now() < session.completedMs + (session.lingerMs ?? 0)
    const outputs = [
      ...(session.pullRequest ? [{ pullRequest: { ...session.pullRequest } }] : []),
      ...(session.changeSet ? [{ changeSet: structuredClone(session.changeSet) }] : []),
    ]
    return {
      name: `sessions/${session.id}`,
      id: session.id,
      prompt: session.prompt,
      ...(session.source === ''
        ? {}
        : {
            sourceContext: {
              source: session.source,
              githubRepoContext: { startingBranch: session.startingBranch },
              ...(session.workingBranch === undefined ? {} : { workingBranch: session.workingBranch }),
              ...(session.environmentVariablesEnabled === undefined
                ? {}
                : { environmentVariablesEnabled: session.environmentVariablesEnabled }),
            },
          }),
      title: session.title,
      state: lingering ? 'IN_PROGRESS' : session.state,
      // .invalid is reserved (RFC 2606): a simulated link can never be mistaken for, or reach, a real one.
      url: `https://jules.simulated.invalid/session/${session.id}`,
      createTime: iso(session.createMs),
      updateTime: iso(session.updateMs),
      ...(session.state === 'COMPLETED' && !lingering && outputs.length > 0 ? { outputs } : {}),
      ...(session.archived ? { archived: true } : {}),
    }
  }

  // -- test control ---------------------------------------------------------

  /**
   * Switches a session to another script (or makes it slow), from the point
   * it has reached. `default` also clears `slow`.
   */
  async setScenario(name: string, scenario: SimScenario): Promise<void> {
    if (!simScenarios.includes(scenario)) {
      throw invalid(`Unknown scenario "${String(scenario)}"; expected one of ${simScenarios.join(', ')}.`)
    }
    const id = sessionIdOfRef(name)
    await this.exclusive(id, async () => {
      const session = await this.load(id)
      const now = this.clock.now()
      this.advance(session, now)
      if (terminalStates.has(session.state)) {
        await this.save(session)
        throw failedPrecondition(`Session ${id} is ${session.state}; its scenario can no longer change.`)
      }
      const wasSlow = session.slow
      if (scenario === 'slow') session.slow = true
      else if (scenario === 'default') {
        session.script = 'default'
        session.slow = false
      } else session.script = scenario
      if (wasSlow !== session.slow) {
        // Keep the last step where it was; only what is still to come stretches or shrinks.
        session.anchorMs = session.lastStepMs - session.position * this.runTime(session)
      }
      this.advance(session, now)
      await this.save(session)
    })
  }

  /** Queues a fault; calls consult the queue in order through takeFault(). */
  injectFault(options: SimFaultOptions): void {
    if (!Number.isInteger(options.status) || options.status < 100 || options.status > 599) {
      throw invalid(`A fault needs an HTTP status between 100 and 599, got ${String(options.status)}.`)
    }
    const count = options.count ?? 1
    if (!Number.isInteger(count) || count < 1) throw invalid(`A fault count must be a positive integer, got ${count}.`)
    this.faults.push({ ...options, remaining: count })
  }

  /** Faults still queued (with how many calls each will still hit). */
  listFaults(): Array<SimFaultOptions & { remaining: number }> {
    return this.faults.map((fault) => ({ ...fault }))
  }

  clearFaults(): void {
    this.faults.length = 0
  }

  /**
   * The fault to apply to one call of `method`, if any, consuming it. The
   * transports (sim adapter, HTTP server) call this once before each call.
   */
  takeFault(method: string): SimFault | undefined {
    const index = this.faults.findIndex((fault) => !fault.methods || fault.methods.includes(method))
    const fault = this.faults[index]
    if (!fault) return undefined
    fault.remaining -= 1
    if (fault.remaining <= 0) this.faults.splice(index, 1)
    return {
      status: fault.status,
      ...(fault.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: fault.retryAfterSeconds }),
      ...(fault.delayMs === undefined ? {} : { delayMs: fault.delayMs }),
      ...(fault.malformed === undefined ? {} : { malformed: fault.malformed }),
    }
  }

  // -- the clockwork --------------------------------------------------------

  private runTime(session: SimSessionState): number {
    return session.runMs * (session.slow ? slowFactor : 1)
  }

  private nextStep(session: SimSessionState): Step | undefined {
    if (terminalStates.has(session.state)) return undefined
    const script = scripts[session.script]
    // A script switched late may have no step left past the position: its ending comes next.
    return script.find((step) => step.at > session.position) ?? script[script.length - 1]
  }

  private take(session: SimSessionState, step: Step, at: number, originator: string): void {
    step.run(session, at, originator)
    if (step.gate !== undefined) session.anchorMs = at - step.at * this.runTime(session)
    session.position = Math.max(session.position, step.at)
    session.lastStepMs = at
    session.updateMs = at
  }

  /** Takes every step whose time has come by `now`; returns whether anything happened. */
  private advance(session: SimSessionState, now: number): boolean {
    let changed = false
    for (;;) {
      const step = this.nextStep(session)
      if (!step) return changed
      const gated = step.gate === 'message' || (step.gate === 'approval' && session.requirePlanApproval)
      if (gated) {
        if (step.gate !== 'approval' || session.autoApproveMs <= 0) return changed
        const due = session.lastStepMs + session.autoApproveMs * (session.slow ? slowFactor : 1)
        if (due > now) return changed
        this.take(session, step, due, 'system')
      } else {
        const due = Math.max(session.anchorMs + step.at * this.runTime(session), session.lastStepMs)
        if (due > now) return changed
        this.take(session, step, due, 'system')
      }
      changed = true
    }
  }

  private async load(id: string): Promise<SimSessionState> {
    const record = await this.store.get(id)
    if (!record || record.state.deleted === true) throw notFound(`Session sessions/${id} not found.`)
    const state = record.state
    if (!isStoredSession(state)) {
      throw new SimApiError(500, googleStatusByHttp[500] ?? 'INTERNAL', `Session ${id} has an unreadable record.`)
    }
    return state
  }

  private async save(session: SimSessionState): Promise<void> {
    const record: SimSessionRecord = { id: session.id, createdAt: iso(session.createMs), state: session }
    await this.store.put(record)
  }

  /** Loads a session, brings it up to `now`, persists it when it moved. */
  private async advanced(id: string): Promise<SimSessionState> {
    return this.exclusive(id, async () => {
      const session = await this.load(id)
      if (this.advance(session, this.clock.now())) await this.save(session)
      return session
    })
  }

  private async exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve()
    const result = previous.then(work)
    const tail = result.then(
      () => undefined,
      () => undefined,
    )
    this.locks.set(id, tail)
    try {
      return await result
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id)
    }
  }
}
