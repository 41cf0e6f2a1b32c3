import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { MikroORM } from '@mikro-orm/better-sqlite'
import { MigrationRequiredError, StorageError, ValidationError } from '../../../../src/core/errors.js'
import type { TaskStore } from '../../../../src/core/ports.js'
import type { Task } from '../../../../src/core/task.js'
import {
  openSqlStore,
  type SqliteStoreOptions,
  type SqlStorage,
} from '../../../../src/plugins/storage-sql/sql-store.js'
import { buildTask } from '../../../../src/testing/index.js'

// The behaviour every TaskStore shares is in task-store-contract.test.ts; this
// file is about SQLite itself: the file, migrations, query counts, errors.

const initialMigration = 'Migration20261125000000_initial'
const softDeleteMigration = 'Migration20261125120000_soft_delete'
const apiKeysMigration = 'Migration20261125180000_api_keys'
const syncMigration = 'Migration20261125200000_sync_and_intents'
const outboxMigration = 'Migration20261125210000_notification_outbox'
const leaseMigration = 'Migration20261126010000_intent_lease'
const retentionMigration = 'Migration20261126090000_notification_outbox_retention'
const syncLeaseMigration = 'Migration20261126100000_sync_lease'
const taskSyncMigration = 'Migration20261207000000_task_sync'
const archivedMigration = 'Migration20261208010000_task_archived'
const stalledMigration = 'Migration20261208020000_stalled'
const taskPriorityMigration = 'Migration20261208030000_task_priority'
const allMigrations = [
  initialMigration,
  softDeleteMigration,
  apiKeysMigration,
  syncMigration,
  outboxMigration,
  leaseMigration,
  retentionMigration,
  syncLeaseMigration,
  taskSyncMigration,
  archivedMigration,
  stalledMigration,
  taskPriorityMigration,
]
const tempDirs: string[] = []

after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-sql-store-'))
  tempDirs.push(dir)
  return dir
}

async function tempDbPath(): Promise<string> {
  return join(await tempDir(), 'nested', 'jjm.db')
}

/** Opens a store on a fresh file; the test closes it. */
async function openFresh(options: Partial<Omit<SqliteStoreOptions, 'dialect'>> = {}): Promise<SqlStorage> {
  return openSqlStore({ dialect: 'sqlite', path: await tempDbPath(), ...options })
}

/** MikroORM on the file without jjm's store around it, to inspect or tamper with the database. */
async function withRawOrm<T>(path: string, work: (orm: MikroORM) => Promise<T>): Promise<T> {
  const { MikroORM } = await import('@mikro-orm/better-sqlite')
  const { entities } = await import('../../../../src/plugins/storage-sql/entities.js')
  const orm = await MikroORM.init({ dbName: path, entities, debug: false })
  try {
    return await work(orm)
  } finally {
    await orm.close(true)
  }
}

/** The jjm tables in the file, by name. */
async function tablesOf(path: string): Promise<string[]> {
  const rows = await withRawOrm(path, (orm) =>
    orm.em
      .getConnection()
      .execute<Array<{ name: string }>>(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name <> 'mikro_orm_migrations' order by name",
      ),
  )
  return rows.map((row) => row.name)
}

async function createTasks(storage: SqlStorage, tasks: Task[]): Promise<void> {
  for (const task of tasks) await storage.store.createTask(task, [{ type: 'created', data: {} }])
}

