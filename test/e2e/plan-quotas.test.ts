/**
 * Plan quotas from the outside: the built CLI queues what the plan cannot
 * start yet, shows where each task stands, refuses what a task without a
 * session cannot do, and `monitor --once` starts the queue as sessions end.
 * Then the race: two `jjm daemon` processes and two `tasks create --from`
 * processes on one PostgreSQL database, all starting tasks at once, start no
 * more than the concurrent limit at any moment and never a session twice.
 * The sessions run at the HTTP simulator in this process, on a manual clock.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { ManualClock } from '../../src/core/clock.js'
import type { MonitorReport } from '../../src/core/monitor.js'
import type { Task } from '../../src/core/task.js'
import { jjm, json, root, runJs } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'
import { postgres } from '../support/services.js'

const runSeconds = 20

async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await sleep(200)
  }
}

describe('plan quotas in the CLI', { timeout: 180_000 }, () => {
  it('queues the task beyond the limit, shows its place, refuses a message to it, and starts it when a slot frees', async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    const dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-quota-'))
    const clock = new ManualClock(Date.now())
    const { server } = await startE2eSimulator(clock, { runSeconds })
    try {
      const env = e2eEnvironment(dir, server.url, { JJM_JULES_LIMITS_CONCURRENT: '2', JJM_JULES_PLAN: 'free' })
      const created: Task[] = []
      for (const title of ['first', 'second', 'third']) {
        const run = await jjm(['tasks', 'create', `${title}: tidy the module`, '--repo', 'acme/api', '--json'], env)
        assert.equal(run.code, 0, run.stderr)
        created.push(json<Task>(run))
      }
      assert.deepEqual(
        created.map((task) => task.state),
        ['queued', 'queued', 'pending'],
      )
      const third = created[2] as Task
      assert.equal(third.sessionName, '')

      const urgent = await jjm(
        ['tasks', 'create', 'urgent: fix the outage', '--repo', 'acme/api', '--priority', '5'],
        env,
      )
      assert.equal(urgent.code, 0, urgent.stderr)
      assert.match(
        urgent.stdout,
        /Queued task \w+ on acme\/api@main: 1st in the queue; waits for a free slot \(2 of 2 running\)/,
      )

      const shown = await jjm(['tasks', 'show', third.id], env)
      assert.equal(shown.code, 0, shown.stderr)
      assert.match(shown.stdout, /queue {7}2nd in the queue; waits for a free slot \(2 of 2 running\)/)
      const shownJson = json<Task>(await jjm(['tasks', 'show', third.id, '--json'], env))
      assert.deepEqual(shownJson.queue, {
        position: 2,
        reason: 'concurrent_limit',
        nextSlotAt: null,
        running: 2,
        concurrentLimit: 2,
        startedToday: 2,
        dailyLimit: 15,
      })
      const pending = json<{ items: Task[] }>(await jjm(['tasks', 'list', '--state', 'pending', '--json'], env))
      assert.equal(pending.items.length, 2)

      const message = await jjm(['message', third.id, 'any news?'], env)
      assert.equal(message.code, 14, message.stdout)
      assert.match(message.stderr, /is pending.*waits in the local queue/s)

      clock.advance((runSeconds + 1) * 1000)
      const pass = await jjm(['monitor', '--once', '--json'], env)
      assert.equal(pass.code, 20, pass.stderr)
      const report = json<MonitorReport>(pass)
      assert.deepEqual(report.started?.map((started) => started.title).sort(), [
        'third: tidy the module',
        'urgent: fix the outage',
      ])
      const after = json<Task>(await jjm(['tasks', 'show', third.id, '--json'], env))
      assert.match(after.sessionName, /^sessions\//)
      assert.equal(after.queue, undefined)
    } finally {
      await server.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

function startDaemon(env: Record<string, string>): Promise<ChildProcess & { stderrText: () => string }> {
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
      if (/listening on http/.test(stderr)) {
        clearTimeout(timer)
        resolve(Object.assign(child, { stderrText: () => stderr }))
      }
    })
    child.once('exit', () => {
      clearTimeout(timer)
      reject(new Error(`daemon exited before listening:\n${stderr}`))
    })
  })
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.once('exit', () => {
      clearTimeout(kill)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

describe('plan quotas across processes on one PostgreSQL database', { timeout: 300_000 }, () => {
  it('two daemons and two bulk creates start at most the concurrent limit at once, and no session twice', async (t) => {
    const service = await postgres(t)
    if (!service) return
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    const database = await service.createDatabase()
    const dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-quota-race-'))
    const clock = new ManualClock(Date.now())
    const { simulator, server } = await startE2eSimulator(clock, { runSeconds })
    const daemons: Array<Awaited<ReturnType<typeof startDaemon>>> = []
    const limit = 3
    const perFile = 8
    try {
      const env = e2eEnvironment(dir, server.url, {
        DATABASE_URL: database.url,
        JJM_JULES_LIMITS_CONCURRENT: String(limit),
        JJM_MONITOR_REQUESTS_PER_MINUTE: '100000',
        JJM_HEALTH_INTERVAL_SECONDS: '3600',
      })
      // The schema first, so that the processes below do not all migrate at once.
      assert.equal((await jjm(['migrate', 'up'], env)).code, 0)
      daemons.push(...(await Promise.all([startDaemon(env), startDaemon(env)])))
      const files = await Promise.all(
        ['a', 'b'].map(async (name) => {
          const file = join(dir, `${name}.json`)
          const entries = Array.from({ length: perFile }, (_, i) => ({
            prompt: `Race ${name}${i}: tidy module ${i}`,
            repository: 'acme/api',
            title: `Race ${name}${i}`,
            priority: i % 3,
          }))
          await writeFile(file, JSON.stringify(entries))
          return file
        }),
      )
      const creates = await Promise.all(
        files.map((file) => jjm(['tasks', 'create', '--from', file, '--concurrency', '4', '--json'], env)),
      )
      for (const run of creates) assert.equal(run.code, 0, run.stderr)
      const total = 2 * perFile

      const sessions = async () => (await simulator.listSessions({ pageSize: 100 })).sessions
      // Each step lets the running sessions finish; the daemons then start exactly the next `limit`.
      for (let step = 0; ; step++) {
        const expected = Math.min(total, limit * (step + 1))
        await until(`${expected} sessions have started`, async () => (await sessions()).length >= expected, 60_000)
        // Two more passes of each daemon (every second): none starts more than the limit allows.
        await sleep(2_500)
        assert.equal((await sessions()).length, expected, `step ${step}: exactly ${expected} sessions started`)
        t.diagnostic(`step ${step}: ${expected} sessions started`)
        if (expected === total) break
        clock.advance((runSeconds + 1) * 1000)
      }
      const all = await sessions()
      assert.equal(all.length, total, 'every task got its session')
      assert.equal(new Set(all.map((session) => session.prompt)).size, total, 'no task got two sessions')

      // At Jules, no moment saw more than the limit running: each session runs runSeconds from its creation.
      const spans = all.map((session) => {
        const from = Date.parse(session.createTime)
        return { from, to: from + runSeconds * 1000 }
      })
      for (const span of spans) {
        const overlapping = spans.filter((other) => other.from <= span.from && span.from < other.to).length
        assert.ok(overlapping <= limit, `${overlapping} sessions ran at once; the limit is ${limit}`)
      }

      const listed = json<{ items: Task[] }>(await jjm(['tasks', 'list', '--limit', '100', '--json'], env))
      assert.equal(listed.items.length, total)
      assert.equal(new Set(listed.items.map((task) => task.sessionName)).size, total, 'one session per task')
      for (const daemon of daemons) assert.equal(daemon.exitCode, null, daemon.stderrText())
    } finally {
      await Promise.all(daemons.map(stop))
      await server.close()
      await database.drop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
