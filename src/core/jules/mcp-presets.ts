/**
 * How jjm speaks to each Jules MCP server people install: which tool serves
 * which JulesClient method, under which argument names, and how its answers
 * become Jules JSON. A preset is a declared mapping (the same format a user
 * writes under `jules.mcp.tools` for any other server), plus, for servers
 * whose answers are not Jules JSON at all, a few functions that reshape them.
 *
 * The presets follow the servers' published tool lists:
 * - `jjm`: jjm's own tool set (`jjm mcp serve`), Jules JSON in and out.
 * - `jules-mcp-server` (npm 0.2.0): `jules_*` tools, camelCase arguments,
 *   Jules JSON answers as text; no single-session read (jjm looks the session
 *   up in jules_list_sessions) and no single-source read.
 * - `google-jules-mcp` (`@google/jules-mcp` from google-labs-code/jules-sdk):
 *   `create_session` answers `Session created. ID: …`, sessions come from
 *   `list_sessions` with camelCase states, and activities only as the
 *   dashboard of `get_session_state` (last agent message, pending plan).
 * - `jules-mcp` (Python, FastMCP over jules-agent-sdk): snake_case arguments
 *   and snake_case answers.
 */
import { ConfigurationError } from '../errors.js'
import type { JulesClient } from './client.js'

/** The JulesClient methods a tool may serve. */
export type McpMethod = Exclude<
  keyof JulesClient,
  'kind' | 'close' | 'circuit' | 'archiveSession' | 'unarchiveSession' | 'deleteSession'
>
/** The port's optional session actions, offered only when the server has a tool for them. */
export type McpOptionalMethod = 'archiveSession' | 'unarchiveSession' | 'deleteSession'
export type McpAnyMethod = McpMethod | McpOptionalMethod

export const mcpMethods: readonly McpMethod[] = [
  'listSources',
  'getSource',
  'createSession',
  'getSession',
  'listSessions',
  'listActivities',
  'sendMessage',
  'approvePlan',
]
export const mcpOptionalMethods: readonly McpOptionalMethod[] = ['archiveSession', 'unarchiveSession', 'deleteSession']

/**
 * What jjm knows when it calls each method, by name; a tool's arguments are
 * chosen from these (`args: {toolArgument: inputName}`):
 *
 * | method | inputs |
 * |---|---|
 * | listSources | filter, pageSize, pageToken |
 * | getSource | name (`sources/github/o/r`), id (`github/o/r`), repository (`o/r`) |
 * | createSession | prompt, sourceContext (object), source, repository, startingBranch, title, requirePlanApproval, automationMode, autoCreatePr (boolean) |
 * | getSession, archiveSession, unarchiveSession, deleteSession | name / session (`sessions/{id}`), id |
 * | listSessions | pageSize, pageToken, filter |
 * | listActivities | parent / session (`sessions/{id}`), id, pageSize, pageToken, filter |
 * | sendMessage | session (`sessions/{id}`), id, prompt |
 * | approvePlan | session (`sessions/{id}`), id |
 */
export const mcpMethodInputs: Readonly<Record<McpAnyMethod, readonly string[]>> = {
  listSources: ['filter', 'pageSize', 'pageToken'],
  getSource: ['name', 'id', 'repository'],
  createSession: [
    'prompt',
    'sourceContext',
    'source',
    'repository',
    'startingBranch',
    'title',
    'requirePlanApproval',
    'automationMode',
    'autoCreatePr',
  ],
  getSession: ['name', 'session', 'id'],
  listSessions: ['pageSize', 'pageToken', 'filter'],
  listActivities: ['parent', 'session', 'id', 'pageSize', 'pageToken', 'filter'],
  sendMessage: ['session', 'id', 'prompt'],
  approvePlan: ['session', 'id'],
  archiveSession: ['name', 'session', 'id'],
  unarchiveSession: ['name', 'session', 'id'],
  deleteSession: ['name', 'session', 'id'],
}

/** One tool: its name and, per argument it takes, the jjm input that fills it. */
export interface McpToolMapping {
  tool: string
  /** `{toolArgument: jjmInput}`; an input jjm lacks for a call is left out. */
  args: Readonly<Record<string, string>>
}

