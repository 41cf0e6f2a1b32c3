import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { Task, TaskPage } from '../../src/core/task.js'
import { jjm, json } from '../support/cli.js'
import { postgres, redis } from '../support/services.js'

describe('a team on one PostgreSQL and one Redis', { timeout: 120_000 }, () => {
  it('sets up a new database on first use and shares tasks between processes without stale cache reads', async (t) => {
    const pg = await postgres(t)
    const rd = await redis(t)
    if (!pg || !rd) return
    const database = await pg.createDatabase()
    const dir = await mkdtemp(join(tmpdir(), 'jjm-team-'))
    try {
      const env = {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        XDG_CONFIG_HOME: join(dir, 'config'),
        XDG_DATA_HOME: join(dir, 'data'),
        XDG_CACHE_HOME: join(dir, 'cache'),
        DATABASE_URL: database.url,
        REDIS_URL: rd.url,
        JJM_JULES: 'sim',
        JJM_LOG_LEVEL: 'warn',
      }
      const status = await jjm(['migrate', 'status', '--json'], env)
      assert.equal(status.code, 0, status.stderr)
      assert.equal(json<{ storage: string; pending: string[] }>(status).storage, 'postgresql')

      // Each CLI run is its own process: the second list must see the task created in between,
      // even though the first list put its page into the shared Redis cache.
      const before = await jjm(['tasks', 'list', '--json'], env)
      assert.equal(before.code, 0, before.stderr)
      assert.deepEqual(json<TaskPage>(before).items, [])
      const created = await jjm(['tasks', 'create', '--repo', 'acme/api', 'Shared work', '--json'], env)
      assert.equal(created.code, 0, created.stderr)
      const task = json<Task>(created)
      const after = await jjm(['tasks', 'list', '--json'], env)
      assert.deepEqual(
        json<TaskPage>(after).items.map((item) => item.id),
        [task.id],
      )
      const shown = await jjm(['tasks', 'show', task.id, '--json'], env)
      assert.equal(json<Task>(shown).sessionName, task.sessionName)
    } finally {
      await rm(dir, { recursive: true, force: true })
      await database.drop()
    }
  })

  it('says which database it could not reach, without the password, and exits with the storage code', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-team-'))
    try {
      const run = await jjm(['tasks', 'list'], {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        XDG_CONFIG_HOME: join(dir, 'config'),
        XDG_DATA_HOME: join(dir, 'data'),
        DATABASE_URL: 'postgresql://jjm:s3cret@127.0.0.1:5499/jjm',
      })
      t.diagnostic(run.stderr)
      assert.equal(run.code, 18)
      assert.match(run.stderr, /127\.0\.0\.1:5499/)
      assert.doesNotMatch(run.stderr, /s3cret/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('copies a SQLite database into PostgreSQL with its history, and a second copy adds nothing', async (t) => {
    const pg = await postgres(t)
    if (!pg) return
    const database = await pg.createDatabase()
    const dir = await mkdtemp(join(tmpdir(), 'jjm-team-'))
    try {
      const base = {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        XDG_CONFIG_HOME: join(dir, 'config'),
        XDG_DATA_HOME: join(dir, 'data'),
        JJM_JULES: 'sim',
        JJM_SIM_RUN_SECONDS: '1',
        JJM_LOG_LEVEL: 'warn',
      }
      const sqlite = join(dir, 'personal.sqlite')
      const local = { ...base, JJM_DB: sqlite }
      const first = json<Task>(
        await jjm(['tasks', 'create', '--repo', 'acme/api', '--auto-pr', 'One', '--json'], local),
      )
      json<Task>(await jjm(['tasks', 'create', '--repo', 'acme/web', 'Two', '--json'], local))
      await new Promise((resolve) => setTimeout(resolve, 1500))
      assert.equal((await jjm(['monitor', '--once'], local)).code, 20)

      const team = { ...base, DATABASE_URL: database.url }
      const copied = await jjm(['migrate', 'import-sqlite', sqlite, '--json'], team)
      assert.equal(copied.code, 0, copied.stderr)
      const report = json<{ imported: { tasks: number; events: number }; skipped: number }>(copied)
      assert.equal(report.imported.tasks, 2)
      assert.ok(report.imported.events >= 4, `events copied: ${report.imported.events}`)

      const again = json<{ imported: { tasks: number }; skipped: number }>(
        await jjm(['migrate', 'import-sqlite', sqlite, '--json'], team),
      )
      assert.equal(again.imported.tasks, 0)
      assert.equal(again.skipped, 2)

      const shown = json<Task>(await jjm(['tasks', 'show', first.id, '--json'], team))
      assert.equal(shown.state, 'completed')
      assert.equal(
        shown.pullRequest?.url,
        json<Task>(await jjm(['tasks', 'show', first.id, '--json'], local)).pullRequest?.url,
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
      await database.drop()
    }
  })
})
