/**
 * The simulator as a Jules MCP server: jjm's MCP tool set (see `mcpTools` in
 * ../mcp.ts) over a Simulator. `jjm mcp serve` runs it over stdio, and the
 * tests of the `mcp` adapter spawn it as their server.
 *
 * Every answer carries the Jules JSON twice, as structuredContent and as text
 * content, the way the MCP spec suggests for clients that read only one; an
 * error is an `isError` result whose text is Google's JSON error body.
 */
import type { Readable, Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import { googleErrorBody, googleStatusByHttp } from '../core/jules/google-errors.js'
import { type McpMethod, type McpToolSpec, mcpOptionalTools, mcpTools } from '../core/jules/mcp.js'
import type { McpOptionalMethod } from '../core/jules/mcp-presets.js'
import { type Logger, silentLogger } from '../core/ports.js'
import { SimApiError, type Simulator } from './engine.js'

export interface SimMcpServerOptions {
  simulator: Simulator
  logger?: Logger
  /** Tool names to leave out, e.g. `['approve_plan']`: a server lacking a tool, for tests. */
  omitTools?: readonly string[]
  /** Answer with JSON text content only, no structuredContent, as many community servers do. */
  textOnly?: boolean
  /** Reported to clients in the MCP handshake. Default `dev`. */
  version?: string
  /**
   * Called before a tool runs and after it ran, before its answer is sent:
   * lets a test fixture die at either point, as a crashing server would.
   */
  onTool?: (tool: string, phase: 'before' | 'after') => void | Promise<void>
}

type ToolInput = Record<string, unknown>

interface ToolDefinition {
  description: string
  input: Record<string, z.ZodType>
  run(args: ToolInput): Promise<unknown>
}

const pageSize = z.number().int().min(0).optional().describe('Page size; the simulator caps it at 100.')
const pageToken = z.string().optional().describe('nextPageToken of the previous page.')

function definitions(simulator: Simulator): Record<McpMethod | McpOptionalMethod, ToolDefinition> {
  const string = (value: unknown): string => String(value)
  return {
    listSources: {
      description: 'sources.list: the repositories Jules can work on. Answers {sources, nextPageToken}.',
      input: { filter: z.string().optional(), pageSize, pageToken },
      run: (args) => simulator.listSources(args),
    },
    getSource: {
      description: 'sources.get: one source by name (sources/github/{owner}/{repo}).',
      input: { name: z.string().describe('sources/github/{owner}/{repo}') },
      run: (args) => simulator.getSource(string(args.name)),
    },
    createSession: {
      description:
        'sessions.create: starts a Jules session (a task) on a repository. Takes the Session input fields; answers the new Session.',
      input: {
        prompt: z.string().describe('What the agent should do.'),
        sourceContext: z.looseObject({
          source: z.string().describe('sources/github/{owner}/{repo}'),
          githubRepoContext: z.looseObject({ startingBranch: z.string().optional() }).optional(),
        }),
        title: z.string().optional(),
        requirePlanApproval: z.boolean().optional(),
        automationMode: z.enum(['AUTOMATION_MODE_UNSPECIFIED', 'AUTO_CREATE_PR']).optional(),
      },
      run: (args) => simulator.createSession(args),
    },
    getSession: {
      description: 'sessions.get: one session by name (sessions/{id}), with its current state.',
      input: { name: z.string().describe('sessions/{id}') },
      run: (args) => simulator.getSession(string(args.name)),
    },
    listSessions: {
      description:
        'sessions.list: sessions, newest first; archived ones only with the filter `archived = true`. Answers {sessions, nextPageToken}.',
      input: { pageSize, pageToken, filter: z.string().optional().describe('e.g. archived = true') },
      run: (args) => simulator.listSessions(args),
    },
    listActivities: {
      description:
        'sessions.activities.list: what happened in a session, oldest first. Answers {activities, nextPageToken}.',
      input: {
        parent: z.string().describe('sessions/{id}'),
        pageSize,
        pageToken,
        filter: z.string().optional().describe('e.g. create_time>"2026-01-01T00:00:00Z"'),
      },
      run: ({ parent, ...request }) => simulator.listActivities(string(parent), request),
    },
    sendMessage: {
      description: 'sessions.sendMessage: a message to the agent. The reply arrives later as activities.',
      input: { session: z.string().describe('sessions/{id}'), prompt: z.string() },
      run: async (args) => {
        await simulator.sendMessage(string(args.session), string(args.prompt))
        return {}
      },
    },
    approvePlan: {
      description: 'sessions.approvePlan: approves the plan of a session in AWAITING_PLAN_APPROVAL.',
      input: { session: z.string().describe('sessions/{id}') },
      run: async (args) => {
        await simulator.approvePlan(string(args.session))
        return {}
      },
    },
    archiveSession: {
      description: 'sessions.archive: hides the session from sessions.list; archiving twice is harmless.',
      input: { session: z.string().describe('sessions/{id}') },
      run: async (args) => {
        await simulator.archiveSession(string(args.session))
        return {}
      },
    },
    unarchiveSession: {
      description: 'sessions.unarchive: shows an archived session in sessions.list again.',
      input: { session: z.string().describe('sessions/{id}') },
      run: async (args) => {
        await simulator.unarchiveSession(string(args.session))
        return {}
      },
    },
    deleteSession: {
      description: 'sessions.delete: the session answers NOT_FOUND from then on.',
      input: { session: z.string().describe('sessions/{id}') },
      run: async (args) => {
        await simulator.deleteSession(string(args.session))
        return {}
      },
    },
  }
}

/** An McpServer with jjm's tool set over `options.simulator`, not yet connected to a transport. */
export async function createSimMcpServer(options: SimMcpServerOptions): Promise<McpServer> {
  const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js')
  const { simulator } = options
  const logger = (options.logger ?? silentLogger).child({ mcpServer: 'jules-sim' })
  const omitted = new Set(options.omitTools ?? [])
  const server = new McpServer({ name: 'jjm-jules-simulator', version: options.version ?? 'dev' })

  const answer = (value: unknown): CallToolResult => {
    const json = isRecord(value) ? value : {}
    return {
      content: [{ type: 'text', text: JSON.stringify(json) }],
      ...(options.textOnly ? {} : { structuredContent: json }),
    }
  }
  const failure = (httpStatus: number, message: string, status?: string): CallToolResult => ({
    isError: true,
    content: [{ type: 'text', text: JSON.stringify(googleErrorBody(httpStatus, message, status)) }],
  })

  const specs: Record<McpMethod | McpOptionalMethod, McpToolSpec> = { ...mcpTools, ...mcpOptionalTools }
  for (const [method, definition] of Object.entries(definitions(simulator)) as Array<
    [McpMethod | McpOptionalMethod, ToolDefinition]
  >) {
    const { tool, operation } = specs[method]
    if (omitted.has(tool)) continue
    const handler = async (args: ToolInput): Promise<CallToolResult> => {
      // Faults queued on the simulator hit MCP calls as they hit HTTP ones.
      const fault = simulator.takeFault(operation)
      if (fault?.delayMs) await sleep(fault.delayMs)
      if (fault && fault.status >= 400) {
        return failure(fault.status, 'Simulated fault', googleStatusByHttp[fault.status])
      }
      try {
        await options.onTool?.(tool, 'before')
        const result = await definition.run(args)
        await options.onTool?.(tool, 'after')
        logger.debug('sim MCP call', { tool, operation })
        if (fault?.malformed) return { content: [{ type: 'text', text: '{"simulated": malformed' }] }
        return answer(result)
      } catch (error) {
        if (!(error instanceof SimApiError)) throw error
        logger.debug('sim MCP call refused', { tool, operation, status: error.status })
        return failure(error.httpStatus, error.message, error.status)
      }
    }
    server.registerTool(
      tool,
      { title: operation, description: definition.description, inputSchema: definition.input },
      handler as Parameters<McpServer['registerTool']>[2],
    )
  }
  return server
}

export interface SimMcpStdioOptions extends SimMcpServerOptions {
  /** Default `process.stdin` / `process.stdout`: the protocol owns them, so logs go to stderr. */
  stdin?: Readable
  stdout?: Writable
}

export interface RunningSimMcpServer {
  /** Settles when the client hangs up (stdin ends) or close() is called. */
  closed: Promise<void>
  close(): Promise<void>
}

/** Serves the simulator over stdio until the client closes stdin. */
export async function serveSimMcpOverStdio(options: SimMcpStdioOptions): Promise<RunningSimMcpServer> {
  const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js')
  const server = await createSimMcpServer(options)
  const stdin = options.stdin ?? process.stdin
  const transport = new StdioServerTransport(stdin, options.stdout ?? process.stdout)
  let settle: () => void = () => {}
  const closed = new Promise<void>((resolve) => {
    settle = resolve
  })
  server.server.onclose = () => settle()
  const close = async (): Promise<void> => {
    await server.close()
    settle()
  }
  // The transport does not watch for the end of stdin; a client that hangs up expects the server to go.
  stdin.once('end', () => void close())
  await server.connect(transport)
  return { closed, close }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
