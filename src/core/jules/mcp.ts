/**
 * The `mcp` adapter of the JulesClient port: drives a Jules MCP server with
 * `@modelcontextprotocol/sdk`, spawned as a child process and spoken to over
 * stdio (jules.mcp.command, args, env) or already running and reached over
 * streamable HTTP (jules.mcp.url, headers).
 *
 * Jules MCP servers name their tools, arguments and answer fields
 * differently, so jjm speaks to each through a preset (./mcp-presets.ts:
 * `jjm`, `jules-mcp-server`, `google-jules-mcp`, `jules-mcp`), chosen by
 * jules.mcp.preset or told from the server's tool list, and to any other
 * through a mapping declared in jules.mcp.tools and jules.mcp.fields.
 * Answers become Jules JSON: snake_case fields in camelCase, `null` as
 * absent, camelCase states in Jules' spelling; an answer that still does not
 * read as Jules JSON is a JJM_JULES_PROTOCOL error naming the field. A method
 * the server has no tool for is an UnsupportedOperationError that says what
 * still works through it; a server without a single-session (or source) read
 * is asked for its list and the session found there. The optional session
 * actions (archive, unarchive, delete) exist on the client only when the
 * server has tools for them.
 *
 * jjm's own tool set (the `jjm` preset), which `jjm mcp serve` serves: each
 * tool takes the Jules REST request's fields as its arguments and answers with
 * the Jules JSON of the REST answer, as `structuredContent` or as text content
 * holding the JSON (both are read; `structuredContent` wins):
 *
 * | JulesClient method | tool (aliases)                                | arguments                                    | answer |
 * |---|---|---|---|
 * | listSources        | `list_sources` (`jules_list_sources`)         | `{filter?, pageSize?, pageToken?}`           | `{sources, nextPageToken?}` |
 * | getSource          | `get_source` (`jules_get_source`)             | `{name}` (`sources/github/{owner}/{repo}`)   | Source |
 * | createSession      | `create_session` (`jules_create_session`)     | `{prompt, sourceContext, title?, requirePlanApproval?, automationMode?}` | Session |
 * | getSession         | `get_session` (`jules_get_session`)           | `{name}` (`sessions/{id}`)                   | Session |
 * | listSessions       | `list_sessions` (`jules_list_sessions`)       | `{pageSize?, pageToken?}`                    | `{sessions, nextPageToken?}` |
 * | listActivities     | `list_activities` (`jules_list_activities`)   | `{parent, pageSize?, pageToken?, filter?}` (`parent`: `sessions/{id}`) | `{activities, nextPageToken?}` |
 * | sendMessage        | `send_message` (`jules_send_message`)         | `{session, prompt}`                          | anything (ignored) |
 * | approvePlan        | `approve_plan` (`jules_approve_plan`)         | `{session}`                                  | anything (ignored) |
 * | archiveSession, unarchiveSession, deleteSession | `archive_session`, `unarchive_session`, `delete_session` | `{session}` | anything (ignored) |
 *
 * A failed call answers with `isError: true`; its text (or structuredContent)
 * should be Google's JSON error body, `{"error": {"code", "message",
 * "status"}}`, which maps to the same JjmErrors as the rest adapter's HTTP
 * errors. A text that merely names a Google status (`FAILED_PRECONDITION:
 * …`) is read too; any other failure is an OperationFailedError with code
 * JJM_JULES_MCP_TOOL_ERROR. A tool the server lacks fails only the method
 * that needs it, with code JJM_JULES_MCP_TOOL_MISSING. `jjm mcp serve` serves
 * exactly this tool set over the built-in simulator.
 *
 * Resilience, with the rest adapter's policy (./resilience.ts: jules.maxAttempts,
 * jules.breaker.*): a call that fails transiently (the server exited or
 * stopped answering within jules.timeoutMs, or a tool answered 429, 500,
 * 502, 503, 504) is tried again with exponential backoff, and the circuit
 * breaker opens after consecutive outages. A server that exited is started
 * again by the next attempt, so restarts are bounded by the attempts of a
 * call and, across calls, by the breaker; a server that keeps dying ends in a
 * JulesConnectionError quoting its stderr. What may be sent again:
 * - reads: always;
 * - create_session: only when the server certainly did not act on it (it
 *   could not be started, or answered 429/503); after a death or a timeout
 *   mid-call, a second create could start a second session, so the error
 *   goes to the caller, whose idempotency key finds the session if there is one;
 * - send_message and approve_plan: after a death or a timeout mid-call, jjm
 *   first checks whether the call took effect (the user message among the
 *   session's activities; the session no longer awaiting plan approval) and
 *   sends it again only when it did not. The check cannot see a call that the
 *   dying server forwarded and that Jules records only later: that window,
 *   short, is accepted over losing a person's message.
 * A timed-out server is not killed: a slow Jules answers the next call.
 *
 * The SDK is loaded inside {@link createMcpClient}, so commands that never
 * reach Jules do not load it.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import type { z } from 'zod'
import {
  ConfigurationError,
  InvalidStateError,
  isJjmError,
  type JjmError,
  JulesConnectionError,
  OperationFailedError,
  UnsupportedOperationError,
  ValidationError,
} from '../errors.js'
import { type Logger, silentLogger } from '../ports.js'
import type {
  CircuitStatus,
  CreateSessionRequest,
  JulesClient,
  ListActivitiesRequest,
  ListActivitiesResponse,
  ListSessionsRequest,
  ListSessionsResponse,
  ListSourcesRequest,
  ListSourcesResponse,
  Session,
  Source,
} from './client.js'
import { errorFromGoogle, transientHttpStatuses } from './google-errors.js'
import {
  detectPreset,
  jjmPreset,
  julesState,
  type McpAnyMethod,
  type McpMethod,
  type McpOptionalMethod,
  type McpPreset,
  type McpToolMapping,
  mcpOptionalMethods,
  mcpPresetNames,
  mcpPresets,
  normaliseAnswer,
  toolArguments,
  withMapping,
} from './mcp-presets.js'
import { toSessionName, toSourceName } from './names.js'
import { JulesResilience, type ResilienceOptions } from './resilience.js'
import {
  activityPageSchema,
  googleErrorSchema,
  sessionPageSchema,
  sessionSchema,
  sourcePageSchema,
  sourceSchema,
  toActivity,
  toSession,
  toSource,
  withToken,
} from './wire-schemas.js'

export type { McpMethod } from './mcp-presets.js'

export interface McpToolSpec {
  /** The name `jjm mcp serve` gives the tool and jjm looks for first. */
  tool: string
  /** Other names accepted for the same tool with the same arguments, tried in order. */
  aliases: readonly string[]
  /** Google's name of the REST method, used in errors and logs. */
  operation: string
}

