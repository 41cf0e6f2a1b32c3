/**
 * Three real `jjm daemon` processes on ONE PostgreSQL database and ONE Redis,
 * all on the `rest` backend against the HTTP simulator in this process (one
 * Jules account): together they stay within one `monitor.requestsPerMinute`,
 * a 429 pauses all three, a pause longer than the sync lease records nothing
 * twice, and a create that timed out on one daemon and is retried on another
 * makes one session. Requests are counted where Jules would count them, at the
 * simulator; the sessions move on the simulator's manual clock.
 *
 * The daemons run with `jules.maxAttempts` 1 (JJM_JULES_MAX_ATTEMPTS): the
 * REST client would otherwise retry a 429 itself before the shared budget
 * hears of it (see test/e2e/shared-jules-budget.test.ts).
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { ManualClock } from '../../src/core/clock.js'
import { julesAccountKey } from '../../src/core/rate-limit.js'
import type { Task } from '../../src/core/task.js'
import type { Simulator } from '../../src/sim/engine.js'
import type { SimServer } from '../../src/sim/http.js'
import { deleteKeys } from '../integration/cache-keyv/redis-keys.js'
import { jjm, json, root, runJs } from '../support/cli.js'
import { e2eApiKey, e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'
import { postgres, redis, uniqueName } from '../support/services.js'

/** The shared ceiling: 300 a minute is a burst of 50, then 50 per window of 10 s (see budgetWindow). */
const perMinute = 300
const windowPoints = 50
const windowMs = 10_000
/** A session's whole life at the simulator; the test moves the clock, so its length only sets the steps. */
const runSeconds = 600
const leaseTtlSeconds = 3

/** One request that reached the simulator's API. */
interface SeenRequest {
  at: number
  method: string
  /** Answered with an injected error status. */
  refused: boolean
}

interface Daemon {
  child: ChildProcess
  url: string
  metricsUrl: string
  stderr: () => string
}

interface World {
  simulator: Simulator
  server: SimServer
  clock: ManualClock
  env: Record<string, string>
  databaseUrl: string
  key: string
  daemons: Daemon[]
  /** Task ids of scenario (a) and (b), to count their completions in the metrics. */
  finished: string[]
}

interface EventRow {
  task_id: string
  type: string
  data: Record<string, unknown>
}

const seen: SeenRequest[] = []
let world: World | undefined
let worldFailed: unknown
const cleanups: Array<() => Promise<void>> = []

/** Requests a sync makes (`sessions.get`, `sessions.activities.list`): not creates, sources or the health check. */
function syncRequests(from: number, to: number): SeenRequest[] {
  return seen.filter(
    (request) =>
      request.at >= from &&
      request.at < to &&
      request.method.startsWith('sessions.') &&
      request.method !== 'sessions.create',
  )
}

/** The most requests in any `spanMs` (sliding), of `requests` in time order. */
function busiest(requests: SeenRequest[], spanMs: number): number {
  let most = 0
  for (let start = 0, end = 0; start < requests.length; start++) {
    while (end < requests.length && (requests[end] as SeenRequest).at < (requests[start] as SeenRequest).at + spanMs)
      end++
    most = Math.max(most, end - start)
  }
  return most
}

async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await sleep(100)
  }
}

async function query<T>(databaseUrl: string, sql: string, parameters: unknown[] = []): Promise<T[]> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    return (await client.query(sql, parameters)).rows as T[]
  } finally {
    await client.end()
  }
}

