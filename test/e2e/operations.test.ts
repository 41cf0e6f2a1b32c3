import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ManualClock } from '../../src/core/clock.js'
import type { Task, TaskEvent, TaskPage } from '../../src/core/task.js'
import type { DeleteResult, OperationResult, WaitResult } from '../../src/core/task-operations.js'
import { openSqlStore } from '../../src/plugins/storage-sql/sql-store.js'
import type { SimServer } from '../../src/sim/http.js'
import { jjm, json, root } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'

/** Runs the real, built `bin/run.js` with standard input closed, as from cron or CI. */

describe('jjm task operations end to end, against the HTTP simulator', { timeout: 240_000 }, () => {
  let dir: string
  let db: string
  let env: Record<string, string>
  let server: SimServer
  // Simulated time moves only when a test says so.
  const clock = new ManualClock(Date.now())

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-ops-'))
    db = join(dir, 'jjm.sqlite')
    server = (await startE2eSimulator(clock, { runSeconds: 20 })).server
    env = e2eEnvironment(dir, server.url, {
      JJM_DB: db,
    })
  })

  after(async () => {
    await server?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  async function create(args: string[]): Promise<Task> {
    const run = await jjm(['tasks', 'create', '--repo', 'acme/api', ...args, '--json'], env)
    assert.equal(run.code, 0, run.stderr)
    return json<Task>(run)
  }

  async function historyOf(taskId: string): Promise<string[]> {
    const storage = await openSqlStore({ dialect: 'sqlite', path: db })
    try {
      const page = await storage.store.getEvents(taskId, { limit: 100 })
      return page.items.map((event: TaskEvent) => event.type)
    } finally {
      await storage.close()
    }
  }

  let completedTask: Task

  it('approves a task awaiting plan approval, then monitors it to completion', async () => {
    const task = await create(['--require-plan-approval', '--auto-pr', 'Refactor the client'])
    clock.advance(6_000)
    const approved = await jjm(['approve', task.id, '--json'], env)
    assert.equal(approved.code, 0, approved.stderr)
    const result = json<OperationResult>(approved)
    assert.equal(result.taskId, task.id)
    assert.equal(result.operation, 'approve')
    assert.equal(result.state, 'awaiting_plan_approval', 'validated against Jules, not the stale local queued')
    assert.ok(!Number.isNaN(Date.parse(result.at)))

    clock.advance(25_000)
    const pass = await jjm(['monitor', '--once', '--json'], env)
    assert.equal(pass.code, 20, pass.stderr)
    const shown = json<Task>(await jjm(['tasks', 'show', task.id, '--json'], env))
    assert.equal(shown.state, 'completed')
    assert.ok(shown.pullRequest?.url)
    assert.ok((await historyOf(task.id)).includes('plan_approved'))
    completedTask = shown
  })

  it('refuses to approve a completed task with exit 14, naming its state and the one needed', async () => {
    const run = await jjm(['approve', completedTask.id], env)
    assert.equal(run.code, 14, run.stderr)
    assert.match(run.stderr, /is completed/)
    assert.match(run.stderr, /awaiting_plan_approval/)
    assert.match(run.stderr, /JJM_INVALID_STATE/)
    const asJson = await jjm(['approve', completedTask.id, '--json'], env)
    assert.equal(asJson.code, 14)
    assert.equal(json<{ error: { code: string } }>(asJson).error.code, 'JJM_INVALID_STATE')
  })

  it('messages a task whose agent asked a question, and shows the message', async () => {
    const task = await create(['Tidy the docs [sim:feedback]'])
    clock.advance(11_000)
    const sent = await jjm(['message', task.id, 'Only the code, please.', '--json'], env)
    assert.equal(sent.code, 0, sent.stderr)
    const result = json<OperationResult>(sent)
    assert.equal(result.operation, 'message')
    assert.equal(result.state, 'awaiting_user_feedback')
    const human = await jjm(['tasks', 'show', task.id], env)
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /Latest messages:[\s\S]*user\s+Only the code, please\./)
    assert.match(human.stdout, /message_sent/)

    // The sync then reads the message back from Jules as a userMessaged activity: still one message.
    clock.advance(1_000)
    const pass = await jjm(['monitor', '--once'], env)
    assert.ok([0, 20, 21].includes(pass.code), pass.stderr)
    const storage = await openSqlStore({ dialect: 'sqlite', path: db })
    try {
      const user = (await storage.store.listChatMessages(task.id)).items.filter((message) => message.role === 'user')
      assert.equal(user.length, 1, 'the message is stored once')
      assert.ok(user[0]?.activityId, 'bound to the activity Jules made of it')
    } finally {
      await storage.close()
    }
    const shown = await jjm(['tasks', 'show', task.id], env)
    assert.equal(shown.stdout.match(/user\s+Only the code, please\./g)?.length, 1, shown.stdout)
  })

  it('resumes a paused task, which then runs to completion', async () => {
    const task = await create(['Upgrade the build [sim:pause]'])
    clock.advance(11_000)
    const resumed = await jjm(['resume', task.id, '--json'], env)
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.equal(json<OperationResult>(resumed).state, 'paused')
    clock.advance(25_000)
    const waited = await jjm(['tasks', 'wait', task.id, '--timeout', '30s', '--json'], env)
    assert.equal(waited.code, 0, waited.stderr)
    assert.deepEqual(
      { outcome: json<WaitResult>(waited).outcome, state: json<WaitResult>(waited).task.state },
      { outcome: 'reached', state: 'completed' },
    )
  })

  it('waits until a task awaits plan approval and exits 0', async () => {
    const task = await create(['--require-plan-approval', 'Plan first'])
    clock.advance(6_000)
    const run = await jjm(['tasks', 'wait', task.id, '--until', 'awaiting_plan_approval', '--json'], env)
    assert.equal(run.code, 0, run.stderr)
    const result = json<WaitResult>(run)
    assert.equal(result.outcome, 'reached')
    assert.equal(result.task.state, 'awaiting_plan_approval')
    const needsPerson = await jjm(['tasks', 'wait', task.id, '--timeout', '5s'], env)
    assert.equal(needsPerson.code, 32, 'waiting for completion stops at a task that needs a person')
    assert.match(needsPerson.stdout, /waits for plan approval/)
  })

  it('times out with exit 31 when the task never moves', async () => {
    const task = await create(['Never moves'])
    const run = await jjm(['tasks', 'wait', task.id, '--timeout', '1s', '--interval', '200ms'], env)
    assert.equal(run.code, 31, run.stderr)
    assert.match(run.stdout, /still queued/)
    const badTimeout = await jjm(['tasks', 'wait', task.id, '--timeout', 'soon'], env)
    assert.equal(badTimeout.code, 11)
  })

  it('refuses an unknown task id with exit 13', async () => {
    for (const args of [
      ['approve', 'NOSUCHTASK'],
      ['message', 'NOSUCHTASK', 'hi'],
      ['resume', 'NOSUCHTASK'],
    ]) {
      const run = await jjm(args, env)
      assert.equal(run.code, 13, `${args.join(' ')}: ${run.stderr}`)
      assert.match(run.stderr, /jjm tasks list/)
    }
  })

  it('updates labels and metadata, and lists by the new label', async () => {
    const task = await create(['--label', 'later', 'Label me'])
    const run = await jjm(
      [
        'tasks',
        'update',
        task.id,
        '--add-label',
        'urgent',
        '--remove-label',
        'later',
        '--metadata',
        'ticket=OPS-12',
        '--json',
      ],
      env,
    )
    assert.equal(run.code, 0, run.stderr)
    const updated = json<Task>(run)
    assert.deepEqual(updated.labels, ['urgent'])
    assert.deepEqual(updated.metadata, { ticket: 'OPS-12' })
    const listed = json<TaskPage>(await jjm(['tasks', 'list', '--label', 'urgent', '--json'], env))
    assert.deepEqual(
      listed.items.map((item) => item.id),
      [task.id],
    )
    const bad = await jjm(['tasks', 'update', task.id, '--label', 'no spaces'], env)
    assert.equal(bad.code, 11)
  })

  it('deletes only with --yes when standard input is not a terminal, keeping history unless --purge', async () => {
    const kept = await create(['Delete me, keep history'])
    const refused = await jjm(['tasks', 'delete', kept.id], env)
    assert.equal(refused.code, 11, refused.stderr)
    assert.match(refused.stderr, /--yes/)
    assert.equal(json<Task>(await jjm(['tasks', 'show', kept.id, '--json'], env)).id, kept.id, 'still there')

    const deleted = await jjm(['tasks', 'delete', kept.id, '--yes', '--json'], env)
    assert.equal(deleted.code, 0, deleted.stderr)
    assert.deepEqual(
      { ...json<DeleteResult>(deleted), at: undefined },
      { taskId: kept.id, deleted: true, purged: false, session: 'kept', at: undefined },
    )
    const listed = json<TaskPage>(await jjm(['tasks', 'list', '--limit', '200', '--json'], env))
    assert.ok(!listed.items.some((item) => item.id === kept.id), 'gone from the list')
    assert.equal((await jjm(['tasks', 'show', kept.id], env)).code, 13)
    assert.deepEqual(await historyOf(kept.id), ['deleted', 'created'])

    const purged = await create(['Delete me and my history'])
    const run = await jjm(['tasks', 'delete', purged.id, '--yes', '--purge'], env)
    assert.equal(run.code, 0, run.stderr)
    assert.deepEqual(await historyOf(purged.id), [])
  })
})