/** The answer of a tool, reshaped into the Jules JSON of the REST answer. */
export type AnswerShaper = (answer: unknown, inputs: Readonly<Record<string, unknown>>) => unknown

export interface McpPreset {
  /** The value of `jules.mcp.preset`. */
  name: string
  /** How errors name the server. */
  label: string
  tools: Readonly<Partial<Record<McpAnyMethod, McpToolMapping>>>
  /** Answer field renames applied before snake_case keys become camelCase: `{serverField: julesField}`. */
  fields?: Readonly<Record<string, string>>
  /** Reshapes a method's answer when the server does not answer Jules JSON. */
  shapers?: Readonly<Partial<Record<McpAnyMethod, AnswerShaper>>>
  /** The tools whose presence on a server identifies it (any one suffices). */
  signature?: readonly string[]
  /**
   * The server takes a repository only together with a branch, and without
   * one silently starts a session on no repository: jjm refuses instead.
   */
  branchRequired?: boolean
}

const same = (...names: string[]): Record<string, string> => Object.fromEntries(names.map((name) => [name, name]))

export const jjmPreset: McpPreset = {
  name: 'jjm',
  label: 'jjm (`jjm mcp serve`)',
  tools: {
    listSources: { tool: 'list_sources', args: same('filter', 'pageSize', 'pageToken') },
    getSource: { tool: 'get_source', args: same('name') },
    createSession: {
      tool: 'create_session',
      args: same('prompt', 'sourceContext', 'title', 'requirePlanApproval', 'automationMode'),
    },
    getSession: { tool: 'get_session', args: same('name') },
    listSessions: { tool: 'list_sessions', args: same('pageSize', 'pageToken', 'filter') },
    listActivities: { tool: 'list_activities', args: same('parent', 'pageSize', 'pageToken', 'filter') },
    sendMessage: { tool: 'send_message', args: same('session', 'prompt') },
    approvePlan: { tool: 'approve_plan', args: same('session') },
    archiveSession: { tool: 'archive_session', args: same('session') },
    unarchiveSession: { tool: 'unarchive_session', args: same('session') },
    deleteSession: { tool: 'delete_session', args: same('session') },
  },
}

export const julesMcpServerPreset: McpPreset = {
  name: 'jules-mcp-server',
  label: 'jules-mcp-server',
  signature: ['jules_create_session', 'jules_list_sessions'],
  tools: {
    listSources: { tool: 'jules_list_sources', args: same('pageSize', 'pageToken') },
    createSession: {
      tool: 'jules_create_session',
      args: same('prompt', 'source', 'startingBranch', 'title', 'requirePlanApproval'),
    },
    listSessions: { tool: 'jules_list_sessions', args: same('pageSize', 'pageToken') },
    listActivities: {
      tool: 'jules_list_activities',
      args: { sessionId: 'session', pageSize: 'pageSize', pageToken: 'pageToken' },
    },
    sendMessage: { tool: 'jules_send_message', args: { sessionId: 'session', prompt: 'prompt' } },
    approvePlan: { tool: 'jules_approve_plan', args: { sessionId: 'session' } },
  },
}

export const pythonJulesMcpPreset: McpPreset = {
  name: 'jules-mcp',
  label: 'jules-mcp (Python)',
  signature: ['send_session_message', 'approve_session_plan'],
  tools: {
    listSources: {
      tool: 'list_sources',
      args: { filter_str: 'filter', page_size: 'pageSize', page_token: 'pageToken' },
    },
    getSource: { tool: 'get_source', args: { source_id: 'name' } },
    createSession: {
      tool: 'create_session',
      args: {
        prompt: 'prompt',
        source: 'source',
        starting_branch: 'startingBranch',
        title: 'title',
        require_plan_approval: 'requirePlanApproval',
      },
    },
    getSession: { tool: 'get_session', args: { session_id: 'id' } },
    listSessions: { tool: 'list_sessions', args: { page_size: 'pageSize', page_token: 'pageToken' } },
    listActivities: {
      tool: 'list_activities',
      args: { session_id: 'id', page_size: 'pageSize', page_token: 'pageToken' },
    },
    sendMessage: { tool: 'send_session_message', args: { session_id: 'id', prompt: 'prompt' } },
    approvePlan: { tool: 'approve_session_plan', args: { session_id: 'id' } },
  },
}

