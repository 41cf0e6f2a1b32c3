/**
 * A daemon killed in the middle of its syncs (SIGKILL: no clean-up at all)
 * holds its tasks' sync leases only until they run out, by the database's
 * clock: another daemon on the same PostgreSQL then takes the tasks over and
 * finishes them, recording each transition once.
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
import type { Task } from '../../src/core/task.js'
import { jjm, json, root, runJs } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'
import { postgres } from '../support/services.js'

const leaseTtlSeconds = 3

async function query<T>(databaseUrl: string, sql: string): Promise<T[]> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    return (await client.query(sql)).rows as T[]
  } finally {
    await client.end()
  }
}

async function until(what: string, done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await sleep(200)
  }
}

function startDaemon(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [runJs, 'daemon', '--port', '0', '--metrics-port', '0', '--interval', '1'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'ignore'],
  })
}

describe('a daemon killed mid-sync', { timeout: 240_000 }, () => {
  it('holds its leases no longer than their time, and another daemon finishes its tasks once', async (t) => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    const service = await postgres(t)
    if (service === undefined) return
    const database = await service.createDatabase()
    const clock = new ManualClock('2026-12-01T09:00:00.000Z')
    const { simulator, server } = await startE2eSimulator(clock, { runSeconds: 60 })
    const dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-takeover-'))
    const daemons: ChildProcess[] = []
    try {
      const env = e2eEnvironment(dir, server.url, {
        DATABASE_URL: database.url,
        JJM_MONITOR_LEASE_TTL_SECONDS: String(leaseTtlSeconds),
        JJM_MONITOR_REQUESTS_PER_MINUTE: '100000',
        JJM_HEALTH_INTERVAL_SECONDS: '3600',
      })
      // As many tasks as one batch (monitor.concurrency, 4): the first pass claims them all.
      const file = join(dir, 'tasks.yaml')
      await writeFile(file, [0, 1, 2, 3].map((n) => `- prompt: takeover task ${n}\n  repo: acme/api\n`).join(''))
      const created = await jjm(['tasks', 'create', '--from', file, '--json'], env)
      assert.equal(created.code, 0, created.stderr)
      const tasks = json<{ created: Task[] }>(created).created
      assert.equal(tasks.length, 4)

      // Jules hangs on every session read of the first daemon's pass: it is killed while it holds the leases.
      simulator.injectFault({ status: 200, delayMs: 15_000, count: 4, methods: ['sessions.get'] })
      const first = startDaemon(env)
      daemons.push(first)
      await until(
        'the first daemon holds every lease',
        async () => {
          const rows = await query<{ held: string }>(
            database.url,
            'select count(*) as held from task_sync where lease_holder is not null',
          )
          return Number(rows[0]?.held) === 4
        },
        60_000,
      )
      first.kill('SIGKILL')
      await new Promise((resolve) => first.once('exit', resolve))
      // Judged by the database's clock: no lease outlives its time by more than one renewal's worth.
      const [left] = await query<{ longest: string }>(
        database.url,
        'select max(lease_until) - floor(extract(epoch from clock_timestamp()) * 1000) as longest from task_sync',
      )
      assert.ok(
        Number(left?.longest) <= leaseTtlSeconds * 1000,
        `a lease runs ${left?.longest} ms past the kill; at most ${leaseTtlSeconds * 1000}`,
      )
      simulator.clearFaults()

      clock.advance(120_000)
      daemons.push(startDaemon(env))
      await until(
        'the second daemon finished every task',
        async () => {
          const rows = await query<{ done: string }>(
            database.url,
            "select count(*) as done from task where state = 'completed'",
          )
          return Number(rows[0]?.done) === 4
        },
        90_000,
      )
      const counts = await query<{ task_id: string; type: string; n: string }>(
        database.url,
        "select task_id, type, count(*) as n from task_event where type in ('created', 'completed', 'state_changed') group by task_id, type",
      )
      for (const task of tasks) {
        const of = (type: string) => Number(counts.find((row) => row.task_id === task.id && row.type === type)?.n ?? 0)
        assert.equal(of('created'), 1, `${task.id}: one created`)
        assert.equal(of('completed'), 1, `${task.id}: one completed`)
        assert.equal(of('state_changed'), 1, `${task.id}: queued → completed once, nothing from the killed daemon`)
      }
    } finally {
      for (const daemon of daemons) daemon.kill('SIGKILL')
      await server.close()
      await rm(dir, { recursive: true, force: true })
      await database.drop()
    }
  })
})
