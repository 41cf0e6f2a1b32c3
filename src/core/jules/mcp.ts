/**
 * The `mcp` adapter of the JulesClient port: drives a Jules MCP server, spawned
 * as a child process and spoken to over stdio with `@modelcontextprotocol/sdk`.
 *
 * Google publishes no Jules MCP server, and the community ones name their
 * tools differently, so jjm defines the tool set it expects. Each tool takes
 * the Jules REST request's fields as its arguments and answers with the Jules
 * JSON of the REST answer, as `structuredContent` or as text content holding
 * the JSON (both are read; `structuredContent` wins):
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
 * The SDK is loaded inside {@link createMcpClient}, so commands that never
 * reach Jules do not load it.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import type { z } from 'zod'
import { type JjmError, JulesConnectionError, OperationFailedError } from '../errors.js'
import { type Logger, silentLogger } from '../ports.js'
import type {
  CreateSessionRequest,
  JulesClient,
  ListActivitiesRequest,
  ListActivitiesResponse,
  ListSessionsResponse,
  ListSourcesRequest,
  ListSourcesResponse,
  PageRequest,
  Session,
  Source,
} from './client.js'
import { errorFromGoogle } from './google-errors.js'
import { toSessionName, toSourceName } from './names.js'
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

/** The JulesClient methods, each served by one MCP tool. */
export type McpMethod = Exclude<keyof JulesClient, 'kind' | 'close'>

