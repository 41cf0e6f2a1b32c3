/**
 * Stand-ins for the Jules MCP servers people install, built from each one's
 * published tool list, argument names and answer shapes, over the simulator
 * instead of Google. They let the tests drive jjm's presets end to end
 * without the network:
 *
 * - `jules-mcp-server` (npm 0.2.0, dist/tools, dist/schemas, dist/client):
 *   `jules_*` tools with camelCase arguments (`sessionId: sessions/{id}`),
 *   Jules JSON answered as text; Jules' errors thrown as
 *   `Jules API <status> <text> — <body>`. Over streamable HTTP, as the real
 *   one, but with a transport per request (the real one reuses one, which is
 *   why it answers 500 after the first request; see test/e2e/mcp-real-servers.test.ts).
 * - `google-jules-mcp` (`@google/jules-mcp`, packages/mcp in
 *   google-labs-code/jules-sdk): the low-level Server with JSON-schema
 *   tools; `create_session` answers `Session created. ID: …`, `list_sessions`
 *   the SDK's SessionResource (camelCase states), `get_session_state` a
 *   dashboard; errors `Error executing <tool>: …`. Over stdio.
 * - `jules-mcp` (Python FastMCP over jules-agent-sdk): snake_case arguments,
 *   the SDK's dataclasses serialised with snake_case fields (`null` where
 *   unset, `nextPageToken: null` on the last page), as structuredContent and
 *   JSON text. Over stdio.
 */
import { createServer, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { CallToolRequestSchema, type CallToolResult, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { Activity, Session } from '../../src/core/jules/client.js'
import { SimApiError, type Simulator } from '../../src/sim/engine.js'

export const standInNames = ['jules-mcp-server', 'google-jules-mcp', 'jules-mcp'] as const
export type StandInName = (typeof standInNames)[number]

const text = (value: unknown): CallToolResult => ({
  content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value, null, 2) }],
})

/** How each server's client words an error from Jules. */
function julesApiMessage(error: unknown): string {
  if (!(error instanceof SimApiError)) return error instanceof Error ? error.message : String(error)
  return `Jules API ${error.httpStatus} ${error.status} — ${JSON.stringify(error.toBody())}`
}

// --- jules-mcp-server 0.2.0 ----------------------------------------------------

const pagination = {
  pageSize: z.number().int().min(1).max(100).optional(),
  pageToken: z.string().min(1).optional(),
}
const sessionId = z
  .string()
  .min(1)
  .regex(/^sessions\/[\w-]+$/, 'Invalid session ID format. Expected: sessions/{id}')

export function julesMcpServerStandIn(simulator: Simulator): McpServer {
  const server = new McpServer({ name: 'jules-mcp', version: '0.3.0' })
  // The real server throws; the SDK turns the throw into an isError result holding the message.
  const run =
    <A>(handler: (args: A) => Promise<unknown>, compact = false) =>
    async (args: A): Promise<CallToolResult> => {
      try {
        const data = await handler(args)
        return { content: [{ type: 'text', text: compact ? JSON.stringify(data) : JSON.stringify(data, null, 2) }] }
      } catch (error) {
        throw new Error(julesApiMessage(error))
      }
    }
  server.tool(
    'jules_list_sources',
    'List Jules sources - GET /v1alpha/sources',
    pagination,
    run((args) => simulator.listSources(args)),
  )
  server.tool(
    'jules_create_session',
    'Create Jules session - POST /v1alpha/sessions',
    {
      prompt: z.string().min(1).max(10000),
      source: z.string().regex(/^sources\/github\/[\w-]+\/[\w.-]+$/, 'Invalid source format'),
      title: z.string().min(1).max(200).optional(),
      startingBranch: z.string().min(1).max(255).default('main'),
      requirePlanApproval: z.boolean().default(false),
    },
    run((args) =>
      simulator.createSession({
        prompt: args.prompt,
        sourceContext: { source: args.source, githubRepoContext: { startingBranch: args.startingBranch || 'main' } },
        title: args.title,
        requirePlanApproval: args.requirePlanApproval ?? false,
      }),
    ),
  )
  server.tool(
    'jules_list_sessions',
    'List Jules sessions - GET /v1alpha/sessions',
    pagination,
    run((args) => simulator.listSessions(args)),
  )
  server.tool(
    'jules_approve_plan',
    'Approve latest plan - POST /v1alpha/sessions/{id}:approvePlan',
    { sessionId },
    run(async (args) => {
      await simulator.approvePlan(args.sessionId)
      return { ok: true }
    }, true),
  )
  server.tool(
    'jules_send_message',
    'Send a message to the agent - POST /v1alpha/sessions/{id}:sendMessage',
    { sessionId, prompt: z.string().min(1).max(10000) },
    run(async (args) => {
      await simulator.sendMessage(args.sessionId, args.prompt)
      return { sent: true, note: "Check activities for the agent's response." }
    }, true),
  )
  server.tool(
    'jules_list_activities',
    'List session activities - GET /v1alpha/sessions/{id}/activities',
    { sessionId, ...pagination },
    run(({ sessionId: id, ...page }) => simulator.listActivities(id, page)),
  )
  return server
}

