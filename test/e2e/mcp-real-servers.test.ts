import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { systemClock } from '../../src/core/clock.js'
import type { Task, TaskPage } from '../../src/core/task.js'
import { Simulator } from '../../src/sim/engine.js'
import type { SimServer } from '../../src/sim/http.js'
import { MemorySimStateStore } from '../../src/sim/memory-store.js'
import { jjm, json, root } from '../support/cli.js'
import { e2eApiKey, startE2eSimulator } from '../support/e2e-sim.js'
import { julesMcpServerStandIn, serveOverHttp } from '../support/mcp-stand-ins.js'

/**
 * jjm's mcp backend through the real `jjm` CLI against the Jules MCP servers
 * people install: the real jules-mcp-server 0.2.0 (its Jules calls sent to the
 * simulator), and stand-ins of each server built from its published tools.
 */

function home(dir: string, extra: Record<string, string>): Record<string, string> {
  return {
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    JJM_LOG_LEVEL: 'warn',
    JJM_JULES: 'mcp',
    ...extra,
  }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return typeof address === 'object' && address ? address.port : 0
}

describe('jjm against the real jules-mcp-server 0.2.0', { timeout: 120_000 }, () => {
  let dir: string
  let sim: { simulator: Simulator; server: SimServer }
  let server: ChildProcess
  let url: string
  let said = ''

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands', 'tasks', 'create.js')), 'run `npm run build` first')
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-jules-mcp-server-'))
    sim = await startE2eSimulator(systemClock)
    const port = await freePort()
    url = `http://127.0.0.1:${port}/mcp`
    server = spawn(
      process.execPath,
      [
        '--import',
        join(root, 'test', 'support', 'jules-fetch-redirect.mjs'),
        join(root, 'node_modules', 'jules-mcp-server', 'dist', 'server.js'),
      ],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          PORT: String(port),
          JULES_API_KEY: e2eApiKey,
          JJM_TEST_JULES_URL: sim.server.url,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    await new Promise<void>((resolve, reject) => {
      server.stderr?.on('data', (chunk: Buffer) => {
        said += chunk.toString('utf8')
        if (said.includes('Server on http')) resolve()
      })
      server.once('exit', (code) => reject(new Error(`jules-mcp-server exited (${code}): ${said}`)))
    })
  })

  after(async () => {
    server?.kill()
    await sim?.server.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('refuses to create a task, naming the server, the request and the status, and records nothing', async () => {
    const env = home(dir, {
      JJM_JULES_MCP_URL: url,
      JJM_JULES_MCP_PRESET: 'jules-mcp-server',
      JJM_JULES_MAX_ATTEMPTS: '1',
    })
    const created = await jjm(
      ['tasks', 'create', '--repo', 'acme/api', '--branch', 'main', '--idempotency-key', 'k-1', 'Add a health check'],
      env,
    )
    assert.equal(created.code, 15, created.stderr)
    assert.match(created.stderr, /jules-mcp-server/)
    assert.match(created.stderr, new RegExp(url.replaceAll('.', '\\.')))
    assert.match(created.stderr, /HTTP 500 to notifications\/initialized, after accepting initialize/)
    assert.match(created.stderr, /reuses one stateless transport/)

    const listed = json<TaskPage>(await jjm(['tasks', 'list', '--json'], env))
    assert.deepEqual(listed.items, [])
    assert.deepEqual((await sim.simulator.listSessions()).sessions, [], 'nothing reached Jules')

    // The creation intent is not left pending: the same key may create again (and fails the same way).
    const again = await jjm(
      ['tasks', 'create', '--repo', 'acme/api', '--branch', 'main', '--idempotency-key', 'k-1', 'Add a health check'],
      env,
    )
    assert.equal(again.code, 15, again.stderr)
    assert.match(again.stderr, /HTTP 500/)
  })

  it('says the same without a preset, since the server never gets as far as listing its tools', async () => {
    const run = await jjm(['sources', 'list'], home(dir, { JJM_JULES_MCP_URL: url, JJM_JULES_MAX_ATTEMPTS: '1' }))
    assert.equal(run.code, 15, run.stderr)
    // Its transport, initialized by the first client, now refuses even initialize.
    assert.match(run.stderr, /HTTP 500 to initialize/)
    assert.match(run.stderr, /jules-mcp-server 0\.2\.0 does this/)
  })
})

describe('jjm end to end through each preset, against stand-ins of the servers', { timeout: 240_000 }, () => {
  let dir: string
  let simulator: Simulator
  let standIn: Awaited<ReturnType<typeof serveOverHttp>>

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-mcp-presets-'))
    simulator = new Simulator({
      store: new MemorySimStateStore(),
      clock: systemClock,
      runSeconds: 6,
      autoApproveSeconds: 0,
    })
    standIn = await serveOverHttp(() => julesMcpServerStandIn(simulator))
  })

  after(async () => {
    await standIn?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const stdioServer = (preset: string): Record<string, string> => ({
    JJM_JULES_MCP_COMMAND: process.execPath,
    JJM_JULES_MCP_ARGS: JSON.stringify([
      '--import',
      'tsx',
      join(root, 'test', 'support', 'mcp-stand-in-server.ts'),
      '--preset',
      preset,
      '--run-seconds',
      '6',
      '--db',
      join(dir, `${preset}.sqlite`),
    ]),
  })

  const presets: Array<{ preset: string; env: () => Record<string, string>; pullRequest: boolean }> = [
    { preset: 'jules-mcp-server', env: () => ({ JJM_JULES_MCP_URL: standIn.url }), pullRequest: false },
    { preset: 'google-jules-mcp', env: () => stdioServer('google-jules-mcp'), pullRequest: true },
    { preset: 'jules-mcp', env: () => stdioServer('jules-mcp'), pullRequest: false },
  ]

  for (const { preset, env: serverEnv, pullRequest } of presets) {
    it(`creates, waits for the plan, messages, approves and sees ${preset} complete`, async () => {
      const env = home(join(dir, preset), { ...serverEnv(), JJM_JULES_MCP_PRESET: preset })
      const created = await jjm(
        [
          'tasks',
          'create',
          '--repo',
          'acme/api',
          '--branch',
          'main',
          '--require-plan-approval',
          '--auto-pr',
          'Add a health check',
          '--json',
        ],
        env,
      )
      assert.equal(created.code, 0, created.stderr)
      const task = json<Task>(created)
      assert.equal(task.repository, 'acme/api')
      assert.match(task.sessionName, /^sessions\/\d+$/)

      const wait = ['tasks', 'wait', task.id, '--interval', '1s', '--timeout', '60s', '--json']
      const planned = await jjm([...wait, '--until', 'awaiting_plan_approval'], env)
      assert.equal(planned.code, 0, planned.stderr + planned.stdout)
      assert.equal(json<{ task: Task }>(planned).task.state, 'awaiting_plan_approval')

      // The message first: once approved, a simulated session finishes within seconds.
      const messaged = await jjm(['message', task.id, 'Use the /healthz path', '--json'], env)
      assert.equal(messaged.code, 0, messaged.stderr)
      const approved = await jjm(['approve', task.id, '--json'], env)
      assert.equal(approved.code, 0, approved.stderr)

      const done = await jjm([...wait, '--until', 'completed'], env)
      assert.equal(done.code, 0, done.stderr + done.stdout)
      const finished = json<{ task: Task }>(done).task
      assert.equal(finished.state, 'completed')
      assert.equal(finished.repository, 'acme/api')
      assert.equal(finished.branch, 'main')
      if (pullRequest) assert.match(finished.pullRequest?.url ?? '', /^https:\/\//)
    })
  }

  it('names an operation the server cannot do and what still works', async () => {
    const env = home(join(dir, 'google-no-branch'), {
      ...stdioServer('google-jules-mcp'),
      JJM_JULES_MCP_PRESET: 'google-jules-mcp',
    })
    const run = await jjm(['tasks', 'create', '--repo', 'acme/api', 'No branch given'], env)
    assert.equal(run.code, 17, run.stderr)
    assert.match(run.stderr, /unavailable through the @google\/jules-mcp MCP server/)
    assert.match(run.stderr, /create, list, monitor, message and approve work/)
    assert.equal(json<TaskPage>(await jjm(['tasks', 'list', '--json'], env)).items.length, 0)
  })
})
