/**
 * One validated configuration object, built from three layers in increasing
 * precedence: the config file, the environment, the command-line flags.
 *
 * zod and yaml are imported inside `loadConfig` rather than at the top: this
 * module is reachable from the base command, and `jjm --help` must stay fast.
 */
import { readFile, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, extname, isAbsolute, join, resolve } from 'node:path'
import type { ZodType } from 'zod'
import { durationMs } from './duration.js'
import { ConfigurationError } from './errors.js'
import { mcpPresetNames } from './jules/mcp-presets.js'
import type { NotifierRoute } from './notifications.js'
import { awaitingPersonStates } from './task.js'

/** The configuration every part of jjm reads; produced by {@link loadConfig}. */
export interface JjmConfig {
  jules: {
    /** The Jules backend's name: `rest`, `mcp`, `sim` or one a plugin registers; checked against the registry when Jules is first called. */
    backend: string
    apiKey?: string
    /** Base URL of the Jules API, without a trailing slash. */
    apiUrl: string
    timeoutMs: number
    /**
     * How long, beyond `timeoutMs`, an idempotency key stays locked after a
     * create that may have reached Jules, so that Jules can show the session
     * before a retry looks for it.
     */
    createGraceMs: number
    maxAttempts: number
    breaker: { failureThreshold: number; cooldownMs: number }
    /**
     * The Jules MCP server of the `mcp` backend (docs/mcp.md): spawned over stdio
     * (`command`, `args`, `env`) or reached over streamable HTTP (`url`, `headers`);
     * `preset` names the server's tool set, `tools`/`fields` declare a mapping.
     * Present only when configured.
     */
    mcp?: {
      command?: string
      args?: string[]
      env?: Record<string, string>
      url?: string
      headers?: Record<string, string>
      preset?: string
      tools?: Record<string, unknown>
      fields?: Record<string, string>
    }
    /** The Jules plan whose quotas jjm keeps to (see `planLimits` in plan-quota.ts); absent: no local limit. */
    plan?: JulesPlan
    /** Explicit quotas; each overrides the plan's. */
    limits?: { concurrent?: number; daily?: number }
  }
  sim: { runSeconds: number; autoApproveSeconds: number }
  storage: {
    backend: string
    /** The sqlite file (absolute, or `:memory:`). */
    path: string
    url?: string
    poolSize: number
    /** The backend to open instead when PostgreSQL is unreachable at start-up (only `sqlite`); unset: fail instead. */
    fallback?: string
  }
  /** `namespace`: the prefix of every cache key and event channel; by default derived from the storage. */
  cache: { backend: string; url?: string; namespace?: string }
  log: {
    level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent'
    format: 'auto' | 'pretty' | 'json'
    file?: string
  }
  /** `requestsPerMinute`: the ceiling on requests to Jules, one per Jules account (shared through Redis by every process on it). */
  /** `pushgatewayUrl`: where `monitor --once` pushes its run's metrics; unset: nothing is pushed. */
  /** `leaseTtlSeconds`: how long a task's sync lease lasts unless renewed (renewed every third of it while a sync runs). */
  /**
   * `stalledAfter`: how long a task may go without new activity from Jules, by
   * state, before it is marked stalled (milliseconds; null: never in that
   * state). States waiting for a person are never stalled. `nudgeStalled`:
   * send `nudgeMessage` to the agent once per stall.
   */
  monitor: {
    concurrency: number
    requestsPerMinute: number
    leaseTtlSeconds: number
    pushgatewayUrl?: string
    stalledAfter: StalledAfter
    nudgeStalled: boolean
    nudgeMessage: string
  }
  /** Where notifications go and which events each target gets; empty: none are sent. */
  notifiers: NotifierRoute[]
  /**
   * How long the outbox keeps notifications once done: delivered ones for
   * `keepDeliveredDays`, given-up ones longer (`keepFailedDays`) so that
   * people can still retry them. Pending ones are kept until done.
   */
  notifications: { keepDeliveredDays: number; keepFailedDays: number }
  /**
   * The daemon's REST API. `rateLimit`: requests per minute for a key that
   * sets none; `authFailuresPerMinute`: failed authentications one address may
   * make before it is refused for 15 minutes.
   */
  api: {
    host: string
    port: number
    corsOrigins: string[]
    bodyLimitBytes: number
    rateLimit: number
    authFailuresPerMinute: number
    shutdownTimeoutMs: number
    /** The daemon's metrics port (`/metrics`); 0 picks a free one. */
    metricsPort: number
    /** Serve `/metrics` on the API port as well (public, like /health). */
    metricsOnApiPort: boolean
  }
  /**
   * The daemon's background health checks: every `intervalSeconds`, each
   * check failing after `timeoutMs`; the disk check warns below
   * `diskWarnBytes` free (or 5 %) and fails below `diskFailBytes`.
   */
  health: { intervalSeconds: number; timeoutMs: number; diskWarnBytes: number; diskFailBytes: number }
  dataDir: string
  /** The config file that was read, if any. */
  configFile?: string
}

