import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import pg from 'pg'
import { MigrationRequiredError, StorageError, ValidationError } from '../../../src/core/errors.js'
import type { TaskStore } from '../../../src/core/ports.js'
import type { Task } from '../../../src/core/task.js'
import { openSqlStore, type PostgresStoreOptions, type SqlStorage } from '../../../src/plugins/storage-sql/sql-store.js'
import { buildTask } from '../../../src/testing/index.js'
import { postgres, uniqueName } from '../../support/services.js'

// The behaviour every TaskStore shares runs in task-store-contract.test.ts;
// this file is about PostgreSQL itself: column types, migrations, query
// counts, the pool, and how connection failures read.

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

interface Database {
  url: string
  name: string
  adminUrl: string
}

/** Runs `work` on a fresh database, dropped afterwards; skips (locally) when PostgreSQL is absent. */
async function withDatabase(t: TestContext, work: (database: Database) => Promise<void>): Promise<void> {
  const service = await postgres(t)
  if (service === undefined) return
  const database = await service.createDatabase()
  try {
    await work({ url: database.url, name: database.name, adminUrl: service.adminUrl })
  } finally {
    await database.drop()
  }
}

async function withStore(
  url: string,
  options: Partial<Omit<PostgresStoreOptions, 'dialect' | 'url'>>,
  work: (storage: SqlStorage) => Promise<void>,
): Promise<void> {
  const storage = await openSqlStore({ dialect: 'postgresql', url, poolSize: 4, ...options })
  try {
    await work(storage)
  } finally {
    await storage.close()
  }
}

async function query<T>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql, values)).rows as T[]
  } finally {
    await client.end()
  }
}

