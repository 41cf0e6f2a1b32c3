import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ManualClock } from '../../src/core/clock.js'
import type { MonitorReport } from '../../src/core/monitor.js'
import type { Task, TaskPage } from '../../src/core/task.js'
import type { Simulator } from '../../src/sim/engine.js'
import type { SimServer } from '../../src/sim/http.js'
import { jjm, json, root } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'

const nudge = 'Still there? Please continue.'

describe('stalled tasks, from the command line', { timeout: 180_000 }, () => {
  let dir: string
  let env: Record<string, string>
  let server: SimServer
  let simulator: Simulator
  // Simulated time moves only when the test says: the session stays queued until then.
  const clock = new ManualClock(Date.now())

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-stalled-'))
    ;({ server, simulator } = await startE2eSimulator(clock, { runSeconds: 3600 }))
    env = e2eEnvironment(dir, server.url, {
      // A millisecond of quiet is a stall: the time between two commands is always more.
      JJM_MONITOR_STALLED_AFTER_QUEUED: '1ms',
      JJM_MONITOR_STALLED_AFTER_PLANNING: '1ms',
      JJM_MONITOR_NUDGE_STALLED: 'true',
      JJM_MONITOR_NUDGE_MESSAGE: nudge,
      JJM_NOTIFIERS: JSON.stringify([{ name: 'stalls', backend: 'console', events: ['stalled'] }]),
    })
  })

  after(async () => {
    await server?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('marks a quiet task stalled in a monitor pass, shows and filters it, nudges it once, and clears the mark when Jules moves', async () => {
    const created = await jjm(['tasks', 'create', '--repo', 'acme/api', 'Add retries', '--json'], env)
    assert.equal(created.code, 0, created.stderr)
    const task = json<Task>(created)
    assert.equal(task.stalledSince, null)

    const pass = await jjm(['monitor', '--once', '--json'], env)
    const report = json<MonitorReport>(pass)
    assert.deepEqual(
      report.changes.map((change) => [change.taskId, change.events]),
      [[task.id, ['stalled']]],
    )
    assert.match(pass.stderr, /Stalled: Add retries/, 'the console notifier got the stalled notification')

    const stalled = json<TaskPage>(await jjm(['tasks', 'list', '--stalled', '--json'], env))
    assert.deepEqual(
      stalled.items.map((item) => item.id),
      [task.id],
    )
    assert.match(stalled.items[0]?.stalledSince ?? '', /^\d{4}-\d\d-\d\dT/)
    assert.deepEqual(json<TaskPage>(await jjm(['tasks', 'list', '--no-stalled', '--json'], env)).items, [])
    const table = await jjm(['tasks', 'list'], env)
    assert.match(table.stdout, /queued \(stalled\)/)
    const shown = await jjm(['tasks', 'show', task.id], env)
    assert.match(shown.stdout, /stalled +since \S+ \(.*\): no activity from Jules/)

    // The nudge reached Jules once, and the simulated agent answered it at once.
    const activities = await simulator.listActivities(task.sessionName, { pageSize: 100 })
    assert.deepEqual(
      activities.activities.flatMap((activity) => activity.userMessaged?.userMessage ?? []),
      [nudge],
    )

    // The simulated session moves on to planning: that is activity, and ends the stall.
    clock.advance(400_000)
    const next = json<MonitorReport>(await jjm(['monitor', '--once', '--json'], env))
    const ended = next.changes.flatMap((change) => change.events)
    assert.ok(ended.includes('state_changed') && ended.at(-1) === 'unstalled', ended.join(', '))
    assert.deepEqual(json<TaskPage>(await jjm(['tasks', 'list', '--stalled', '--json'], env)).items, [])
    // A millisecond of quiet in planning (as configured) is a new stall, with its own nudge.
    const third = json<MonitorReport>(await jjm(['monitor', '--once', '--json'], env))
    assert.deepEqual(
      third.changes.flatMap((change) => change.events),
      ['stalled'],
    )
    const again = await simulator.listActivities(task.sessionName, { pageSize: 100 })
    assert.equal(again.activities.filter((activity) => activity.userMessaged).length, 2, 'one nudge per stall')
  })

  it('refuses a stalledAfter that is not a duration, saying what would do', async () => {
    const run = await jjm(['tasks', 'list'], { ...env, JJM_MONITOR_STALLED_AFTER_IN_PROGRESS: 'half an hour' })
    assert.notEqual(run.code, 0)
    assert.match(run.stderr, /JJM_MONITOR_STALLED_AFTER_IN_PROGRESS/)
    assert.match(run.stderr, /a duration such as 10m, 30m or 1h30m/)
  })
})