/** A method's spec, with the method named. */
type MethodSpec = McpToolSpec & { method: McpAnyMethod }

/** jjm's tools for the port's optional session actions (the `jjm` preset; `jjm mcp serve` serves them). */
export const mcpOptionalTools: Readonly<Record<McpOptionalMethod, McpToolSpec>> = {
  archiveSession: { tool: 'archive_session', aliases: [], operation: 'sessions.archive' },
  unarchiveSession: { tool: 'unarchive_session', aliases: [], operation: 'sessions.unarchive' },
  deleteSession: { tool: 'delete_session', aliases: [], operation: 'sessions.delete' },
}

function specOf(method: McpAnyMethod): MethodSpec {
  const spec = method in mcpTools ? mcpTools[method as McpMethod] : mcpOptionalTools[method as McpOptionalMethod]
  return { ...spec, method }
}

/** jjm's MCP tool set; see the table at the top of this module. */
export const mcpTools: Readonly<Record<McpMethod, McpToolSpec>> = {
  listSources: { tool: 'list_sources', aliases: ['jules_list_sources'], operation: 'sources.list' },
  getSource: { tool: 'get_source', aliases: ['jules_get_source'], operation: 'sources.get' },
  createSession: { tool: 'create_session', aliases: ['jules_create_session'], operation: 'sessions.create' },
  getSession: { tool: 'get_session', aliases: ['jules_get_session'], operation: 'sessions.get' },
  listSessions: { tool: 'list_sessions', aliases: ['jules_list_sessions'], operation: 'sessions.list' },
  listActivities: {
    tool: 'list_activities',
    aliases: ['jules_list_activities'],
    operation: 'sessions.activities.list',
  },
  sendMessage: { tool: 'send_message', aliases: ['jules_send_message'], operation: 'sessions.sendMessage' },
  approvePlan: { tool: 'approve_plan', aliases: ['jules_approve_plan'], operation: 'sessions.approvePlan' },
}

export interface McpClientOptions extends ResilienceOptions {
  /**
   * The server's executable, e.g. `jjm` (for `jjm mcp serve`) or `npx`, run
   * without a shell and spoken to over stdio. Give either this or `url`.
   */
  command?: string
  args?: string[]
  /**
   * Added to the environment the server inherits. The server inherits jjm's
   * whole environment, because a Jules MCP server needs JULES_API_KEY and
   * whatever else its user set for it.
   */
  env?: Record<string, string>
  cwd?: string
  /** A server already running, spoken to over streamable HTTP, e.g. `http://127.0.0.1:3323/mcp`. */
  url?: string
  /** Sent with every HTTP request to `url`, e.g. `{Authorization: 'Bearer …'}`. */
  headers?: Record<string, string>
  /**
   * Which server this is (see ./mcp-presets.ts): `jjm`, `jules-mcp-server`,
   * `google-jules-mcp` or `jules-mcp`. Unset: told from the server's tool list.
   */
  preset?: string
  /** A declared mapping laid over the preset: `{method: {tool, args: {toolArgument: jjmInput}}}`. */
  tools?: Record<string, unknown>
  /** Answer field renames: `{serverField: julesField}`. */
  fields?: Record<string, string>
  /** Deadline of the start-up handshake and of each tool call (jules.timeoutMs), in ms. Default 30000. */
  timeoutMs?: number
  logger?: Logger
  /** Sent to the server as the client's version. Default `dev`. */
  version?: string
}

/** The `jules.mcp` section of jjm's configuration, as config.ts reads it. */
export interface McpConfig {
  command?: string
  args?: string[]
  env?: Record<string, string>
  url?: string
  headers?: Record<string, string>
  preset?: string
  tools?: Record<string, unknown>
  fields?: Record<string, string>
}

/**
 * The options of {@link createMcpClient} from jjm's configuration.
 *
 * @throws ConfigurationError when neither a command nor a URL names the server.
 */
export function mcpClientOptions(
  config: { mcp?: McpConfig; timeoutMs: number; maxAttempts: number; breaker: ResilienceOptions['breaker'] },
  logger: Logger,
  version: string,
): McpClientOptions {
  const mcp = config.mcp ?? {}
  if (!mcp.command && !mcp.url) {
    throw new ConfigurationError(
      `The mcp Jules backend needs the Jules MCP server to talk to: the command that starts it (jules.mcp.command and jules.mcp.args, or JJM_JULES_MCP_COMMAND and JJM_JULES_MCP_ARGS, a JSON array) or the URL of a running one (jules.mcp.url, JJM_JULES_MCP_URL). For the built-in simulator, \`jjm mcp serve\`: JJM_JULES_MCP_COMMAND=jjm JJM_JULES_MCP_ARGS='["mcp","serve"]'.`,
      { context: { backend: 'mcp', key: 'jules.mcp.command' } },
    )
  }
  return {
    ...(mcp.url
      ? { url: mcp.url, headers: mcp.headers }
      : { command: mcp.command, args: mcp.args ?? [], env: mcp.env }),
    preset: mcp.preset,
    tools: mcp.tools,
    fields: mcp.fields,
    timeoutMs: config.timeoutMs,
    maxAttempts: config.maxAttempts,
    breaker: config.breaker,
    logger: logger.child({ jules: 'mcp' }),
    version,
  }
}

const defaultTimeoutMs = 30_000
/** Enough of the server's stderr to explain why it died. */
const stderrTailChars = 2000
// JSON-RPC error codes the SDK raises itself (ErrorCode in the SDK's types).
const connectionClosedCode = -32000
const requestTimeoutCode = -32001
const invalidParamsCode = -32602
/** How MCP servers word arguments refused by a tool's input schema (the SDK's McpServer, FastMCP, jules-mcp-server). */
const invalidArgumentsPattern = /-32602|Input validation error|Validation Error|validation error/

/** Google statuses a tool's error text may name, with the HTTP status Jules pairs them with. */
const httpByGoogleStatus: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  ABORTED: 409,
  RESOURCE_EXHAUSTED: 429,
  INTERNAL: 500,
  UNKNOWN: 500,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
}
const googleStatusPattern = new RegExp(`\\b(${Object.keys(httpByGoogleStatus).join('|')})\\b`)

