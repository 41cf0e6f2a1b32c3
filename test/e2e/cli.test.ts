import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ManualClock } from '../../src/core/clock.js'
import type { MonitorReport } from '../../src/core/monitor.js'
import type { Task, TaskPage } from '../../src/core/task.js'
import type { SimServer } from '../../src/sim/http.js'
import { jjm, json, root, runJs } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'

/** Runs the real, built `bin/run.js` as a user would, in its own data and config directories. */

describe('jjm end to end, through the rest adapter against the HTTP simulator', { timeout: 180_000 }, () => {
  let dir: string
  let env: Record<string, string>
  let server: SimServer
  // Simulated time moves only when a test says so: no test depends on how fast this machine is.
  const clock = new ManualClock(Date.now())

  before(async () => {
    assert.ok(
      existsSync(join(root, 'dist', 'src', 'commands')),
      'dist/ is missing: run `npm run build` (npm test does)',
    )
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-'))
    server = (await startE2eSimulator(clock, { runSeconds: 20 })).server
    env = e2eEnvironment(dir, server.url)
  })

  after(async () => {
    await server?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('creates a task, lists it, monitors it to completion and stores the pull request', async () => {
    const created = await jjm(
      [
        'tasks',
        'create',
        '--repo',
        'acme/api',
        '--auto-pr',
        '--label',
        'e2e',
        'Add retries to the HTTP client',
        '--json',
      ],
      env,
    )
    assert.equal(created.code, 0, created.stderr)
    const task = json<Task>(created)
    assert.match(task.id, /^[0-9A-HJKMNP-TV-Z]{26}$/)
    assert.match(task.sessionName, /^sessions\/[A-Za-z0-9_-]+$/)
    assert.equal(task.repository, 'acme/api')
    assert.equal(task.source, 'sources/github/acme/api')
    assert.equal(task.state, 'queued')
    assert.deepEqual(task.labels, ['e2e'])

    const listed = json<TaskPage>(await jjm(['tasks', 'list', '--json'], env))
    assert.deepEqual(
      listed.items.map((item) => item.id),
      [task.id],
    )
    assert.equal(listed.nextCursor, null)

    // Nothing has moved yet at Jules: the first pass changes nothing.
    const quiet = await jjm(['monitor', '--once', '--json'], env)
    assert.equal(quiet.code, 0, quiet.stderr)
    assert.equal(json<MonitorReport>(quiet).checked, 1)

    clock.advance(30_000)
    const pass = await jjm(['monitor', '--once', '--json'], env)
    assert.equal(pass.code, 20, `monitor --once exits 20 when tasks changed\n${pass.stderr}`)
    const report = json<MonitorReport>(pass)
    assert.equal(report.changes.length, 1)
    assert.equal(report.changes[0]?.to, 'completed')
    assert.ok(report.changes[0]?.pullRequestUrl)

    const shown = json<Task>(await jjm(['tasks', 'show', task.id.slice(0, 8), '--json'], env))
    assert.equal(shown.state, 'completed')
    assert.ok(shown.pullRequest?.url.startsWith('https://'), 'the PR URL is stored')
    assert.ok(shown.completedAt)

    const human = await jjm(['tasks', 'show', task.sessionName], env)
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /state\s+completed/)
    assert.match(human.stdout, /state_changed\s+queued → completed/)

    // A finished task is no longer polled.
    const idle = await jjm(['monitor', '--once', '--json'], env)
    assert.equal(idle.code, 0)
    assert.equal(json<MonitorReport>(idle).checked, 0)
  })

  it('exits 21 while a task waits for plan approval', async () => {
    const created = await jjm(
      ['tasks', 'create', '--repo', 'acme/web', '--require-plan-approval', 'Refactor', '--json'],
      env,
    )
    assert.equal(created.code, 0, created.stderr)
    clock.advance(15_000)
    const pass = await jjm(['monitor', '--once'], env)
    assert.equal(pass.code, 21, pass.stderr)
    assert.match(pass.stdout, /waits for plan approval/)
  })

  it('does nothing and exits 23 while another monitor run holds the lock', async () => {
    const { sqliteLock } = await import('../../src/plugins/storage-sql/lock.js')
    const release = await sqliteLock(join(dir, 'data', 'jjm', 'jjm.sqlite'))('monitor')
    assert.ok(release)
    try {
      const run = await jjm(['monitor', '--once'], env)
      assert.equal(run.code, 23, run.stderr)
      assert.match(run.stderr, /Another jjm monitor run holds the lock/)
    } finally {
      await release()
    }
    assert.notEqual((await jjm(['monitor', '--once'], env)).code, 23, 'free again once released')
  })

  it('follows updates made by other processes with monitor --realtime', async () => {
    const viewer = spawn(process.execPath, [runJs, 'monitor', '--realtime', '--interval', '1'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      let seen = ''
      viewer.stdout.on('data', (chunk: Buffer) => {
        seen += chunk.toString()
      })
      await new Promise((resolve) => setTimeout(resolve, 1500))
      const created = json<Task>(
        await jjm(['tasks', 'create', '--repo', 'acme/api', 'Watched from afar', '--json'], env),
      )
      const deadline = Date.now() + 15_000
      while (!seen.includes(created.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
      assert.match(seen, new RegExp(`${created.id}.*Watched from afar`))
      const exited = new Promise<number | null>((resolve) => viewer.once('exit', (code) => resolve(code)))
      viewer.kill('SIGTERM')
      assert.equal(await exited, 0)
    } finally {
      viewer.kill('SIGKILL')
    }
  })

  it('says in one line that Jules refused the key, with its exit code', async () => {
    const run = await jjm(['tasks', 'create', '--repo', 'acme/api', 'x'], { ...env, JULES_API_KEY: 'wrong' })
    assert.equal(run.code, 12)
    assert.match(run.stderr, /Jules refused the API key.*JJM_AUTHENTICATION/)
    assert.doesNotMatch(run.stderr, /at .*\.js:\d+/, 'no stack trace in front of a user')
  })

  it('refuses an unknown task id with exit 13 and a hint', async () => {
    const run = await jjm(['tasks', 'show', 'NOSUCHTASK'], env)
    assert.equal(run.code, 13)
    assert.match(run.stderr, /jjm tasks list/)
  })

  it('keeps simulated sessions in the database across invocations with --jules sim', async () => {
    const simEnv = { ...env, JJM_JULES: 'sim', JJM_SIM_RUN_SECONDS: '1', JJM_DB: join(dir, 'sim.sqlite') }
    const created = await jjm(['tasks', 'create', '--repo', 'acme/api', 'Simulated work', '--json'], simEnv)
    assert.equal(created.code, 0, created.stderr)
    assert.match(created.stderr, /simulator/)
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const pass = await jjm(['monitor', '--once', '--json'], simEnv)
    assert.equal(pass.code, 20, pass.stderr)
    assert.equal(json<MonitorReport>(pass).changes[0]?.to, 'completed')
  })
})

describe('jjm sim serve', { timeout: 60_000 }, () => {
  it('serves the Jules API that the rest backend talks to, and stops cleanly on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-sim-serve-'))
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_DATA_HOME: join(dir, 'data'),
    }
    const server = spawn(process.execPath, [runJs, 'sim', 'serve', '--port', '0', '--api-key', 'k1', '--json'], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      let stdout = ''
      let stderr = ''
      server.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
      })
      const started = await new Promise<{ url: string }>((resolve, reject) => {
        server.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString()
          try {
            resolve(JSON.parse(stdout) as { url: string })
          } catch {
            // not the whole object yet
          }
        })
        server.once('exit', (code) => reject(new Error(`sim serve exited ${code}: ${stderr}`)))
      })
      assert.match(started.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.match(stderr, /SIMULATOR/)
      const sources = await jjm(['sources', 'list', '--json'], {
        ...env,
        JJM_JULES: 'rest',
        JULES_API_URL: started.url,
        JULES_API_KEY: 'k1',
      })
      assert.equal(sources.code, 0, sources.stderr)
      const page = json<{ items: Array<{ repository: string }> }>(sources)
      assert.ok(page.items.some((source) => source.repository === 'acme/api'))
      const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)))
      server.kill('SIGTERM')
      assert.equal(await exited, 0)
    } finally {
      server.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    }
  })
})