function startDaemon(env: Record<string, string>): Promise<Daemon> {
  const child = spawn(process.execPath, [runJs, 'daemon', '--port', '0', '--metrics-port', '0', '--interval', '1'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start:\n${stderr}`)), 60_000)
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1]
      const metricsUrl = /metrics (http:\/\/\S+\/metrics)/.exec(stderr)?.[1]
      if (url && metricsUrl) {
        clearTimeout(timer)
        resolve({ child, url, metricsUrl, stderr: () => stderr })
      }
    })
    child.once('exit', () => {
      clearTimeout(timer)
      reject(new Error(`daemon exited before listening:\n${stderr}`))
    })
  })
}

async function stopDaemon(daemon: Daemon): Promise<void> {
  const { child } = daemon
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    // A pass waiting on the budget ends only at a second signal (as a second Ctrl-C does).
    const again = setInterval(() => child.kill('SIGTERM'), 2_000)
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.once('exit', () => {
      clearInterval(again)
      clearTimeout(kill)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** Creates `count` tasks from the CLI on the daemons' database and cache; their ids. */
async function createTasks(w: World, label: string, count: number): Promise<Task[]> {
  const dir = w.env.HOME as string
  const file = join(dir, `${label}.yaml`)
  await writeFile(
    file,
    Array.from({ length: count }, (_, n) => `- prompt: ${label} task ${n}\n  repo: acme/api\n`).join(''),
  )
  const run = await jjm(['tasks', 'create', '--from', file, '--json'], w.env)
  assert.equal(run.code, 0, run.stderr)
  const created = json<{ created: Task[] }>(run).created
  assert.equal(created.length, count)
  return created
}

async function statesOf(w: World, ids: string[]): Promise<Map<string, { state: string; synced: boolean }>> {
  const rows = await query<{ id: string; state: string; last_synced_at: Date | null }>(
    w.databaseUrl,
    'select t.id, t.state, s.last_synced_at from task t left join task_sync s on s.task_id = t.id where t.id = any($1)',
    [ids],
  )
  return new Map(rows.map((row) => [row.id, { state: row.state, synced: row.last_synced_at !== null }]))
}

async function allAre(w: World, ids: string[], check: (row: { state: string; synced: boolean }) => boolean) {
  const states = await statesOf(w, ids)
  return ids.every((id) => {
    const row = states.get(id)
    return row !== undefined && check(row)
  })
}

/**
 * Each task's history, recorded once: one `completed`, a chain of
 * `state_changed` from the state it was created in to `completed` with no
 * transition twice, and no activity recorded twice.
 */
async function assertHistoryOnce(w: World, tasks: Task[]): Promise<void> {
  const rows = await query<EventRow>(
    w.databaseUrl,
    'select task_id, type, data from task_event where task_id = any($1) order by at, id',
    [tasks.map((task) => task.id)],
  )
  for (const task of tasks) {
    const events = rows.filter((row) => row.task_id === task.id)
    const types = events.map((event) => event.type)
    assert.equal(types.filter((type) => type === 'completed').length, 1, `${task.id} completed once: ${types}`)
    const changes = events.filter((event) => event.type === 'state_changed').map((event) => event.data)
    assert.ok(changes.length >= 1, `${task.id} changed state`)
    assert.equal(changes[0]?.from, task.state, `${task.id}: the chain starts where the task was created`)
    for (let i = 1; i < changes.length; i++) {
      assert.equal(changes[i]?.from, changes[i - 1]?.to, `${task.id}: an unbroken chain ${JSON.stringify(changes)}`)
    }
    assert.equal(changes.at(-1)?.to, 'completed')
    const transitions = changes.map((change) => `${change.from}→${change.to}`)
    assert.equal(new Set(transitions).size, transitions.length, `${task.id}: no transition twice ${transitions}`)
    const activities = events
      .filter((event) => typeof event.data.activityId === 'string')
      .map((event) => `${event.type}:${event.data.activityId}`)
    assert.equal(new Set(activities).size, activities.length, `${task.id}: no activity recorded twice`)
  }
}

/** The sum of a counter over its labels, in one daemon's /metrics. */
async function scrapeSum(daemon: Daemon, name: string): Promise<number> {
  const response = await request(daemon.metricsUrl)
  const text = await response.body.text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

async function post(daemon: Daemon, key: string, idempotencyKey: string, body: unknown) {
  const response = await request(`${daemon.url}/api/v1/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
    body: JSON.stringify(body),
  })
  const text = await response.body.text()
  const retryAfter = response.headers['retry-after']
  return {
    status: response.statusCode,
    retryAfter: typeof retryAfter === 'string' ? Number(retryAfter) : undefined,
    body: (text === '' ? undefined : JSON.parse(text)) as Record<string, unknown> | undefined,
    text,
  }
}