/**
 * `get_session_state`'s dashboard as the activities it shows: the last agent
 * message and the plan awaiting approval. Earlier activities are not visible
 * through this server.
 */
function dashboardActivities(answer: unknown, inputs: Readonly<Record<string, unknown>>): unknown {
  if (!isRecord(answer)) return answer
  const parent = String(inputs.parent)
  const activities: Record<string, unknown>[] = []
  const last = isRecord(answer.lastActivity) ? answer.lastActivity : undefined
  const timeOf = (activityId: unknown): string | undefined =>
    last !== undefined && last.activityId === activityId && typeof last.timestamp === 'string'
      ? last.timestamp
      : undefined
  const plan = isRecord(answer.pendingPlan) ? answer.pendingPlan : undefined
  if (plan !== undefined && typeof plan.activityId === 'string') {
    activities.push({
      name: `${parent}/activities/${plan.activityId}`,
      id: plan.activityId,
      createTime: timeOf(plan.activityId),
      originator: 'agent',
      planGenerated: { plan: { id: plan.planId, steps: plan.steps } },
    })
  }
  const message = isRecord(answer.lastAgentMessage) ? answer.lastAgentMessage : undefined
  if (message !== undefined && typeof message.activityId === 'string') {
    activities.push({
      name: `${parent}/activities/${message.activityId}`,
      id: message.activityId,
      createTime: message.timestamp,
      originator: 'agent',
      agentMessaged: { agentMessage: message.content },
    })
  }
  activities.sort((a, b) => String(a.createTime ?? '').localeCompare(String(b.createTime ?? '')))
  return { activities }
}

/** `Session created. ID: 123` → a session jjm then reads in full. */
function createdSessionId(answer: unknown): unknown {
  if (typeof answer !== 'string') return answer
  const id = /\bID:\s*([A-Za-z0-9_-]+)/.exec(answer)?.[1]
  return id === undefined ? answer : { name: `sessions/${id}`, id, readAgain: true }
}

export const googleJulesMcpPreset: McpPreset = {
  name: 'google-jules-mcp',
  label: '@google/jules-mcp',
  signature: ['send_reply_to_session', 'get_session_state'],
  tools: {
    createSession: {
      tool: 'create_session',
      args: {
        prompt: 'prompt',
        repo: 'repository',
        branch: 'startingBranch',
        interactive: 'requirePlanApproval',
        autoPr: 'autoCreatePr',
        title: 'title',
      },
    },
    listSessions: { tool: 'list_sessions', args: same('pageSize') },
    listActivities: { tool: 'get_session_state', args: { sessionId: 'id' } },
    sendMessage: { tool: 'send_reply_to_session', args: { sessionId: 'id', message: 'prompt', action: '=send' } },
    approvePlan: { tool: 'send_reply_to_session', args: { sessionId: 'id', action: '=approve' } },
  },
  shapers: { createSession: createdSessionId, listActivities: dashboardActivities },
  branchRequired: true,
}

export const mcpPresets: Readonly<Record<string, McpPreset>> = {
  jjm: jjmPreset,
  'jules-mcp-server': julesMcpServerPreset,
  'google-jules-mcp': googleJulesMcpPreset,
  'jules-mcp': pythonJulesMcpPreset,
}
export const mcpPresetNames = Object.keys(mcpPresets)

/** The preset a server's tool list identifies; jjm's own when none does. */
export function detectPreset(offered: readonly string[]): McpPreset {
  const tools = new Set(offered)
  for (const preset of Object.values(mcpPresets)) {
    if (preset.signature?.some((tool) => tools.has(tool))) return preset
  }
  return jjmPreset
}