/**
 * Serves a fresh stand-in per request over streamable HTTP at `/mcp`, in
 * stateless mode (what jules-mcp-server meant to do). Resolves to its URL.
 */
export async function serveOverHttp(
  build: () => McpServer,
  options: { refuse?: (method: string) => number | undefined } = {},
): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = []
  const http: HttpServer = createServer(async (request, response) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined
    if (body && typeof body === 'object' && 'method' in body) requests.push(String(body.method))
    const refusal =
      body && typeof body === 'object' && 'method' in body ? options.refuse?.(String(body.method)) : undefined
    if (refusal !== undefined) {
      response.writeHead(refusal, { 'content-type': 'text/plain' }).end('refused by the test')
      return
    }
    if (request.url !== '/mcp') {
      response.writeHead(404).end()
      return
    }
    const server = build()
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
    response.on('close', () => {
      void transport.close()
      void server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(request, response, body)
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const { port } = http.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections()
        http.close(() => resolve())
      }),
  }
}

// --- @google/jules-mcp ----------------------------------------------------------

/** The jules-sdk's camelCase state: `AWAITING_PLAN_APPROVAL` → `awaitingPlanApproval`. */
function sdkState(state: string): string {
  return state.toLowerCase().replace(/_([a-z])/g, (_match, letter: string) => letter.toUpperCase())
}

/** The jules-sdk's SessionResource (mapRestSessionToSdkSession). */
function sessionResource(session: Session): Record<string, unknown> {
  return {
    ...session,
    state: sdkState(session.state),
    archived: session.archived ?? false,
    outputs: (session.outputs ?? []).map((output) =>
      output.pullRequest
        ? { type: 'pullRequest', pullRequest: output.pullRequest }
        : { type: 'changeSet', changeSet: output.changeSet },
    ),
    outcome: { sessionId: session.id, title: session.title, state: sdkState(session.state) },
  }
}

const activityType = (activity: Activity): string =>
  [
    'agentMessaged',
    'userMessaged',
    'planGenerated',
    'planApproved',
    'progressUpdated',
    'sessionCompleted',
    'sessionFailed',
  ].find((type) => activity[type] !== undefined) ?? 'unknown'

async function allActivities(simulator: Simulator, id: string): Promise<Activity[]> {
  const activities: Activity[] = []
  let pageToken: string | undefined
  do {
    const page = await simulator.listActivities(id, { pageSize: 100, ...(pageToken ? { pageToken } : {}) })
    activities.push(...page.activities)
    pageToken = page.nextPageToken
  } while (pageToken)
  return activities
}