/** The parts of a CallToolResult jjm reads; anything else the server adds is ignored. */
interface ToolResult {
  content?: unknown
  structuredContent?: unknown
  isError?: unknown
}

/**
 * Spawns the MCP server, completes the MCP handshake and lists its tools,
 * then answers JulesClient calls by calling those tools. A server that exits
 * is started again by the next call (see the module's header on resilience).
 *
 * @throws JulesConnectionError naming the command when the server cannot be
 *   started: not found, or exiting (or silent) before the handshake on every
 *   one of its attempts.
 */
export async function createMcpClient(options: McpClientOptions): Promise<JulesClient> {
  const [{ Client }, transports] = await Promise.all([
    import('@modelcontextprotocol/sdk/client/index.js'),
    options.url === undefined
      ? import('@modelcontextprotocol/sdk/client/stdio.js')
      : import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
  ])
  const client = new McpJulesClient(options, { Client, ...transports } as Sdk)
  await client.start()
  return client
}

interface Sdk {
  Client: typeof import('@modelcontextprotocol/sdk/client/index.js').Client
  StdioClientTransport?: typeof import('@modelcontextprotocol/sdk/client/stdio.js').StdioClientTransport
  StreamableHTTPClientTransport?: typeof import('@modelcontextprotocol/sdk/client/streamableHttp.js').StreamableHTTPClientTransport
}

/** One running server process (or HTTP session) and the MCP session with it. */
interface ServerConnection {
  client: Client
  offered: string[]
  /** The preset in force: configured, or told from `offered`, with the declared mapping laid over it. */
  preset: McpPreset
  /** The tool each method calls, among those offered. */
  toolByMethod: Map<McpAnyMethod, string>
  stderr: StderrTail
  /** False once the process exited or the transport closed: the next call starts a new one. */
  alive: boolean
}

/** `process.env` without the unset entries the SDK's typing refuses. */
function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value
  return env
}

async function listToolNames(client: Client, timeoutMs: number): Promise<string[]> {
  const names: string[] = []
  let cursor: string | undefined
  // A server may page its tool list; 20 pages is far beyond any Jules server and stops a looping cursor.
  for (let page = 0; page < 20; page++) {
    const answer = await client.listTools(cursor === undefined ? {} : { cursor }, { timeout: timeoutMs })
    names.push(...answer.tools.map((tool) => tool.name))
    cursor = answer.nextCursor
    if (!cursor) break
  }
  return names
}

/**
 * What a dying server said, in one line: its last line that mentions an error
 * (a stack trace ends with noise such as the Node.js version), else its last lines.
 */
function lastWords(text: string): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
  const errorLine = lines.findLast((line) => /error/i.test(line))
  return JSON.stringify(errorLine ?? lines.slice(-3).join(' | '))
}

/** Keeps the end of the server's stderr (for error messages) and logs each line at debug level. */
class StderrTail {
  private tail = ''
  private partial = ''

  constructor(private readonly logger: Logger) {}

  add(chunk: string): void {
    this.tail = (this.tail + chunk).slice(-stderrTailChars)
    const lines = (this.partial + chunk).split('\n')
    this.partial = lines.pop() ?? ''
    for (const line of lines) if (line.trim() !== '') this.logger.debug('Jules MCP server said', { line })
  }

  text(): string {
    return this.tail
  }
}

/** How a call may be repeated after a failure that leaves open whether Jules applied it. */
interface CallSafety {
  /** Reads: sending them again is harmless. */
  idempotent: boolean
  /**
   * Tells, after such a failure, whether the call took effect at Jules
   * (`unknown` when it cannot), so that it is sent again only when it did not.
   * `since` is when the call was first sent (jjm's clock).
   */
  applied?: (since: number) => Promise<boolean | 'unknown'>
  /** An error from a repeated call that shows the first one took effect after all. */
  appliedWhen?: (error: unknown) => boolean
}

/** Clock difference tolerated between jjm and Jules when looking for a message jjm sent. */
const clockSkewMs = 60_000
/** Pages of activities read to find a message that may have been delivered; beyond, jjm cannot tell. */
const reconcilePages = 10

/** What each method does, in the words of an error naming what a server cannot do. */
const methodWords: Readonly<Record<McpAnyMethod, string>> = {
  listSources: 'listing sources',
  getSource: 'reading a source',
  createSession: 'creating a session',
  getSession: 'reading a session',
  listSessions: 'listing sessions',
  listActivities: 'reading activities',
  sendMessage: 'sending a message',
  approvePlan: 'approving a plan',
  archiveSession: 'archiving a session',
  unarchiveSession: 'unarchiving a session',
  deleteSession: 'deleting a session',
}

/** Pages of sessions (or sources) read to find one when the server has no single read. */
const lookupPages = 10

class McpJulesClient implements JulesClient {
  readonly kind = 'mcp'

  declare archiveSession?: (session: string) => Promise<void>
  declare unarchiveSession?: (session: string) => Promise<void>
  declare deleteSession?: (session: string) => Promise<void>

  private readonly sdk: Sdk
  private readonly options: McpClientOptions
  /** The server in messages: its command line, or its URL. */
  private readonly commandLine: string
  private readonly timeoutMs: number
  private readonly logger: Logger
  private readonly resilience: JulesResilience
  private current: ServerConnection | undefined
  private starting: Promise<ServerConnection> | undefined
  private starts = 0
  private failedStartsInARow = 0
  private closed = false

