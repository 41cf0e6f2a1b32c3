/**
 * The JulesClient port: the whole surface of the Jules API that jjm uses.
 * Shapes follow Google's v1alpha reference (see shared/jules-api.md); the
 * adapters (rest, sim, mcp) all speak them.
 */

export type SessionState =
  | 'STATE_UNSPECIFIED'
  | 'QUEUED'
  | 'PLANNING'
  | 'AWAITING_PLAN_APPROVAL'
  | 'AWAITING_USER_FEEDBACK'
  | 'IN_PROGRESS'
  | 'PAUSED'
  | 'FAILED'
  | 'COMPLETED'
  | (string & {})

export interface SourceContext {
  /** `sources/github/{owner}/{repo}` */
  source: string
  githubRepoContext?: { startingBranch?: string }
  /** The branch the agent works on, when Jules names it. */
  workingBranch?: string
  environmentVariablesEnabled?: boolean
}

export interface GitPatch {
  unidiffPatch?: string
  baseCommitId?: string
  suggestedCommitMessage?: string
}

export interface ChangeSet {
  source?: string
  gitPatch?: GitPatch
}

/** One output of a session: a pull request (sessions on a repository) or a change set (any session). */
export interface SessionOutput {
  pullRequest?: { url: string; title?: string; description?: string; baseRef?: string; headRef?: string }
  changeSet?: ChangeSet
}

export interface Session {
  /** `sessions/{id}` */
  name: string
  id: string
  prompt: string
  /** Absent for a session that works on no repository (its result is a change set in `outputs`). */
  sourceContext?: SourceContext
  title?: string
  state: SessionState
  url?: string
  createTime: string
  updateTime: string
  outputs?: SessionOutput[]
  /** Archived sessions are hidden from sessions.list unless its filter asks for them. */
  archived?: boolean
  /** Input-only fields: Jules does not echo them; present only when an adapter knows them. */
  requirePlanApproval?: boolean
  automationMode?: string
}

export interface CreateSessionRequest {
  prompt: string
  /** Omitted: the session works on no repository. */
  sourceContext?: SourceContext
  title?: string
  requirePlanApproval?: boolean
  automationMode?: 'AUTOMATION_MODE_UNSPECIFIED' | 'AUTO_CREATE_PR'
}

export interface PlanStep {
  id?: string
  title?: string
  description?: string
  index?: number
}

export interface Plan {
  id?: string
  steps?: PlanStep[]
  createTime?: string
}

export interface Artifact {
  changeSet?: ChangeSet
  media?: { data?: string; mimeType?: string }
  /** No longer sent by Jules (2026); accepted, never required. */
  bashOutput?: { command?: string; output?: string; exitCode?: number }
}

export interface Activity {
  /** `sessions/{s}/activities/{a}` */
  name: string
  id: string
  description?: string
  createTime: string
  originator?: string
  artifacts?: Artifact[]
  agentMessaged?: { agentMessage?: string }
  userMessaged?: { userMessage?: string }
  planGenerated?: { plan?: Plan }
  planApproved?: { planId?: string }
  progressUpdated?: { title?: string; description?: string }
  sessionCompleted?: Record<string, never> | Record<string, unknown>
  sessionFailed?: { reason?: string }
  /** Fields this client does not know are kept, never an error. */
  [unknownField: string]: unknown
}

export interface Source {
  /** `sources/github/{owner}/{repo}` */
  name: string
  id: string
  githubRepo?: {
    owner: string
    repo: string
    isPrivate?: boolean
    defaultBranch?: { displayName: string }
    branches?: Array<{ displayName: string }>
  }
}

export interface PageRequest {
  pageSize?: number
  pageToken?: string
}

export interface ListSessionsResponse {
  sessions: Session[]
  nextPageToken?: string
}

export interface ListActivitiesResponse {
  activities: Activity[]
  nextPageToken?: string
}

export interface ListSourcesResponse {
  sources: Source[]
  nextPageToken?: string
}

export interface ListActivitiesRequest extends PageRequest {
  /** e.g. `create_time>"2026-01-01T00:00:00Z"`; optional at Jules, may be ignored. */
  filter?: string
}

export interface ListSourcesRequest extends PageRequest {
  /** e.g. `name=sources/github/a/b OR name=sources/github/c/d` */
  filter?: string
}

export interface ListSessionsRequest extends PageRequest {
  /** e.g. `archived = true`; archived sessions are hidden without it. */
  filter?: string
}

/** An adapter's circuit breaker as health checks see it, read without calling Jules. */
export interface CircuitStatus {
  /** `half_open`: the cooldown is over and the next call tests Jules. */
  state: 'closed' | 'open' | 'half_open'
  /** While open: seconds until one call may test Jules again. */
  retryInSeconds?: number
}

/**
 * The port. Every method throws a JjmError subclass on failure:
 * AuthenticationError, JulesConnectionError, RateLimitedError, InvalidStateError
 * (FAILED_PRECONDITION), ValidationError (INVALID_ARGUMENT), OperationFailedError
 * with code JJM_JULES_NOT_FOUND (404) or JJM_JULES_PROTOCOL (a malformed answer).
 */
export interface JulesClient {
  /** Which adapter this is: `rest`, `sim`, `mcp`. */
  readonly kind: string
  listSources(request?: ListSourcesRequest): Promise<ListSourcesResponse>
  getSource(name: string): Promise<Source>
  createSession(request: CreateSessionRequest): Promise<Session>
  getSession(name: string): Promise<Session>
  listSessions(request?: ListSessionsRequest): Promise<ListSessionsResponse>
  listActivities(session: string, request?: ListActivitiesRequest): Promise<ListActivitiesResponse>
  sendMessage(session: string, prompt: string): Promise<void>
  approvePlan(session: string): Promise<void>
  /**
   * Session actions not every backend offers (a Jules MCP server may lack
   * them). Absent: core names the operation as unavailable through this
   * backend. `deleteSession` treats a 404 as already gone.
   */
  archiveSession?(session: string): Promise<void>
  unarchiveSession?(session: string): Promise<void>
  deleteSession?(session: string): Promise<void>
  /** The circuit breaker's state, for adapters that have one (rest, mcp); never calls Jules. */
  circuit?(): CircuitStatus
  close?(): Promise<void>
}

/** `open`: calls fail fast; `half_open`: one call tests Jules; `closed`: calls go through. */
export type CircuitState = 'closed' | 'half_open' | 'open'
