/**
 * The real Prometheus tools (Debian's `prometheus`, `promtool`, `amtool`,
 * `rsvg-convert`) for the observability tests. As with the database services,
 * a missing binary skips the test with a message on a developer's machine and
 * fails it in CI (CI=true), where .ci/run installs them.
 *
 *   const prom = await startPrometheus(t, { scrape: [{ job: 'jjm', targets: ['127.0.0.1:9464'] }] })
 *   if (!prom) return                      // skipped: no prometheus binary
 *   try { await prom.waitForTarget('jjm'); (await prom.query('up')).result } finally { await prom.stop() }
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { constants } from 'node:fs'
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import type { TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { stringify } from 'yaml'

export type Tool = 'prometheus' | 'promtool' | 'amtool' | 'rsvg-convert'

const debianPackage: Record<Tool, string> = {
  prometheus: 'prometheus',
  promtool: 'prometheus',
  amtool: 'prometheus-alertmanager',
  'rsvg-convert': 'librsvg2-bin',
}

const inCI = process.env.CI === 'true' || process.env.CI === '1'

/** The absolute path of an executable on PATH, or undefined. */
export async function which(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      await access(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/**
 * The paths of the tools a test needs. When one is missing: undefined after
 * skipping the test locally, an error in CI.
 */
export async function tools<T extends Tool>(t: TestContext, names: T[]): Promise<Record<T, string> | undefined> {
  const found = {} as Record<T, string>
  const missing: T[] = []
  for (const name of names) {
    const path = await which(name)
    if (path === undefined) missing.push(name)
    else found[name] = path
  }
  if (missing.length === 0) return found
  const packages = [...new Set(missing.map((name) => debianPackage[name]))].join(' ')
  const reason = `${missing.join(', ')} not found on PATH. Install them: apt-get install ${packages}`
  if (inCI) throw new Error(`CI needs ${reason}`)
  t.skip(reason)
  return undefined
}

export interface ToolRun {
  code: number
  stdout: string
  stderr: string
}

/** Runs a tool to its end; a non-zero exit is an answer, not an exception. */
export async function runTool(path: string, args: string[], options: { cwd?: string } = {}): Promise<ToolRun> {
  try {
    const { stdout, stderr } = await promisify(execFile)(path, args, { cwd: options.cwd, timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string }
    return {
      code: typeof failed.code === 'number' ? failed.code : 1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? String(error),
    }
  }
}

/** A port nobody listens on right now (the OS's pick for port 0). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}

export interface ScrapeJob {
  job: string
  /** `host:port` of each target. */
  targets: string[]
  metricsPath?: string
  scrapeInterval?: string
}

export interface PrometheusOptions {
  scrape?: ScrapeJob[]
  /** Absolute paths of rule files (e.g. config/alerts.yml). */
  ruleFiles?: string[]
  /** Also scrape Prometheus' own metrics as job `prometheus`: real series to query when nothing else runs. */
  scrapeSelf?: boolean
  scrapeInterval?: string
  evaluationInterval?: string
}

export interface Sample {
  metric: Record<string, string>
  value?: [number, string]
  values?: [number, string][]
}

export interface QueryAnswer {
  /** The HTTP status: 400 for a query that does not parse, 422 for one that cannot run. */
  httpStatus: number
  status: 'success' | 'error'
  resultType?: 'vector' | 'matrix' | 'scalar' | 'string'
  result: Sample[]
  errorType?: string
  error?: string
}

export interface RunningPrometheus {
  /** `http://127.0.0.1:port`. */
  url: string
  /** The generated prometheus.yml. */
  configPath: string
  /** An instant query at `time` (Unix seconds; now when absent). */
  query(expr: string, time?: number): Promise<QueryAnswer>
  queryRange(expr: string, range: { start: number; end: number; step: number }): Promise<QueryAnswer>
  /** Waits until every target of the job has been scraped successfully at least once. */
  waitForTarget(job: string, timeoutMs?: number): Promise<void>
  /** What Prometheus logged, for a failure message. */
  log(): string
  stop(): Promise<void>
}

/**
 * Starts a real Prometheus on a free loopback port with a temporary storage
 * directory, scraping the given targets and evaluating the given rule files.
 * Undefined when the binary is missing (the test was skipped).
 */
export async function startPrometheus(
  t: TestContext,
  options: PrometheusOptions = {},
): Promise<RunningPrometheus | undefined> {
  const found = await tools(t, ['prometheus'])
  if (found === undefined) return undefined
  const dir = await mkdtemp(join(tmpdir(), 'jjm-prometheus-'))
  let lastError: unknown
  // The free port may be taken between our check and Prometheus' bind: try again on another.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    try {
      return await launch(found.prometheus, dir, port, options)
    } catch (error) {
      lastError = error
    }
  }
  await rm(dir, { recursive: true, force: true })
  throw lastError
}