/** The states a task can stall in: the ones where Jules, not a person, has the next move. */
export const stallableStates = ['queued', 'planning', 'in_progress'] as const
export type StallableState = (typeof stallableStates)[number]
/** Milliseconds without activity before a task in each state is stalled; null: never. */
export type StalledAfter = Record<StallableState, number | null>

/** What `monitor.nudgeStalled` sends when `monitor.nudgeMessage` says nothing else. */
export const defaultNudgeMessage = 'Are you still working on this? Please continue, or tell me what is blocking you.'

/** The flags every command shares; each one overrides its env var and config key. */
export interface ConfigFlags {
  jules?: string
  storage?: string
  cache?: string
  db?: string
  logLevel?: string
  logFormat?: string
  config?: string
}

/** Where {@link loadConfig} looks. */
export interface ConfigSources {
  /** oclif's config dir: where `config.yaml` is looked for. */
  configDir: string
  /** oclif's data dir: where the sqlite file lives by default. */
  dataDir: string
  /** Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv
  flags?: ConfigFlags
  /** An explicit `--config` path; a missing file is an error. */
  file?: string
}

export const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const
export const logFormats = ['auto', 'pretty', 'json'] as const
/** The built-in Jules backends; plugins may register more. */
export const julesBackends = ['rest', 'sim', 'mcp'] as const
/** The Jules plans, each with its own quotas (see plan-quota.ts). */
export const julesPlans = ['free', 'pro', 'ultra'] as const
export type JulesPlan = (typeof julesPlans)[number]

/** Where one value came from; named in every error about it. */
type Source = { kind: 'file'; path: string } | { kind: 'env'; name: string } | { kind: 'flag'; name: string }

type LeafKind =
  | 'enum'
  | 'string'
  | 'stringList'
  | 'stringMap'
  | 'mapping'
  | 'path'
  | 'httpUrl'
  | 'int'
  | 'number'
  | 'boolean'
  | 'routes'
  | 'duration'

/** One settable key: its type, its env var and flag, and how to explain a bad value. */
interface Leaf {
  key: string
  kind: LeafKind
  values?: readonly string[]
  /** Smallest allowed number. */
  min?: number
  env?: string
  flag?: keyof ConfigFlags
  /** Never echoed in messages or error context. */
  secret?: boolean
  /** The fix, as the end of "expected …". */
  expected: string
}

const flagNames: Record<keyof ConfigFlags, string> = {
  jules: '--jules',
  storage: '--storage',
  cache: '--cache',
  db: '--db',
  logLevel: '--log-level',
  logFormat: '--log-format',
  config: '--config',
}

