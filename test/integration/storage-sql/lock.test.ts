import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { LogContext, Logger } from '../../../src/core/ports.js'
import { postgresqlLock, sqliteLock } from '../../../src/plugins/storage-sql/lock.js'
import { postgres } from '../../support/services.js'

class RecordingLogger implements Logger {
  readonly lines: { level: string; message: string; context?: LogContext }[] = []
  debug(message: string, context?: LogContext) {
    this.lines.push({ level: 'debug', message, ...(context ? { context } : {}) })
  }
  info(message: string, context?: LogContext) {
    this.lines.push({ level: 'info', message, ...(context ? { context } : {}) })
  }
  warn(message: string, context?: LogContext) {
    this.lines.push({ level: 'warn', message, ...(context ? { context } : {}) })
  }
  error(message: string, context?: LogContext) {
    this.lines.push({ level: 'error', message, ...(context ? { context } : {}) })
  }
  child(): Logger {
    return this
  }
  warnings(): string[] {
    return this.lines.filter((line) => line.level === 'warn' || line.level === 'error').map((line) => line.message)
  }
}

/** Resolves once `condition` holds; the lock reconnects on real sockets, so this polls within a bound. */
async function eventually(condition: () => boolean | Promise<boolean>, what: string, withinMs = 10_000) {
  const deadline = Date.now() + withinMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** Ends, from another connection, the backend that holds an advisory lock in `database`. */
async function terminateLockHolder(adminUrl: string, database: string): Promise<number> {
  const { default: pg } = await import('pg')
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    const answer = await admin.query<{ pid: number }>(
      `select l.pid from pg_locks l join pg_database d on d.oid = l.database
        where l.locktype = 'advisory' and l.granted and d.datname = $1`,
      [database],
    )
    for (const { pid } of answer.rows) await admin.query('select pg_terminate_backend($1)', [pid])
    return answer.rows.length
  } finally {
    await admin.end()
  }
}

describe('the run lock that keeps two monitor --once runs apart', () => {
  it('lets one SQLite process hold it at a time, and frees it on release', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-lock-'))
    try {
      const tryLock = sqliteLock(join(dir, 'jjm.sqlite'))
      const release = await tryLock('monitor-once')
      assert.ok(release, 'the first run takes the lock')
      assert.equal(await sqliteLock(join(dir, 'jjm.sqlite'))('monitor-once'), undefined, 'a second run is refused')
      const other = await tryLock('other-name')
      assert.ok(other, 'locks of other names are independent')
      await other()
      await release()
      const again = await tryLock('monitor-once')
      assert.ok(again, 'free again after release')
      await again()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('lets one PostgreSQL connection hold it at a time, and frees it on release', async (t) => {
    const pg = await postgres(t)
    if (!pg) return
    const database = await pg.createDatabase()
    try {
      const tryLock = postgresqlLock(database.url)
      const release = await tryLock('monitor-once')
      assert.ok(release)
      assert.equal(await tryLock('monitor-once'), undefined, 'another connection is refused')
      await release()
      const again = await tryLock('monitor-once')
      assert.ok(again)
      await again()
    } finally {
      await database.drop()
    }
  })

  it('survives the lock connection being killed, says so, and holds the PostgreSQL lock again', {
    timeout: 60_000,
  }, async (t) => {
    const pg = await postgres(t)
    if (!pg) return
    const database = await pg.createDatabase()
    const logger = new RecordingLogger()
    try {
      const release = await postgresqlLock(database.url, { logger })('monitor')
      assert.ok(release)
      assert.equal(await terminateLockHolder(pg.adminUrl, database.name), 1, 'the lock connection was found and killed')
      await eventually(
        () => logger.warnings().some((line) => line.includes('held again')),
        'the lock says it is held again',
      )
      assert.ok(
        logger.warnings().some((line) => line.includes('connection holding the monitor lock failed')),
        logger.warnings().join('\n'),
      )
      assert.equal(release.lost.aborted, false, 'the lock is not given up')
      assert.equal(await postgresqlLock(database.url)('monitor'), undefined, 'another process is still refused')
      await release()
      const again = await postgresqlLock(database.url)('monitor')
      assert.ok(again, 'free after release')
      await again()
    } finally {
      await database.drop()
    }
  })

  it('gives the PostgreSQL lock up, loudly, when another process took it while the connection was down', {
    timeout: 60_000,
  }, async (t) => {
    const pg = await postgres(t)
    if (!pg) return
    const database = await pg.createDatabase()
    const logger = new RecordingLogger()
    let letReconnect: () => void = () => {}
    const reconnecting = new Promise<void>((resolve) => {
      letReconnect = resolve
    })
    let waiting = false
    try {
      const release = await postgresqlLock(database.url, {
        logger,
        reacquireDelaysMs: [0],
        wait: async () => {
          waiting = true
          await reconnecting
        },
      })('monitor')
      assert.ok(release)
      await terminateLockHolder(pg.adminUrl, database.name)
      await eventually(() => waiting, 'the lock tries to reconnect')
      // The server freed the lock with the connection: another run takes it first.
      let other: Awaited<ReturnType<ReturnType<typeof postgresqlLock>>>
      await eventually(async () => {
        other = await postgresqlLock(database.url)('monitor')
        return other !== undefined
      }, 'another process takes the freed lock')
      letReconnect()
      await eventually(() => release.lost.aborted, 'the first holder gives the lock up')
      assert.match(String((release.lost.reason as Error).message), /another process took it/)
      assert.ok(logger.lines.some((line) => line.level === 'error' && line.message.includes('Lost the monitor lock')))
      await release()
      await other?.()
    } finally {
      await database.drop()
    }
  })

  it('survives the SQLite lock file being removed while held, and takes it again', { timeout: 30_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-lock-'))
    const logger = new RecordingLogger()
    try {
      const path = join(dir, 'jjm.sqlite')
      const release = await sqliteLock(path, { logger, updateMs: 1_000 })('monitor')
      assert.ok(release)
      await rm(`${path}.monitor.lock`, { recursive: true, force: true })
      await eventually(() => logger.warnings().some((line) => line.includes('held again')), 'the lock is taken again')
      assert.ok(logger.warnings().some((line) => line.includes('was removed or taken over')))
      assert.equal(release.lost.aborted, false)
      assert.equal(await sqliteLock(path)('monitor'), undefined, 'another run is refused again')
      await release()
      const again = await sqliteLock(path)('monitor')
      assert.ok(again)
      await again()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