/**
 * One world for the three scenarios (starting three daemons is the slow part):
 * the simulator, a database, a Redis namespace, an API key, the tasks of (a),
 * then the daemons. Undefined when a service is missing (the test is skipped).
 */
async function theWorld(t: TestContext): Promise<World | undefined> {
  if (worldFailed) throw worldFailed
  if (world) return world
  assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
  const pg = await postgres(t)
  if (!pg) return undefined
  const redisService = await redis(t)
  if (!redisService) return undefined
  try {
    const clock = new ManualClock(Date.now())
    const { simulator, server } = await startE2eSimulator(clock, { runSeconds })
    cleanups.push(() => server.close())
    const takeFault = simulator.takeFault.bind(simulator)
    simulator.takeFault = (method) => {
      const fault = takeFault(method)
      seen.push({ at: Date.now(), method, refused: fault !== undefined && fault.status >= 400 })
      return fault
    }
    const database = await pg.createDatabase()
    cleanups.push(() => database.drop())
    const dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-three-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const namespace = uniqueName('jjmthree')
    cleanups.push(async () => {
      const account = julesAccountKey({ backend: 'rest', apiUrl: server.url, apiKey: e2eApiKey })
      await deleteKeys(redisService.url, `jjm:jules-budget:${account}`)
      await deleteKeys(redisService.url, `jjm:${namespace}:`)
    })
    const env = e2eEnvironment(dir, server.url, {
      DATABASE_URL: database.url,
      JJM_CACHE: 'redis',
      REDIS_URL: redisService.url,
      JJM_CACHE_NAMESPACE: namespace,
      JJM_MONITOR_REQUESTS_PER_MINUTE: String(perMinute),
      JJM_MONITOR_LEASE_TTL_SECONDS: String(leaseTtlSeconds),
      // No retry inside the client: a 429 reaches the shared budget at once.
      JJM_JULES_MAX_ATTEMPTS: '1',
      // Scenario (c): jjm waits 2 s for Jules, and the key stays locked 2 + 5 s after an unanswered create.
      JJM_JULES_TIMEOUT_MS: '2000',
      JJM_JULES_CREATE_GRACE_MS: '5000',
      // The health check's `sources.list` is not the monitor's: keep it out of the count.
      JJM_HEALTH_INTERVAL_SECONDS: '3600',
    })
    const made = await jjm(['api-keys', 'create', '--name', 'e2e', '--scopes', 'write', '--json'], env)
    assert.equal(made.code, 0, made.stderr)
    const key = json<{ key: string }>(made).key
    world = { simulator, server, clock, env, databaseUrl: database.url, key, daemons: [], finished: [] }
    return world
  } catch (error) {
    worldFailed = error
    throw error
  }
}

async function startDaemons(w: World): Promise<void> {
  const started = await Promise.allSettled([0, 1, 2].map(() => startDaemon(w.env)))
  for (const result of started) if (result.status === 'fulfilled') w.daemons.push(result.value)
  const failed = started.find((result) => result.status === 'rejected')
  if (failed) throw (failed as PromiseRejectedResult).reason
}