const leaves: readonly Leaf[] = [
  {
    key: 'jules.backend',
    kind: 'string',
    env: 'JJM_JULES',
    flag: 'jules',
    expected: `a backend name such as ${julesBackends.join(', ')}`,
  },
  { key: 'jules.apiKey', kind: 'string', env: 'JULES_API_KEY', secret: true, expected: 'a non-empty string' },
  {
    key: 'jules.apiUrl',
    kind: 'httpUrl',
    env: 'JULES_API_URL',
    expected: 'an http(s) URL such as https://jules.googleapis.com',
  },
  {
    key: 'jules.timeoutMs',
    kind: 'int',
    min: 1,
    env: 'JJM_JULES_TIMEOUT_MS',
    expected: 'a whole number of milliseconds, at least 1',
  },
  {
    key: 'jules.createGraceMs',
    kind: 'int',
    min: 0,
    env: 'JJM_JULES_CREATE_GRACE_MS',
    expected: 'a whole number of milliseconds, at least 0',
  },
  {
    key: 'jules.maxAttempts',
    kind: 'int',
    min: 1,
    env: 'JJM_JULES_MAX_ATTEMPTS',
    expected: 'a whole number, at least 1',
  },
  { key: 'jules.breaker.failureThreshold', kind: 'int', min: 1, expected: 'a whole number, at least 1' },
  { key: 'jules.breaker.cooldownMs', kind: 'int', min: 0, expected: 'a whole number of milliseconds, at least 0' },
  { key: 'jules.mcp.command', kind: 'string', env: 'JJM_JULES_MCP_COMMAND', expected: 'a command, e.g. jjm' },
  {
    key: 'jules.mcp.args',
    kind: 'stringList',
    env: 'JJM_JULES_MCP_ARGS',
    expected: 'a list of strings (in the environment, a JSON array such as ["mcp","serve"])',
  },
  {
    key: 'jules.mcp.env',
    kind: 'stringMap',
    env: 'JJM_JULES_MCP_ENV',
    secret: true,
    expected: 'a mapping of names to strings, e.g. {JULES_API_KEY: …} (in the environment, a JSON object)',
  },
  {
    key: 'jules.mcp.url',
    kind: 'httpUrl',
    env: 'JJM_JULES_MCP_URL',
    expected: 'an http(s) URL such as http://127.0.0.1:3323/mcp',
  },
  {
    key: 'jules.mcp.headers',
    kind: 'stringMap',
    env: 'JJM_JULES_MCP_HEADERS',
    secret: true,
    expected: 'a mapping of header names to strings (in the environment, a JSON object)',
  },
  {
    key: 'jules.mcp.preset',
    kind: 'enum',
    values: mcpPresetNames,
    env: 'JJM_JULES_MCP_PRESET',
    expected: `one of ${mcpPresetNames.join(', ')}`,
  },
  {
    key: 'jules.mcp.tools',
    kind: 'mapping',
    env: 'JJM_JULES_MCP_TOOLS',
    expected: 'a mapping of jjm methods to {tool, args} (docs/mcp.md; in the environment, a JSON object)',
  },
  {
    key: 'jules.mcp.fields',
    kind: 'stringMap',
    env: 'JJM_JULES_MCP_FIELDS',
    expected:
      'a mapping of answer fields to Jules fields, e.g. {session_state: state} (in the environment, a JSON object)',
  },
  {
    key: 'jules.plan',
    kind: 'enum',
    values: julesPlans,
    env: 'JJM_JULES_PLAN',
    expected: `one of ${julesPlans.join(', ')} (the Jules plan whose quotas jjm keeps to)`,
  },
  {
    key: 'jules.limits.concurrent',
    kind: 'int',
    min: 1,
    env: 'JJM_JULES_LIMITS_CONCURRENT',
    expected: 'a whole number of sessions running at once, at least 1',
  },
  {
    key: 'jules.limits.daily',
    kind: 'int',
    min: 1,
    env: 'JJM_JULES_LIMITS_DAILY',
    expected: 'a whole number of sessions started per rolling 24 hours, at least 1',
  },
  {
    key: 'sim.runSeconds',
    kind: 'number',
    min: 0,
    env: 'JJM_SIM_RUN_SECONDS',
    expected: 'a number of seconds, at least 0',
  },
  {
    key: 'sim.autoApproveSeconds',
    kind: 'number',
    min: 0,
    env: 'JJM_SIM_AUTO_APPROVE_SECONDS',
    expected: 'a number of seconds, at least 0',
  },
  {
    key: 'storage.backend',
    kind: 'string',
    env: 'JJM_STORAGE',
    flag: 'storage',
    expected: 'a backend name such as sqlite or postgresql',
  },
  { key: 'storage.path', kind: 'path', env: 'JJM_DB', flag: 'db', expected: 'a file path' },
  {
    key: 'storage.url',
    kind: 'string',
    env: 'DATABASE_URL',
    expected: 'a connection URL such as postgres://user@host/db',
  },
  { key: 'storage.poolSize', kind: 'int', min: 1, expected: 'a whole number, at least 1' },
  {
    key: 'storage.fallback',
    kind: 'enum',
    values: ['sqlite'],
    env: 'JJM_STORAGE_FALLBACK',
    expected: 'sqlite (the only fallback), or unset to fail when PostgreSQL is unreachable',
  },
  {
    key: 'cache.backend',
    kind: 'string',
    env: 'JJM_CACHE',
    flag: 'cache',
    expected: 'a backend name such as memory, redis or none',
  },
  { key: 'cache.url', kind: 'string', env: 'REDIS_URL', expected: 'a connection URL such as redis://host:6379' },
  {
    key: 'cache.namespace',
    kind: 'string',
    env: 'JJM_CACHE_NAMESPACE',
    expected: 'a short name shared by every jjm process on the same database, e.g. acme-prod',
  },
  {
    key: 'log.level',
    kind: 'enum',
    values: logLevels,
    env: 'JJM_LOG_LEVEL',
    flag: 'logLevel',
    expected: `one of ${logLevels.join(', ')}`,
  },
  {
    key: 'log.format',
    kind: 'enum',
    values: logFormats,
    env: 'JJM_LOG_FORMAT',
    flag: 'logFormat',
    expected: `one of ${logFormats.join(', ')}`,
  },
  { key: 'log.file', kind: 'path', env: 'JJM_LOG_FILE', expected: 'a file path' },
  {
    key: 'monitor.concurrency',
    kind: 'int',
    min: 1,
    env: 'JJM_MONITOR_CONCURRENCY',
    expected: 'a whole number, at least 1',
  },
  {
    key: 'monitor.requestsPerMinute',
    kind: 'int',
    min: 1,
    env: 'JJM_MONITOR_REQUESTS_PER_MINUTE',
    expected: 'a whole number of requests per minute, at least 1',
  },
  {
    key: 'monitor.leaseTtlSeconds',
    kind: 'int',
    min: 2,
    env: 'JJM_MONITOR_LEASE_TTL_SECONDS',
    expected: 'a whole number of seconds, at least 2 (e.g. 30)',
  },
  {
    key: 'monitor.pushgatewayUrl',
    kind: 'httpUrl',
    env: 'JJM_PUSHGATEWAY_URL',
    expected: 'an http(s) URL of a Prometheus Pushgateway, e.g. http://pushgateway:9091',
  },
  ...stallableStates.map(
    (state): Leaf => ({
      key: `monitor.stalledAfter.${state}`,
      kind: 'duration',
      env: `JJM_MONITOR_STALLED_AFTER_${state.toUpperCase()}`,
      expected: 'a duration such as 10m, 30m or 1h30m (a bare number is seconds), or off to never mark it stalled',
    }),
  ),
  {
    key: 'monitor.nudgeStalled',
    kind: 'boolean',
    env: 'JJM_MONITOR_NUDGE_STALLED',
    expected: 'true or false',
  },
  {
    key: 'monitor.nudgeMessage',
    kind: 'string',
    env: 'JJM_MONITOR_NUDGE_MESSAGE',
    expected: 'the text to send to a stalled task, e.g. "Please continue."',
  },
  {
    key: 'notifiers',
    kind: 'routes',
    env: 'JJM_NOTIFIERS',
    // Entries hold webhook secrets and credential URLs: a bad value is never echoed.
    secret: true,
    expected:
      'a list of notifier entries, each with a backend name and its settings, e.g. [{ backend: webhook, url: https://…, events: [failed] }] (in the environment, a JSON array)',
  },
  {
    key: 'notifications.keepDeliveredDays',
    kind: 'number',
    min: 0,
    env: 'JJM_NOTIFICATIONS_KEEP_DELIVERED_DAYS',
    expected: 'a number of days, at least 0 (e.g. 7)',
  },
  {
    key: 'notifications.keepFailedDays',
    kind: 'number',
    min: 0,
    env: 'JJM_NOTIFICATIONS_KEEP_FAILED_DAYS',
    expected: 'a number of days, at least 0 (e.g. 30)',
  },
  {
    key: 'api.host',
    kind: 'string',
    env: 'JJM_API_HOST',
    expected: 'an address to listen on, e.g. 127.0.0.1 or 0.0.0.0',
  },
  { key: 'api.port', kind: 'int', min: 0, env: 'JJM_API_PORT', expected: 'a TCP port number (0 picks a free one)' },
  {
    key: 'api.corsOrigins',
    kind: 'stringList',
    env: 'JJM_API_CORS_ORIGINS',
    expected: 'a list of origins such as https://dash.example.com, or * for any (in the environment, a JSON array)',
  },
  { key: 'api.bodyLimitBytes', kind: 'int', min: 1024, expected: 'a whole number of bytes, at least 1024' },
  {
    key: 'api.rateLimit',
    kind: 'int',
    min: 1,
    env: 'JJM_API_RATE_LIMIT',
    expected: 'a whole number of requests per minute per key, at least 1',
  },
  { key: 'api.authFailuresPerMinute', kind: 'int', min: 1, expected: 'a whole number, at least 1' },
  { key: 'api.shutdownTimeoutMs', kind: 'int', min: 0, expected: 'a whole number of milliseconds' },
  {
    key: 'health.intervalSeconds',
    kind: 'int',
    min: 1,
    env: 'JJM_HEALTH_INTERVAL_SECONDS',
    expected: 'a whole number of seconds, at least 1',
  },
  {
    key: 'health.timeoutMs',
    kind: 'int',
    min: 1,
    env: 'JJM_HEALTH_TIMEOUT_MS',
    expected: 'a whole number of milliseconds, at least 1',
  },
  {
    key: 'health.diskWarnBytes',
    kind: 'int',
    env: 'JJM_HEALTH_DISK_WARN_BYTES',
    expected: 'a whole number of bytes (e.g. 1073741824 for 1 GiB)',
  },
  {
    key: 'health.diskFailBytes',
    kind: 'int',
    env: 'JJM_HEALTH_DISK_FAIL_BYTES',
    expected: 'a whole number of bytes (e.g. 104857600 for 100 MiB)',
  },
  {
    key: 'api.metricsPort',
    kind: 'int',
    min: 0,
    env: 'JJM_METRICS_PORT',
    expected: 'a TCP port number (0 picks a free one)',
  },
  {
    key: 'api.metricsOnApiPort',
    kind: 'boolean',
    env: 'JJM_METRICS_ON_API_PORT',
    expected: 'true or false',
  },
  // Only settable in the file: moving the data dir moves the default database with it.
  { key: 'dataDir', kind: 'path', expected: 'a directory path' },
]