/** get_session_state's dashboard (packages/mcp/src/functions/session-state.ts). */
async function sessionState(simulator: Simulator, id: string): Promise<Record<string, unknown>> {
  const session = await simulator.getSession(id)
  const activities = await allActivities(simulator, id)
  const newestFirst = [...activities].reverse()
  const last = newestFirst[0]
  const message = newestFirst.find((activity) => activity.agentMessaged !== undefined)
  const plan = newestFirst.find((activity) => activity.planGenerated !== undefined)
  const approved =
    plan !== undefined &&
    newestFirst.some((activity) => activity.planApproved !== undefined && activity.createTime > plan.createTime)
  const state = sdkState(session.state)
  const status =
    state === 'failed' ? 'failed' : ['queued', 'planning', 'inProgress'].includes(state) ? 'busy' : 'stable'
  const pr = session.outputs?.find((output) => output.pullRequest)?.pullRequest
  return {
    id: session.id,
    status,
    url: session.url,
    title: session.title,
    prompt: session.prompt,
    ...(pr ? { pr: { url: pr.url, title: pr.title } } : {}),
    ...(last ? { lastActivity: { activityId: last.id, type: activityType(last), timestamp: last.createTime } } : {}),
    ...(message
      ? {
          lastAgentMessage: {
            activityId: message.id,
            content: message.agentMessaged?.agentMessage,
            timestamp: message.createTime,
          },
        }
      : {}),
    ...(plan && !approved && plan.planGenerated?.plan
      ? {
          pendingPlan: {
            activityId: plan.id,
            planId: plan.planGenerated.plan.id,
            steps: (plan.planGenerated.plan.steps ?? []).map((step) => ({
              title: step.title,
              description: step.description,
            })),
          },
        }
      : {}),
  }
}

const googleTools = [
  {
    name: 'create_session',
    description: 'Creates a new Jules session or automated run to perform code tasks.',
    inputSchema: {
      type: 'object',
      properties: {
        prompt: { type: 'string' },
        repo: { type: 'string' },
        branch: { type: 'string' },
        interactive: { type: 'boolean' },
        autoPr: { type: 'boolean' },
        title: { type: 'string' },
      },
      required: ['prompt'],
    },
  },
  {
    name: 'list_sessions',
    description: 'Lists recent Jules sessions.',
    inputSchema: { type: 'object', properties: { pageSize: { type: 'number' } } },
  },
  {
    name: 'get_session_state',
    description: 'Get the current status of a Jules session.',
    inputSchema: { type: 'object', properties: { sessionId: { type: 'string' } }, required: ['sessionId'] },
  },
  {
    name: 'send_reply_to_session',
    description: 'Interacts with an active Jules session (approving plans or sending messages).',
    inputSchema: {
      type: 'object',
      properties: {
        sessionId: { type: 'string' },
        action: { type: 'string', enum: ['approve', 'send', 'ask'] },
        message: { type: 'string' },
      },
      required: ['sessionId', 'action'],
    },
  },
  {
    name: 'show_code_diff',
    description: 'Show the actual code diff for files from a Jules session.',
    inputSchema: {
      type: 'object',
      properties: { sessionId: { type: 'string' }, file: { type: 'string' }, activityId: { type: 'string' } },
      required: ['sessionId'],
    },
  },
  {
    name: 'get_code_review_context',
    description: 'Review code changes from a Jules session.',
    inputSchema: { type: 'object', properties: { sessionId: { type: 'string' } }, required: ['sessionId'] },
  },
  {
    name: 'query_cache',
    description: 'Query the LOCAL CACHE of sessions and activities.',
    inputSchema: { type: 'object', properties: { query: { type: 'object' } }, required: ['query'] },
  },
]

