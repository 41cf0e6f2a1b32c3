/**
 * Three `jjm monitor --watch` processes, each on its own database, sharing one
 * Redis and one Jules account (the HTTP simulator): together they stay within
 * one `monitor.requestsPerMinute`, and a 429 that one of them gets pauses all
 * three. Requests are counted where Jules would count them, at the simulator.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ManualClock } from '../../src/core/clock.js'
import { julesAccountKey } from '../../src/core/rate-limit.js'
import type { Task } from '../../src/core/task.js'
import type { Simulator } from '../../src/sim/engine.js'
import type { SimServer } from '../../src/sim/http.js'
import { deleteKeys } from '../integration/cache-keyv/redis-keys.js'
import { jjm, json, root, runJs } from '../support/cli.js'
import { e2eApiKey, e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'
import { redis, uniqueName } from '../support/services.js'

const tasksPerProcess = 10

/** One request that reached the simulator. */
interface SeenRequest {
  at: number
  method: string
}

/** One session read the simulator answered, and the process whose task it was. */
interface SessionRead {
  at: number
  process: number | undefined
}

describe('one Jules budget shared by three processes on one Redis', { timeout: 240_000 }, () => {
  let server: SimServer
  let simulator: Simulator
  const dirs: string[] = []
  const namespaces = [0, 1, 2].map((index) => `${uniqueName('jjmbudget')}_${index}`)
  /** Session name → the process whose database holds its task. */
  const owner = new Map<string, number>()
  const seen: SeenRequest[] = []
  const reads: SessionRead[] = []
  /** When the simulator answered with an injected fault. */
  const faultsAt: number[] = []
  const running: ChildProcess[] = []

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    // Sessions stay where they are: the clock never moves, so every pass has the same work to do.
    ;({ simulator, server } = await startE2eSimulator(new ManualClock(Date.now()), { runSeconds: 3600 }))
    const takeFault = simulator.takeFault.bind(simulator)
    simulator.takeFault = (method) => {
      const fault = takeFault(method)
      if (method !== 'sessions.create') seen.push({ at: Date.now(), method })
      if (fault) faultsAt.push(Date.now())
      return fault
    }
    const getSession = simulator.getSession.bind(simulator)
    simulator.getSession = (name) => {
      reads.push({ at: Date.now(), process: owner.get(name) })
      return getSession(name)
    }
    const file = Array.from({ length: tasksPerProcess }, (_, n) => `- prompt: task ${n}\n  repo: acme/api\n`).join('')
    await Promise.all(
      [0, 1, 2].map(async (index) => {
        const dir = await mkdtemp(join(tmpdir(), `jjm-e2e-budget-${index}-`))
        dirs[index] = dir
        await writeFile(join(dir, 'tasks.yaml'), file)
        // Set up without Redis: these creates are not what the test counts.
        const run = await jjm(
          ['tasks', 'create', '--from', join(dir, 'tasks.yaml'), '--json'],
          e2eEnvironment(dir, server.url, { JJM_CACHE: 'none' }),
        )
        assert.equal(run.code, 0, run.stderr)
        for (const task of json<{ created: Task[] }>(run).created) owner.set(task.sessionName, index)
      }),
    )
    assert.equal(owner.size, 3 * tasksPerProcess)
  })

  after(async () => {
    await stopAll()
    await server?.close()
    for (const dir of dirs) if (dir) await rm(dir, { recursive: true, force: true })
  })

  async function stopAll(): Promise<void> {
    await Promise.all(
      running.splice(0).map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve()
            // A pass waiting on the budget ends only at a second signal (as a second Ctrl-C does).
            const again = setInterval(() => child.kill('SIGTERM'), 1_000)
            child.once('exit', () => {
              clearInterval(again)
              resolve()
            })
            child.kill('SIGTERM')
          }),
      ),
    )
  }

  /** Starts `jjm monitor --watch` for each of the three databases, on one Redis. */
  function startMonitors(redisUrl: string, extra: Record<string, string>): Array<{ stderr: () => string }> {
    return [0, 1, 2].map((index) => {
      const env = e2eEnvironment(dirs[index] as string, server.url, {
        JJM_CACHE: 'redis',
        REDIS_URL: redisUrl,
        JJM_CACHE_NAMESPACE: namespaces[index] as string,
        ...extra,
      })
      const child = spawn(process.execPath, [runJs, 'monitor', '--watch', '--interval', '1'], {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      running.push(child)
      let stderr = ''
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
      })
      return { stderr: () => stderr }
    })
  }

  async function until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
      await sleep(50)
    }
  }

  async function withRedis(t: TestContext): Promise<string | undefined> {
    const service = await redis(t)
    if (service === undefined) return undefined
    t.after(async () => {
      await stopAll()
      const account = julesAccountKey({ backend: 'rest', apiUrl: server.url, apiKey: e2eApiKey })
      await deleteKeys(service.url, `jjm:jules-budget:${account}`)
      for (const namespace of namespaces) await deleteKeys(service.url, `jjm:${namespace}:`)
    })
    return service.url
  }

  it('keeps the three within one requests-per-minute ceiling, not three', async (t) => {
    const redisUrl = await withRedis(t)
    if (!redisUrl) return
    const from = seen.length
    // 12 a minute: 2 at once, then 2 per 10 s, for the three together.
    const monitors = startMonitors(redisUrl, { JJM_MONITOR_REQUESTS_PER_MINUTE: '12' })
    await until('the first monitor reads a session', () => seen.length > from, 60_000)
    const first = (seen[from] as SeenRequest).at
    await sleep(19_000)
    for (const [index, child] of running.entries()) {
      assert.equal(child.exitCode, null, `monitor ${index} still runs: ${monitors[index]?.stderr()}`)
    }
    await stopAll()
    const requests = seen.slice(from).filter((request) => request.at < first + 19_000)
    // Two windows of 10 s began in those 19 s (the first with the first request): at most 2 + 2.
    // Each process alone would have had 2 at once plus one every 5 s: about 15 for the three, wanting 30 tasks read.
    assert.ok(requests.length <= 4, `${requests.length} requests reached Jules in 19 s; the budget allows 4`)
    assert.ok(requests.length >= 2, `the budget was used: ${requests.length}`)
  })

  it('pauses all three when Jules answers one of them 429, until its Retry-After', async (t) => {
    const redisUrl = await withRedis(t)
    if (!redisUrl) return
    const from = reads.length
    // A generous ceiling, and no retry inside the client, so that the 429 reaches the budget at once.
    startMonitors(redisUrl, { JJM_MONITOR_REQUESTS_PER_MINUTE: '600', JJM_JULES_MAX_ATTEMPTS: '1' })
    const active = (since: number, below = Number.POSITIVE_INFINITY) =>
      new Set(
        reads
          .slice(from)
          .filter((read) => read.at >= since && read.at < below && read.process !== undefined)
          .map((read) => read.process),
      )
    await until('all three monitors read sessions', () => active(0).size === 3, 60_000)
    const faultsBefore = faultsAt.length
    simulator.injectFault({ status: 429, retryAfterSeconds: 6, count: 1, methods: ['sessions.get'] })
    await until('a monitor gets the 429', () => faultsAt.length > faultsBefore, 30_000)
    const refusedAt = faultsAt.at(-1) as number
    // Every task is due again within 10 s of the pause's end (the poll interval).
    await sleep(6_000 + 12_000)
    await stopAll()

    // Requests already past the budget when the 429 came may still land just after it; none later.
    const during = seen.filter((request) => request.at >= refusedAt + 1_000 && request.at < refusedAt + 5_900)
    assert.deepEqual(during, [], 'no process sent anything during the pause')
    assert.deepEqual([...active(refusedAt + 5_900)].sort(), [0, 1, 2], 'all three went on after the pause')
  })
})