const leafByKey = new Map(leaves.map((leaf) => [leaf.key, leaf]))

const defaults: Record<string, unknown> = {
  'jules.backend': 'rest',
  'jules.apiUrl': 'https://jules.googleapis.com',
  'jules.timeoutMs': 30_000,
  'jules.createGraceMs': 60_000,
  'jules.maxAttempts': 3,
  'jules.breaker.failureThreshold': 5,
  'jules.breaker.cooldownMs': 30_000,
  'sim.runSeconds': 20,
  'sim.autoApproveSeconds': 600,
  'storage.backend': 'sqlite',
  'storage.poolSize': 10,
  'cache.backend': 'memory',
  'log.level': 'warn',
  'log.format': 'auto',
  'monitor.concurrency': 4,
  'monitor.requestsPerMinute': 60,
  'monitor.leaseTtlSeconds': 30,
  // Queued is short on Jules' side; a plan takes minutes; the work itself reports progress at least this often.
  'monitor.stalledAfter.queued': 10 * 60_000,
  'monitor.stalledAfter.planning': 15 * 60_000,
  'monitor.stalledAfter.in_progress': 30 * 60_000,
  'monitor.nudgeStalled': false,
  'monitor.nudgeMessage': defaultNudgeMessage,
  notifiers: [],
  'notifications.keepDeliveredDays': 7,
  'notifications.keepFailedDays': 30,
  'api.host': '127.0.0.1',
  'api.port': 8080,
  'api.corsOrigins': [],
  'api.bodyLimitBytes': 1_048_576,
  'api.rateLimit': 600,
  'api.authFailuresPerMinute': 10,
  'api.shutdownTimeoutMs': 15_000,
  'health.intervalSeconds': 30,
  'health.timeoutMs': 5_000,
  'health.diskWarnBytes': 1024 ** 3,
  'health.diskFailBytes': 100 * 1024 ** 2,
  'api.metricsPort': 9090,
  'api.metricsOnApiPort': false,
}