/** A user's declared mapping (`jules.mcp.tools`, `jules.mcp.fields`) laid over a preset. */
export function withMapping(
  preset: McpPreset,
  tools: Readonly<Record<string, unknown>> | undefined,
  fields: Readonly<Record<string, string>> | undefined,
): McpPreset {
  if (tools === undefined && fields === undefined) return preset
  const merged: Partial<Record<McpAnyMethod, McpToolMapping>> = { ...preset.tools }
  const shapers = { ...preset.shapers }
  for (const [method, value] of Object.entries(tools ?? {})) {
    if (!(method in mcpMethodInputs)) {
      throw new ConfigurationError(
        `jules.mcp.tools names "${method}", which is not a Jules method jjm calls. Use one of: ${Object.keys(mcpMethodInputs).join(', ')}.`,
        { context: { key: `jules.mcp.tools.${method}` } },
      )
    }
    const mapping = parseToolMapping(method as McpAnyMethod, value)
    merged[method as McpAnyMethod] = mapping
    // A declared tool answers Jules JSON (with field renames); the preset's reshaping was for its own tool.
    delete shapers[method as McpAnyMethod]
  }
  return {
    ...preset,
    name: `${preset.name}+mapping`,
    label: `${preset.label} with the mapping in jules.mcp.tools`,
    tools: merged,
    shapers,
    fields: { ...preset.fields, ...fields },
  }
}

function parseToolMapping(method: McpAnyMethod, value: unknown): McpToolMapping {
  const key = `jules.mcp.tools.${method}`
  const inputs = mcpMethodInputs[method]
  const fix = `Write it as {tool: <name>, args: {<tool argument>: <jjm input>}}; the inputs of ${method} are ${inputs.join(', ')} (or "=<literal>").`
  if (typeof value === 'string' && value.trim() !== '') {
    return { tool: value.trim(), args: Object.fromEntries(inputs.map((input) => [input, input])) }
  }
  if (!isRecord(value) || typeof value.tool !== 'string' || value.tool.trim() === '') {
    throw new ConfigurationError(`${key} must name its tool. ${fix}`, { context: { key } })
  }
  const args: Record<string, string> = {}
  if (value.args !== undefined) {
    if (!isRecord(value.args))
      throw new ConfigurationError(`${key}.args must be a mapping. ${fix}`, { context: { key } })
    for (const [argument, input] of Object.entries(value.args)) {
      if (typeof input !== 'string' || (!input.startsWith('=') && !inputs.includes(input))) {
        throw new ConfigurationError(
          `${key}.args.${argument} is ${JSON.stringify(input)}, which is not an input of ${method}. ${fix}`,
          { context: { key: `${key}.args.${argument}` } },
        )
      }
      args[argument] = input
    }
  } else {
    for (const input of inputs) args[input] = input
  }
  return { tool: value.tool.trim(), args }
}

/** A tool's arguments from jjm's inputs; undefined inputs are left out, `=text` is the literal text. */
export function toolArguments(
  mapping: McpToolMapping,
  inputs: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const args: Record<string, unknown> = {}
  for (const [argument, input] of Object.entries(mapping.args)) {
    const value = input.startsWith('=') ? input.slice(1) : inputs[input]
    if (value !== undefined && value !== null) args[argument] = value
  }
  return args
}

/**
 * An answer as Jules JSON: declared field renames first, then every
 * snake_case key in camelCase (`source_context` → `sourceContext`), and
 * `null` values dropped (an absent field, as Jules means it). Values are
 * never changed, so nothing the server said is lost.
 */
export function normaliseAnswer(answer: unknown, fields: Readonly<Record<string, string>> = {}): unknown {
  if (Array.isArray(answer)) return answer.map((item) => normaliseAnswer(item, fields))
  if (!isRecord(answer)) return answer
  const result: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(answer)) {
    if (value === null || value === undefined) continue
    const renamed = fields[key] ?? camelCase(key)
    // A camelCase field the server also sent wins over its snake_case twin.
    if (renamed !== key && Object.hasOwn(answer, renamed)) continue
    result[renamed] = normaliseAnswer(value, fields)
  }
  return result
}

function camelCase(key: string): string {
  return key.includes('_') ? key.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase()) : key
}

/** `awaitingPlanApproval` → `AWAITING_PLAN_APPROVAL`: Jules' enum spelling for states some servers camel-case. */
export function julesState(state: string): string {
  return /^[a-z][A-Za-z]*$/.test(state) ? state.replace(/([A-Z])/g, '_$1').toUpperCase() : state
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