describe('openSqlStore on SQLite', () => {
  describe('tasks', () => {
    it('names the task and the command to see it when a task is recorded twice', async () => {
      const storage = await openFresh()
      try {
        const task = buildTask()
        await storage.store.createTask(task, [])
        await assert.rejects(storage.store.createTask(task, []), (error: unknown) => {
          assert.ok(error instanceof StorageError)
          assert.match(error.message, /already recorded/)
          assert.match(error.message, /jjm tasks show/)
          assert.equal(error.context.taskId, task.id)
          return true
        })
      } finally {
        await storage.close()
      }
    })

    it('rolls back the task update when an event cannot be written', async () => {
      const storage = await openFresh()
      try {
        const task = buildTask()
        await storage.store.createTask(task, [])
        const badEvent = { type: 'progress', data: undefined as unknown as Record<string, unknown> }
        await assert.rejects(
          storage.store.updateTask({ ...task, state: 'failed' }, [badEvent], { expectedVersion: 1 }),
          StorageError,
        )
        assert.equal((await storage.store.getTask(task.id))?.version, 1)
        assert.equal((await storage.store.getTask(task.id))?.state, 'queued')
      } finally {
        await storage.close()
      }
    })

    it('keeps the old set of changed files when the new set cannot be written', async () => {
      const storage = await openFresh()
      try {
        const task = buildTask()
        await createTasks(storage, [task])
        await storage.store.setSourceFiles(task.id, [{ path: 'a.ts', changeType: 'added' }])
        const broken = { path: 'b.ts', changeType: null as unknown as string }
        await assert.rejects(storage.store.setSourceFiles(task.id, [broken]), StorageError)
        assert.deepEqual(await storage.store.listSourceFiles(task.id), [
          { taskId: task.id, path: 'a.ts', changeType: 'added' },
        ])
      } finally {
        await storage.close()
      }
    })

    it('rolls back the cursor, messages and files with the task when an event cannot be written', async () => {
      const storage = await openFresh()
      try {
        const task = buildTask()
        await storage.store.createTask(task, [])
        const cursor = {
          sessionUpdateTime: task.updatedAt,
          lastActivityTime: task.updatedAt,
          lastActivityNames: ['a1'],
        }
        await storage.store.claimSyncLeases([task.id], 'test', 60_000)
        const sync = { taskId: task.id, holder: 'test', syncedAt: task.updatedAt }
        await storage.store.commitSync({
          ...sync,
          events: [],
          cursor,
          sourceFiles: [{ path: 'a.ts', changeType: 'added' }],
        })
        const badEvent = { type: 'progress', data: undefined as unknown as Record<string, unknown> }
        await assert.rejects(
          storage.store.commitSync({
            ...sync,
            task: { ...task, state: 'failed' },
            events: [badEvent],
            cursor: { ...cursor, lastActivityNames: ['a2'] },
            chatMessages: [{ activityId: 'a2', role: 'agent', text: 'Hi', at: task.updatedAt }],
            sourceFiles: [],
          }),
          StorageError,
        )
        assert.equal((await storage.store.getTask(task.id))?.state, 'queued')
        assert.equal((await storage.store.getTask(task.id))?.version, 1)
        assert.deepEqual((await storage.store.getSyncState(task.id))?.cursor, cursor)
        assert.deepEqual((await storage.store.listChatMessages(task.id)).items, [])
        assert.equal((await storage.store.listSourceFiles(task.id)).length, 1)
      } finally {
        await storage.close()
      }
    })

    it('lets exactly one of two stores on one file claim a key, and one take it over when its lease ran out', async () => {
      const path = await tempDbPath()
      const first = await openSqlStore({ dialect: 'sqlite', path })
      const second = await openSqlStore({ dialect: 'sqlite', path })
      try {
        for (let round = 0; round < 10; round++) {
          const key = `race-${round}`
          const start = Date.now()
          const begin = (store: TaskStore, holder: string, atMs: number) =>
            store.beginCreation(key, 'a'.repeat(64), new Date(atMs).toISOString(), {
              holder,
              expiresAt: new Date(atMs + 60_000).toISOString(),
            })
          const racers = (atMs: number) =>
            Promise.all([
              ...Array.from({ length: 4 }, (_, index) => begin(first.store, `first-${index}`, atMs)),
              ...Array.from({ length: 4 }, (_, index) => begin(second.store, `second-${index}`, atMs)),
            ])
          const begun = await racers(start)
          assert.equal(begun.filter((result) => result.created).length, 1, key)
          assert.equal(begun.filter((result) => result.claimed).length, 1, key)
          const takenOver = await racers(start + 60_000)
          assert.equal(takenOver.filter((result) => result.claimed).length, 1, `${key} after the lease`)
          assert.equal(takenOver.filter((result) => result.created).length, 0, `${key} after the lease`)
        }
      } finally {
        await first.close()
        await second.close()
      }
    })

    it('lists 50 tasks and loads their relations in three queries, as it does for 5', async () => {
      const queries: string[] = []
      const storage = await openFresh({ debugQueries: (sql) => queries.push(sql) })
      try {
        const tasks = Array.from({ length: 60 }, () => buildTask())
        await createTasks(storage, tasks)
        for (const task of tasks) {
          await storage.store.addChatMessages(task.id, [
            { activityId: `${task.id}-1`, role: 'user', text: 'Go', at: task.createdAt },
            { activityId: `${task.id}-2`, role: 'agent', text: 'Done', at: task.updatedAt },
          ])
          await storage.store.setSourceFiles(task.id, [{ path: 'src/a.ts', changeType: 'modified' }])
        }
        const count = async (limit: number): Promise<number> => {
          queries.length = 0
          const page = await storage.store.listTasks({ label: 'flaky', search: 'flaky', limit })
          const relations = await storage.store.getRelations(page.items.map((task) => task.id))
          assert.equal(relations.size, limit)
          assert.ok([...relations.values()].every((r) => r.chatMessages.length === 2 && r.sourceFiles.length === 1))
          return queries.length
        }
        assert.equal(await count(50), 3, queries.join('\n'))
        assert.equal(await count(5), 3, queries.join('\n'))
      } finally {
        await storage.close()
      }
    })
  })

  describe('sync leases and commits', () => {
    it('claims, renews and releases the leases of 1,000 tasks in two statements each', async () => {
      const queries: string[] = []
      const storage = await openFresh({ debugQueries: (sql) => queries.push(sql) })
      try {
        const tasks = Array.from({ length: 1000 }, () => buildTask())
        for (const task of tasks) await storage.store.createTask(task, [])
        const ids = tasks.map((task) => task.id)
        queries.length = 0
        assert.equal((await storage.store.claimSyncLeases(ids, 'daemon-a', 60_000)).length, 1000)
        assert.equal(queries.length, 2, queries.join('\n'))
        queries.length = 0
        assert.equal((await storage.store.renewSyncLeases(ids, 'daemon-a', 60_000)).length, 1000)
        assert.equal(queries.length, 2, queries.join('\n'))
        queries.length = 0
        await storage.store.releaseSyncLeases(ids, 'daemon-a')
        assert.equal(queries.length, 2, queries.join('\n'))
      } finally {
        await storage.close()
      }
    })

    it('records a quiet sync with one write and one read, and never writes the task row', async () => {
      const queries: string[] = []
      const storage = await openFresh({ debugQueries: (sql) => queries.push(sql) })
      try {
        const task = buildTask({ state: 'in_progress' })
        await storage.store.createTask(task, [])
        await storage.store.claimSyncLeases([task.id], 'daemon-a', 60_000)
        queries.length = 0
        const result = await storage.store.commitSync({
          taskId: task.id,
          holder: 'daemon-a',
          events: [],
          cursor: { sessionUpdateTime: task.updatedAt, lastActivityTime: null, lastActivityNames: [] },
          syncedAt: '2026-02-01T00:00:00.000Z',
        })
        assert.equal(result.outcome, 'committed')
        const statements = queries.map((sql) =>
          sql.trim().replace(/;$/, '').split(/\s+/).slice(0, 2).join(' ').toLowerCase(),
        )
        assert.deepEqual(statements, ['begin', 'update task_sync', 'select `t0`.*,', 'commit'], queries.join('\n'))
      } finally {
        await storage.close()
      }
    })
  })

  describe('migrations', () => {
    it('sets up the schema of a new database file on first use, in WAL mode', async () => {
      const path = await tempDbPath()
      const storage = await openSqlStore({ dialect: 'sqlite', path })
      try {
        assert.deepEqual(await storage.schema.status(), { executed: allMigrations, pending: [] })
        assert.deepEqual(await storage.schema.up(), [])
      } finally {
        await storage.close()
      }
      const [mode] = await withRawOrm(path, (orm) => orm.em.getConnection().execute('pragma journal_mode'))
      assert.deepEqual(mode, { journal_mode: 'wal' }, 'WAL lets a reader and a writer share the file')
    })

    it('leaves a new database alone with migrate none, and applies on request', async () => {
      const storage = await openFresh({ migrate: 'none' })
      try {
        assert.deepEqual(await storage.schema.status(), { executed: [], pending: allMigrations })
        await assert.rejects(storage.store.listTasks({}), MigrationRequiredError)
        await assert.rejects(storage.schema.up({ to: 'Migration_nope' }), ValidationError)
        assert.deepEqual(await storage.schema.up({ to: initialMigration }), [initialMigration])
        assert.deepEqual(await storage.schema.up(), allMigrations.slice(1))
        assert.deepEqual((await storage.store.listTasks({})).items, [])
      } finally {
        await storage.close()
      }
    })

    it('refuses to open an existing database whose schema is behind and names jjm migrate up', async () => {
      const path = await tempDbPath()
      const old = await openSqlStore({ dialect: 'sqlite', path, migrate: 'none' })
      await old.schema.up({ to: initialMigration })
      await old.close()

      await assert.rejects(openSqlStore({ dialect: 'sqlite', path }), (error: unknown) => {
        assert.ok(error instanceof MigrationRequiredError)
        assert.match(error.message, /jjm migrate up/)
        assert.match(error.message, new RegExp(softDeleteMigration))
        assert.deepEqual(error.context.pending, allMigrations.slice(1))
        return true
      })
      // Nothing was changed behind the operator's back.
      const after = await openSqlStore({ dialect: 'sqlite', path, migrate: 'none' })
      try {
        assert.deepEqual((await after.schema.status()).pending, allMigrations.slice(1))
      } finally {
        await after.close()
      }
    })

    it('refuses, in check mode, a database that lacks the latest migration', async () => {
      const path = await tempDbPath()
      await (await openSqlStore({ dialect: 'sqlite', path })).close()
      await withRawOrm(path, (orm) =>
        orm.em.getConnection().execute('delete from mikro_orm_migrations where name = ?', [syncMigration]),
      )

      await assert.rejects(openSqlStore({ dialect: 'sqlite', path, migrate: 'check' }), (error: unknown) => {
        assert.ok(error instanceof MigrationRequiredError)
        assert.match(error.message, /jjm migrate up/)
        assert.match(error.message, new RegExp(syncMigration))
        return true
      })
    })

    it('refuses, in check mode, a brand-new database too', async () => {
      await assert.rejects(openFresh({ migrate: 'check' }), MigrationRequiredError)
    })

    it('opens, in every mode, a database migrated by a newer jjm, whose extra migration it does not know', async () => {
      const path = await tempDbPath()
      await (await openSqlStore({ dialect: 'sqlite', path })).close()
      const newer = 'Migration20991231000000_from_a_newer_jjm'
      await withRawOrm(path, (orm) =>
        orm.em.getConnection().execute('insert into mikro_orm_migrations (name) values (?)', [newer]),
      )

      for (const migrate of ['auto', 'check'] as const) {
        const storage = await openSqlStore({ dialect: 'sqlite', path, migrate })
        try {
          assert.deepEqual((await storage.store.listTasks({})).items, [])
          assert.deepEqual(await storage.schema.status(), { executed: [...allMigrations, newer], pending: [] })
        } finally {
          await storage.close()
        }
      }
    })

    it('counts a migration recorded with its file extension (older MikroORM) as applied', async () => {
      const path = await tempDbPath()
      await (await openSqlStore({ dialect: 'sqlite', path })).close()
      await withRawOrm(path, (orm) =>
        orm.em
          .getConnection()
          .execute('update mikro_orm_migrations set name = ? where name = ?', [`${syncMigration}.js`, syncMigration]),
      )

      const storage = await openSqlStore({ dialect: 'sqlite', path, migrate: 'check' })
      await storage.close()
    })

    it('agrees with the entity schemas (no schema difference after migrating)', async () => {
      const path = await tempDbPath()
      await (await openSqlStore({ dialect: 'sqlite', path })).close()
      const diff = await withRawOrm(path, (orm) => orm.schema.getUpdateSchemaSQL({ wrap: false }))
      assert.equal(diff.trim(), '')
    })

    it('goes down one step at a time and up again, keeping the data of the tables that stay', async () => {
      const path = await tempDbPath()
      const task = buildTask()
      const first = await openSqlStore({ dialect: 'sqlite', path })
      try {
        await first.store.createTask(task, [{ type: 'created', data: { by: 'test' } }])
        await first.store.addChatMessages(task.id, [
          { activityId: 'a1', role: 'user', text: 'Go', at: task.createdAt },
          { activityId: null, role: 'user', text: 'Also the docs', at: task.updatedAt },
        ])
        await first.store.setSourceFiles(task.id, [{ path: 'src/a.ts', changeType: 'modified' }])
        await first.store.claimSyncLeases([task.id], 'test', 60_000)
        await first.store.commitSync({
          taskId: task.id,
          holder: 'test',
          events: [],
          syncedAt: task.updatedAt,
          cursor: { sessionUpdateTime: task.updatedAt, lastActivityTime: task.updatedAt, lastActivityNames: ['a1'] },
        })
        await first.store.releaseSyncLeases([task.id], 'test')
        await first.store.beginCreation('key-1', 'a'.repeat(64), task.createdAt, {
          holder: 'test',
          expiresAt: task.createdAt,
        })
        assert.deepEqual(await first.schema.down({ to: outboxMigration }), allMigrations.slice(4).reverse())
        assert.deepEqual(await first.schema.down(), [syncMigration])
        assert.deepEqual(await first.schema.status(), {
          executed: [initialMigration, softDeleteMigration, apiKeysMigration],
          pending: allMigrations.slice(3),
        })
        assert.deepEqual(await first.schema.down(), [apiKeysMigration])
        assert.deepEqual(await first.schema.status(), {
          executed: [initialMigration, softDeleteMigration],
          pending: allMigrations.slice(2),
        })
        assert.deepEqual(await first.schema.down(), [softDeleteMigration])
        assert.deepEqual(await first.schema.status(), {
          executed: [initialMigration],
          pending: allMigrations.slice(1),
        })
        assert.deepEqual(await first.schema.up(), allMigrations.slice(1))
      } finally {
        await first.close()
      }
      const diff = await withRawOrm(path, (orm) => orm.schema.getUpdateSchemaSQL({ wrap: false }))
      assert.equal(diff.trim(), '', 'down then up gives back the same schema')
      const second = await openSqlStore({ dialect: 'sqlite', path })
      try {
        // lastSyncedAt came through every step (it lived in the task row below the task_sync migration).
        assert.deepEqual(await second.store.getTask(task.id), { ...task, lastSyncedAt: task.updatedAt })
        assert.deepEqual(
          (await second.store.getEvents(task.id)).items.map((event) => event.data),
          [{ by: 'test' }],
        )
        assert.deepEqual(
          (await second.store.listChatMessages(task.id)).items.map((message) => message.text),
          ['Go', 'Also the docs'],
        )
        assert.equal((await second.store.listSourceFiles(task.id)).length, 1)
        assert.equal((await second.store.getSyncState(task.id))?.cursor, null, 'down dropped the cursors')
        assert.equal(
          (
            await second.store.beginCreation('key-1', 'a'.repeat(64), task.createdAt, {
              holder: 'test',
              expiresAt: task.createdAt,
            })
          ).created,
          true,
        )
      } finally {
        await second.close()
      }
    })

    it('drops the api_key table going down past its migration, and creates it again going up', async () => {
      const path = await tempDbPath()
      const task = buildTask()
      const storage = await openSqlStore({ dialect: 'sqlite', path })
      try {
        await storage.store.createTask(task, [{ type: 'created', data: {} }])
        assert.deepEqual(await tablesOf(path), [
          'api_key',
          'chat_message',
          'creation_intent',
          'notification_outbox',
          'sim_session',
          'source_file',
          'task',
          'task_event',
          'task_sync',
        ])
        assert.deepEqual(await storage.schema.down({ to: apiKeysMigration }), allMigrations.slice(2).reverse())
        assert.deepEqual(await tablesOf(path), ['chat_message', 'sim_session', 'source_file', 'task', 'task_event'])
        assert.deepEqual(await storage.schema.up(), allMigrations.slice(2))
        assert.ok((await tablesOf(path)).includes('api_key'))
        assert.ok((await tablesOf(path)).includes('creation_intent'))
        assert.deepEqual(await storage.store.getTask(task.id), task)
      } finally {
        await storage.close()
      }
      const diff = await withRawOrm(path, (orm) => orm.schema.getUpdateSchemaSQL({ wrap: false }))
      assert.equal(diff.trim(), '', 'down then up gives back the same schema')
    })

    it('keeps API keys with their scopes and instants, and refuses a second key with the same name or prefix', async () => {
      const path = await tempDbPath()
      await (await openSqlStore({ dialect: 'sqlite', path })).close()
      const { ApiKeySchema } = await import('../../../../src/plugins/storage-sql/entities.js')
      const key = {
        id: '01JDAPIKEY0000000000000001',
        name: 'dashboard',
        prefix: 'jjm_abc123',
        keyHash: 'f'.repeat(64),
        salt: 'a'.repeat(32),
        scopes: ['read', 'write'],
        rateLimit: 600,
        createdAt: new Date('2026-11-25T18:00:00.000Z'),
        expiresAt: new Date('2027-02-23T18:00:00.000Z'),
        revokedAt: null,
        lastUsedAt: null,
      }
      await withRawOrm(path, async (orm) => {
        await orm.em.fork().insert(ApiKeySchema, key)
        const row = await orm.em.fork().findOneOrFail(ApiKeySchema, { prefix: 'jjm_abc123' })
        assert.deepEqual({ ...row }, key)
        const sameName = { ...key, id: '01JDAPIKEY0000000000000002', prefix: 'jjm_def456' }
        await assert.rejects(orm.em.fork().insert(ApiKeySchema, sameName), /UNIQUE constraint failed: api_key\.name/)
        const samePrefix = { ...key, id: '01JDAPIKEY0000000000000003', name: 'ci' }
        await assert.rejects(
          orm.em.fork().insert(ApiKeySchema, samePrefix),
          /UNIQUE constraint failed: api_key\.prefix/,
        )
        await orm.em.fork().insert(ApiKeySchema, { ...samePrefix, prefix: 'jjm_ghi789', scopes: [], rateLimit: null })
        assert.equal(await orm.em.fork().count(ApiKeySchema), 2)
      })
    })

    it('moves each task’s cursor, last sync and lease into task_sync, and back on the way down', async () => {
      const path = await tempDbPath()
      const storage = await openSqlStore({ dialect: 'sqlite', path, migrate: 'none' })
      const task = buildTask({ lastSyncedAt: '2026-01-05T06:07:08.009Z' })
      const cursor = { sessionUpdateTime: '2026-01-05T06:00:00Z', lastActivityTime: null, lastActivityNames: ['a1'] }
      const leaseUntil = Date.parse('2026-01-05T06:12:00.000Z')
      try {
        await storage.schema.up({ to: syncLeaseMigration })
        // A task as the previous jjm wrote it: its sync state in its own row.
        await withRawOrm(path, (orm) =>
          orm.em
            .getConnection()
            .execute(
              'insert into task (id, session_name, title, prompt, repository, source, branch, state, require_plan_approval, automation_mode, url, pull_request, labels, metadata, created_at, updated_at, completed_at, last_synced_at, deleted_at, sync_cursor, sync_lease_holder, sync_lease_until) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
              [
                task.id,
                task.sessionName,
                task.title,
                task.prompt,
                task.repository,
                task.source,
                task.branch,
                task.state,
                1,
                task.automationMode,
                task.url,
                null,
                JSON.stringify(task.labels),
                JSON.stringify(task.metadata),
                Date.parse(task.createdAt),
                Date.parse(task.updatedAt),
                null,
                Date.parse(task.lastSyncedAt ?? ''),
                null,
                JSON.stringify(cursor),
                'daemon-a',
                leaseUntil,
              ],
            ),
        )
        const expectedState = {
          cursor,
          lastSyncedAt: task.lastSyncedAt,
          leaseHolder: 'daemon-a',
          leaseUntil: new Date(leaseUntil).toISOString(),
          lastActivityAt: null,
          stalledSince: null,
        }
        assert.deepEqual(await storage.schema.up(), [
          taskSyncMigration,
          archivedMigration,
          stalledMigration,
          taskPriorityMigration,
        ])
        assert.deepEqual(await storage.store.getTask(task.id), task, 'version 1, lastSyncedAt read from task_sync')
        assert.deepEqual(await storage.store.getSyncState(task.id), expectedState)

        assert.deepEqual(await storage.schema.down({ to: taskSyncMigration }), [
          taskPriorityMigration,
          stalledMigration,
          archivedMigration,
          taskSyncMigration,
        ])
        const [row] = await withRawOrm(path, (orm) =>
          orm.em
            .getConnection()
            .execute<Array<Record<string, unknown>>>(
              'select sync_cursor, last_synced_at, sync_lease_holder, sync_lease_until from task where id = ?',
              [task.id],
            ),
        )
        assert.deepEqual(row, {
          sync_cursor: JSON.stringify(cursor),
          last_synced_at: Date.parse(task.lastSyncedAt ?? ''),
          sync_lease_holder: 'daemon-a',
          sync_lease_until: leaseUntil,
        })
        assert.deepEqual(await tablesOf(path).then((tables) => tables.includes('task_sync')), false)

        assert.deepEqual(await storage.schema.up(), [
          taskSyncMigration,
          archivedMigration,
          stalledMigration,
          taskPriorityMigration,
        ])
        assert.deepEqual(await storage.store.getTask(task.id), task)
        assert.deepEqual(await storage.store.getSyncState(task.id), expectedState, 'down then up keeps the data')
      } finally {
        await storage.close()
      }
      const diff = await withRawOrm(path, (orm) => orm.schema.getUpdateSchemaSQL({ wrap: false }))
      assert.equal(diff.trim(), '', 'the round trip gives back the same schema')
    })

    it('counts the tasks recorded before plan quotas as started when they were created, at priority 0', async () => {
      const path = await tempDbPath()
      const storage = await openSqlStore({ dialect: 'sqlite', path, migrate: 'none' })
      const task = buildTask({ state: 'in_progress', createdAt: '2026-01-05T06:00:00.000Z' })
      try {
        await storage.schema.up({ to: taskSyncMigration })
        await withRawOrm(path, (orm) =>
          orm.em
            .getConnection()
            .execute(
              'insert into task (id, session_name, title, prompt, repository, source, branch, state, require_plan_approval, automation_mode, labels, metadata, created_at, updated_at, version) values (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, 1)',
              [
                task.id,
                task.sessionName,
                task.title,
                task.prompt,
                task.repository,
                task.source,
                task.branch,
                task.state,
                task.automationMode,
                '[]',
                '{}',
                Date.parse(task.createdAt),
                Date.parse(task.createdAt),
              ],
            ),
        )
        assert.deepEqual(await storage.schema.up(), [archivedMigration, stalledMigration, taskPriorityMigration])
        assert.equal((await storage.store.getTask(task.id))?.priority, 0)
        assert.deepEqual(await storage.store.sessionUsage('2026-01-05T00:00:00.000Z'), {
          running: 1,
          startedAt: [task.createdAt],
        })
        assert.deepEqual(await storage.schema.down(), [taskPriorityMigration])
        assert.deepEqual(await storage.schema.up(), [taskPriorityMigration])
      } finally {
        await storage.close()
      }
      const diff = await withRawOrm(path, (orm) => orm.schema.getUpdateSchemaSQL({ wrap: false }))
      assert.equal(diff.trim(), '', 'the migrations give the schema of the entities')
    })

    it('goes down to a named migration and refuses a name that is not applied', async () => {
      const storage = await openFresh()
      try {
        await assert.rejects(storage.schema.down({ to: 'Migration_nope' }), ValidationError)
        assert.deepEqual(await storage.schema.down({ to: initialMigration }), allMigrations.slice(0).reverse())
        assert.deepEqual(await storage.schema.status(), { executed: [], pending: allMigrations })
        assert.deepEqual(await storage.schema.down(), [])
        assert.deepEqual(await storage.schema.up(), allMigrations)
        assert.deepEqual((await storage.store.listTasks({})).items, [])
      } finally {
        await storage.close()
      }
    })
  })

  describe('the database file', () => {
    it('turns an unusable path into a StorageError that says what to do', async () => {
      const dir = await tempDir()
      const file = join(dir, 'a-file')
      await writeFile(file, 'not a directory')
      await assert.rejects(openSqlStore({ dialect: 'sqlite', path: join(file, 'jjm.db') }), (error: unknown) => {
        assert.ok(error instanceof StorageError)
        assert.match(error.message, /another path|another one/)
        assert.equal(error.context.operation, 'open')
        assert.doesNotMatch(error.message, /\n\s+at /)
        return true
      })
    })

    it('turns a directory given as the database into a StorageError', async () => {
      const dir = await tempDir()
      await assert.rejects(openSqlStore({ dialect: 'sqlite', path: dir }), StorageError)
    })

    it('lets two stores on one file see each other’s writes', async () => {
      const path = await tempDbPath()
      const first = await openSqlStore({ dialect: 'sqlite', path })
      const second = await openSqlStore({ dialect: 'sqlite', path })
      try {
        const task = buildTask()
        await first.store.createTask(task, [{ type: 'created', data: {} }])
        assert.deepEqual(await second.store.getTask(task.id), task)
        await second.store.updateTask({ ...task, state: 'planning' }, [{ type: 'state_changed', data: {} }], {
          expectedVersion: 1,
        })
        assert.equal((await first.store.getTask(task.id))?.state, 'planning')
        assert.equal((await first.store.getEvents(task.id)).items.length, 2)
      } finally {
        await first.close()
        await second.close()
      }
    })

    it('lets two processes write to one file at the same time', async () => {
      const path = await tempDbPath()
      const storage = await openSqlStore({ dialect: 'sqlite', path })
      try {
        // The other process is a second jjm writing 30 tasks while this one writes 30 more.
        const script = join(await tempDir(), 'writer.mts')
        const storeModule = fileURLToPath(new URL('../../../../src/plugins/storage-sql/sql-store.ts', import.meta.url))
        await writeFile(
          script,
          [
            `import { openSqlStore } from ${JSON.stringify(storeModule)}`,
            `const storage = await openSqlStore({ dialect: 'sqlite', path: process.argv[2] })`,
            'for (let i = 0; i < 30; i++) {',
            '  const id = "01JCH" + String(i).padStart(21, "0")',
            '  const at = new Date().toISOString()',
            '  await storage.store.createTask({ ...JSON.parse(process.argv[3]), id, sessionName: "sessions/child-" + i, createdAt: at, updatedAt: at }, [{ type: "created", data: {} }])',
            '}',
            'await storage.close()',
          ].join('\n'),
        )
        const child = spawn(process.execPath, ['--import', 'tsx', script, path, JSON.stringify(buildTask())], {
          stdio: ['ignore', 'ignore', 'pipe'],
        })
        let stderr = ''
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString()
        })
        const exited = once(child, 'exit')
        for (let i = 0; i < 30; i++) await storage.store.createTask(buildTask(), [{ type: 'created', data: {} }])
        const [code] = await exited
        assert.equal(code, 0, stderr)
        assert.equal((await storage.store.listTasks({ limit: 200 })).items.length, 60)
      } finally {
        await storage.close()
      }
    })

    it('works in memory', async () => {
      const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
      try {
        const task = buildTask()
        await storage.store.createTask(task, [])
        assert.deepEqual(await storage.store.findTask(task.id), task)
      } finally {
        await storage.store.close()
      }
    })
  })

  describe('simulator sessions', () => {
    it('saves, replaces and lists simulated sessions oldest first', async () => {
      const storage = await openFresh()
      try {
        await storage.sim.put({ id: 'b', createdAt: '2026-01-02T00:00:00.000Z', state: { step: 1 } })
        await storage.sim.put({ id: 'a', createdAt: '2026-01-01T00:00:00.000Z', state: { step: 1 } })
        await storage.sim.put({ id: 'b', createdAt: '2026-01-02T00:00:00.000Z', state: { step: 2, nested: [true] } })
        assert.deepEqual(await storage.sim.get('b'), {
          id: 'b',
          createdAt: '2026-01-02T00:00:00.000Z',
          state: { step: 2, nested: [true] },
        })
        assert.equal(await storage.sim.get('zzz'), undefined)
        assert.deepEqual(
          (await storage.sim.list()).map((record) => record.id),
          ['a', 'b'],
        )
      } finally {
        await storage.close()
      }
    })
  })
})
