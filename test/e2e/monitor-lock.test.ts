import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { root, runJs } from '../support/cli.js'
import { postgres } from '../support/services.js'

/** Polls `condition` (a real process and a real server are involved) until it holds or the bound passes. */
async function eventually(condition: () => boolean | Promise<boolean>, what: string, withinMs = 30_000) {
  const deadline = Date.now() + withinMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('jjm monitor --watch on PostgreSQL', { timeout: 120_000 }, () => {
  it('survives its lock connection being killed, says so, and holds the lock again', async (t) => {
    const pg = await postgres(t)
    if (!pg) return
    const database = await pg.createDatabase()
    const dir = await mkdtemp(join(tmpdir(), 'jjm-monitor-lock-'))
    const { default: pgClient } = await import('pg')
    const admin = new pgClient.Client({ connectionString: pg.adminUrl })
    await admin.connect()
    const lockHolders = async () =>
      (
        await admin.query<{ pid: number }>(
          `select l.pid from pg_locks l join pg_database d on d.oid = l.database
            where l.locktype = 'advisory' and l.granted and d.datname = $1`,
          [database.name],
        )
      ).rows.map((row) => row.pid)
    const child = spawn(process.execPath, [runJs, 'monitor', '--watch', '--interval', '1'], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        XDG_CONFIG_HOME: join(dir, 'config'),
        XDG_DATA_HOME: join(dir, 'data'),
        XDG_CACHE_HOME: join(dir, 'cache'),
        DATABASE_URL: database.url,
        JJM_JULES: 'sim',
        JJM_LOG_LEVEL: 'warn',
      },
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    let code: number | null | undefined
    void exited.then((value) => {
      code = value
    })
    try {
      await eventually(async () => (await lockHolders()).length === 1, 'the monitor holds its lock')
      const [first] = await lockHolders()
      await admin.query('select pg_terminate_backend($1)', [first])
      await eventually(
        () => /held again/.test(stderr) || code !== undefined,
        'the monitor says it holds the lock again',
      )
      assert.equal(code, undefined, `the monitor is still running:\n${stderr}`)
      assert.doesNotMatch(stderr, /Unhandled 'error' event/)
      assert.match(stderr, /connection holding the monitor lock failed/)
      const holders = await lockHolders()
      assert.equal(holders.length, 1, 'the lock is held again')
      assert.notEqual(holders[0], first, 'on a new connection')
      child.kill('SIGINT')
      assert.equal(await exited, 0, stderr)
    } finally {
      if (code === undefined) child.kill('SIGKILL')
      await admin.end()
      await database.drop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