describe('three jjm daemons on one PostgreSQL and one Redis, one Jules account', { timeout: 360_000 }, () => {
  after(async () => {
    if (world) await Promise.all(world.daemons.map(stopDaemon))
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
  })

  it('(a) stays within one request budget, not three, and records each task’s history once', async (t) => {
    const w = await theWorld(t)
    if (!w) return
    const tasks = await createTasks(w, 'budget', 30)
    const ids = tasks.map((task) => task.id)
    const from = seen.length
    await startDaemons(w)
    await until('a daemon reads a session', () => syncRequests(0, Number.POSITIVE_INFINITY).length > 0, 60_000)
    const first = syncRequests(0, Number.POSITIVE_INFINITY)[0]?.at as number
    // Nothing moves yet: every pass of every daemon wants all 30 sessions, far more than the budget grants.
    // In 20 s two windows of 10 s begin (a token taken just before the first request may open one a moment
    // earlier, and a request may land a moment after its token: one window's worth of slack on top).
    const idleMs = 2 * windowMs
    await sleep(first + idleMs - Date.now())
    const idle = syncRequests(first, first + idleMs).length
    t.diagnostic(`${idle} requests in the first ${idleMs / 1000} s, with nothing to record`)
    assert.ok(idle <= 3 * windowPoints, `${idle} requests in ${idleMs} ms; one budget allows ${3 * windowPoints}`)
    // Halfway through their run the sessions are in progress; at the end, completed.
    w.clock.advance((runSeconds / 2) * 1000)
    await until('every task is in progress', () => allAre(w, ids, (row) => row.state === 'in_progress'), 90_000)
    w.clock.advance(runSeconds * 1000)
    await until('every task is completed', () => allAre(w, ids, (row) => row.state === 'completed'), 90_000)
    const end = Date.now()
    for (const [index, daemon] of w.daemons.entries()) {
      assert.equal(daemon.child.exitCode, null, `daemon ${index} still runs: ${daemon.stderr()}`)
    }

    const requests = syncRequests(first, end + 1)
    assert.equal(seen.slice(from).filter((request) => request.refused).length, 0)
    // The first window began with the first request (a token taken just before it may open it a moment
    // earlier, and a request may land a moment after its token): one window's worth of slack on top.
    const windows = Math.ceil((end - first) / windowMs) + 1
    const buckets = Array.from(
      { length: Math.ceil((end - first + 1) / windowMs) },
      (_, i) => requests.filter((r) => r.at >= first + i * windowMs && r.at < first + (i + 1) * windowMs).length,
    )
    t.diagnostic(
      `per 10 s: ${buckets.join(' ')}; methods: ${JSON.stringify(
        requests.reduce<Record<string, number>>((acc, r) => {
          acc[r.method] = (acc[r.method] ?? 0) + 1
          return acc
        }, {}),
      )}`.slice(0, 400),
    )
    t.diagnostic(
      `${requests.length} requests in ${Math.round((end - first) / 1000)} s; one budget allows ${windows * windowPoints}`,
    )
    // Any 10 s overlaps at most two of the budget's windows.
    const most = busiest(requests, windowMs)
    t.diagnostic(`at most ${most} requests in any 10 s`)
    assert.ok(most <= 2 * windowPoints, `${most} requests in 10 s; one budget allows ${2 * windowPoints}`)
    assert.ok(
      requests.length <= windows * windowPoints,
      `${requests.length} requests reached Jules in ${end - first} ms; one budget allows ${windows * windowPoints}`,
    )
    await assertHistoryOnce(w, tasks)
    w.finished.push(...ids)
  })

  it('(b) pauses all three at a 429 whose Retry-After outlasts the lease, and records nothing twice', async (t) => {
    const w = await theWorld(t)
    if (!w) return
    if (w.daemons.length === 0) await startDaemons(w)
    const tasks = await createTasks(w, 'pause', 12)
    const ids = tasks.map((task) => task.id)
    const requestsOf = () => Promise.all(w.daemons.map((daemon) => scrapeSum(daemon, 'jjm_jules_requests_total')))
    await until('all three daemons call Jules', async () => (await requestsOf()).every((count) => count > 0), 60_000)
    const before = await requestsOf()

    const retryAfterSeconds = 2 * leaseTtlSeconds
    const refusedBefore = seen.filter((request) => request.refused).length
    w.simulator.injectFault({ status: 429, retryAfterSeconds, count: 1, methods: ['sessions.get'] })
    w.clock.advance(runSeconds * 1000)
    await until('a daemon gets the 429', () => seen.filter((request) => request.refused).length > refusedBefore, 30_000)
    const refusedAt = seen.filter((request) => request.refused).at(-1)?.at as number
    await until('every task is completed', () => allAre(w, ids, (row) => row.state === 'completed'), 90_000)
    const pauseEnd = refusedAt + retryAfterSeconds * 1000
    if (Date.now() < pauseEnd + 2_000) await sleep(pauseEnd + 2_000 - Date.now())

    // Requests already past the budget when the 429 came may still land just after it; none later.
    const during = syncRequests(refusedAt + 1_000, pauseEnd - 100)
    assert.deepEqual(during, [], 'no daemon sent anything during the pause')
    const afterwards = await Promise.all(w.daemons.map((daemon) => scrapeSum(daemon, 'jjm_jules_requests_total')))
    for (const [index, count] of afterwards.entries()) {
      assert.equal(w.daemons[index]?.child.exitCode, null, `daemon ${index} still runs`)
      assert.ok(count >= (before[index] as number), `daemon ${index} lived through the pause`)
    }
    const leaseWarnings = w.daemons.map((daemon) => (daemon.stderr().match(/lease/gi) ?? []).length)
    t.diagnostic(`lease warnings in the daemons' logs: ${leaseWarnings}`)
    await assertHistoryOnce(w, tasks)
    w.finished.push(...ids)
    const completed = await Promise.all(w.daemons.map((daemon) => scrapeSum(daemon, 'jjm_tasks_completed_total')))
    t.diagnostic(`completions recorded by each daemon: ${completed}`)
    assert.equal(
      completed.reduce((sum, count) => sum + count, 0),
      w.finished.length,
      `each completion counted once over the three daemons: ${completed}`,
    )
  })

  it('(c) a create that timed out on one daemon, retried on another, makes one session', async (t) => {
    const w = await theWorld(t)
    if (!w) return
    if (w.daemons.length === 0) await startDaemons(w)
    const [a, b] = w.daemons as [Daemon, Daemon, Daemon]
    const body = { prompt: 'Made slowly on daemon A', repository: 'acme/api' }
    const idempotencyKey = 'three-daemons-42'
    // jjm waits 2 s for Jules; Jules takes 4 s to create (and does create, after jjm gave up).
    w.simulator.injectFault({ status: 200, delayMs: 4_000, methods: ['sessions.create'] })

    const first = await post(a, w.key, idempotencyKey, body)
    assert.equal(first.status, 503, first.text)
    assert.ok((first.retryAfter ?? 0) >= 1, `503 says when to retry: ${first.retryAfter}`)

    // On another daemon, right away (well within the 7 s lock): told to wait, and how long.
    const second = await post(b, w.key, idempotencyKey, body)
    assert.equal(second.status, 409, second.text)
    const wait = second.retryAfter
    assert.ok(typeof wait === 'number' && wait >= 1 && wait <= 7, `Retry-After: ${wait}`)

    // Waiting as told is what a client does; on a busy machine once more.
    let retry = second
    for (let attempt = 0; attempt < 3 && (retry.status === 409 || retry.status === 503); attempt++) {
      await sleep((retry.retryAfter ?? 1) * 1000)
      retry = await post(b, w.key, idempotencyKey, body)
    }
    assert.ok(retry.status === 201 || retry.status === 200, retry.text)
    const sessionName = retry.body?.sessionName

    const sessions = (await w.simulator.listSessions({ pageSize: 100 })).sessions.filter((session) =>
      session.prompt.includes(body.prompt),
    )
    assert.equal(sessions.length, 1, 'exactly one session at Jules')
    assert.equal(sessionName, sessions[0]?.name)
    const rows = await query<{ id: string }>(w.databaseUrl, 'select id from task where prompt = $1', [body.prompt])
    assert.equal(rows.length, 1, 'one task on the shared database')
  })
})