async function launch(
  binary: string,
  dir: string,
  port: number,
  options: PrometheusOptions,
): Promise<RunningPrometheus> {
  const url = `http://127.0.0.1:${port}`
  const jobs = [...(options.scrape ?? [])]
  if (options.scrapeSelf) jobs.push({ job: 'prometheus', targets: [`127.0.0.1:${port}`] })
  const config = {
    global: {
      scrape_interval: options.scrapeInterval ?? '1s',
      evaluation_interval: options.evaluationInterval ?? '1s',
    },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: jobs.map((job) => ({
      job_name: job.job,
      metrics_path: job.metricsPath ?? '/metrics',
      ...(job.scrapeInterval === undefined ? {} : { scrape_interval: job.scrapeInterval }),
      static_configs: [{ targets: job.targets }],
    })),
  }
  const configPath = join(dir, 'prometheus.yml')
  await writeFile(configPath, stringify(config))
  const child = spawn(
    binary,
    [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  let exited = false
  child.once('exit', () => {
    exited = true
  })

  const stop = async () => {
    await terminate(child)
    await rm(dir, { recursive: true, force: true })
  }

  const deadline = Date.now() + 30_000
  for (;;) {
    if (exited) throw new Error(`prometheus exited at start:\n${output}`)
    try {
      const response = await fetch(`${url}/-/ready`)
      if (response.ok) break
    } catch {}
    if (Date.now() > deadline) {
      await terminate(child)
      throw new Error(`prometheus was not ready within 30 s:\n${output}`)
    }
    await sleep(100)
  }

  const api = async (path: string, params: Record<string, string>): Promise<QueryAnswer> => {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
    })
    const body = (await response.json()) as {
      status: 'success' | 'error'
      data?: { resultType: QueryAnswer['resultType']; result: unknown }
      errorType?: string
      error?: string
    }
    const raw = body.data?.result
    // A scalar or string answer is one [time, value] pair, not a list of series.
    const result: Sample[] = Array.isArray(raw)
      ? typeof raw[0] === 'number'
        ? [{ metric: {}, value: raw as [number, string] }]
        : (raw as Sample[])
      : []
    return {
      httpStatus: response.status,
      status: body.status,
      ...(body.data ? { resultType: body.data.resultType } : {}),
      result,
      ...(body.errorType === undefined ? {} : { errorType: body.errorType }),
      ...(body.error === undefined ? {} : { error: body.error }),
    }
  }

  return {
    url,
    configPath,
    query: (expr, time) => api('/api/v1/query', { query: expr, ...(time === undefined ? {} : { time: String(time) }) }),
    queryRange: (expr, range) =>
      api('/api/v1/query_range', {
        query: expr,
        start: String(range.start),
        end: String(range.end),
        step: String(range.step),
      }),
    async waitForTarget(job, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs
      let seen = 'no target'
      for (;;) {
        const response = await fetch(`${url}/api/v1/targets?state=active`)
        const body = (await response.json()) as {
          data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] }
        }
        const targets = body.data.activeTargets.filter((target) => target.labels.job === job)
        if (targets.length > 0 && targets.every((target) => target.health === 'up')) return
        seen = targets.map((target) => `${target.health} ${target.lastError}`).join('; ') || 'no target'
        if (Date.now() > until) throw new Error(`job ${job} was not scraped within ${timeoutMs} ms: ${seen}`)
        await sleep(200)
      }
    },
    log: () => output,
    stop,
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const killed = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])
  if (!killed) {
    child.kill('SIGKILL')
    await exited
  }
}
