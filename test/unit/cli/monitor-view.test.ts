import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { renderMonitorView, shortIds } from '../../../src/cli/monitor-view.js'
import type { MonitorPass, MonitorReport } from '../../../src/core/monitor.js'
import type { Task } from '../../../src/core/task.js'
import { buildTask } from '../../../src/testing/build-task.js'

const now = Date.parse('2026-03-01T12:00:00.000Z')

function ago(ms: number): string {
  return new Date(now - ms).toISOString()
}

function pass(tasks: Task[], report: Partial<MonitorReport> = {}): MonitorPass {
  return {
    tasks,
    report: {
      startedAt: ago(2_000),
      finishedAt: ago(1_000),
      checked: tasks.length,
      changes: [],
      awaitingPerson: [],
      errors: [],
      ...report,
    },
  }
}

/** The table row that shows `task`, found by its title. */
function rowOf(view: string, title: string): string {
  const row = view.split('\n').find((line) => line.includes(title))
  assert.ok(row, `no row for "${title}" in:\n${view}`)
  return row
}

describe('the live monitor table', () => {
  it('heads the frame with the pass time and what the pass found', () => {
    const view = renderMonitorView(
      pass([buildTask()], {
        checked: 5,
        changes: [{ taskId: 'x', title: 'x', from: 'queued', to: 'planning', events: [], pullRequestUrl: null }],
        awaitingPerson: [{ taskId: 'y', title: 'y', state: 'paused', waitingFor: 'a resume' }],
        errors: [{ taskId: 'z', code: 'JJM_JULES_UNAVAILABLE', message: 'Jules is down' }],
      }),
      now,
    )
    assert.equal(
      view.split('\n')[0],
      'Pass at 11:59:59 UTC: 5 checked, 1 changed, 1 waiting for a person, 1 sync error(s)',
    )
  })

  it('shows each task with its repository, state, age, what it waits for and when it was synced', () => {
    const tasks = [
      buildTask({
        title: 'Approve me',
        repository: 'acme/web',
        state: 'awaiting_plan_approval',
        createdAt: ago(3 * 60_000 + 20_000),
        lastSyncedAt: ago(4_000),
      }),
      buildTask({ title: 'Answer me', state: 'awaiting_user_feedback', createdAt: ago(2 * 3_600_000) }),
      buildTask({ title: 'Resume me', state: 'paused', createdAt: ago(3 * 86_400_000), lastSyncedAt: ago(90_000) }),
      buildTask({ title: 'Busy', state: 'in_progress', createdAt: ago(45_000), lastSyncedAt: ago(0) }),
    ]
    const view = renderMonitorView(pass(tasks), now)
    assert.match(view, /^ID\s+TITLE\s+REPOSITORY\s+STATE\s+AGE\s+WAITING FOR\s+SYNCED$/m)
    assert.match(rowOf(view, 'Approve me'), /acme\/web\s+awaiting_plan_approval\s+3m\s+plan approval\s+4s ago$/)
    assert.match(rowOf(view, 'Answer me'), /acme\/api\s+awaiting_user_feedback\s+2h\s+your answer\s+never$/)
    assert.match(rowOf(view, 'Resume me'), /paused\s+3d\s+resume\s+1m ago$/)
    assert.match(rowOf(view, 'Busy'), /in_progress\s+45s\s+0s ago$/, 'a task nobody needs to act on waits for nothing')
  })

  it('lists the newest task first and names each by the shortest prefix of its id that tells them apart', () => {
    const older = buildTask({ id: '01HZZZAAAA0000000000000001', title: 'Older', createdAt: ago(60_000) })
    const newer = buildTask({ id: '01HZZZAAAA0000000000000002', title: 'Newer', createdAt: ago(1_000) })
    const other = buildTask({ id: '01JQ00000000000000000000AB', title: 'Other', createdAt: ago(30_000) })
    const view = renderMonitorView(pass([older, newer, other]), now)
    const rows = view.split('\n').slice(3, 6)
    assert.deepEqual(
      rows.map((row) => row.split(/\s{2,}/).slice(0, 2)),
      [
        ['01HZZZAAAA0000000000000002', 'Newer'],
        ['01JQ0000', 'Other'],
        ['01HZZZAAAA0000000000000001', 'Older'],
      ],
    )
    assert.deepEqual(
      shortIds(['01ABCDEFGH', '01ABCDEFGX', '01ZZ']),
      new Map([
        ['01ABCDEFGH', '01ABCDEFGH'],
        ['01ABCDEFGX', '01ABCDEFGX'],
        ['01ZZ', '01ZZ'],
      ]),
    )
  })

  it('shows a task that finished in this pass with its final state', () => {
    const done = buildTask({ title: 'Just finished', state: 'completed', createdAt: ago(600_000) })
    assert.match(rowOf(renderMonitorView(pass([done]), now), 'Just finished'), /completed\s+10m\s+never$/)
  })

  it('cuts long titles, and cuts them further to fit a narrow terminal', () => {
    const title = 'Migrate every service from the deprecated HTTP client to the new one, carefully'
    const wide = renderMonitorView(pass([buildTask({ title })]), now)
    assert.ok(rowOf(wide, 'Migrate every').includes(`${title.slice(0, 47)}…  acme/api`), 'cut to 48 characters')

    const narrow = renderMonitorView(pass([buildTask({ title })]), now, { width: 80 })
    for (const line of narrow.split('\n')) assert.ok(line.length <= 80, `wider than the terminal: ${line}`)
    assert.match(
      rowOf(narrow, 'Migrate every'),
      /Migrate every serv[a-z ]*… {2}acme\/api .* never$/,
      'the title gave way',
    )
  })

  it('says so when no task is active', () => {
    const view = renderMonitorView(pass([]), now, { intervalSeconds: 10 })
    assert.deepEqual(view.split('\n'), [
      'Pass at 11:59:59 UTC: 0 checked, 0 changed, 0 waiting for a person, 0 sync error(s)',
      '',
      'No active tasks.',
      '',
      'A pass every 10s. Ctrl-C to stop.',
    ])
  })

  it('lists sync failures, a rate limit and recent log lines under the table', () => {
    const task = buildTask({ id: '01JQ5555550000000000000000', title: 'Flaky' })
    const view = renderMonitorView(
      pass([task], {
        errors: [{ taskId: task.id, code: 'JJM_JULES_UNAVAILABLE', message: 'Jules answered 503' }],
        rateLimited: { until: ago(-30_000), retryAfterSeconds: 30 },
      }),
      now,
      { log: ['WARN sync failed taskId=01JQ5555550000000000000000'] },
    )
    assert.match(view, /^sync failed {2}01JQ5555 {2}Jules answered 503 \[JJM_JULES_UNAVAILABLE\]$/m)
    assert.match(view, /^Jules is rate limiting: syncs wait until 12:00:30 UTC\.$/m)
    assert.match(view, /^WARN sync failed taskId=/m)
  })

  it('counts the rows that do not fit the terminal instead of letting the header scroll away', () => {
    const tasks = Array.from({ length: 30 }, (_, index) => buildTask({ title: `Task ${index}` }))
    const view = renderMonitorView(pass(tasks), now, { height: 12, intervalSeconds: 10 })
    const lines = view.split('\n')
    assert.ok(lines.length + 1 <= 12, `the frame and log-update's newline fit 12 lines:\n${view}`)
    assert.match(lines[0] ?? '', /^Pass at /)
    assert.match(view, /^… and 25 more$/m)
  })
})