export function googleJulesMcpStandIn(simulator: Simulator): Server {
  const server = new Server({ name: 'jules-mcp', version: '0.2.0' }, { capabilities: { tools: {}, prompts: {} } })
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: googleTools }))
  const handlers: Record<string, (args: Record<string, unknown>) => Promise<CallToolResult>> = {
    create_session: async (args) => {
      // Only a repo and a branch together name a source; otherwise the session is repoless.
      const source = args.repo && args.branch ? `sources/github/${String(args.repo)}` : undefined
      const session = await simulator.createSession({
        prompt: String(args.prompt),
        ...(source ? { sourceContext: { source, githubRepoContext: { startingBranch: String(args.branch) } } } : {}),
        ...(args.title ? { title: String(args.title) } : {}),
        requirePlanApproval: args.interactive === true,
        automationMode: args.autoPr === false ? 'AUTOMATION_MODE_UNSPECIFIED' : 'AUTO_CREATE_PR',
      })
      return text(`Session created. ID: ${session.id}`)
    },
    list_sessions: async (args) => {
      const page = await simulator.listSessions({ pageSize: typeof args.pageSize === 'number' ? args.pageSize : 10 })
      return text({ sessions: page.sessions.map(sessionResource), nextPageToken: page.nextPageToken })
    },
    get_session_state: async (args) => text(await sessionState(simulator, String(args.sessionId))),
    send_reply_to_session: async (args) => {
      if (args.action === 'approve') {
        await simulator.approvePlan(String(args.sessionId))
        return text('Plan approved.')
      }
      if (args.action === 'send') {
        if (!args.message) throw new Error("Message is required for 'send' action")
        await simulator.sendMessage(String(args.sessionId), String(args.message))
        return text('Message sent.')
      }
      throw new Error(`Invalid action: ${String(args.action)}`)
    },
    show_code_diff: async (args) => {
      const activities = await allActivities(simulator, String(args.sessionId))
      const patch = activities
        .flatMap((activity) => activity.artifacts ?? [])
        .map((artifact) => artifact.changeSet?.gitPatch?.unidiffPatch)
        .findLast((found) => found !== undefined)
      return text(patch ?? 'No changes found in this session.')
    },
    get_code_review_context: async () => text('No changes.'),
    query_cache: async () => text({ results: [] }),
  }
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const { name, arguments: args } = request.params
    const handler = handlers[name]
    if (!handler) throw new Error(`Tool not found: ${name}`)
    try {
      return await handler(args ?? {})
    } catch (error) {
      return { content: [{ type: 'text', text: `Error executing ${name}: ${julesApiMessage(error)}` }], isError: true }
    }
  })
  return server
}

// --- jules-mcp (Python) ---------------------------------------------------------

/** A jules-agent-sdk Session dataclass, serialised by FastMCP: snake_case, `null` where unset. */
function pythonSession(session: Session): Record<string, unknown> {
  const branch = session.sourceContext?.githubRepoContext?.startingBranch
  return {
    prompt: session.prompt,
    source_context: {
      source: session.sourceContext?.source ?? '',
      github_repo_context: branch === undefined ? null : { starting_branch: branch },
    },
    name: session.name,
    id: session.id,
    title: session.title ?? '',
    automation_mode: session.automationMode ?? null,
    require_plan_approval: session.requirePlanApproval ?? false,
    create_time: session.createTime,
    update_time: session.updateTime,
    state: session.state,
    url: session.url ?? '',
    outputs: (session.outputs ?? [])
      .filter((output) => output.pullRequest)
      .map((output) => ({
        pull_request: {
          url: output.pullRequest?.url,
          title: output.pullRequest?.title ?? '',
          description: output.pullRequest?.description ?? '',
        },
      })),
  }
}

/** A jules-agent-sdk Activity dataclass: the event payloads stay the API's camelCase dicts. */
function pythonActivity(activity: Activity): Record<string, unknown> {
  return {
    name: activity.name,
    id: activity.id,
    description: activity.description ?? '',
    create_time: activity.createTime,
    originator: activity.originator ?? '',
    artifacts: (activity.artifacts ?? []).map((artifact) => ({
      change_set: artifact.changeSet
        ? {
            source: artifact.changeSet.source ?? '',
            git_patch: artifact.changeSet.gitPatch
              ? {
                  unidiff_patch: artifact.changeSet.gitPatch.unidiffPatch ?? '',
                  base_commit_id: artifact.changeSet.gitPatch.baseCommitId ?? '',
                  suggested_commit_message: artifact.changeSet.gitPatch.suggestedCommitMessage ?? '',
                }
              : null,
          }
        : null,
      media: artifact.media ? { data: artifact.media.data ?? '', mime_type: artifact.media.mimeType ?? '' } : null,
      bash_output: artifact.bashOutput
        ? {
            command: artifact.bashOutput.command ?? '',
            output: artifact.bashOutput.output ?? '',
            exit_code: artifact.bashOutput.exitCode ?? 0,
          }
        : null,
    })),
    agent_messaged: activity.agentMessaged ?? null,
    user_messaged: activity.userMessaged ?? null,
    plan_generated: activity.planGenerated ?? null,
    plan_approved: activity.planApproved ?? null,
    progress_updated: activity.progressUpdated ?? null,
    session_completed: activity.sessionCompleted ?? null,
    session_failed: activity.sessionFailed ?? null,
  }
}