const defaultFileNames = ['config.yaml', 'config.yml', 'config.json']

interface Setting {
  value: unknown
  source: Source
}

/**
 * Builds the configuration from the config file, the environment and the
 * flags (later wins), and validates every value.
 *
 * @throws ConfigurationError naming the key, where the bad value came from
 *   and what would be accepted; an explicit config file that is missing or
 *   does not parse is an error too.
 */
export async function loadConfig(sources: ConfigSources): Promise<JjmConfig> {
  const env = sources.env ?? process.env
  const flags = sources.flags ?? {}
  const settings = new Map<string, Setting>()

  const configFile = await findConfigFile(sources, env)
  if (configFile !== undefined) {
    const document = await readConfigFile(configFile)
    collectFileSettings(document, configFile, '', settings)
  }

  for (const leaf of leaves) {
    if (leaf.env === undefined) continue
    const raw = env[leaf.env]
    // An empty variable (`JJM_STORAGE= jjm …`) is how shells unset things.
    if (raw === undefined || raw === '') continue
    settings.set(leaf.key, { value: parseEnvValue(leaf, leaf.env, raw), source: { kind: 'env', name: leaf.env } })
  }

  for (const leaf of leaves) {
    if (leaf.flag === undefined) continue
    const raw = flags[leaf.flag]
    if (raw === undefined) continue
    settings.set(leaf.key, { value: raw, source: { kind: 'flag', name: flagNames[leaf.flag] } })
  }

  const { z } = await import('zod')
  const values = new Map<string, unknown>()
  for (const leaf of leaves) {
    const setting = settings.get(leaf.key)
    if (setting === undefined) {
      if (leaf.key in defaults) values.set(leaf.key, defaults[leaf.key])
      continue
    }
    const result = schemaFor(z, leaf).safeParse(setting.value)
    if (!result.success) throw invalidValue(leaf, setting)
    values.set(leaf.key, normalise(leaf, result.data, setting.source))
  }

  // A connection URL on its own says which backend it is for; an explicit backend still wins.
  if (values.has('storage.url') && !settings.has('storage.backend')) values.set('storage.backend', 'postgresql')
  if (values.has('cache.url') && !settings.has('cache.backend')) values.set('cache.backend', 'redis')

  const dataDir = stringValue(values, 'dataDir') ?? resolve(sources.dataDir)
  const config: JjmConfig = {
    jules: {
      backend: requiredString(values, 'jules.backend'),
      apiKey: stringValue(values, 'jules.apiKey'),
      apiUrl: requiredString(values, 'jules.apiUrl'),
      timeoutMs: requiredNumber(values, 'jules.timeoutMs'),
      createGraceMs: requiredNumber(values, 'jules.createGraceMs'),
      maxAttempts: requiredNumber(values, 'jules.maxAttempts'),
      breaker: {
        failureThreshold: requiredNumber(values, 'jules.breaker.failureThreshold'),
        cooldownMs: requiredNumber(values, 'jules.breaker.cooldownMs'),
      },
      mcp: [...values.keys()].some((key) => key.startsWith('jules.mcp.'))
        ? {
            command: stringValue(values, 'jules.mcp.command'),
            args: values.get('jules.mcp.args') as string[] | undefined,
            env: values.get('jules.mcp.env') as Record<string, string> | undefined,
            url: stringValue(values, 'jules.mcp.url'),
            headers: values.get('jules.mcp.headers') as Record<string, string> | undefined,
            preset: stringValue(values, 'jules.mcp.preset'),
            tools: values.get('jules.mcp.tools') as Record<string, unknown> | undefined,
            fields: values.get('jules.mcp.fields') as Record<string, string> | undefined,
          }
        : undefined,
      plan: stringValue(values, 'jules.plan') as JulesPlan | undefined,
      limits:
        values.has('jules.limits.concurrent') || values.has('jules.limits.daily')
          ? {
              concurrent: values.get('jules.limits.concurrent') as number | undefined,
              daily: values.get('jules.limits.daily') as number | undefined,
            }
          : undefined,
    },
    sim: {
      runSeconds: requiredNumber(values, 'sim.runSeconds'),
      autoApproveSeconds: requiredNumber(values, 'sim.autoApproveSeconds'),
    },
    storage: {
      backend: requiredString(values, 'storage.backend'),
      path: stringValue(values, 'storage.path') ?? join(dataDir, 'jjm.sqlite'),
      url: stringValue(values, 'storage.url'),
      poolSize: requiredNumber(values, 'storage.poolSize'),
      fallback: stringValue(values, 'storage.fallback'),
    },
    cache: {
      backend: requiredString(values, 'cache.backend'),
      url: stringValue(values, 'cache.url'),
      namespace: stringValue(values, 'cache.namespace'),
    },
    log: {
      level: values.get('log.level') as JjmConfig['log']['level'],
      format: values.get('log.format') as JjmConfig['log']['format'],
      file: stringValue(values, 'log.file'),
    },
    monitor: {
      concurrency: requiredNumber(values, 'monitor.concurrency'),
      requestsPerMinute: requiredNumber(values, 'monitor.requestsPerMinute'),
      leaseTtlSeconds: requiredNumber(values, 'monitor.leaseTtlSeconds'),
      pushgatewayUrl: stringValue(values, 'monitor.pushgatewayUrl'),
      stalledAfter: Object.fromEntries(
        stallableStates.map((state) => [state, values.get(`monitor.stalledAfter.${state}`) as number | null]),
      ) as StalledAfter,
      nudgeStalled: values.get('monitor.nudgeStalled') === true,
      nudgeMessage: requiredString(values, 'monitor.nudgeMessage'),
    },
    notifiers: values.get('notifiers') as NotifierRoute[],
    notifications: {
      keepDeliveredDays: requiredNumber(values, 'notifications.keepDeliveredDays'),
      keepFailedDays: requiredNumber(values, 'notifications.keepFailedDays'),
    },
    api: {
      host: requiredString(values, 'api.host'),
      port: requiredNumber(values, 'api.port'),
      corsOrigins: values.get('api.corsOrigins') as string[],
      bodyLimitBytes: requiredNumber(values, 'api.bodyLimitBytes'),
      rateLimit: requiredNumber(values, 'api.rateLimit'),
      authFailuresPerMinute: requiredNumber(values, 'api.authFailuresPerMinute'),
      shutdownTimeoutMs: requiredNumber(values, 'api.shutdownTimeoutMs'),
      metricsPort: requiredNumber(values, 'api.metricsPort'),
      metricsOnApiPort: values.get('api.metricsOnApiPort') === true,
    },
    health: {
      intervalSeconds: requiredNumber(values, 'health.intervalSeconds'),
      timeoutMs: requiredNumber(values, 'health.timeoutMs'),
      diskWarnBytes: requiredNumber(values, 'health.diskWarnBytes'),
      diskFailBytes: requiredNumber(values, 'health.diskFailBytes'),
    },
    dataDir,
    configFile,
  }
  return dropUndefined(config)
}