  constructor(options: McpClientOptions, sdk: Sdk) {
    this.sdk = sdk
    this.options = options
    if (options.preset !== undefined && mcpPresets[options.preset] === undefined) {
      throw new ConfigurationError(
        `jules.mcp.preset is "${options.preset}", which jjm does not know. Use one of: ${mcpPresetNames.join(', ')}; or leave it unset for jjm to tell from the server's tools.`,
        { context: { key: 'jules.mcp.preset', value: options.preset } },
      )
    }
    if (options.tools !== undefined || options.fields !== undefined) {
      // Checked now, so that a mistake in the mapping is a configuration error before any server starts.
      withMapping(jjmPreset, options.tools, options.fields)
    }
    this.commandLine = options.url ?? [options.command ?? '', ...(options.args ?? [])].join(' ')
    this.timeoutMs = options.timeoutMs ?? defaultTimeoutMs
    this.logger = (options.logger ?? silentLogger).child({
      julesBackend: 'mcp',
      ...(options.url === undefined ? { mcpCommand: options.command } : { mcpUrl: options.url }),
    })
    this.resilience = new JulesResilience({
      maxAttempts: options.maxAttempts,
      breaker: options.breaker,
      backoff: options.backoff,
      logger: this.logger,
      openCircuitError: (call, { retryInSeconds, failureThreshold }) => {
        const said = this.current?.stderr.text()
        return new JulesConnectionError(
          `The Jules MCP server \`${this.commandLine}\` has failed ${failureThreshold} times in a row; jjm stopped calling it and will try again after ${retryInSeconds} s.${said ? ` It last said: ${lastWords(said)}.` : ''} Check the server (jules.mcp.command or jules.mcp.url) and what it needs to reach Jules.`,
          {
            context: {
              breaker: 'open',
              retryInSeconds,
              operation: call.operation,
              resource: call.resource,
              command: this.commandLine,
            },
          },
        )
      },
    })
  }

  /**
   * Starts the server for the first time, retried like a call when it exits
   * before the handshake; then offers the optional session actions the
   * server has tools for, and only those.
   */
  async start(): Promise<void> {
    const connection = await this.resilience.execute({ operation: 'start', idempotent: true }, () => this.connection())
    for (const method of mcpOptionalMethods) {
      if (!connection.toolByMethod.has(method)) continue
      this[method] = async (session: string) => {
        const resource = toSessionName(session)
        try {
          // Archiving, unarchiving and deleting twice is harmless: each may be sent again.
          await this.call(method, sessionInputs(resource), resource, reads)
        } catch (error) {
          // The port's contract: a session already gone is deleted.
          if (method === 'deleteSession' && isJjmError(error) && error.code === 'JJM_JULES_NOT_FOUND') return
          throw error
        }
      }
    }
  }

  circuit(): CircuitStatus {
    return this.resilience.status()
  }

  async listSources(request: ListSourcesRequest = {}): Promise<ListSourcesResponse> {
    const answer = await this.call('listSources', { ...request }, undefined, reads)
    const page = this.validate(sourcePageSchema, answer, 'listSources')
    return withToken({ sources: (page.sources ?? []).map(toSource) }, page.nextPageToken)
  }