export function pythonJulesMcpStandIn(simulator: Simulator): McpServer {
  const server = new McpServer({ name: 'Jules MCP Server', version: '0.1.3' })
  // FastMCP: an object result is structuredContent and JSON text; a raised exception an isError result.
  const run =
    <A>(name: string, handler: (args: A) => Promise<Record<string, unknown>>) =>
    async (args: A): Promise<CallToolResult> => {
      try {
        const result = await handler(args)
        return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result }
      } catch (error) {
        return {
          content: [{ type: 'text', text: `Error calling tool '${name}': ${julesApiMessage(error)}` }],
          isError: true,
        }
      }
    }
  const optionalString = z.string().nullable().optional()
  const optionalInt = z.number().int().nullable().optional()
  const tool = <S extends z.ZodRawShape>(
    name: string,
    input: S,
    handler: (args: z.infer<z.ZodObject<S>>) => Promise<Record<string, unknown>>,
  ) => server.registerTool(name, { title: name, inputSchema: input }, run(name, handler) as never)
  tool('get_source', { source_id: z.string() }, async (args) => {
    const source = await simulator.getSource(args.source_id)
    return { name: source.name, id: source.id, github_repo: source.githubRepo ?? null }
  })
  tool(
    'list_sources',
    { filter_str: optionalString, page_size: optionalInt, page_token: optionalString },
    async (args) => {
      const page = await simulator.listSources({
        ...(args.filter_str ? { filter: args.filter_str } : {}),
        ...(args.page_size ? { pageSize: args.page_size } : {}),
        ...(args.page_token ? { pageToken: args.page_token } : {}),
      })
      return { sources: page.sources, nextPageToken: page.nextPageToken ?? null }
    },
  )
  tool(
    'create_session',
    {
      prompt: z.string(),
      source: z.string(),
      starting_branch: optionalString,
      title: optionalString,
      require_plan_approval: z.boolean().default(false),
      auto_self_review: z.boolean().default(true),
    },
    async (args) =>
      pythonSession(
        await simulator.createSession({
          prompt: args.prompt,
          sourceContext: {
            source: args.source,
            ...(args.starting_branch ? { githubRepoContext: { startingBranch: args.starting_branch } } : {}),
          },
          ...(args.title ? { title: args.title } : {}),
          requirePlanApproval: args.require_plan_approval ?? false,
        }),
      ),
  )
  tool('get_session', { session_id: z.string() }, async (args) =>
    pythonSession(await simulator.getSession(args.session_id)),
  )
  tool('list_sessions', { page_size: optionalInt, page_token: optionalString }, async (args) => {
    const page = await simulator.listSessions({
      ...(args.page_size ? { pageSize: args.page_size } : {}),
      ...(args.page_token ? { pageToken: args.page_token } : {}),
    })
    return { sessions: page.sessions.map(pythonSession), nextPageToken: page.nextPageToken ?? null }
  })
  tool('approve_session_plan', { session_id: z.string() }, async (args) => {
    await simulator.approvePlan(args.session_id)
    return { status: 'approved' }
  })
  tool('send_session_message', { session_id: z.string(), prompt: z.string() }, async (args) => {
    await simulator.sendMessage(args.session_id, args.prompt)
    return { status: 'sent' }
  })
  tool(
    'list_activities',
    { session_id: z.string(), page_size: optionalInt, page_token: optionalString },
    async (args) => {
      const page = await simulator.listActivities(args.session_id, {
        ...(args.page_size ? { pageSize: args.page_size } : {}),
        ...(args.page_token ? { pageToken: args.page_token } : {}),
      })
      return { activities: page.activities.map(pythonActivity), nextPageToken: page.nextPageToken ?? null }
    },
  )
  tool('get_activity', { session_id: z.string(), activity_id: z.string() }, async (args) =>
    pythonActivity(
      await simulator.getActivity(
        `sessions/${args.session_id.replace(/^sessions\//, '')}/activities/${args.activity_id}`,
      ),
    ),
  )
  return server
}
