import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ExitCode } from '../../src/core/errors.js'
import type { ImportReport } from '../../src/core/import-service.js'
import type { NotificationPage } from '../../src/core/notification-admin.js'
import type { Task, TaskPage } from '../../src/core/task.js'
import { buildTask } from '../../src/testing/build-task.js'
import { jjm, json, root } from '../support/cli.js'

/** Runs the real, built `bin/run.js` as a user would, in its own home, data and config directories. */

/** A task as the original job manager wrote it: snake_case, with its history inline. */
function legacyRecord(task: Task): Record<string, unknown> {
  return {
    id: task.id,
    session_name: task.sessionName,
    title: task.title,
    prompt: task.prompt,
    repository: task.repository,
    state: task.state.toUpperCase(),
    created_at: task.createdAt,
    updated_at: task.updatedAt,
    events: [
      { id: 1, type: 'created', data: {}, at: task.createdAt },
      { id: 2, type: 'state_changed', data: { to: task.state }, at: task.updatedAt },
    ],
    chat_messages: [{ role: 'agent', text: 'Here is my plan', activity_id: `${task.id}-a1`, at: task.updatedAt }],
    source_files: [{ path: 'src/upload.ts', change_type: 'modified' }],
  }
}

describe('jjm migrate import-json, end to end', { timeout: 180_000 }, () => {
  let dir: string
  let env: Record<string, string>

  before(async () => {
    assert.ok(
      existsSync(join(root, 'dist', 'src', 'commands', 'migrate', 'import-json.js')),
      'dist/ is missing or stale: run `npm run build` (npm test does)',
    )
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-import-'))
    env = {
      HOME: dir,
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CACHE_HOME: join(dir, 'cache'),
      JJM_LOG_LEVEL: 'warn',
    }
  })

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('imports a legacy file into SQLite once, and nothing more when run again', async () => {
    const tasks = [buildTask({ state: 'completed' }), buildTask({ state: 'in_progress' }), buildTask()]
    const file = join(dir, 'legacy.json')
    await writeFile(file, JSON.stringify(Object.fromEntries(tasks.map((task) => [task.id, legacyRecord(task)]))))
    const db = join(dir, 'imported.sqlite')

    const first = await jjm(['migrate', 'import-json', file, '--db', db, '--json'], env)
    assert.equal(first.code, 0, first.stderr)
    assert.deepEqual(json<ImportReport>(first), {
      file,
      dryRun: false,
      imported: { tasks: 3, events: 6, chatMessages: 3, sourceFiles: 3 },
      skipped: 0,
      invalid: [],
    })

    const second = await jjm(['migrate', 'import-json', file, '--db', db, '--json'], env)
    assert.equal(second.code, 0, second.stderr)
    const again = json<ImportReport>(second)
    assert.deepEqual(again.imported, { tasks: 0, events: 0, chatMessages: 0, sourceFiles: 0 })
    assert.equal(again.skipped, 3)

    const listed = json<TaskPage>(await jjm(['tasks', 'list', '--db', db, '--json'], env))
    assert.deepEqual(listed.items.map((task) => task.id).sort(), tasks.map((task) => task.id).sort())
    assert.equal(listed.items.find((task) => task.id === tasks[1]?.id)?.state, 'in_progress')
  })

  /** A webhook receiver on 127.0.0.1 that records every delivery, and the environment that routes every event to it. */
  async function webhook() {
    const received: string[] = []
    const receiver = createServer((request, response) => {
      request.resume()
      request.on('end', () => {
        received.push(String(request.headers['x-jjm-delivery']))
        response.end('ok')
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const { port } = receiver.address() as AddressInfo
    return {
      received,
      env: {
        ...env,
        JJM_NOTIFIERS: JSON.stringify([{ backend: 'webhook', url: `http://127.0.0.1:${port}/hook`, events: ['*'] }]),
      },
      close: () => new Promise<void>((resolve) => receiver.close(() => resolve())),
    }
  }

  it('pages nobody about the past: importing a task that failed in 2024 sends and queues no notification', async () => {
    const hook = await webhook()
    try {
      const failed = buildTask({
        state: 'failed',
        createdAt: '2024-03-01T09:00:00.000Z',
        updatedAt: '2024-03-01T10:00:00.000Z',
        completedAt: '2024-03-01T10:00:00.000Z',
      })
      const file = join(dir, 'failed-in-2024.json')
      await writeFile(
        file,
        JSON.stringify({
          [failed.id]: {
            ...legacyRecord(failed),
            completed_at: failed.completedAt,
            events: [
              { id: 1, type: 'created', data: {}, at: failed.createdAt },
              { id: 2, type: 'state_changed', data: { from: 'in_progress', to: 'failed' }, at: failed.updatedAt },
              { id: 3, type: 'failed', data: {}, at: failed.updatedAt },
            ],
          },
        }),
      )
      const db = join(dir, 'quiet.sqlite')
      const run = await jjm(['migrate', 'import-json', file, '--db', db, '--json'], hook.env)
      assert.equal(run.code, 0, run.stderr)
      assert.equal(json<ImportReport>(run).imported.tasks, 1)

      const outbox = await jjm(['notifications', 'list', '--db', db, '--json'], hook.env)
      assert.equal(outbox.code, 0, outbox.stderr)
      assert.deepEqual(json<NotificationPage>(outbox).items, [], 'nothing queued for the past')
      assert.deepEqual(hook.received, [], 'nothing delivered')

      const shown = json<Task>(await jjm(['tasks', 'show', failed.id, '--db', db, '--json'], hook.env))
      assert.deepEqual(
        [shown.state, shown.createdAt, shown.updatedAt, shown.completedAt],
        ['failed', failed.createdAt, failed.updatedAt, failed.completedAt],
        'the task keeps its own times, nothing is stamped now',
      )
    } finally {
      await hook.close()
    }
  })

  it('pages nobody when copying a SQLite database either, and keeps its times', async () => {
    const source = join(dir, 'personal.sqlite')
    const local = { ...env, JJM_JULES: 'sim', JJM_DB: source }
    const created = await jjm(['tasks', 'create', '--repo', 'acme/api', 'Add a health endpoint', '--json'], local)
    assert.equal(created.code, 0, created.stderr)
    const task = json<Task>(created)
    const hook = await webhook()
    try {
      const db = join(dir, 'copy.sqlite')
      const run = await jjm(['migrate', 'import-sqlite', source, '--db', db, '--json'], hook.env)
      assert.equal(run.code, 0, run.stderr)
      assert.deepEqual(json<ImportReport>(run).imported.tasks, 1)
      const outbox = await jjm(['notifications', 'list', '--db', db, '--json'], hook.env)
      assert.deepEqual(json<NotificationPage>(outbox).items, [], 'nothing queued')
      assert.deepEqual(hook.received, [], 'nothing delivered')
      const copied = json<Task>(await jjm(['tasks', 'show', task.id, '--db', db, '--json'], hook.env))
      assert.deepEqual([copied.createdAt, copied.updatedAt], [task.createdAt, task.updatedAt])
      const again = await jjm(['migrate', 'import-sqlite', source, '--db', db, '--json'], hook.env)
      assert.deepEqual(json<ImportReport>(again).skipped, 1)
    } finally {
      await hook.close()
    }
  })

  it('imports the valid records, lists the invalid ones and exits with the invalid-input code', async () => {
    const good = buildTask()
    const file = join(dir, 'partly-broken.json')
    await writeFile(
      file,
      JSON.stringify({
        version: 1,
        tasks: { [good.id]: legacyRecord(good), BROKEN: { id: 'BROKEN', prompt: 'no session' } },
      }),
    )
    const db = join(dir, 'partly.sqlite')

    const text = await jjm(['migrate', 'import-json', file, '--db', db, '--dry-run'], env)
    assert.equal(text.code, ExitCode.validation)
    assert.match(
      text.stdout,
      /would import 1 tasks, 2 events, 1 chat messages, 1 source files; skipped 0 already present; 1 invalid/,
    )
    assert.match(text.stderr, /invalid {2}BROKEN {2}sessionName: is missing/)

    const run = await jjm(['migrate', 'import-json', file, '--db', db, '--json'], env)
    assert.equal(run.code, ExitCode.validation, run.stderr)
    const report = json<ImportReport>(run)
    assert.equal(report.imported.tasks, 1)
    assert.deepEqual(report.invalid, [{ id: 'BROKEN', field: 'sessionName', reason: 'is missing' }])
    const shown = await jjm(['tasks', 'show', good.id, '--db', db, '--json'], env)
    assert.equal(shown.code, 0, shown.stderr)
  })

  it('refuses a corrupt file with the storage exit code and leaves it untouched', async () => {
    const file = join(dir, 'corrupt.json')
    const content = '{"01J": {"prompt": "cut off'
    await writeFile(file, content)
    const run = await jjm(['migrate', 'import-json', file, '--db', join(dir, 'corrupt.sqlite')], env)
    assert.equal(run.code, ExitCode.storage)
    assert.match(run.stderr, /corrupt\.json is not valid JSON.*jjm only reads it and left it untouched/)
    assert.equal(await readFile(file, 'utf8'), content)
  })

  it('refuses a file that does not exist as invalid input, creating no database', async () => {
    const db = join(dir, 'never.sqlite')
    const run = await jjm(['migrate', 'import-json', join(dir, 'nowhere.json'), '--db', db], env)
    assert.equal(run.code, ExitCode.validation)
    assert.match(run.stderr, /There is no file .*nowhere\.json/)
    assert.equal(existsSync(db), false)
  })

  it('refuses the json storage backend for commands, saying that the file is legacy and how to import it', async () => {
    const file = join(dir, 'team.json')
    const task = buildTask()
    const content = JSON.stringify({ [task.id]: legacyRecord(task) })
    await writeFile(file, content)
    const listed = await jjm(['tasks', 'list', '--storage', 'json', '--db', file], env)
    assert.equal(listed.code, ExitCode.configuration)
    assert.match(listed.stderr, /legacy file format.*`jjm migrate import-json FILE`/)
    assert.equal(await readFile(file, 'utf8'), content, 'the file is only ever read')
  })
})