/**
 * A copy of `config` that is safe to print: the API key shortened to its
 * first characters and passwords removed from connection URLs.
 */
export function describeConfig(config: JjmConfig): JjmConfig {
  const copy = structuredClone(config)
  if (copy.jules.apiKey !== undefined) copy.jules.apiKey = redactSecret(copy.jules.apiKey)
  if (copy.storage.url !== undefined) copy.storage.url = redactUrl(copy.storage.url)
  if (copy.cache.url !== undefined) copy.cache.url = redactUrl(copy.cache.url)
  copy.notifiers = copy.notifiers.map(redactRoute)
  return copy
}

/** Webhook URLs of Slack and the like are credentials themselves: only their origin is shown. */
function redactRoute(route: NotifierRoute): NotifierRoute {
  const copy: NotifierRoute = { ...route }
  for (const [key, value] of Object.entries(copy)) {
    if (typeof value !== 'string') continue
    if (/secret|password|pass|token|routingkey|key$/i.test(key)) copy[key] = '(redacted)'
    else if (/url$/i.test(key)) copy[key] = redactRouteUrl(value)
  }
  return copy
}

function redactRouteUrl(url: string): string {
  try {
    const parsed = new URL(url)
    return parsed.pathname === '/' && parsed.search === '' && parsed.password === ''
      ? url
      : `${parsed.protocol}//${parsed.host}/…(redacted)`
  } catch {
    return '(redacted)'
  }
}

function redactSecret(secret: string): string {
  // A short key would be mostly revealed by its first four characters.
  return secret.length >= 12 ? `${secret.slice(0, 4)}…(redacted)` : '(redacted)'
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password === '') return url
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@')
  }
}