export interface McpToolSpec {
  /** The name `jjm mcp serve` gives the tool and jjm looks for first. */
  tool: string
  /** Other names accepted for the same tool with the same arguments, tried in order. */
  aliases: readonly string[]
  /** Google's name of the REST method, used in errors and logs. */
  operation: string
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

export interface McpClientOptions {
  /** The server's executable, e.g. `jjm` (for `jjm mcp serve`) or `npx`. Run without a shell. */
  command: string
  args?: string[]
  /**
   * Added to the environment the server inherits. The server inherits jjm's
   * whole environment, because a Jules MCP server needs JULES_API_KEY and
   * whatever else its user set for it.
   */
  env?: Record<string, string>
  cwd?: string
  /** Deadline of the start-up handshake and of each tool call, in ms. Default 30000. */
  timeoutMs?: number
  logger?: Logger
  /** Sent to the server as the client's version. Default `dev`. */
  version?: string
}

const defaultTimeoutMs = 30_000
/** Enough of the server's stderr to explain why it died. */
const stderrTailChars = 2000
// JSON-RPC error codes the SDK raises itself (ErrorCode in the SDK's types).
const connectionClosedCode = -32000
const requestTimeoutCode = -32001

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
 * Spawns the MCP server, completes the MCP handshake and lists its tools
 * once, then answers JulesClient calls by calling those tools.
 *
 * @throws JulesConnectionError naming the command when the server cannot be
 *   started, exits, or does not complete the handshake in time.
 */
export async function createMcpClient(options: McpClientOptions): Promise<JulesClient> {
  const [{ Client }, { StdioClientTransport }] = await Promise.all([
    import('@modelcontextprotocol/sdk/client/index.js'),
    import('@modelcontextprotocol/sdk/client/stdio.js'),
  ])
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs
  const commandLine = [options.command, ...(options.args ?? [])].join(' ')
  const logger = (options.logger ?? silentLogger).child({ julesBackend: 'mcp', mcpCommand: options.command })

  const transport = new StdioClientTransport({
    command: options.command,
    args: options.args ?? [],
    env: { ...inheritedEnv(), ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    // Piped, not inherited: the server's own logs would otherwise interleave
    // with jjm's stderr; they go to jjm's log at debug level instead.
    stderr: 'pipe',
  })
  const stderr = new StderrTail(logger)
  transport.stderr?.on('data', (chunk: Buffer) => stderr.add(chunk.toString('utf8')))

  const client = new Client({ name: 'jjm', version: options.version ?? 'dev' }, { capabilities: {} })
  let tools: string[]
  try {
    await client.connect(transport, { timeout: timeoutMs })
    tools = await listToolNames(client, timeoutMs)
  } catch (error) {
    await client.close().catch(() => undefined)
    // The pipe may still hold the last words of a server that just died.
    await new Promise((resolve) => setImmediate(resolve))
    throw startError(error, commandLine, timeoutMs, stderr.text())
  }
  logger.debug('Jules MCP server started', { tools })
  return new McpJulesClient({ client, tools, commandLine, timeoutMs, logger, stderr })
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

function startError(error: unknown, commandLine: string, timeoutMs: number, stderr: string): JulesConnectionError {
  const code = (error as { code?: unknown } | null)?.code
  const reason =
    code === 'ENOENT'
      ? 'the command was not found'
      : code === 'EACCES'
        ? 'the command is not executable'
        : code === requestTimeoutCode
          ? `it did not complete the MCP handshake within ${timeoutMs} ms`
          : code === connectionClosedCode
            ? 'it exited before completing the MCP handshake'
            : `it failed (${error instanceof Error ? error.message : String(error)})`
  const said = stderr ? ` It said: ${lastWords(stderr)}.` : ''
  return new JulesConnectionError(
    `Could not start the Jules MCP server \`${commandLine}\`: ${reason}.${said} Check jules.mcp.command (JJM_JULES_MCP_COMMAND) and jules.mcp.args; \`jjm mcp serve\` is one that works.`,
    { cause: error, context: { command: commandLine, code: typeof code === 'string' ? code : undefined } },
  )
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

interface McpJulesClientParts {
  client: Client
  tools: string[]
  commandLine: string
  timeoutMs: number
  logger: Logger
  stderr: StderrTail
}

class McpJulesClient implements JulesClient {
  readonly kind = 'mcp'

  private readonly client: Client
  private readonly offered: string[]
  private readonly toolByMethod = new Map<McpMethod, string>()
  private readonly commandLine: string
  private readonly timeoutMs: number
  private readonly logger: Logger
  private readonly stderr: StderrTail
  private exited = false

  constructor(parts: McpJulesClientParts) {
    this.client = parts.client
    this.offered = parts.tools
    this.commandLine = parts.commandLine
    this.timeoutMs = parts.timeoutMs
    this.logger = parts.logger
    this.stderr = parts.stderr
    const offered = new Set(parts.tools)
    for (const [method, spec] of Object.entries(mcpTools) as Array<[McpMethod, McpToolSpec]>) {
      const found = [spec.tool, ...spec.aliases].find((name) => offered.has(name))
      if (found) this.toolByMethod.set(method, found)
    }
    this.client.onclose = () => {
      this.exited = true
    }
  }

  async listSources(request: ListSourcesRequest = {}): Promise<ListSourcesResponse> {
    const answer = await this.call('listSources', { ...request })
    const page = this.validate(sourcePageSchema, answer, 'listSources')
    return withToken({ sources: (page.sources ?? []).map(toSource) }, page.nextPageToken)
  }

  async getSource(name: string): Promise<Source> {
    const resource = toSourceName(name)
    const answer = await this.call('getSource', { name: resource }, resource)
    return toSource(this.validate(sourceSchema, answer, 'getSource', resource))
  }

  async createSession(request: CreateSessionRequest): Promise<Session> {
    const body: CreateSessionRequest = {
      ...request,
      sourceContext: { ...request.sourceContext, source: toSourceName(request.sourceContext.source) },
    }
    const answer = await this.call('createSession', { ...body }, body.sourceContext.source)
    const session = toSession(this.validate(sessionSchema, answer, 'createSession'))
    // Input-only fields are not echoed by Jules; jjm knows what it sent.
    return {
      ...session,
      requirePlanApproval: session.requirePlanApproval ?? request.requirePlanApproval,
      automationMode: session.automationMode ?? request.automationMode,
    }
  }

  async getSession(name: string): Promise<Session> {
    const resource = toSessionName(name)
    const answer = await this.call('getSession', { name: resource }, resource)
    return toSession(this.validate(sessionSchema, answer, 'getSession', resource))
  }

  async listSessions(request: PageRequest = {}): Promise<ListSessionsResponse> {
    const answer = await this.call('listSessions', { pageSize: request.pageSize, pageToken: request.pageToken })
    const page = this.validate(sessionPageSchema, answer, 'listSessions')
    return withToken({ sessions: (page.sessions ?? []).map(toSession) }, page.nextPageToken)
  }

  async listActivities(session: string, request: ListActivitiesRequest = {}): Promise<ListActivitiesResponse> {
    const resource = toSessionName(session)
    const answer = await this.call(
      'listActivities',
      { parent: resource, pageSize: request.pageSize, pageToken: request.pageToken, filter: request.filter },
      resource,
    )
    const page = this.validate(activityPageSchema, answer, 'listActivities', resource)
    return withToken({ activities: (page.activities ?? []).map(toActivity) }, page.nextPageToken)
  }

  async sendMessage(session: string, prompt: string): Promise<void> {
    const resource = toSessionName(session)
    // The answer is empty at Jules; whatever a server says instead is not jjm's business.
    await this.call('sendMessage', { session: resource, prompt }, resource)
  }

  async approvePlan(session: string): Promise<void> {
    const resource = toSessionName(session)
    await this.call('approvePlan', { session: resource }, resource)
  }

  /** Ends the MCP session and the server process (stdin closed, then SIGTERM, then SIGKILL). */
  async close(): Promise<void> {
    await this.client.close()
  }

  // -------------------------------------------------------------------------

  /**
   * Calls the method's tool; resolves to the JSON it answered (undefined when
   * none). Undefined arguments vanish in the JSON-RPC message, as absent
   * fields do in Jules' requests.
   */
  private async call(method: McpMethod, args: Record<string, unknown>, resource?: string): Promise<unknown> {
    const spec = mcpTools[method]
    const tool = this.toolByMethod.get(method)
    if (tool === undefined) throw this.missingTool(spec)
    if (this.exited) throw this.exitedError(spec, resource)
    const started = Date.now()
    let result: ToolResult
    try {
      result = (await this.client.callTool({ name: tool, arguments: args }, undefined, {
        timeout: this.timeoutMs,
      })) as ToolResult
    } catch (error) {
      throw this.transportError(error, spec, tool, resource)
    }
    this.logger.debug('Jules MCP call', {
      tool,
      operation: spec.operation,
      resource,
      durationMs: Date.now() - started,
      isError: result.isError === true,
    })
    if (result.isError === true) throw this.toolError(result, spec, tool, resource)
    return this.answerOf(result, spec, tool, resource)
  }

  private answerOf(result: ToolResult, spec: McpToolSpec, tool: string, resource?: string): unknown {
    if (isRecord(result.structuredContent)) return result.structuredContent
    const text = textOf(result)
    if (text.trim() === '') return undefined
    try {
      return JSON.parse(text) as unknown
    } catch (error) {
      // sendMessage and approvePlan ignore their answer; a reading method needs JSON.
      if (spec.operation === 'sessions.sendMessage' || spec.operation === 'sessions.approvePlan') return undefined
      throw this.protocolError(spec, tool, resource, 'text that is not JSON', {
        cause: error,
        text: text.slice(0, 120),
      })
    }
  }

  private validate<T extends z.ZodType>(schema: T, answer: unknown, method: McpMethod, resource?: string): z.output<T> {
    const parsed = schema.safeParse(answer)
    if (parsed.success) return parsed.data
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    const spec = mcpTools[method]
    throw this.protocolError(spec, this.toolByMethod.get(method) ?? spec.tool, resource, issues.join('; '), {
      issues,
    })
  }

  private toolError(result: ToolResult, spec: McpToolSpec, tool: string, resource?: string): JjmError {
    const text = textOf(result)
    const body = isRecord(result.structuredContent) ? result.structuredContent : parseJson(text)
    const google = googleErrorSchema.safeParse(body)
    if (google.success) {
      const { code, status, message } = google.data.error
      const httpStatus = code ?? (status === undefined ? undefined : httpByGoogleStatus[status]) ?? 500
      return errorFromGoogle({ httpStatus, status, message, operation: spec.operation, resource })
    }
    const status = googleStatusPattern.exec(text)?.[1]
    const httpStatus = status === undefined ? undefined : httpByGoogleStatus[status]
    if (status !== undefined && httpStatus !== undefined) {
      return errorFromGoogle({ httpStatus, status, message: text.trim(), operation: spec.operation, resource })
    }
    return new OperationFailedError(
      `The Jules MCP server's tool ${tool} (${spec.operation}) failed${text.trim() ? `: ${text.trim()}` : ''}.`,
      { context: { operation: spec.operation, resource, tool, command: this.commandLine } },
      'JJM_JULES_MCP_TOOL_ERROR',
    )
  }

  private transportError(error: unknown, spec: McpToolSpec, tool: string, resource?: string): JjmError {
    const code = (error as { code?: unknown } | null)?.code
    const context = { operation: spec.operation, resource, tool, command: this.commandLine }
    if (code === requestTimeoutCode) {
      return new JulesConnectionError(
        `The Jules MCP server \`${this.commandLine}\` did not answer ${tool} (${spec.operation}) within ${this.timeoutMs} ms. Raise jules.timeoutMs if it is slow.`,
        { cause: error, context },
      )
    }
    if (code === connectionClosedCode || this.exited || !(error instanceof Error && typeof code === 'number')) {
      return this.exitedError(spec, resource, error)
    }
    // A JSON-RPC error rather than an isError result: the server refused the call itself.
    return new OperationFailedError(
      `The Jules MCP server refused ${tool} (${spec.operation}): ${error.message}.`,
      { cause: error, context: { ...context, rpcCode: code } },
      'JJM_JULES_MCP_TOOL_ERROR',
    )
  }

  private exitedError(spec: McpToolSpec, resource?: string, cause?: unknown): JulesConnectionError {
    const stderr = this.stderr.text()
    const said = stderr ? ` It said: ${lastWords(stderr)}.` : ''
    const why = cause instanceof Error && !this.exited ? ` (${cause.message})` : ''
    return new JulesConnectionError(
      `The Jules MCP server \`${this.commandLine}\` is no longer running${why}, so ${spec.operation} failed.${said} Run jjm again to start it afresh.`,
      { cause, context: { operation: spec.operation, resource, command: this.commandLine } },
    )
  }

  private missingTool(spec: McpToolSpec): OperationFailedError {
    const accepted = [spec.tool, ...spec.aliases].join(' or ')
    const offers = this.offered.length > 0 ? this.offered.join(', ') : 'no tools at all'
    return new OperationFailedError(
      `The Jules MCP server \`${this.commandLine}\` has no tool ${accepted}, which jjm needs for ${spec.operation}. It offers: ${offers}. Use a server with jjm's tool set (\`jjm mcp serve --help\` lists it).`,
      { context: { operation: spec.operation, tool: spec.tool, offered: this.offered, command: this.commandLine } },
      'JJM_JULES_MCP_TOOL_MISSING',
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
