import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ManualClock } from '../../src/core/clock.js'
import type { Task } from '../../src/core/task.js'
import type { SimServer } from '../../src/sim/http.js'
import { jjm, json } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'

const pushgatewayBinary = '/usr/bin/prometheus-pushgateway'

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** A real Pushgateway on a free loopback port, ready to accept pushes. */
async function startPushgateway(): Promise<{ url: string; process: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort()
  const child = spawn(pushgatewayBinary, [`--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the Pushgateway did not start')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return {
    url,
    process: child,
    async stop() {
      child.kill('SIGTERM')
      await exited
    },
  }
}

// On a user's machine without the Pushgateway this suite skips, saying so; in CI a missing tool fails it.
const missingGateway =
  !existsSync(pushgatewayBinary) && process.env.CI !== 'true'
    ? `${pushgatewayBinary} is not installed (apt-get install prometheus-pushgateway)`
    : false

describe('jjm monitor --once and a Pushgateway', { timeout: 120_000, skip: missingGateway }, () => {
  let dir: string
  let env: Record<string, string>
  let server: SimServer
  let gateway: Awaited<ReturnType<typeof startPushgateway>>
  const clock = new ManualClock(Date.now())

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jjm-push-'))
    server = (await startE2eSimulator(clock, { runSeconds: 20 })).server
    gateway = await startPushgateway()
    env = e2eEnvironment(dir, server.url)
  })

  after(async () => {
    await gateway?.stop()
    await server?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it("pushes the run's figures under job jjm_monitor and this host as instance", async () => {
    const created = await jjm(['tasks', 'create', '--repo', 'acme/api', 'Push me', '--json'], env)
    assert.equal(created.code, 0, created.stderr)
    const task = json<Task>(created)
    clock.advance(30_000)

    const pass = await jjm(['monitor', '--once'], { ...env, JJM_PUSHGATEWAY_URL: gateway.url })
    assert.equal(pass.code, 20, pass.stderr)
    assert.doesNotMatch(pass.stderr, /Warning/)

    const pushed = await (await fetch(`${gateway.url}/metrics`)).text()
    const group = `instance="${hostname()}",job="jjm_monitor"`
    assert.match(pushed, new RegExp(`jjm_tasks_completed_total\\{${group},repository="acme/api"\\} 1`))
    assert.match(pushed, new RegExp(`jjm_task_duration_seconds_count\\{${group}\\} 1`))
    assert.match(pushed, new RegExp(`jjm_sync_cycle_duration_seconds_count\\{${group}\\} 1`))
    assert.match(pushed, new RegExp(`jjm_jules_requests_total\\{${group},method="getSession",outcome="success"\\} 1`))
    assert.match(pushed, new RegExp(`jjm_monitor_last_pass_timestamp_seconds\\{${group}\\} \\d`))
    assert.match(pushed, new RegExp(`push_time_seconds\\{${group}\\}`))
    assert.ok(!pushed.includes(task.id), 'no task id is pushed')
    assert.ok(!/jjm_process_cpu_seconds_total\{[^}]*jjm_monitor/.test(pushed), 'no process metrics of a short run')
  })

  it('warns and keeps the exit code of the run when the Pushgateway cannot be reached', async () => {
    const closedPort = await freePort()
    const pass = await jjm(['monitor', '--once'], { ...env, JJM_PUSHGATEWAY_URL: `http://127.0.0.1:${closedPort}` })
    assert.equal(pass.code, 0, pass.stderr)
    assert.match(pass.stderr, /Warning: could not push the metrics to the Pushgateway at http:\/\/127\.0\.0\.1:\d+/)
    assert.match(pass.stdout, /checked 0 active task/)
  })
})
