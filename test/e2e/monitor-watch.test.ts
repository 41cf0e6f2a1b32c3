import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ManualClock } from '../../src/core/clock.js'
import type { MonitorReport } from '../../src/core/monitor.js'
import type { Task } from '../../src/core/task.js'
import type { SimServer } from '../../src/sim/http.js'
import { jjm, json, root, runJs } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'

/** util-linux `script` gives a command a pseudo-terminal; without it the terminal path cannot be run. */
const scriptTool = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

/** What starts a terminal control sequence (cursor moves, erasing). */
const controlSequence = '\u001b['

describe('jjm monitor --watch end to end, against the HTTP simulator', { timeout: 120_000 }, () => {
  let dir: string
  let env: Record<string, string>
  let server: SimServer
  const clock = new ManualClock(Date.now())

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-watch-'))
    server = (await startE2eSimulator(clock, { runSeconds: 20 })).server
    env = e2eEnvironment(dir, server.url)
  })

  after(async () => {
    await server?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  async function create(args: string[]): Promise<Task> {
    const run = await jjm(['tasks', 'create', ...args, '--json'], env)
    assert.equal(run.code, 0, run.stderr)
    return json<Task>(run)
  }

  it('prints one plain line per change when standard output is not a terminal', async () => {
    const task = await create(['--repo', 'acme/api', '--auto-pr', 'Add retries to the HTTP client'])
    clock.advance(30_000)
    const run = await jjm(['monitor', '--watch', '--interval', '1', '--until-done'], env)
    assert.equal(run.code, 0, run.stderr)
    assert.ok(!run.stdout.includes(controlSequence), 'no cursor movement in a pipe')
    assert.doesNotMatch(run.stdout, /WAITING FOR/, 'no table in a pipe')
    const lines = run.stdout.trimEnd().split('\n')
    assert.match(lines[0] ?? '', new RegExp(`^\\d\\d:\\d\\d:\\d\\d  ${task.id}  queued → completed  .*PR https://`))
    assert.match(lines[1] ?? '', /checked 1 active task\(s\): 1 changed, 0 waiting for a person, 0 failed to sync$/)
    assert.equal(lines.length, 2, 'the quiet pass that ends the watch prints nothing')
  })

  it('names the activities recorded when a pass finds new ones but no new state', async () => {
    const task = await create(['--repo', 'acme/infra', 'Rotate the keys'])
    clock.advance(6_000)
    const first = await jjm(['monitor', '--once'], env)
    assert.match(first.stdout, new RegExp(`${task.id}  queued → in_progress`), first.stdout)
    clock.advance(4_000)
    const second = await jjm(['monitor', '--once'], env)
    assert.match(second.stdout, new RegExp(`${task.id}  in_progress: progress`), second.stdout)
    assert.doesNotMatch(second.stdout, /in_progress → in_progress/)
    clock.advance(60_000)
    await jjm(['monitor', '--once'], env)
  })

  it('leaves --json to the report of the last pass', async () => {
    const run = await jjm(['monitor', '--watch', '--interval', '1', '--until-done', '--json'], env)
    assert.equal(run.code, 0, run.stderr)
    assert.equal(json<MonitorReport>(run).checked, 0)
  })

  it('draws a table of the active tasks on a terminal, redrawn after every pass', {
    skip: scriptTool ? false : 'util-linux `script` is not installed: no pseudo-terminal to run jjm in',
  }, async () => {
    const waiting = await create(['--repo', 'acme/web', '--require-plan-approval', 'Refactor the login page'])
    const busy = await create(['--repo', 'acme/api', 'Upgrade the build'])
    clock.advance(6_000)
    // `timeout` interrupts the watch as Ctrl-C would, after a few passes.
    const command = [
      'stty cols 120 rows 40;',
      `timeout --preserve-status -s INT 6 '${process.execPath}' '${runJs}' monitor --watch --interval 1`,
    ].join(' ')
    const run = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        'script',
        ['-qfec', command, '/dev/null'],
        { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 },
        (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }),
      )
    })
    assert.equal(run.code, 0, `an interrupted watch ends cleanly\n${run.stdout}`)
    const screen = run.stdout.replace(/\r/g, '')
    assert.match(
      screen,
      /Pass at \d\d:\d\d:\d\d UTC: 2 checked, \d+ changed, 1 waiting for a person, 0 sync error\(s\)/,
    )
    assert.match(screen, /ID +TITLE +REPOSITORY +STATE +AGE +WAITING FOR +SYNCED/)
    assert.match(
      screen,
      new RegExp(
        `${waiting.id.slice(0, 8)}\\w*  Refactor the login page +acme/web +awaiting_plan_approval +\\d+s +plan approval +\\d+s ago`,
      ),
    )
    assert.match(
      screen,
      new RegExp(`${busy.id.slice(0, 8)}\\w*  Upgrade the build +acme/api +in_progress +\\d+s +\\d+s ago`),
    )
    assert.ok(
      screen.includes(`${controlSequence}1A`),
      'the table is redrawn in place: the cursor moves up over the previous frame',
    )
    assert.ok((screen.match(/Pass at /g) ?? []).length >= 2, 'one frame per pass')
  })
})
