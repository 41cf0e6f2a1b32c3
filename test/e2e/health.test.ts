import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ManualClock } from '../../src/core/clock.js'
import type { HealthReport } from '../../src/core/health.js'
import type { SimServer } from '../../src/sim/http.js'
import { startTestDaemon } from '../support/api.js'
import { jjm, json, root } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('jjm health', { timeout: 180_000 }, () => {
  let dir: string
  let env: Record<string, string>
  let server: SimServer

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    dir = await mkdtemp(join(tmpdir(), 'jjm-health-e2e-'))
    server = (await startE2eSimulator(new ManualClock(Date.now()))).server
    env = e2eEnvironment(dir, server.url)
  })

  after(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('exits 41 (unhealthy) on a database whose migrations are pending, naming the fix, and 0 once they are applied', async () => {
    const pending = await jjm(['health', '--json'], env)
    assert.equal(pending.code, 41, pending.stderr)
    const report = json<HealthReport>(pending)
    assert.equal(report.status, 'unhealthy')
    assert.match(report.checks.database?.message ?? '', /migration\(s\) pending .*run `jjm migrate up`/)

    assert.equal((await jjm(['migrate', 'up'], env)).code, 0)
    const healthy = await jjm(['health', '--json'], env)
    assert.equal(healthy.code, 0, healthy.stderr)
    const checks = json<HealthReport>(healthy).checks
    assert.deepEqual(Object.keys(checks), ['jules', 'database', 'disk'])
    assert.equal(checks.jules?.message, 'Jules (rest) answers.', 'a real call through the rest adapter')

    const table = await jjm(['health'], env)
    assert.equal(table.code, 0)
    assert.match(table.stdout, /^healthy \(jjm \S+, up \d+ s\)\n CHECK +STATUS +LATENCY +MESSAGE\n jules +pass /)
  })

  it('exits 41 (unhealthy) when the disk has less free space than health.diskFailBytes', async () => {
    const run = await jjm(['health', '--json'], { ...env, JJM_HEALTH_DISK_FAIL_BYTES: String(2 ** 52) })
    assert.equal(run.code, 41, run.stderr)
    assert.equal(json<HealthReport>(run).checks.disk?.status, 'fail')
  })

  it('exits 40 (degraded) when Redis does not answer, or Jules refuses the key', async () => {
    const redisDown = await jjm(['health', '--json'], {
      ...env,
      REDIS_URL: `redis://127.0.0.1:${await closedPort()}`,
    })
    assert.equal(redisDown.code, 40, redisDown.stderr)
    const report = json<HealthReport>(redisDown)
    assert.equal(report.status, 'degraded')
    assert.equal(report.checks.redis?.status, 'warn')

    const badKey = await jjm(['health', '--json'], { ...env, JULES_API_KEY: 'wrong' })
    assert.equal(badKey.code, 40, badKey.stderr)
    assert.equal(json<HealthReport>(badKey).checks.jules?.status, 'fail')
  })

  it('asks a running daemon with --url, and exits 17 when nothing answers there', async () => {
    const api = await startTestDaemon()
    try {
      const run = await jjm(['health', '--url', api.url, '--json'], env)
      assert.equal(run.code, 0, run.stderr)
      const report = json<HealthReport>(run)
      assert.equal(report.version, 'test', "the daemon's report, not a local one")
      assert.deepEqual(report.checks, (await api.call('GET', '/health', { key: null })).body.checks)
    } finally {
      await api.close()
    }
    const nobody = await jjm(['health', '--url', `http://127.0.0.1:${await closedPort()}`, '--json'], env)
    assert.equal(nobody.code, 17)
    assert.match(json<{ error: { message: string } }>(nobody).error.message, /No jjm daemon answered at/)
  })
})