async function findConfigFile(sources: ConfigSources, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const explicit =
    sources.file !== undefined
      ? { path: sources.file, from: '--config' }
      : sources.flags?.config !== undefined
        ? { path: sources.flags.config, from: '--config' }
        : env.JJM_CONFIG !== undefined && env.JJM_CONFIG !== ''
          ? { path: env.JJM_CONFIG, from: 'JJM_CONFIG' }
          : undefined
  if (explicit !== undefined) {
    const path = resolve(expandHome(explicit.path))
    if (!(await isFile(path))) {
      const fix =
        explicit.from === 'JJM_CONFIG' ? 'Create the file or unset JJM_CONFIG.' : 'Create the file or fix the path.'
      throw new ConfigurationError(`Config file ${path} (from ${explicit.from}) does not exist. ${fix}`, {
        context: { key: 'config', source: explicit.from, value: path },
      })
    }
    return path
  }
  for (const name of defaultFileNames) {
    const path = resolve(sources.configDir, name)
    if (await isFile(path)) return path
  }
  return undefined
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

async function readConfigFile(path: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error'
    throw new ConfigurationError(`Cannot read config file ${path} (${code}). Check that it is readable.`, {
      context: { key: 'config', source: path },
    })
  }
  if (extname(path).toLowerCase() === '.json') return parseJson(text, path)
  return parseYaml(text, path)
}

function parseJson(text: string, path: string): unknown {
  if (text.trim() === '') return {}
  try {
    return JSON.parse(text)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const position = /at position (\d+)/.exec(message)
    // V8 quotes the offending text in some messages; it may hold the API key, so it is cut off.
    const reason = message
      .replace(/,?\s*"[\s\S]*" is not valid JSON$/, '')
      .replace(/ in JSON at position \d+[\s\S]*$/, '')
      .trim()
    const at = position?.[1] === undefined ? {} : lineAndColumn(text, Number(position[1]))
    throw syntaxError(path, reason, at)
  }
}

async function parseYaml(text: string, path: string): Promise<unknown> {
  const { parse, YAMLError } = await import('yaml')
  try {
    // prettyErrors would quote the offending line, which may hold the API key.
    return parse(text, { prettyErrors: false }) ?? {}
  } catch (error) {
    if (!(error instanceof YAMLError)) throw error
    throw syntaxError(path, error.message, lineAndColumn(text, error.pos[0]))
  }
}

function syntaxError(path: string, reason: string, at: { line?: number; column?: number }): ConfigurationError {
  const where = at.line === undefined ? '' : ` at line ${at.line}, column ${at.column}`
  return new ConfigurationError(`Cannot parse config file ${path}${where}: ${reason}. Fix the syntax and try again.`, {
    context: { key: 'config', source: path, line: at.line, column: at.column },
  })
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset)
  const lines = before.split('\n')
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Keys directly under `prefix` ('' for the top level). */
function childKeys(prefix: string): string[] {
  const start = prefix === '' ? '' : `${prefix}.`
  const names = new Set<string>()
  for (const leaf of leaves) {
    if (leaf.key.startsWith(start)) names.add(leaf.key.slice(start.length).split('.')[0] ?? '')
  }
  return [...names]
}

function isGroup(key: string): boolean {
  return leaves.some((leaf) => leaf.key.startsWith(`${key}.`))
}

function collectFileSettings(node: unknown, path: string, prefix: string, settings: Map<string, Setting>): void {
  if (!isPlainObject(node)) {
    const what = prefix === '' ? `The config file ${path}` : `"${prefix}" in ${path}`
    throw new ConfigurationError(`${what} must be a mapping of keys (${childKeys(prefix).join(', ')}).`, {
      context: { key: prefix === '' ? 'config' : prefix, source: path },
    })
  }
  for (const [name, value] of Object.entries(node)) {
    const key = prefix === '' ? name : `${prefix}.${name}`
    // `apiKey:` with nothing after it is a key left blank, not a value.
    if (value === null || value === undefined) continue
    if (leafByKey.has(key)) {
      settings.set(key, { value, source: { kind: 'file', path } })
    } else if (isGroup(key)) {
      collectFileSettings(value, path, key, settings)
    } else {
      throw unknownKey(key, name, prefix, path)
    }
  }
}

function isOff(text: string): boolean {
  return /^(off|never|false)$/i.test(text.trim())
}

function unknownKey(key: string, name: string, prefix: string, path: string): ConfigurationError {
  if (prefix === 'monitor.stalledAfter' && awaitingPersonStates.has(name)) {
    return new ConfigurationError(
      `"${key}" in ${path} cannot be set: a task in ${name} waits for a person, and is never stalled. Remove it; stalledAfter takes ${stallableStates.join(', ')}.`,
      { context: { key, source: path } },
    )
  }
  const known = childKeys(prefix)
  const guess = known.find((candidate) => candidate.toLowerCase() === name.toLowerCase())
  const hint = guess === undefined ? '' : ` Did you mean "${prefix === '' ? guess : `${prefix}.${guess}`}"?`
  const under = prefix === '' ? 'Known top-level keys' : `Known keys under ${prefix}`
  return new ConfigurationError(`Unknown key "${key}" in ${path}.${hint} ${under}: ${known.join(', ')}.`, {
    context: { key, source: path },
  })
}