/** What MikroORM would still change to make the database match the entities. */
async function schemaDifference(url: string): Promise<string> {
  const { MikroORM } = await import('@mikro-orm/postgresql')
  const { entities } = await import('../../../src/plugins/storage-sql/entities.js')
  const orm = await MikroORM.init({ clientUrl: url, entities, debug: false })
  try {
    return (await orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()
  } finally {
    await orm.close(true)
  }
}

/** The jjm tables in the database, by name. */
async function tablesOf(url: string): Promise<string[]> {
  const rows = await query<{ table_name: string }>(
    url,
    "select table_name from information_schema.tables where table_schema = 'public' and table_name <> 'mikro_orm_migrations' order by table_name",
  )
  return rows.map((row) => row.table_name)
}

async function createTasks(storage: SqlStorage, tasks: Task[]): Promise<void> {
  for (const task of tasks) await storage.store.createTask(task, [{ type: 'created', data: {} }])
}

describe('openSqlStore on PostgreSQL', () => {
  describe('schema', () => {
    it('sets up a new database with jsonb columns and timestamps with time zone', async (t) => {
      await withDatabase(t, async ({ url }) => {
        await withStore(url, {}, async (storage) => {
          assert.deepEqual(await storage.schema.status(), { executed: allMigrations, pending: [] })
        })
        const columns = await query<{ table_name: string; column_name: string; data_type: string }>(
          url,
          `select table_name, column_name, data_type from information_schema.columns
           where table_schema = 'public'
             and column_name in ('labels', 'metadata', 'data', 'state', 'scopes', 'created_at', 'at', 'deleted_at', 'expires_at', 'revoked_at', 'last_used_at', 'cursor', 'last_synced_at', 'lease_until', 'version', 'updated_at')
           order by table_name, column_name`,
        )
        const types = Object.fromEntries(columns.map((row) => [`${row.table_name}.${row.column_name}`, row.data_type]))
        assert.equal(types['task.labels'], 'jsonb')
        assert.equal(types['task.metadata'], 'jsonb')
        assert.equal(types['task_event.data'], 'jsonb')
        assert.equal(types['sim_session.state'], 'jsonb')
        assert.equal(types['task.created_at'], 'timestamp with time zone')
        assert.equal(types['task.deleted_at'], 'timestamp with time zone')
        assert.equal(types['task_event.at'], 'timestamp with time zone')
        assert.equal(types['api_key.scopes'], 'jsonb')
        for (const column of ['created_at', 'expires_at', 'revoked_at', 'last_used_at']) {
          assert.equal(types[`api_key.${column}`], 'timestamp with time zone', column)
        }
        assert.equal(types['task_sync.cursor'], 'jsonb')
        assert.equal(types['task_sync.last_synced_at'], 'timestamp with time zone')
        // Milliseconds since the epoch by the database's clock: compared exactly, in SQL.
        assert.equal(types['task_sync.lease_until'], 'bigint')
        assert.equal(types['task.version'], 'integer')
        assert.equal(types['creation_intent.created_at'], 'timestamp with time zone')
        assert.equal(types['creation_intent.updated_at'], 'timestamp with time zone')
      })
    })

    it('agrees with the entity schemas (no schema difference after migrating)', async (t) => {
      await withDatabase(t, async ({ url }) => {
        await withStore(url, {}, async () => {})
        assert.equal(await schemaDifference(url), '')
      })
    })

    it('refuses to open an existing database whose schema is behind and names jjm migrate up', async (t) => {
      await withDatabase(t, async ({ url }) => {
        await withStore(url, { migrate: 'none' }, async (storage) => {
          assert.deepEqual(await storage.schema.up({ to: initialMigration }), [initialMigration])
        })
        await assert.rejects(openSqlStore({ dialect: 'postgresql', url }), (error: unknown) => {
          assert.ok(error instanceof MigrationRequiredError)
          assert.match(error.message, /jjm migrate up/)
          assert.match(error.message, new RegExp(softDeleteMigration))
          assert.match(error.message, new RegExp(apiKeysMigration))
          assert.match(error.message, new RegExp(syncMigration))
          assert.match(error.message, new RegExp(outboxMigration))
          return true
        })
        await assert.rejects(openSqlStore({ dialect: 'postgresql', url, migrate: 'check' }), MigrationRequiredError)
      })
    })

    it('goes down and up again, keeping the data of the tables that stay', async (t) => {
      await withDatabase(t, async ({ url }) => {
        const task = buildTask({ labels: ['a', 'b'], metadata: { deep: { list: [1, null] } } })
        await withStore(url, {}, async (storage) => {
          await storage.store.createTask(task, [{ type: 'created', data: { by: 'test' } }])
          await storage.store.addChatMessages(task.id, [
            { activityId: 'a1', role: 'user', text: 'Go', at: task.createdAt },
            { activityId: null, role: 'agent', text: 'Noted', at: task.updatedAt },
          ])
          await storage.store.claimSyncLeases([task.id], 'test', 60_000)
          await storage.store.commitSync({
            taskId: task.id,
            holder: 'test',
            events: [],
            syncedAt: task.updatedAt,
            cursor: { sessionUpdateTime: task.updatedAt, lastActivityTime: task.updatedAt, lastActivityNames: ['a1'] },
          })
          await storage.store.releaseSyncLeases([task.id], 'test')
          await storage.store.beginCreation('key-1', 'a'.repeat(64), task.createdAt, {
            holder: 'test',
            expiresAt: task.createdAt,
          })
          assert.deepEqual(await tablesOf(url), [
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
          assert.deepEqual(await storage.schema.down({ to: outboxMigration }), allMigrations.slice(4).reverse())
          assert.deepEqual(await storage.schema.down(), [syncMigration])
          assert.deepEqual(await tablesOf(url), [
            'api_key',
            'chat_message',
            'sim_session',
            'source_file',
            'task',
            'task_event',
          ])
          assert.deepEqual(await storage.schema.up(), allMigrations.slice(3))
          assert.ok((await tablesOf(url)).includes('notification_outbox'))
          assert.equal((await storage.store.getSyncState(task.id))?.cursor, null, 'down dropped the cursors')
          assert.equal(
            (
              await storage.store.beginCreation('key-1', 'a'.repeat(64), task.createdAt, {
                holder: 'test',
                expiresAt: task.createdAt,
              })
            ).created,
            true,
          )
          assert.deepEqual(await storage.schema.down({ to: outboxMigration }), allMigrations.slice(4).reverse())
          assert.deepEqual(await storage.schema.down(), [syncMigration])
          assert.deepEqual(await storage.schema.down(), [apiKeysMigration])
          assert.deepEqual(await tablesOf(url), ['chat_message', 'sim_session', 'source_file', 'task', 'task_event'])
          assert.deepEqual(await storage.schema.down(), [softDeleteMigration])
          assert.deepEqual(await storage.schema.status(), {
            executed: [initialMigration],
            pending: allMigrations.slice(1),
          })
          assert.deepEqual(await storage.schema.up(), allMigrations.slice(1))
          assert.ok((await tablesOf(url)).includes('api_key'))
        })
        assert.equal(await schemaDifference(url), '', 'down then up gives back the same schema')
        await withStore(url, {}, async (storage) => {
          // lastSyncedAt came through every step (it lived in the task row below the task_sync migration).
          assert.deepEqual(await storage.store.getTask(task.id), { ...task, lastSyncedAt: task.updatedAt })
          assert.deepEqual(
            (await storage.store.listChatMessages(task.id)).items.map((message) => message.text),
            ['Go', 'Noted'],
          )
          await assert.rejects(storage.schema.down({ to: 'Migration_nope' }), ValidationError)
          assert.deepEqual(await storage.schema.down({ to: initialMigration }), allMigrations.slice(0).reverse())
          assert.deepEqual(await tablesOf(url), [], 'going down past the first migration leaves no jjm table')
          assert.deepEqual(await storage.schema.up(), allMigrations)
          assert.deepEqual((await storage.store.listTasks({})).items, [])
        })
      })
    })
  })

  describe('sync state', () => {
    it('moves each task’s cursor, last sync and lease into task_sync, and back on the way down', async (t) => {
      await withDatabase(t, async ({ url }) => {
        const task = buildTask({ lastSyncedAt: '2026-01-05T06:07:08.009Z' })
        const cursor = { sessionUpdateTime: '2026-01-05T06:00:00Z', lastActivityTime: null, lastActivityNames: ['a1'] }
        const leaseUntil = '2026-01-05T06:12:00.123Z'
        await withStore(url, { migrate: 'none' }, async (storage) => {
          await storage.schema.up({ to: syncLeaseMigration })
          // A task as the previous jjm wrote it: its sync state in its own row.
          await query(
            url,
            'insert into task (id, session_name, title, prompt, repository, source, branch, state, require_plan_approval, automation_mode, url, pull_request, labels, metadata, created_at, updated_at, completed_at, last_synced_at, deleted_at, sync_cursor, sync_lease_holder, sync_lease_until) values ($1, $2, $3, $4, $5, $6, $7, $8, true, $9, $10, null, $11, $12, $13, $14, null, $15, null, $16, $17, $18)',
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
              task.url,
              JSON.stringify(task.labels),
              JSON.stringify(task.metadata),
              task.createdAt,
              task.updatedAt,
              task.lastSyncedAt,
              JSON.stringify(cursor),
              'daemon-a',
              leaseUntil,
            ],
          )
          const expectedState = {
            cursor,
            lastSyncedAt: task.lastSyncedAt,
            leaseHolder: 'daemon-a',
            leaseUntil,
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
          const [row] = await query<Record<string, unknown>>(
            url,
            'select sync_cursor, last_synced_at, sync_lease_holder, sync_lease_until from task where id = $1',
            [task.id],
          )
          assert.deepEqual(row, {
            sync_cursor: cursor,
            last_synced_at: new Date(task.lastSyncedAt ?? ''),
            sync_lease_holder: 'daemon-a',
            sync_lease_until: new Date(leaseUntil),
          })
          assert.equal((await tablesOf(url)).includes('task_sync'), false)

          assert.deepEqual(await storage.schema.up(), [
            taskSyncMigration,
            archivedMigration,
            stalledMigration,
            taskPriorityMigration,
          ])
          assert.deepEqual(await storage.store.getTask(task.id), task)
          assert.deepEqual(await storage.store.getSyncState(task.id), expectedState, 'down then up keeps the data')
        })
        assert.equal(await schemaDifference(url), '', 'the round trip gives back the same schema')
      })
    })
  })

  describe('API keys', () => {
    it('keeps API keys with their scopes and instants, and refuses a second key with the same name or prefix', async (t) => {
      await withDatabase(t, async ({ url }) => {
        await withStore(url, {}, async () => {})
        const { MikroORM } = await import('@mikro-orm/postgresql')
        const { entities, ApiKeySchema } = await import('../../../src/plugins/storage-sql/entities.js')
        const orm = await MikroORM.init({ clientUrl: url, entities, debug: false })
        try {
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
          await orm.em.fork().insert(ApiKeySchema, key)
          const row = await orm.em.fork().findOneOrFail(ApiKeySchema, { prefix: 'jjm_abc123' })
          assert.deepEqual({ ...row }, key)
          const sameName = { ...key, id: '01JDAPIKEY0000000000000002', prefix: 'jjm_def456' }
          await assert.rejects(orm.em.fork().insert(ApiKeySchema, sameName), /api_key_name_unique/)
          const samePrefix = { ...key, id: '01JDAPIKEY0000000000000003', name: 'ci' }
          await assert.rejects(orm.em.fork().insert(ApiKeySchema, samePrefix), /api_key_prefix_unique/)
          await orm.em.fork().insert(ApiKeySchema, { ...samePrefix, prefix: 'jjm_ghi789', scopes: [], rateLimit: null })
          assert.equal(await orm.em.fork().count(ApiKeySchema), 2)
        } finally {
          await orm.close(true)
        }
      })
    })
  })

  describe('queries', () => {
    it('lists 50 tasks and loads their relations in three queries, as it does for 5', async (t) => {
      await withDatabase(t, async ({ url }) => {
        const queries: string[] = []
        await withStore(url, { debugQueries: (sql) => queries.push(sql) }, async (storage) => {
          const tasks = Array.from({ length: 60 }, () => buildTask())
          await createTasks(storage, tasks)
          for (const task of tasks) {
            await storage.store.addChatMessages(
              task.id,
              [1, 2, 3, 4].map((n) => ({
                activityId: `${task.id}-${n}`,
                role: 'agent' as const,
                text: `m${n}`,
                at: task.createdAt,
              })),
            )
            await storage.store.setSourceFiles(task.id, [{ path: 'src/a.ts', changeType: 'modified' }])
          }
          const count = async (limit: number): Promise<number> => {
            queries.length = 0
            const page = await storage.store.listTasks({ label: 'flaky', search: 'FLAKY', limit })
            const relations = await storage.store.getRelations(page.items.map((task) => task.id))
            assert.equal(relations.size, limit)
            for (const relation of relations.values()) {
              assert.equal(relation.chatMessages.length, 3)
              assert.equal(relation.sourceFiles.length, 1)
            }
            return queries.length
          }
          assert.equal(await count(50), 3, queries.join('\n'))
          assert.equal(await count(5), 3, queries.join('\n'))
        })
      })
    })

    it('opens no more connections than the pool size, however many calls run at once', async (t) => {
      await withDatabase(t, async ({ url, name, adminUrl }) => {
        await withStore(url, { poolSize: 2 }, async (storage) => {
          await createTasks(storage, [buildTask()])
          await Promise.all(Array.from({ length: 20 }, () => storage.store.listTasks({ search: 'flaky' })))
          const [row] = await query<{ count: string }>(
            adminUrl,
            "select count(*) from pg_stat_activity where datname = $1 and backend_type = 'client backend'",
            [name],
          )
          assert.ok(Number(row?.count) >= 1 && Number(row?.count) <= 2, `connections: ${row?.count}`)
        })
      })
    })
  })

  describe('sync writes and creation intents', () => {
    it('lets exactly one of two stores (two pools, as two daemons) claim a key, and one take it over when its lease ran out', async (t) => {
      await withDatabase(t, async ({ url }) => {
        await withStore(url, {}, async (first) => {
          await withStore(url, {}, async (second) => {
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
          })
        })
      })
    })

    it('rolls back the cursor, messages and files with the task when an event cannot be written', async (t) => {
      await withDatabase(t, async ({ url }) => {
        await withStore(url, {}, async (storage) => {
          const task = buildTask()
          await createTasks(storage, [task])
          const badEvent = { type: 'progress', data: undefined as unknown as Record<string, unknown> }
          await storage.store.claimSyncLeases([task.id], 'test', 60_000)
          await assert.rejects(
            storage.store.commitSync({
              taskId: task.id,
              holder: 'test',
              task: { ...task, state: 'failed' },
              events: [badEvent],
              syncedAt: task.updatedAt,
              cursor: { sessionUpdateTime: task.updatedAt, lastActivityTime: null, lastActivityNames: [] },
              chatMessages: [{ activityId: 'a1', role: 'agent', text: 'Hi', at: task.updatedAt }],
              sourceFiles: [{ path: 'a.ts', changeType: 'added' }],
            }),
            StorageError,
          )
          assert.equal((await storage.store.getTask(task.id))?.state, 'queued')
          assert.equal((await storage.store.getTask(task.id))?.version, 1)
          assert.deepEqual(await storage.store.getSyncState(task.id), {
            cursor: null,
            lastSyncedAt: null,
            leaseHolder: 'test',
            leaseUntil: (await storage.store.getSyncState(task.id))?.leaseUntil ?? 'missing',
            lastActivityAt: null,
            stalledSince: null,
          })
          assert.deepEqual((await storage.store.listChatMessages(task.id)).items, [])
          assert.deepEqual(await storage.store.listSourceFiles(task.id), [])
        })
      })
    })
  })

  describe('connection failures', () => {
    const noStack = (message: string): void => assert.doesNotMatch(message, /\n\s+at /)

    it('names the server without the password when nothing listens there', async () => {
      const url = 'postgresql://jjm:s3cret@127.0.0.1:1/jjm'
      await assert.rejects(openSqlStore({ dialect: 'postgresql', url }), (error: unknown) => {
        assert.ok(error instanceof StorageError)
        assert.equal(error.context.problem, 'unreachable')
        assert.match(error.message, /127\.0\.0\.1:1/)
        assert.match(error.message, /DATABASE_URL/)
        assert.doesNotMatch(error.message, /s3cret/)
        assert.doesNotMatch(JSON.stringify(error.toJSON()), /s3cret/)
        noStack(error.message)
        return true
      })
    })

    it('says to create a database that does not exist', async (t) => {
      const service = await postgres(t)
      if (service === undefined) return
      const url = new URL(service.adminUrl)
      url.pathname = `/${uniqueName('jjm_missing')}`
      await assert.rejects(openSqlStore({ dialect: 'postgresql', url: url.toString() }), (error: unknown) => {
        assert.ok(error instanceof StorageError)
        assert.equal(error.context.problem, 'database-missing')
        assert.match(error.message, /createdb jjm_missing_/)
        noStack(error.message)
        return true
      })
    })

    it('says the login was refused, without the password', async (t) => {
      await withDatabase(t, async ({ url, adminUrl }) => {
        const role = uniqueName('jjm_nologin')
        await query(adminUrl, `create role "${role}" nologin`)
        try {
          const refused = new URL(url)
          refused.username = role
          refused.password = 'hunter2secret'
          await assert.rejects(openSqlStore({ dialect: 'postgresql', url: refused.toString() }), (error: unknown) => {
            assert.ok(error instanceof StorageError)
            assert.equal(error.context.problem, 'authentication')
            assert.match(error.message, /refused the login/)
            assert.match(error.message, new RegExp(role))
            assert.doesNotMatch(error.message, /hunter2secret/)
            assert.doesNotMatch(JSON.stringify(error.toJSON()), /hunter2secret/)
            return true
          })
        } finally {
          await query(adminUrl, `drop role if exists "${role}"`)
        }
      })
    })

    it('turns a database dropped under the store into a MigrationRequiredError naming jjm migrate up', async (t) => {
      await withDatabase(t, async ({ url }) => {
        await withStore(url, {}, async (storage) => {
          await query(url, 'drop table task_event, chat_message, source_file, task cascade')
          await assert.rejects(storage.store.listTasks({}), (error: unknown) => {
            assert.ok(error instanceof MigrationRequiredError)
            assert.match(error.message, /jjm migrate up/)
            return true
          })
        })
      })
    })
  })
})
