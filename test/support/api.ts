/**
 * A real jjm daemon for API tests: `startDaemon` on a free loopback port,
 * over the simulator, on a manual clock the test advances (the simulator's
 * sessions move when the test says so, and a sync records what moved).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { type Daemon, startDaemon } from '../../src/api/daemon.js'
import type { ApiKeyScope } from '../../src/core/api-keys.js'
import { BackendRegistry } from '../../src/core/backends.js'
import { ManualClock } from '../../src/core/clock.js'
import { loadConfig } from '../../src/core/config.js'
import { type Core, openCore } from '../../src/core/core.js'
import { Metrics } from '../../src/core/metrics.js'
import { silentLogger } from '../../src/core/ports.js'
import hook from '../../src/plugins/backends-hook.js'

export interface TestDaemon {
  url: string
  core: Core
  daemon: Daemon
  clock: ManualClock
  /** Keys by scope, made at start. */
  keys: Record<ApiKeyScope, string>
  /** The daemon's registry, with `metrics: true`. */
  metrics: Metrics | undefined
  /** `http://127.0.0.1:PORT/metrics` on the metrics port, with `metrics: true`. */
  metricsUrl: string | undefined
  /** GET of the metrics port's /metrics (with `metrics: true`), with an optional Accept header. */
  scrape(accept?: string): Promise<{ contentType: string; text: string }>
  /** An HTTP call with the given key (or none), answering status, headers and the parsed body. */
  call(method: string, path: string, options?: CallOptions): Promise<Answer>
  close(): Promise<void>
}

export interface CallOptions {
  key?: string | null
  body?: unknown
  /** Sent as is, instead of JSON.stringify(body). */
  rawBody?: string
  headers?: Record<string, string>
}

export interface Answer {
  status: number
  headers: Record<string, string>
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
  body: any
  text: string
}

export interface TestDaemonOptions {
  env?: Record<string, string>
  /** Share a data directory (and so a SQLite file) with another daemon. */
  dir?: string
  monitor?: boolean
  heartbeatMs?: number
  pollIntervalMs?: number
  /** Record metrics and serve them on a free metrics port. */
  metrics?: boolean
  /** With `metrics`: serve /metrics on the API port too. */
  metricsOnApiPort?: boolean
}

export async function startTestDaemon(options: TestDaemonOptions = {}): Promise<TestDaemon> {
  const ownDir = options.dir === undefined
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'jjm-api-')))
  const config = await loadConfig({
    configDir: join(dir, 'config'),
    dataDir: join(dir, 'data'),
    env: { JJM_JULES: 'sim', JJM_SIM_RUN_SECONDS: '20', ...options.env },
  })
  const registry = new BackendRegistry()
  registry.register('jjm', await (hook as unknown as () => Promise<Parameters<BackendRegistry['register']>[1]>)())
  const clock = new ManualClock('2026-11-25T10:00:00.000Z')
  const metrics = options.metrics ? new Metrics({ version: 'test', figuresTtlMs: 0 }) : undefined
  const core = await openCore({
    config,
    logger: silentLogger,
    registry,
    clock,
    version: 'test',
    ...(metrics ? { metrics } : {}),
  })
  const daemon = await startDaemon({
    core,
    logger: silentLogger,
    version: 'test',
    host: '127.0.0.1',
    port: 0,
    monitor: options.monitor ?? false,
    monitorIntervalMs: 50,
    heartbeatMs: options.heartbeatMs ?? 15_000,
    pollIntervalMs: options.pollIntervalMs ?? 100,
    ...(metrics ? { metrics, metricsPort: 0, metricsOnApiPort: options.metricsOnApiPort === true } : {}),
  })
  const keys = {} as Record<ApiKeyScope, string>
  for (const scope of ['read', 'write', 'admin'] as const) {
    keys[scope] = (
      await core.apiKeys().create({ name: `test-${scope}-${Math.random().toString(36).slice(2, 8)}`, scopes: [scope] })
    ).key
  }
  const call = async (method: string, path: string, callOptions: CallOptions = {}): Promise<Answer> => {
    const key = callOptions.key === undefined ? keys.admin : callOptions.key
    const headers: Record<string, string> = { ...callOptions.headers }
    if (key !== null) headers.authorization = `Bearer ${key}`
    let body: string | undefined = callOptions.rawBody
    if (body === undefined && callOptions.body !== undefined) {
      body = JSON.stringify(callOptions.body)
      headers['content-type'] ??= 'application/json'
    }
    const response = await request(`${daemon.url}${path}`, { method: method as 'GET', headers, body })
    const text = await response.body.text()
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      parsed = undefined
    }
    const flat: Record<string, string> = {}
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value
    }
    return { status: response.statusCode, headers: flat, body: parsed, text }
  }
  const scrape = async (accept?: string) => {
    if (daemon.metricsUrl === undefined) throw new Error('start the test daemon with { metrics: true } to scrape it')
    const response = await request(daemon.metricsUrl, { headers: accept === undefined ? {} : { accept } })
    const text = await response.body.text()
    if (response.statusCode !== 200) throw new Error(`scrape answered ${response.statusCode}: ${text}`)
    return { contentType: String(response.headers['content-type']), text }
  }
  return {
    url: daemon.url,
    core,
    daemon,
    clock,
    keys,
    metrics,
    metricsUrl: daemon.metricsUrl,
    scrape,
    call,
    async close() {
      await daemon.stop(2_000)
      await core.close()
      if (ownDir) await rm(dir, { recursive: true, force: true })
    },
  }
}

/** How soon every daemon must refuse a revoked key, on the test's own (wall) clock. */
export const withinMs = 1_000

/**
 * Asks `daemon` with `key` until it answers 401, for at most `withinMs` and a
 * small margin; returns how long that took and the last answer.
 */
export async function untilRefused(daemon: TestDaemon, key: string, since: number) {
  const deadline = since + withinMs + 250
  for (;;) {
    const answer = await daemon.call('GET', '/api/v1/tasks?limit=1', { key })
    const elapsedMs = performance.now() - since
    if (answer.status === 401 || performance.now() > deadline) return { answer, elapsedMs }
    await sleep(20)
  }
}