  /** Through the server's source read, or else found among its listed sources. */
  async getSource(name: string): Promise<Source> {
    const resource = toSourceName(name)
    const connection = await this.connection()
    if (!connection.toolByMethod.has('getSource') && connection.toolByMethod.has('listSources')) {
      let pageToken: string | undefined
      for (let page = 0; page < lookupPages; page++) {
        const listed = await this.listSources({ pageSize: 100, ...(pageToken ? { pageToken } : {}) })
        const found = listed.sources.find((source) => source.name === resource)
        if (found) return found
        if (!listed.nextPageToken || listed.nextPageToken === pageToken) break
        pageToken = listed.nextPageToken
      }
      throw notFound('sources.get', resource, `Jules has no source ${resource} (looked among the listed sources).`)
    }
    const repository = resource.replace(/^sources\/github\//, '')
    const answer = await this.call(
      'getSource',
      { name: resource, id: resource.replace(/^sources\//, ''), repository },
      resource,
      reads,
    )
    return toSource(this.validate(sourceSchema, answer, 'getSource', resource))
  }

  /**
   * Sent again only when the server certainly did not act on it (it was not
   * running, or Jules answered 429 or 503). After a server that died or timed
   * out during the call, Jules may have started the session, and a second
   * create would start a second one: the error goes to the caller, whose
   * idempotency key (`tasks create --idempotency-key`) finds that session.
   */
  async createSession(request: CreateSessionRequest): Promise<Session> {
    const sourceContext =
      request.sourceContext === undefined
        ? undefined
        : { ...request.sourceContext, source: toSourceName(request.sourceContext.source) }
    const body: CreateSessionRequest = sourceContext === undefined ? request : { ...request, sourceContext }
    const inputs = {
      ...body,
      source: sourceContext?.source,
      repository: sourceContext?.source.replace(/^sources\/github\//, ''),
      startingBranch: sourceContext?.githubRepoContext?.startingBranch,
      autoCreatePr: request.automationMode === undefined ? undefined : request.automationMode === 'AUTO_CREATE_PR',
    }
    const connection = await this.connection()
    if (connection.preset.branchRequired && sourceContext !== undefined && !inputs.startingBranch) {
      throw new ValidationError(
        `The ${connection.preset.label} MCP server needs the branch to start from along with the repository (without one it would start a session on no repository). Give the branch (--branch, or "branch" in the request).`,
        { context: { source: sourceContext.source, preset: connection.preset.name } },
      )
    }
    const answer = await this.call('createSession', inputs, sourceContext?.source, { idempotent: false })
    let session: Session
    if (isRecord(answer) && answer.readAgain === true && typeof answer.name === 'string') {
      // The server said only the new session's id: its state comes from reading it.
      session = await this.getSession(answer.name)
    } else {
      session = toSession(this.validate(sessionSchema, answer, 'createSession'))
    }
    // Input-only fields are not echoed by Jules, and a server may leave out what it was given; jjm knows what it sent.
    return {
      ...session,
      prompt: session.prompt || request.prompt,
      sourceContext: session.sourceContext?.source ? session.sourceContext : (sourceContext ?? session.sourceContext),
      requirePlanApproval: session.requirePlanApproval ?? request.requirePlanApproval,
      automationMode: session.automationMode ?? request.automationMode,
    }
  }

  /** Through the server's session read, or else found among its listed sessions. */
  async getSession(name: string): Promise<Session> {
    const resource = toSessionName(name)
    const connection = await this.connection()
    if (!connection.toolByMethod.has('getSession') && connection.toolByMethod.has('listSessions')) {
      return this.findListedSession(resource)
    }
    const answer = await this.call('getSession', sessionInputs(resource), resource, reads)
    return toSession(this.validate(sessionSchema, answer, 'getSession', resource))
  }

  async listSessions(request: ListSessionsRequest = {}): Promise<ListSessionsResponse> {
    const answer = await this.call(
      'listSessions',
      { pageSize: request.pageSize, pageToken: request.pageToken, filter: request.filter },
      undefined,
      reads,
    )
    const page = this.validate(sessionPageSchema, answer, 'listSessions')
    return withToken({ sessions: (page.sessions ?? []).map(toSession) }, page.nextPageToken)
  }

  async listActivities(session: string, request: ListActivitiesRequest = {}): Promise<ListActivitiesResponse> {
    const resource = toSessionName(session)
    const answer = await this.call(
      'listActivities',
      {
        ...sessionInputs(resource),
        parent: resource,
        pageSize: request.pageSize,
        pageToken: request.pageToken,
        filter: request.filter,
      },
      resource,
      reads,
    )
    const page = this.validate(activityPageSchema, answer, 'listActivities', resource)
    return withToken({ activities: (page.activities ?? []).map(toActivity) }, page.nextPageToken)
  }

  /**
   * A message the agent read twice would be answered twice, so after a
   * failure that leaves open whether it arrived, jjm first looks for it among
   * the session's activities since the call began (same text, from the user)
   * and sends it again only when it is not there.
   */
  async sendMessage(session: string, prompt: string): Promise<void> {
    const resource = toSessionName(session)
    // The answer is empty at Jules; whatever a server says instead is not jjm's business.
    await this.call('sendMessage', { ...sessionInputs(resource), prompt }, resource, {
      idempotent: false,
      applied: (since) => this.messageArrived(resource, prompt, since),
    })
  }

  /**
   * After a failure that leaves open whether the approval arrived, jjm asks
   * for the session: a session no longer awaiting plan approval has its
   * approval (approving is the way out of that state), and one still waiting
   * does not, so it is approved again. A repeated approval that Jules refuses
   * as FAILED_PRECONDITION means the first one landed in between.
   */
  async approvePlan(session: string): Promise<void> {
    const resource = toSessionName(session)
    await this.call('approvePlan', sessionInputs(resource), resource, {
      idempotent: false,
      applied: async () => (await this.getSession(resource)).state !== 'AWAITING_PLAN_APPROVAL',
      appliedWhen: (error) => error instanceof InvalidStateError,
    })
  }

  /** Ends the MCP session and the server process (stdin closed, then SIGTERM, then SIGKILL). */
  async close(): Promise<void> {
    this.closed = true
    const starting = this.starting
    await starting?.catch(() => undefined)
    await this.current?.client.close()
  }

  // -------------------------------------------------------------------------

  /** A server without a single-session read: the session among the listed ones, newest first. */
  private async findListedSession(resource: string): Promise<Session> {
    let pageToken: string | undefined
    for (let page = 0; page < lookupPages; page++) {
      const listed = await this.listSessions({ pageSize: 100, ...(pageToken ? { pageToken } : {}) })
      const found = listed.sessions.find((session) => session.name === resource)
      if (found) return found
      // A server that ignores the page token sends the same page again: stop there.
      if (!listed.nextPageToken || listed.nextPageToken === pageToken) break
      pageToken = listed.nextPageToken
    }
    throw notFound(
      'sessions.get',
      resource,
      `Jules has no session ${resource} among the ones the Jules MCP server \`${this.commandLine}\` lists (it has no tool to read one session, so jjm looked in its session list).`,
    )
  }

  /**
   * Calls the method's tool under the retry and the breaker; resolves to the
   * JSON it answered (undefined when none).
   */
  private async call(
    method: McpAnyMethod,
    inputs: Record<string, unknown>,
    resource: string | undefined,
    safety: CallSafety,
  ): Promise<unknown> {
    const spec = specOf(method)
    const since = Date.now()
    let uncertain: Error | undefined
    const guarded = { operation: spec.operation, resource, idempotent: safety.idempotent || !!safety.applied }
    return this.resilience.execute(guarded, async (attempt) => {
      if (uncertain !== undefined && safety.applied) {
        const applied = await safety.applied(since)
        if (applied === true) {
          this.logger.info('The earlier attempt reached Jules after all; not sending it again', {
            operation: spec.operation,
            resource,
            attempt,
          })
          return undefined
        }
        if (applied === 'unknown') throw this.uncertainError(spec, resource, uncertain)
      }
      try {
        return await this.invoke(method, inputs, resource)
      } catch (error) {
        if (uncertain !== undefined && safety.appliedWhen?.(error)) return undefined
        const facts = this.resilience.factsOf(error)
        if (facts?.transient && !facts.notApplied && error instanceof Error) uncertain = error
        throw error
      }
    })
  }

  /**
   * One call of the method's tool, starting the server first when it is not
   * running. Undefined arguments vanish in the JSON-RPC message, as absent
   * fields do in Jules' requests. The answer comes back as Jules JSON.
   */
  private async invoke(method: McpAnyMethod, inputs: Record<string, unknown>, resource?: string): Promise<unknown> {
    const spec = specOf(method)
    const connection = await this.connection()
    const mapping = connection.preset.tools[method]
    if (mapping === undefined) throw this.unsupported(method, connection)
    const tool = connection.toolByMethod.get(method)
    if (tool === undefined) throw this.missingTool(spec, mapping, connection)
    const args = toolArguments(mapping, inputs)
    const started = Date.now()
    let result: ToolResult
    try {
      result = (await connection.client.callTool({ name: tool, arguments: args }, undefined, {
        timeout: this.timeoutMs,
      })) as ToolResult
    } catch (error) {
      // The pipe may still hold the last words of a server that just died.
      await new Promise((resolve) => setImmediate(resolve))
      throw this.transportError(error, spec, tool, connection, resource)
    }
    this.logger.debug('Jules MCP call', {
      tool,
      operation: spec.operation,
      resource,
      durationMs: Date.now() - started,
      isError: result.isError === true,
    })
    if (result.isError === true) throw this.toolError(result, spec, tool, resource)
    const answer = this.answerOf(result, spec, tool, resource)
    const shaped = connection.preset.shapers?.[method]?.(answer, inputs) ?? answer
    const read = julesStates(normaliseAnswer(shaped, connection.preset.fields))
    // A tool that takes no page token cannot give the next page: a token it names would only bring the same page again.
    const paged = Object.values(mapping.args).includes('pageToken')
    if (!paged && isRecord(read) && 'nextPageToken' in read) {
      const { nextPageToken: _unreachable, ...firstPage } = read
      return firstPage
    }
    return read
  }

  /** The running server, started (again) when there is none; concurrent calls share one start. */
  private async connection(): Promise<ServerConnection> {
    if (this.closed) {
      throw new JulesConnectionError(
        `The connection to the Jules MCP server \`${this.commandLine}\` was closed. Run jjm again to start it afresh.`,
        { context: { command: this.commandLine } },
      )
    }
    if (this.current?.alive) return this.current
    this.starting ??= this.spawn().finally(() => {
      this.starting = undefined
    })
    return this.starting
  }

  private transport(stderr: StderrTail): Transport {
    const { StdioClientTransport, StreamableHTTPClientTransport } = this.sdk
    if (this.options.url !== undefined && StreamableHTTPClientTransport !== undefined) {
      return new StreamableHTTPClientTransport(new URL(this.options.url), {
        requestInit: { headers: this.options.headers ?? {} },
      })
    }
    if (StdioClientTransport === undefined || this.options.command === undefined) {
      throw new ConfigurationError('The mcp Jules backend needs jules.mcp.command or jules.mcp.url.', {
        context: { key: 'jules.mcp.command' },
      })
    }
    const transport = new StdioClientTransport({
      command: this.options.command,
      args: this.options.args ?? [],
      env: { ...inheritedEnv(), ...this.options.env },
      ...(this.options.cwd === undefined ? {} : { cwd: this.options.cwd }),
      // Piped, not inherited: the server's own logs would otherwise interleave
      // with jjm's stderr; they go to jjm's log at debug level instead.
      stderr: 'pipe',
    })
    transport.stderr?.on('data', (chunk: Buffer) => stderr.add(chunk.toString('utf8')))
    return transport
  }

  private async spawn(): Promise<ServerConnection> {
    const { Client } = this.sdk
    if (this.starts > 0) {
      this.logger.warn('The Jules MCP server is not running; starting it again', {
        starts: this.starts,
        lastWords: this.current ? lastWords(this.current.stderr.text()) : undefined,
      })
    }
    this.starts += 1
    const stderr = new StderrTail(this.logger)
    const transport = this.transport(stderr)
    // Which request a failing handshake failed on, for the error: the SDK's error does not say.
    const sent: string[] = []
    const send = transport.send.bind(transport)
    transport.send = (message, options) => {
      if ('method' in message) sent.push(message.method)
      return send(message, options)
    }
    const client = new Client({ name: 'jjm', version: this.options.version ?? 'dev' }, { capabilities: {} })
    const connection: ServerConnection = {
      client,
      offered: [],
      preset: jjmPreset,
      toolByMethod: new Map(),
      stderr,
      alive: true,
    }
    client.onclose = () => {
      connection.alive = false
    }
    try {
      await client.connect(transport, { timeout: this.timeoutMs })
      connection.offered = await listToolNames(client, this.timeoutMs)
    } catch (error) {
      connection.alive = false
      this.failedStartsInARow += 1
      await client.close().catch(() => undefined)
      await new Promise((resolve) => setImmediate(resolve))
      throw this.startError(error, stderr.text(), sent)
    }
    this.failedStartsInARow = 0
    const base =
      this.options.preset === undefined
        ? detectPreset(connection.offered)
        : (mcpPresets[this.options.preset] ?? jjmPreset)
    connection.preset = withMapping(base, this.options.tools, this.options.fields)
    const offered = new Set(connection.offered)
    for (const [method, mapping] of Object.entries(connection.preset.tools) as Array<[McpAnyMethod, McpToolMapping]>) {
      // jjm's own tool set is also served under jules_ names by older servers.
      const names = connection.preset === jjmPreset ? [mapping.tool, ...specOf(method).aliases] : [mapping.tool]
      const found = names.find((name) => offered.has(name))
      if (found) connection.toolByMethod.set(method, found)
    }
    this.current = connection
    this.logger.debug('Jules MCP server started', {
      tools: connection.offered,
      preset: connection.preset.name,
      starts: this.starts,
    })
    return connection
  }

  /** Whether a user message with this text appeared in the session since `since`. */
  private async messageArrived(session: string, prompt: string, since: number): Promise<boolean | 'unknown'> {
    const from = since - clockSkewMs
    // Jules may ignore the filter, so each activity's time is checked here too.
    const filter = `create_time>"${new Date(from).toISOString()}"`
    let pageToken: string | undefined
    for (let page = 0; page < reconcilePages; page++) {
      const answer = await this.invoke(
        'listActivities',
        { ...sessionInputs(session), parent: session, pageSize: 100, pageToken, filter },
        session,
      )
      const read = this.validate(activityPageSchema, answer, 'listActivities', session)
      const found = (read.activities ?? []).some(
        (activity) =>
          activity.userMessaged?.userMessage === prompt &&
          (activity.createTime === undefined || Date.parse(activity.createTime) >= from),
      )
      if (found) return true
      pageToken = read.nextPageToken
      if (!pageToken) return false
    }
    return 'unknown'
  }

  private answerOf(result: ToolResult, spec: MethodSpec, tool: string, resource?: string): unknown {
    if (isRecord(result.structuredContent)) return result.structuredContent
    const text = textOf(result)
    if (text.trim() === '') return undefined
    try {
      return JSON.parse(text) as unknown
    } catch (error) {
      // sendMessage and approvePlan ignore their answer; a shaper reads the text itself; a reading method needs JSON.
      if (spec.operation === 'sessions.sendMessage' || spec.operation === 'sessions.approvePlan') return undefined
      if (this.current?.preset.shapers?.[spec.method] !== undefined) return text
      throw this.protocolError(spec, tool, resource, 'text that is not JSON', {
        cause: error,
        text: text.slice(0, 120),
      })
    }
  }

  private validate<T extends z.ZodType>(schema: T, answer: unknown, method: McpMethod, resource?: string): z.output<T> {
    const parsed = schema.safeParse(answer)
    if (parsed.success) return parsed.data
    const issues = parsed.error.issues.slice(0, 5).map((issue) => {
      const field = issue.path.join('.') || '(root)'
      const value = valueAt(answer, issue.path)
      return `field ${field}: ${issue.message}${value === undefined ? '' : `, got ${JSON.stringify(value).slice(0, 60)}`}`
    })
    const spec = specOf(method)
    const tool = this.current?.toolByMethod.get(method) ?? spec.tool
    throw this.protocolError(spec, tool, resource, issues.join('; '), { issues })
  }

  /** A failed tool: Google's error, marked for the retry as the rest adapter marks an HTTP error. */
  private toolError(result: ToolResult, spec: McpToolSpec, tool: string, resource?: string): JjmError {
    const text = textOf(result)
    const body = isRecord(result.structuredContent) ? result.structuredContent : parseJson(text)
    const google = googleErrorSchema.safeParse(body)
    let httpStatus: number | undefined
    let status: string | undefined
    let message: string
    if (google.success) {
      status = google.data.error.status
      httpStatus = google.data.error.code ?? (status === undefined ? undefined : httpByGoogleStatus[status]) ?? 500
      message = google.data.error.message ?? ''
    } else {
      // A server that refused the arguments before calling Jules (its input schema, JSON-RPC -32602) means INVALID_ARGUMENT.
      status =
        googleStatusPattern.exec(text)?.[1] ?? (invalidArgumentsPattern.test(text) ? 'INVALID_ARGUMENT' : undefined)
      httpStatus = status === undefined ? undefined : httpByGoogleStatus[status]
      message = text.trim()
    }
    if (httpStatus === undefined) {
      return new OperationFailedError(
        `The Jules MCP server's tool ${tool} (${spec.operation}) failed${text.trim() ? `: ${text.trim()}` : ''}.`,
        { context: { operation: spec.operation, resource, tool, command: this.commandLine } },
        'JJM_JULES_MCP_TOOL_ERROR',
      )
    }
    const error = errorFromGoogle({ httpStatus, status, message, operation: spec.operation, resource })
    // A 429 or a 503 (RESOURCE_EXHAUSTED, UNAVAILABLE) is Jules refusing before acting.
    const refused = httpStatus === 429 || httpStatus === 503 || status === 'UNAVAILABLE'
    return this.resilience.mark(error, {
      transient: transientHttpStatuses.has(httpStatus),
      outage: httpStatus >= 500,
      notApplied: refused,
      httpStatus,
    })
  }

  private transportError(
    error: unknown,
    spec: McpToolSpec,
    tool: string,
    connection: ServerConnection,
    resource?: string,
  ): JjmError {
    const code = (error as { code?: unknown } | null)?.code
    const context = { operation: spec.operation, resource, tool, command: this.commandLine }
    // Over HTTP the SDK's StreamableHTTPError carries the HTTP status (JSON-RPC codes are negative).
    if (this.options.url !== undefined && typeof code === 'number' && code >= 400 && code < 600) {
      const auth = code === 401 || code === 403 ? ' Check jules.mcp.headers (JJM_JULES_MCP_HEADERS).' : ''
      const failed = new JulesConnectionError(
        `The Jules MCP server \`${this.commandLine}\` (${connection.preset.label}) answered HTTP ${code} to ${tool} (${spec.operation}).${auth}`,
        { cause: error, context: { ...context, httpStatus: code } },
      )
      // 429 and 503 refuse before acting; any other 5xx leaves open whether the tool ran.
      return this.resilience.mark(failed, {
        transient: transientHttpStatuses.has(code),
        outage: code >= 500,
        notApplied: code === 429 || code === 503,
        httpStatus: code,
      })
    }
    if (code === requestTimeoutCode) {
      const timedOut = new JulesConnectionError(
        `The Jules MCP server \`${this.commandLine}\` did not answer ${tool} (${spec.operation}) within ${this.timeoutMs} ms. Raise jules.timeoutMs (JJM_JULES_TIMEOUT_MS) if it is slow.`,
        { cause: error, context: { ...context, timedOut: true } },
      )
      return this.resilience.mark(timedOut, { transient: true, outage: true, notApplied: false })
    }
    if (code === connectionClosedCode || !connection.alive || !(error instanceof Error && typeof code === 'number')) {
      connection.alive = false
      const said = connection.stderr.text()
      const exited = new JulesConnectionError(
        `The Jules MCP server \`${this.commandLine}\` stopped during ${tool} (${spec.operation}).${said ? ` It said: ${lastWords(said)}.` : ''} jjm starts it again on the next call.`,
        { cause: error, context },
      )
      // "Not connected": the SDK refused to send, so the server never saw the call.
      const notSent = error instanceof Error && /not connected/i.test(error.message)
      return this.resilience.mark(exited, { transient: true, outage: true, notApplied: notSent })
    }
    // A JSON-RPC error rather than an isError result: the server refused the call itself.
    if (code === invalidParamsCode) {
      return errorFromGoogle({
        httpStatus: 400,
        status: 'INVALID_ARGUMENT',
        message: error.message,
        operation: spec.operation,
        resource,
      })
    }
    return new OperationFailedError(
      `The Jules MCP server refused ${tool} (${spec.operation}): ${error.message}.`,
      { cause: error, context: { ...context, rpcCode: code } },
      'JJM_JULES_MCP_TOOL_ERROR',
    )
  }

  private startError(error: unknown, stderr: string, sent: readonly string[] = []): JulesConnectionError {
    const code = (error as { code?: unknown } | null)?.code
    const notFound = code === 'ENOENT' || code === 'EACCES'
    const over = this.options.url !== undefined
    // The SDK's StreamableHTTPError carries the HTTP status as its code.
    const httpStatus =
      over && typeof code === 'number' && code >= 400 && code < 600 && error instanceof Error ? code : undefined
    const request = sent.at(-1)
    const reason =
      code === 'ENOENT'
        ? 'the command was not found'
        : code === 'EACCES'
          ? 'the command is not executable'
          : httpStatus !== undefined
            ? `it answered HTTP ${httpStatus} to ${request ?? 'the first request'}${sent.length > 1 ? `, after accepting ${sent.slice(0, -1).join(', ')}` : ''}`
            : code === requestTimeoutCode
              ? `it did not complete the MCP handshake within ${this.timeoutMs} ms`
              : code === connectionClosedCode
                ? 'it exited before completing the MCP handshake'
                : `it failed (${error instanceof Error ? error.message : String(error)})`
    const times = this.failedStartsInARow > 1 ? ` (${this.failedStartsInARow} starts in a row failed)` : ''
    const said = stderr ? ` It said: ${lastWords(stderr)}.` : ''
    // jules-mcp-server 0.2.0 serves every client with one stateless transport, which refuses all but its first request.
    const oneShot =
      httpStatus === 500
        ? ' A server that answers 500 to the MCP handshake cannot be used: jules-mcp-server 0.2.0 does this to every request after the first one it ever got (it reuses one stateless transport). Use another Jules MCP server (see docs/mcp.md) or the rest backend (JULES_API_KEY).'
        : ''
    const fix = over
      ? ' Check jules.mcp.url (JJM_JULES_MCP_URL) and jules.mcp.headers.'
      : ' Check jules.mcp.command (JJM_JULES_MCP_COMMAND) and jules.mcp.args; `jjm mcp serve` is one that works.'
    const started = new JulesConnectionError(
      `Could not start the Jules MCP server \`${this.commandLine}\`${this.options.preset ? ` (${mcpPresets[this.options.preset]?.label ?? this.options.preset})` : ''}: ${reason}${times}.${said}${oneShot}${fix}`,
      {
        cause: error,
        context: {
          command: this.commandLine,
          code: typeof code === 'string' ? code : undefined,
          httpStatus,
          request,
          failedStarts: this.failedStartsInARow,
          stderrTail: stderr.slice(-500) || undefined,
        },
      },
    )
    // A missing command stays missing, and a refusal (4xx) stays a refusal; a server that died or
    // hung at start-up may start next time. Either way no tool was called, so any call may be sent again.
    const lasting = notFound || (httpStatus !== undefined && httpStatus < 500)
    return this.resilience.mark(started, { transient: !lasting, outage: !lasting, notApplied: true })
  }

  private uncertainError(spec: McpToolSpec, resource: string | undefined, cause: Error): JulesConnectionError {
    return new JulesConnectionError(
      `jjm cannot tell whether ${spec.operation} reached Jules before the Jules MCP server failed (${cause.message}), so it did not send it again. Check the task (jjm tasks show) before repeating it.`,
      { cause, context: { operation: spec.operation, resource, command: this.commandLine } },
    )
  }

  private missingTool(spec: McpToolSpec, mapping: McpToolMapping, connection: ServerConnection): OperationFailedError {
    const accepted = connection.preset === jjmPreset ? [mapping.tool, ...spec.aliases].join(' or ') : mapping.tool
    const offers = connection.offered.length > 0 ? connection.offered.join(', ') : 'no tools at all'
    return new OperationFailedError(
      `The Jules MCP server \`${this.commandLine}\` (${connection.preset.label}) has no tool ${accepted}, which jjm needs for ${spec.operation}; ${stillWorks(worksThrough(connection))} through it. It offers: ${offers}. Set jules.mcp.preset to the server it is (${mcpPresetNames.join(', ')}), or map its tools in jules.mcp.tools (docs/mcp.md).`,
      {
        context: {
          operation: spec.operation,
          tool: mapping.tool,
          preset: connection.preset.name,
          offered: connection.offered,
          command: this.commandLine,
        },
      },
      'JJM_JULES_MCP_TOOL_MISSING',
    )
  }

  /** A method the server has no tool for at all: says what still works through it. */
  private unsupported(method: McpAnyMethod, connection: ServerConnection): UnsupportedOperationError {
    const works = worksThrough(connection)
    return new UnsupportedOperationError(
      `${capitalised(methodWords[method])} is unavailable through the ${connection.preset.label} MCP server; ${stillWorks(works)}.${method === 'getSource' ? ' jjm reads the source for its default branch when a task names none: give the branch (--branch).' : ''} Use the rest backend (JULES_API_KEY) or an MCP server that offers it (docs/mcp.md).`,
      {
        context: {
          operation: specOf(method).operation,
          preset: connection.preset.name,
          offered: connection.offered,
          command: this.commandLine,
        },
      },
    )
  }

  private protocolError(
    spec: McpToolSpec,
    tool: string,
    resource: string | undefined,
    what: string,
    extra: { cause?: unknown } & Record<string, unknown>,
  ): OperationFailedError {
    const { cause, ...context } = extra
    return new OperationFailedError(
      `The Jules MCP server answered ${tool} (${spec.operation}) with an answer jjm cannot read (${what}). The server may not follow jjm's tool contract (\`jjm mcp serve --help\`).`,
      { cause, context: { operation: spec.operation, resource, tool, command: this.commandLine, ...context } },
      'JJM_JULES_PROTOCOL',
    )
  }
}

const reads: CallSafety = { idempotent: true }

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The text contents of a tool result, joined. */
function textOf(result: ToolResult): string {
  if (!Array.isArray(result.content)) return ''
  return result.content
    .filter((part): part is { type: 'text'; text: string } => isRecord(part) && part.type === 'text')
    .map((part) => String(part.text))
    .join('\n')
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

/** The inputs naming a session, in each spelling a tool may want. */
function sessionInputs(resource: string): Record<string, string> {
  return { name: resource, session: resource, id: resource.slice(resource.lastIndexOf('/') + 1) }
}

function notFound(operation: string, resource: string, message: string): OperationFailedError {
  return errorFromGoogle({ httpStatus: 404, status: 'NOT_FOUND', message, operation, resource }) as OperationFailedError
}

/** What a user can still do through a server (the tools it offers), in the words of jjm's commands. */
function worksThrough(connection: ServerConnection): string[] {
  const has = (method: McpAnyMethod): boolean => connection.toolByMethod.has(method)
  const works: string[] = []
  if (has('createSession')) works.push('create')
  if (has('listSessions')) works.push('list')
  if ((has('getSession') || has('listSessions')) && has('listActivities')) works.push('monitor')
  if (has('sendMessage')) works.push('message')
  if (has('approvePlan')) works.push('approve')
  return works
}

/** `create, list and monitor work`; `create works`. */
function stillWorks(words: readonly string[]): string {
  if (words.length === 0) return 'nothing else works through it either'
  if (words.length === 1) return `${words[0]} works`
  return `${words.slice(0, -1).join(', ')} and ${words.at(-1)} work`
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}

/** Sessions' states in Jules' enum spelling, wherever a session sits in an answer. */
function julesStates(answer: unknown): unknown {
  if (!isRecord(answer)) return answer
  const fix = (session: unknown): unknown =>
    isRecord(session) && typeof session.state === 'string' ? { ...session, state: julesState(session.state) } : session
  if (Array.isArray(answer.sessions)) return { ...answer, sessions: answer.sessions.map(fix) }
  return fix(answer)
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let at = value
  for (const key of path) {
    if (typeof at !== 'object' || at === null) return undefined
    at = (at as Record<PropertyKey, unknown>)[key]
  }
  return at
}
