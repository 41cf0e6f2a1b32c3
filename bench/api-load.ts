/**
 * Load on one `jjm daemon` over loopback (autocannon, 100 connections):
 * `/health/live` (the floor: HTTP and nothing else) vs. `GET /api/v1/tasks?limit=50`
 * with an API key, on SQLite with 10,000 tasks. Prints the figures; asserts nothing
 * (see docs/performance.md, "The REST API under load").
 *
 *   npm run build && node --import tsx bench/api-load.ts
 *   JJM_BENCH_TASKS=2000 JJM_BENCH_SECONDS=5 node --import tsx bench/api-load.ts
 *
 * The daemon runs in its own process (`node bin/run.js daemon --no-monitor`), so
 * that autocannon does not share its event loop.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import type { BackendRegistration } from '../src/core/backends.js'
import { BackendRegistry } from '../src/core/backends.js'
import { loadConfig } from '../src/core/config.js'
import { openCore } from '../src/core/core.js'
import { createIdGenerator } from '../src/core/ids.js'
import { silentLogger } from '../src/core/ports.js'
import { default as hook } from '../src/plugins/backends-hook.js'
import { benchTask as buildTask } from './tasks.js'

const tasks = Number(process.env.JJM_BENCH_TASKS ?? 10_000)
const seconds = Number(process.env.JJM_BENCH_SECONDS ?? 10)
const connections = 100
const root = join(import.meta.dirname, '..')
const home = await mkdtemp(join(tmpdir(), 'jjm-api-load-'))
const env = {
  PATH: process.env.PATH ?? '',
  HOME: home,
  XDG_CONFIG_HOME: join(home, 'config'),
  XDG_DATA_HOME: join(home, 'data'),
  XDG_CACHE_HOME: join(home, 'cache'),
  JJM_JULES: 'sim',
  JJM_API_RATE_LIMIT: '100000000',
  JJM_LOG_LEVEL: 'warn',
}

async function seed(): Promise<string> {
  const config = await loadConfig({
    configDir: join(env.XDG_CONFIG_HOME, 'jjm'),
    dataDir: join(env.XDG_DATA_HOME, 'jjm'),
    env,
  })
  const registry = new BackendRegistry()
  registry.register('jjm', await (hook as unknown as () => Promise<BackendRegistration>)())
  const core = await openCore({ config, logger: silentLogger, registry, version: 'bench' })
  const newId = createIdGenerator()
  for (let start = 0; start < tasks; start += 500) {
    const batch = Array.from({ length: Math.min(500, tasks - start) }, (_, n) => buildTask(start + n, newId))
    await Promise.all(batch.map((task) => core.storage.store.createTask(task, [])))
  }
  const { key } = await core.apiKeys().create({ name: 'load', scopes: ['read'] })
  await core.close()
  return key
}

function startDaemon(): Promise<{ url: string; stop: () => void }> {
  const profile = process.env.JJM_BENCH_PROFILE_DIR
  const nodeArgs = profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profile}`]
  const child = spawn(
    process.execPath,
    [...nodeArgs, process.env.JJM_BENCH_BIN ?? join(root, 'bin/run.js'), 'daemon', '--port', '0', '--no-monitor'],
    {
      env: { ...env, JJM_METRICS_PORT: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  let stderr = ''
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1]
      if (url) resolve({ url, stop: () => child.kill('SIGTERM') })
    })
    child.once('exit', () => reject(new Error(`daemon exited:\n${stderr}`)))
  })
}

async function load(url: string, headers: Record<string, string> = {}) {
  const result = await autocannon({ url, connections, duration: seconds, headers })
  return {
    url: url.replace(/^http:\/\/[^/]+/, ''),
    'req/s': Math.round(result.requests.average),
    'p50 ms': result.latency.p50,
    'p97.5 ms': result.latency.p97_5,
    'p99 ms': result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    'kB/answer': Math.round(result.throughput.average / result.requests.average / 100) / 10,
  }
}

try {
  const key = await seed()
  const daemon = await startDaemon()
  try {
    const headers = { authorization: `Bearer ${key}` }
    // Warm-up: the first requests open the database, load routes and fill the caches.
    await autocannon({ url: `${daemon.url}/api/v1/tasks?limit=50`, connections: 10, amount: 500, headers })
    const rows = [await load(`${daemon.url}/health/live`), await load(`${daemon.url}/api/v1/tasks?limit=50`, headers)]
    console.table(rows)
    const [live, page] = rows as [(typeof rows)[0], (typeof rows)[0]]
    console.log(`tasks: ${tasks}; page / live: ${((100 * page['req/s']) / live['req/s']).toFixed(0)} %`)
  } finally {
    daemon.stop()
  }
} finally {
  await rm(home, { recursive: true, force: true })
}
