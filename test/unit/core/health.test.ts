import assert from 'node:assert/strict'
import { mkdtemp, rm, statfs } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../../src/core/config.js'
import {
  type CheckResult,
  databaseCheck,
  diskCheck,
  type HealthCheck,
  HealthRunner,
  julesCheck,
  overallStatus,
  redisCheck,
} from '../../../src/core/health.js'
import type { JulesClient } from '../../../src/core/jules/client.js'
import { createRestClient } from '../../../src/core/jules/rest.js'
import { silentLogger } from '../../../src/core/ports.js'
import { redisCacheBackend } from '../../../src/plugins/cache-keyv/backend.js'
import { openSqlStore } from '../../../src/plugins/storage-sql/sql-store.js'
import { redis } from '../../support/services.js'

const never = new AbortController().signal

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-health-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A TCP port on loopback that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Counts every call to Jules that a check makes through it. */
function counting(jules: JulesClient): { client: JulesClient; calls: () => number } {
  let calls = 0
  const client = new Proxy(jules, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || property === 'circuit' || property === 'close') return value
      return (...args: unknown[]) => {
        calls++
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { client, calls: () => calls }
}

function result(status: CheckResult['status']): CheckResult {
  return { status, latencyMs: 1, message: status, checkedAt: new Date().toISOString() }
}

describe('the database check', () => {
  it('passes on a database that answers with its schema current, and fails once the database is closed', async () => {
    const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
    const check = databaseCheck(storage)
    assert.deepEqual(await check.run(never), {
      status: 'pass',
      message: 'The database answers and its schema is current.',
    })
    await storage.close()
    const closed = await check.run(never)
    assert.equal(closed.status, 'fail')
    assert.match(closed.message, /^The database does not answer: /)
  })

  it('fails naming `jjm migrate up` while a migration is pending', async (t) => {
    const dir = await tempDir(t)
    const storage = await openSqlStore({ dialect: 'sqlite', path: join(dir, 'jjm.sqlite') })
    t.after(() => storage.close())
    const [reverted] = await storage.schema.down()
    const outcome = await databaseCheck(storage).run(never)
    assert.equal(outcome.status, 'fail')
    assert.equal(outcome.message, `1 migration(s) pending (${reverted}): run \`jjm migrate up\`.`)
  })

  it('warns while storage runs on its fallback, saying why', async (t) => {
    const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
    t.after(() => storage.close())
    const degraded = 'PostgreSQL at db:5432 was unreachable at start-up; running on the SQLite fallback.'
    assert.deepEqual(await databaseCheck({ ...storage, degraded }).run(never), { status: 'warn', message: degraded })
  })
})

describe('the Jules check', () => {
  it('fails without calling Jules while the circuit breaker is open', async () => {
    const port = await closedPort()
    const rest = createRestClient({
      baseUrl: `http://127.0.0.1:${port}`,
      apiKey: 'k',
      maxAttempts: 1,
      breaker: { failureThreshold: 1, cooldownMs: 60_000 },
    })
    try {
      const { client, calls } = counting(rest)
      const check = julesCheck(client)
      const refused = await check.run(never)
      assert.equal(refused.status, 'fail', 'Jules does not answer: the first check fails and opens the breaker')
      assert.equal(calls(), 1)
      assert.deepEqual(rest.circuit?.(), { state: 'open', retryInSeconds: 60 })

      const open = await check.run(never)
      assert.equal(open.status, 'fail')
      assert.match(open.message, /circuit breaker is open .* tries again in \d+ s/)
      assert.equal(calls(), 1, 'no call while the breaker is open')
    } finally {
      await rest.close?.()
    }
  })

  it('passes for the simulator without a call', async () => {
    const { client, calls } = counting({ kind: 'sim' } as JulesClient)
    const outcome = await julesCheck(client).run(never)
    assert.equal(outcome.status, 'pass')
    assert.equal(calls(), 0)
  })
})

describe('the Redis check', () => {
  async function openRedis(t: TestContext, url: string) {
    const dir = await tempDir(t)
    const config = await loadConfig({ configDir: dir, dataDir: dir, env: { REDIS_URL: url } })
    const handle = await redisCacheBackend.open({ config, logger: silentLogger })
    t.after(() => handle.close())
    return redisCheck(handle, handle.bus)
  }

  it('warns, not fails, when Redis does not answer', async (t) => {
    const check = await openRedis(t, `redis://127.0.0.1:${await closedPort()}`)
    const outcome = await check.run(never)
    assert.equal(outcome.status, 'warn')
    assert.match(outcome.message, /^Redis does not answer .*reads from the database/)
  })

  it('passes when Redis answers PING', async (t) => {
    const service = await redis(t)
    if (!service) return
    const check = await openRedis(t, service.url)
    assert.equal((await check.run(never)).status, 'pass')
  })
})

describe('the disk check', () => {
  it('passes, warns or fails by the free space against its thresholds', async (t) => {
    const dir = await tempDir(t)
    const stats = await statfs(dir)
    const free = Number(stats.bavail) * Number(stats.bsize)
    assert.equal((await diskCheck(dir, { warnBytes: 0, failBytes: 0 }).run(never)).status, 'pass')
    const low = await diskCheck(dir, { warnBytes: free * 2, failBytes: 0 }).run(never)
    assert.equal(low.status, 'warn')
    const full = await diskCheck(dir, { warnBytes: free * 4, failBytes: free * 2 }).run(never)
    assert.equal(full.status, 'fail')
    assert.match(full.message, /free of .* under .*: free some space/)
  })

  it('looks at the nearest existing parent of a data directory not created yet', async (t) => {
    const dir = await tempDir(t)
    const outcome = await diskCheck(join(dir, 'not', 'yet'), { warnBytes: 0, failBytes: 0 }).run(never)
    assert.equal(outcome.status, 'pass')
    assert.match(outcome.message, new RegExp(`under ${dir}$`))
  })
})

describe('the overall status', () => {
  const critical = new Set(['database', 'disk'])
  it('is unhealthy when the database fails, degraded when Jules fails or Redis warns, healthy when all pass', () => {
    const pass = result('pass')
    assert.equal(overallStatus({ jules: pass, database: pass, disk: pass }, critical), 'healthy')
    assert.equal(overallStatus({ jules: result('fail'), database: pass, disk: pass }, critical), 'degraded')
    assert.equal(overallStatus({ redis: result('warn'), database: pass }, critical), 'degraded')
    assert.equal(overallStatus({ disk: result('warn'), database: pass }, critical), 'degraded')
    assert.equal(overallStatus({ jules: pass, database: result('fail') }, critical), 'unhealthy')
    assert.equal(overallStatus({ disk: result('fail'), database: pass }, critical), 'unhealthy')
  })
})

describe('the health runner', () => {
  function countingCheck(name: string, run: () => Promise<void> = async () => {}): HealthCheck & { runs: number } {
    const check = {
      name,
      critical: false,
      runs: 0,
      async run() {
        check.runs++
        await run()
        return { status: 'pass' as const, message: 'fine' }
      },
    }
    return check
  }

  it('runs the checks at start, then again on its interval, and tells listeners each time', async () => {
    const check = countingCheck('jules')
    const runner = new HealthRunner({ checks: [check], version: '1.2.3', intervalMs: 40, timeoutMs: 1000 })
    const heard: string[] = []
    runner.onResult((report) => heard.push(report.checks.jules?.checkedAt ?? ''))
    runner.start()
    try {
      const first = await runner.current()
      assert.equal(first.status, 'healthy')
      assert.equal(first.version, '1.2.3')
      assert.equal(check.runs, 1)
      await sleep(200)
      assert.ok(check.runs >= 3, `ran ${check.runs} times in 200 ms at a 40 ms interval`)
      assert.ok(heard.length >= 3)
      assert.equal(runner.results().checks.jules?.checkedAt, heard.at(-1))
    } finally {
      await runner.stop()
    }
    const stoppedAt = check.runs
    await sleep(100)
    assert.equal(check.runs, stoppedAt, 'no pass after stop')
  })

  it('answers its last results without running the checks again', async () => {
    const check = countingCheck('database')
    const runner = new HealthRunner({ checks: [check], version: 'x', intervalMs: 60_000, timeoutMs: 1000 })
    runner.start()
    try {
      const first = await runner.current()
      for (let i = 0; i < 5; i++) assert.deepEqual((await runner.current()).checks, first.checks)
      assert.equal(check.runs, 1)
    } finally {
      await runner.stop()
    }
  })

  it('fails a check that hangs at its deadline, and does not start it again while it still hangs', async () => {
    let release = () => {}
    const hung = new Promise<void>((resolve) => {
      release = resolve
    })
    const hanging = countingCheck('jules', () => hung)
    const quick = countingCheck('database')
    const runner = new HealthRunner({ checks: [hanging, quick], version: 'x', intervalMs: 60_000, timeoutMs: 50 })
    const started = performance.now()
    const report = await runner.runOnce()
    assert.ok(performance.now() - started < 500, 'the pass ends at the deadline')
    assert.equal(report.checks.jules?.status, 'fail')
    assert.match(report.checks.jules?.message ?? '', /No answer within 50 ms/)
    assert.equal(report.checks.database?.status, 'pass')
    assert.equal(report.status, 'degraded')

    const again = await runner.runOnce()
    assert.match(again.checks.jules?.message ?? '', /Still no answer/)
    assert.equal(hanging.runs, 1)

    release()
    await sleep(10)
    assert.equal((await runner.runOnce()).checks.jules?.status, 'pass')
    assert.equal(hanging.runs, 2)
  })
})