function parseEnvValue(leaf: Leaf, name: string, raw: string): unknown {
  if (leaf.kind === 'stringList' || leaf.kind === 'routes' || leaf.kind === 'stringMap' || leaf.kind === 'mapping') {
    try {
      return JSON.parse(raw) as unknown
    } catch {
      return raw // not a list: the schema refuses it with the usual message
    }
  }
  if (leaf.kind === 'boolean') {
    const word = raw.trim().toLowerCase()
    if (word === 'true' || word === '1') return true
    if (word === 'false' || word === '0') return false
    return raw // not a boolean: the schema refuses it with the usual message
  }
  if (leaf.kind !== 'int' && leaf.kind !== 'number') return raw
  // Number('') is 0 and Number(' 1e3 ') is 1000: env numbers are digits only, so a typo never slips through.
  const pattern = leaf.kind === 'int' ? /^\d+$/ : /^\d+(\.\d+)?$/
  if (!pattern.test(raw.trim())) {
    throw new ConfigurationError(
      `Environment variable ${name}="${raw}" is not valid for ${leaf.key}: expected ${leaf.expected}.`,
      { context: { key: leaf.key, source: name, value: raw } },
    )
  }
  return Number(raw.trim())
}

function schemaFor(z: typeof import('zod').z, leaf: Leaf): ZodType {
  switch (leaf.kind) {
    case 'enum':
      return z.enum(leaf.values as [string, ...string[]])
    case 'string':
    case 'path':
      return z.string().trim().min(1)
    case 'stringList':
      return z.array(z.string())
    case 'stringMap':
      return z.record(z.string(), z.string())
    case 'mapping':
      return z.record(z.string(), z.unknown())
    case 'routes':
      return z.array(
        z.looseObject({
          backend: z.string().trim().min(1),
          name: z.string().trim().min(1).optional(),
          events: z.array(z.string().trim().min(1)).min(1).optional(),
        }),
      )
    case 'httpUrl':
      return z.url({ protocol: /^https?$/ })
    case 'int':
      return z
        .number()
        .int()
        .min(leaf.min ?? 0)
    case 'number':
      return z.number().min(leaf.min ?? 0)
    case 'boolean':
      return z.boolean()
    case 'duration':
      return z.union([
        z.literal(false),
        z.number().min(0),
        z.string().refine((text) => isOff(text) || durationMs(text) !== undefined),
      ])
  }
}

function normalise(leaf: Leaf, value: unknown, source: Source): unknown {
  if (leaf.kind === 'duration') {
    // Milliseconds, or null for "never": off, false and 0 all say it.
    const ms =
      typeof value === 'number' ? value * 1000 : typeof value === 'string' && !isOff(value) ? durationMs(value) : 0
    return ms === undefined || ms <= 0 ? null : Math.round(ms)
  }
  if (typeof value !== 'string') return value
  if (leaf.kind === 'httpUrl') return value.replace(/\/+$/, '')
  if (leaf.kind === 'path') return resolvePath(value, source)
  return value
}

/** A relative path in a file means "next to the file"; on the command line it means "from here". */
function resolvePath(path: string, source: Source): string {
  if (path === ':memory:') return path
  const expanded = expandHome(path)
  if (isAbsolute(expanded)) return expanded
  return source.kind === 'file' ? resolve(dirname(source.path), expanded) : resolve(expanded)
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path
}

function describeSource(source: Source): string {
  switch (source.kind) {
    case 'file':
      return `in ${source.path}`
    case 'env':
      return `from environment variable ${source.name}`
    case 'flag':
      return `from ${source.name}`
  }
}

function sourceName(source: Source): string {
  return source.kind === 'file' ? source.path : source.name
}

function invalidValue(leaf: Leaf, setting: Setting): ConfigurationError {
  const valuePart = leaf.secret ? '' : ` ${displayValue(setting.value)}`
  const value = leaf.secret
    ? '(redacted)'
    : typeof setting.value === 'string'
      ? redactUrl(setting.value)
      : setting.value
  return new ConfigurationError(
    `Invalid value${valuePart} for ${leaf.key} ${describeSource(setting.source)}: expected ${leaf.expected}.`,
    { context: { key: leaf.key, source: sourceName(setting.source), value } },
  )
}

function displayValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(redactUrl(value))
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

function stringValue(values: Map<string, unknown>, key: string): string | undefined {
  const value = values.get(key)
  return typeof value === 'string' ? value : undefined
}

function requiredString(values: Map<string, unknown>, key: string): string {
  const value = values.get(key)
  if (typeof value !== 'string') throw new Error(`config: ${key} has no default`)
  return value
}

function requiredNumber(values: Map<string, unknown>, key: string): number {
  const value = values.get(key)
  if (typeof value !== 'number') throw new Error(`config: ${key} has no default`)
  return value
}

/** Optional keys are absent rather than `undefined`, so that the object prints and compares cleanly. */
function dropUndefined<T>(value: T): T {
  if (!isPlainObject(value)) return value
  for (const [key, child] of Object.entries(value)) {
    if (child === undefined) delete value[key]
    else dropUndefined(child)
  }
  return value
}
