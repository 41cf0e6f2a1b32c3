import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { postgresqlLock, sqliteLock } from '../../../src/plugins/storage-sql/lock.js'
import { postgres } from '../../support/services.js'

describe('the run lock that keeps two monitor --once runs apart', () => {
  it('lets one SQLite process hold it at a time, and frees it on release', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-lock-'))
    try {
      const tryLock = sqliteLock(join(dir, 'jjm.sqlite'))
      const release = await tryLock('monitor-once')
      assert.ok(release, 'the first run takes the lock')
      assert.equal(await sqliteLock(join(dir, 'jjm.sqlite'))('monitor-once'), undefined, 'a second run is refused')
      assert.ok(await tryLock('other-name'), 'locks of other names are independent')
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
})
