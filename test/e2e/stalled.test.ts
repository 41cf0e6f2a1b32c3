import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it, type TestContext } from 'node:test'
import { ManualClock } from '../../src/core/clock.js'
import type { MonitorReport } from '../../src/core/monitor.js'
import type { Task, TaskPage } from '../../src/core/task.js'
import type { Simulator } from '../../src/sim/engine.js'
import type { SimServer } from '../../src/sim/http.js'
import { jjm, json, root } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'
import { postgres } from '../support/services.js'

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

/**
 * Three `jjm monitor --once` processes at a time, twice, on one database: each
 * stall is recorded, notified and nudged once, whichever process saw it first.
 */
async function raceOfMonitors(storage: Record<string, string>): Promise<void> {
  assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
  const dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-stalled-race-'))
  const clock = new ManualClock(Date.now())
  const { server, simulator } = await startE2eSimulator(clock, { runSeconds: 3600 })
  try {
    const env = e2eEnvironment(dir, server.url, {
      ...storage,
      JJM_MONITOR_REQUESTS_PER_MINUTE: '100000',
      JJM_MONITOR_STALLED_AFTER_QUEUED: '1ms',
      JJM_MONITOR_NUDGE_STALLED: 'true',
      JJM_MONITOR_NUDGE_MESSAGE: nudge,
      JJM_NOTIFIERS: JSON.stringify([{ name: 'stalls', backend: 'console', events: ['stalled'] }]),
    })
    const file = join(dir, 'tasks.json')
    const count = 8
    await writeFile(
      file,
      JSON.stringify(Array.from({ length: count }, (_, i) => ({ prompt: `Race ${i}`, repository: 'acme/api' }))),
    )
    const made = await jjm(['tasks', 'create', '--from', file, '--json'], env)
    assert.equal(made.code, 0, made.stderr)
    const tasks = json<{ created: Task[] }>(made).created
    assert.equal(tasks.length, count)

    const runs = []
    for (let round = 0; round < 2; round++) {
      runs.push(...(await Promise.all([1, 2, 3].map(() => jjm(['monitor', '--once', '--json'], env)))))
    }
    const stalls = new Map<string, number>()
    for (const run of runs) {
      for (const change of json<MonitorReport>(run).changes) {
        const marked = change.events.filter((event) => event === 'stalled').length
        stalls.set(change.taskId, (stalls.get(change.taskId) ?? 0) + marked)
      }
    }
    const notified = runs.flatMap((run) => run.stderr.split('\n').filter((line) => line.includes('Stalled: Race')))
    assert.equal(notified.length, count, 'one notification per stall')
    for (const task of tasks) {
      assert.equal(stalls.get(task.id), 1, `${task.id} marked once`)
      const activities = await simulator.listActivities(task.sessionName, { pageSize: 100 })
      assert.deepEqual(
        activities.activities.flatMap((activity) => activity.userMessaged?.userMessage ?? []),
        [nudge],
        `${task.id} nudged once`,
      )
    }
    const listed = json<TaskPage>(await jjm(['tasks', 'list', '--stalled', '--json'], env)).items
    assert.equal(listed.length, count)
  } finally {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  }
}

describe('stalled tasks across processes', { timeout: 300_000 }, () => {
  it('records, notifies and nudges each stall once when three monitors race on SQLite', async () => {
    await raceOfMonitors({})
  })

  it('records, notifies and nudges each stall once when three monitors race on PostgreSQL', async (t: TestContext) => {
    const service = await postgres(t)
    if (!service) return
    const database = await service.createDatabase()
    try {
      await raceOfMonitors({ DATABASE_URL: database.url })
    } finally {
      await database.drop()
    }
  })
})
