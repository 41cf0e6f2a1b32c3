import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { openSqlStore, type SqlStorage, type SqlStoreOptions } from '../../../src/plugins/storage-sql/sql-store.js'
import { buildTask } from '../../../src/testing/index.js'
import { postgres } from '../../support/services.js'

// MikroORM 6 writes every value into the SQL text as a literal; jjm's drivers
// bind them (src/plugins/storage-sql/bound-parameters.ts). These tests watch
// the SQL that knex hands the database driver and look for the values in it.

interface Watched {
  storage: SqlStorage
  /** Every statement sent since the store was opened. */
  statements: string[]
  close(): Promise<void>
}

type Open = (t: TestContext) => Promise<Watched | undefined>

const openSqlite: Open = async () => {
  const statements: string[] = []
  const storage = await openSqlStore({
    dialect: 'sqlite',
    path: ':memory:',
    debugQueries: (sql) => statements.push(sql),
  })
  return { storage, statements, close: () => storage.close() }
}

const openPostgres: Open = async (t) => {
  const service = await postgres(t)
  if (service === undefined) return undefined
  const database = await service.createDatabase()
  const statements: string[] = []
  const options: SqlStoreOptions = {
    dialect: 'postgresql',
    url: database.url,
    poolSize: 2,
    debugQueries: (sql) => statements.push(sql),
  }
  const storage = await openSqlStore(options).catch(async (error: unknown) => {
    await database.drop()
    throw error
  })
  return {
    storage,
    statements,
    async close() {
      await storage.close()
      await database.drop()
    },
  }
}

/** A value no SQL statement of jjm's contains unless it was written into the text. */
const marker = 'zq7-marker'

for (const [dialect, open] of [
  ['SQLite', openSqlite],
  ['PostgreSQL', openPostgres],
] as const) {
  describe(`the SQL store on ${dialect} binds values`, () => {
    it('sends writes and filters with every value as a parameter, none inside the SQL text', {
      timeout: 60_000,
    }, async (t) => {
      const watched = await open(t)
      if (watched === undefined) return
      const { storage, statements } = watched
      try {
        statements.length = 0
        const task = buildTask({
          title: `Fix it ${marker} now 'quoted' "double" \\ back`,
          prompt: `${marker} prompt`,
          labels: [`${marker}-label`],
          metadata: { [`${marker}-key`]: `${marker}-value` },
        })
        await storage.store.createTask(task, [{ type: 'created', data: { note: marker } }])
        await storage.store.updateTask(
          { ...task, title: `${marker} renamed` },
          [{ type: 'updated', data: { title: marker } }],
          { expectedVersion: 1 },
        )
        const holder = `${marker}-holder`
        assert.deepEqual(
          await storage.store.claimSyncLeases([task.id], holder, 60_000, { syncedBefore: task.createdAt }),
          [task.id],
        )
        const synced = await storage.store.commitSync({
          taskId: task.id,
          holder,
          task: { ...task, title: `${marker} synced`, version: 2 },
          events: [{ type: 'progress', data: { text: marker } }],
          cursor: { sessionUpdateTime: task.createdAt, lastActivityTime: null, lastActivityNames: [`${marker}-a1`] },
          syncedAt: task.createdAt,
        })
        assert.equal(synced.outcome, 'committed')
        assert.deepEqual(await storage.store.renewSyncLeases([task.id], holder, 60_000), [task.id])
        await storage.store.releaseSyncLeases([task.id], holder)
        await storage.store.addChatMessages(task.id, [
          { activityId: `${marker}-activity`, role: 'user', text: `${marker} message`, at: task.createdAt },
        ])
        const page = await storage.store.listTasks({ search: marker, label: `${marker}-label` })
        assert.deepEqual(
          page.items.map((found) => found.id),
          [task.id],
        )
        assert.equal(await storage.store.findTask(`${marker}-not-an-id`), undefined)

        assert.ok(statements.length >= 5, `statements seen: ${statements.length}`)
        const leaking = statements.filter((sql) => sql.includes(marker) || sql.includes(task.id))
        assert.deepEqual(leaking, [], 'no value is written into a statement')
        assert.ok(
          statements.some((sql) => /insert into/i.test(sql) && /(\?|\$\d)/.test(sql)),
          'the inserts carry placeholders',
        )
      } finally {
        await watched.close()
      }
    })
  })
}

describe('the SQL store on SQLite', () => {
  it('stores and finds text holding a NUL character, which a literal in the SQL text cannot carry', {
    timeout: 30_000,
  }, async (t) => {
    const watched = await openSqlite(t)
    assert.ok(watched)
    try {
      const task = buildTask({ title: 'Fix it\u0000now', prompt: 'a\u0000b' })
      await watched.storage.store.createTask(task, [{ type: 'created', data: {} }])
      const stored = await watched.storage.store.getTask(task.id)
      assert.equal(stored?.title, 'Fix it\u0000now')
      assert.equal(stored?.prompt, 'a\u0000b')
      const page = await watched.storage.store.listTasks({ search: 'it\u0000n' })
      assert.deepEqual(
        page.items.map((found) => found.id),
        [task.id],
      )
    } finally {
      await watched.close()
    }
  })
})

describe('bindStatement', () => {
  it('keeps values out of the text: one placeholder per value, lists spread, JSON serialised, SQL fragments inlined', {
    timeout: 10_000,
  }, async () => {
    const { BetterSqlitePlatform } = await import('@mikro-orm/better-sqlite')
    const { raw } = await import('@mikro-orm/core')
    const { bindStatement } = await import('../../../src/plugins/storage-sql/bound-parameters.js')
    const platform = new BetterSqlitePlatform()
    const toBinding = (value: unknown): unknown => (value instanceof Date ? value.getTime() : value)
    const at = new Date('2026-01-01T00:00:00.000Z')
    const bound = bindStatement(
      platform,
      toBinding,
      'select ?? from t where a = ? and b in (?) and c = ? and d = ? and e = ? and f = \\? and g = ?',
      ['title', "it's\u0000", ['x', 'y'], { k: [1] }, at, null, raw('lower(?)', ['Z'])],
    )
    assert.equal(
      bound.sql,
      'select `title` from t where a = ? and b in (?, ?) and c = ? and d = ? and e = ? and f = \\? and g = lower(?)',
    )
    assert.deepEqual(bound.bindings, ["it's\u0000", 'x', 'y', '{"k":[1]}', at.getTime(), null, 'Z'])
  })
})
