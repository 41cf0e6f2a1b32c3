import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { MikroORM } from '@mikro-orm/better-sqlite'
import { monotonicFactory } from 'ulidx'
import {
  MigrationRequiredError,
  StorageError,
  TaskNotFoundError,
  ValidationError,
} from '../../../../src/core/errors.js'
import { silentLogger } from '../../../../src/core/ports.js'
import type { Task } from '../../../../src/core/task.js'
import { openSqlStore, type SqlStorage, type SqlStoreOptions } from '../../../../src/plugins/storage-sql/sql-store.js'

const initialMigration = 'Migration20261125000000_initial'
const newId = monotonicFactory()
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
async function openFresh(options: Partial<SqlStoreOptions> = {}): Promise<SqlStorage> {
  return openSqlStore({ dialect: 'sqlite', path: await tempDbPath(), ...options })
}

let sequence = 0
/** A complete task whose every field differs from its defaults; override what the test is about. */
function buildTask(overrides: Partial<Task> = {}): Task {
  sequence += 1
  const createdAt = new Date(Date.UTC(2026, 0, 1, 0, 0, sequence)).toISOString()
  const id = overrides.id ?? newId()
  return {
    id,
    sessionName: `sessions/${1000000 + sequence}`,
    title: `Fix the flaky test number ${sequence}`,
    prompt: 'Find why test_upload fails one run in ten\nand fix it.',
    repository: 'acme/api',
    source: 'sources/github/acme/api',
    branch: 'main',
    state: 'queued',
    requirePlanApproval: true,
    automationMode: 'AUTO_CREATE_PR',
    url: `https://jules.google.com/session/${1000000 + sequence}`,
    pullRequest: null,
    labels: ['flaky'],
    metadata: { requestedBy: 'ops', attempt: 1 },
    createdAt,
    updatedAt: createdAt,
    completedAt: null,
    lastSyncedAt: null,
    ...overrides,
  }
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

async function createTasks(storage: SqlStorage, tasks: Task[]): Promise<void> {
  for (const task of tasks) await storage.store.createTask(task, [{ type: 'created', data: {} }])
}

describe('openSqlStore', () => {
  describe('tasks', () => {
    it('returns every field of a created task exactly as given', async () => {
      const storage = await openFresh()
      try {
        const task = buildTask({
          pullRequest: { url: 'https://github.com/acme/api/pull/7', title: 'Fix upload', description: 'Retries.' },
          labels: ['flaky', 'ci', 'ünïcode'],
          metadata: { nested: { list: [1, 'two', null], flag: false }, empty: {} },
          state: 'completed',
          requirePlanApproval: false,
          automationMode: 'AUTOMATION_MODE_UNSPECIFIED',
          url: null,
          completedAt: '2026-02-03T04:05:06.789Z',
          lastSyncedAt: '2026-02-03T04:05:07.001Z',
        })
        await storage.store.createTask(task, [{ type: 'created', data: { by: 'test' } }])
        assert.deepEqual(await storage.store.getTask(task.id), task)
        assert.equal(await storage.store.getTask('01NOSUCHTASK0000000000000'), undefined)
      } finally {
        await storage.close()
      }
    })

    it('refuses a second task with the same id or session name', async () => {
      const storage = await openFresh()
      try {
        const task = buildTask()
        await storage.store.createTask(task, [])
        await assert.rejects(storage.store.createTask(task, []), (error: unknown) => {
          assert.ok(error instanceof StorageError)
          assert.match(error.message, /already recorded/)
          assert.equal(error.context.taskId, task.id)
          return true
        })
        const sameSession = buildTask({ sessionName: task.sessionName })
        await assert.rejects(storage.store.createTask(sameSession, [{ type: 'created', data: {} }]), StorageError)
        // The failed create left no half-written history behind.
        assert.equal(await storage.store.getTask(sameSession.id), undefined)
        assert.deepEqual((await storage.store.getEvents(sameSession.id)).items, [])
      } finally {
        await storage.close()
      }
    })

    it('updates a task and appends its events in one go', async () => {
      const storage = await openFresh()
      try {
        const task = buildTask()
        await storage.store.createTask(task, [{ type: 'created', data: {}, at: task.createdAt }])
        const changed: Task = {
          ...task,
          state: 'completed',
          pullRequest: { url: 'https://github.com/acme/api/pull/9', title: 'T', description: 'D' },
          labels: [],
          updatedAt: '2026-03-01T00:00:00.000Z',
          completedAt: '2026-03-01T00:00:00.000Z',
        }
        await storage.store.updateTask(changed, [
          { type: 'state_changed', data: { from: 'queued', to: 'completed' }, at: '2026-03-01T00:00:00.000Z' },
          { type: 'completed', data: {}, at: '2026-03-01T00:00:00.000Z' },
        ])
        assert.deepEqual(await storage.store.getTask(task.id), changed)
        const events = await storage.store.getEvents(task.id)
        assert.deepEqual(
          events.items.map((event) => event.type),
          ['completed', 'state_changed', 'created'],
        )
      } finally {
        await storage.close()
      }
    })

    it('refuses to update an unknown task and writes nothing', async () => {
      const storage = await openFresh()
      try {
        const ghost = buildTask()
        await assert.rejects(storage.store.updateTask(ghost, [{ type: 'progress', data: {} }]), TaskNotFoundError)
        assert.equal(await storage.store.getTask(ghost.id), undefined)
        assert.deepEqual((await storage.store.getEvents(ghost.id)).items, [])
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
        await assert.rejects(storage.store.updateTask({ ...task, state: 'failed' }, [badEvent]), StorageError)
        assert.equal((await storage.store.getTask(task.id))?.state, 'queued')
      } finally {
        await storage.close()
      }
    })
  })

  describe('findTask', () => {
    it('finds a task by id, session name, bare session id and id prefix', async () => {
      const storage = await openFresh()
      try {
        const task = buildTask({ id: '01JTESTAAAAAAAAAAAAAAAAAAA', sessionName: 'sessions/987654321' })
        await createTasks(storage, [task])
        assert.equal((await storage.store.findTask(task.id))?.id, task.id)
        assert.equal((await storage.store.findTask(task.id.toLowerCase()))?.id, task.id)
        assert.equal((await storage.store.findTask('sessions/987654321'))?.id, task.id)
        assert.equal((await storage.store.findTask('987654321'))?.id, task.id)
        assert.equal((await storage.store.findTask('01jte'))?.id, task.id)
        assert.equal(await storage.store.findTask('01J'), undefined, 'a prefix needs at least 4 characters')
        assert.equal(await storage.store.findTask('01JX'), undefined)
        assert.equal(await storage.store.findTask('sessions/1'), undefined)
      } finally {
        await storage.close()
      }
    })

    it('refuses an ambiguous prefix and lists the matches', async () => {
      const storage = await openFresh()
      try {
        const ids = ['01JAMBAAAAAAAAAAAAAAAAAAAA', '01JAMBBBBBBBBBBBBBBBBBBBBB']
        await createTasks(
          storage,
          ids.map((id) => buildTask({ id })),
        )
        await assert.rejects(storage.store.findTask('01JAMB'), (error: unknown) => {
          assert.ok(error instanceof ValidationError)
          for (const id of ids) assert.match(error.message, new RegExp(id))
          assert.deepEqual(error.context.matches, ids)
          return true
        })
      } finally {
        await storage.close()
      }
    })
  })

  describe('listTasks', () => {
    it('lists newest first and filters by state, repository, label, since and title', async () => {
      const storage = await openFresh()
      try {
        const old = buildTask({ state: 'completed', labels: ['docs'], title: 'Write the README' })
        const api = buildTask({ state: 'in_progress', labels: ['flaky', 'ci'], title: 'Fix CI upload' })
        const web = buildTask({
          state: 'paused',
          repository: 'acme/web',
          source: 'sources/github/acme/web',
          labels: ['ci-extra'],
          title: 'Speed up the Build',
        })
        await createTasks(storage, [old, api, web])
        const ids = async (filter: Parameters<typeof storage.store.listTasks>[0]): Promise<string[]> =>
          (await storage.store.listTasks(filter)).items.map((task) => task.id)

        assert.deepEqual(await ids({}), [web.id, api.id, old.id])
        assert.deepEqual(await ids({ states: ['in_progress', 'paused'] }), [web.id, api.id])
        assert.deepEqual(await ids({ repository: 'acme/web' }), [web.id])
        assert.deepEqual(await ids({ label: 'ci' }), [api.id], 'a label matches whole labels only')
        assert.deepEqual(await ids({ since: api.createdAt }), [web.id, api.id])
        assert.deepEqual(await ids({ search: 'BUILD' }), [web.id], 'search ignores case')
        assert.deepEqual(await ids({ search: '%' }), [], 'search treats % literally')
        assert.deepEqual(await ids({ states: ['paused'], repository: 'acme/api' }), [])
        assert.equal((await storage.store.listTasks({})).nextCursor, null)
      } finally {
        await storage.close()
      }
    })

    it('walks every page once even when tasks are added between pages', async () => {
      const storage = await openFresh()
      try {
        // Several tasks share a creation time so that the id breaks the tie.
        const sameInstant = '2026-05-05T05:05:05.000Z'
        const tasks = Array.from({ length: 23 }, (_, index) =>
          buildTask(index % 3 === 0 ? { createdAt: sameInstant, updatedAt: sameInstant } : {}),
        )
        await createTasks(storage, tasks)
        const expected = (await storage.store.listTasks({ limit: 200 })).items.map((task) => task.id)
        assert.equal(expected.length, 23)

        const seen: string[] = []
        let cursor: string | undefined
        let pages = 0
        do {
          const page = await storage.store.listTasks({ limit: 5, cursor })
          seen.push(...page.items.map((task) => task.id))
          // A newer task arrives while the client pages: it belongs before the first page, not in a later one.
          await createTasks(storage, [buildTask({ createdAt: '2027-01-01T00:00:00.000Z' })])
          cursor = page.nextCursor ?? undefined
          pages += 1
        } while (cursor !== undefined)
        assert.deepEqual(seen, expected)
        assert.equal(pages, 5)
      } finally {
        await storage.close()
      }
    })

    it('ends with a null cursor when the last page is exactly full', async () => {
      const storage = await openFresh()
      try {
        await createTasks(storage, [buildTask(), buildTask(), buildTask(), buildTask()])
        const first = await storage.store.listTasks({ limit: 2 })
        assert.ok(first.nextCursor)
        const second = await storage.store.listTasks({ limit: 2, cursor: first.nextCursor })
        assert.equal(second.items.length, 2)
        assert.equal(second.nextCursor, null)
      } finally {
        await storage.close()
      }
    })

    it('clamps an oversized limit and refuses a zero, negative or fractional one', async () => {
      const storage = await openFresh()
      try {
        await createTasks(
          storage,
          Array.from({ length: 205 }, () => buildTask()),
        )
        const page = await storage.store.listTasks({ limit: 10_000 })
        assert.equal(page.items.length, 200)
        assert.ok(page.nextCursor)
        assert.equal((await storage.store.listTasks({})).items.length, 50)
        for (const limit of [0, -1, 2.5]) {
          await assert.rejects(storage.store.listTasks({ limit }), ValidationError)
        }
      } finally {
        await storage.close()
      }
    })

    it('refuses a malformed cursor and says to drop it', async () => {
      const storage = await openFresh()
      try {
        const garbage = ['not a cursor', 'bm90IGpzb24', Buffer.from('{"createdAt":"x","id":"y"}').toString('base64url')]
        for (const cursor of garbage) {
          await assert.rejects(storage.store.listTasks({ cursor }), (error: unknown) => {
            assert.ok(error instanceof ValidationError)
            assert.match(error.message, /Drop --cursor/)
            return true
          })
        }
      } finally {
        await storage.close()
      }
    })

    it('lists active tasks, never-synced first, then oldest sync', async () => {
      const storage = await openFresh()
      try {
        const syncedLate = buildTask({ state: 'in_progress', lastSyncedAt: '2026-06-01T00:00:00.000Z' })
        const syncedEarly = buildTask({ state: 'planning', lastSyncedAt: '2026-05-01T00:00:00.000Z' })
        const neverSynced = buildTask({ state: 'queued' })
        const done = buildTask({ state: 'completed' })
        const failed = buildTask({ state: 'failed' })
        await createTasks(storage, [syncedLate, syncedEarly, neverSynced, done, failed])
        const active = await storage.store.listActiveTasks()
        assert.deepEqual(
          active.map((task) => task.id),
          [neverSynced.id, syncedEarly.id, syncedLate.id],
        )
      } finally {
        await storage.close()
      }
    })

    it('lists 50 tasks with a constant small number of queries', async () => {
      const queries: string[] = []
      const storage = await openFresh({ debugQueries: (sql) => queries.push(sql) })
      try {
        await createTasks(
          storage,
          Array.from({ length: 60 }, () => buildTask()),
        )
        queries.length = 0
        const page = await storage.store.listTasks({ label: 'flaky', search: 'flaky' })
        assert.equal(page.items.length, 50)
        assert.equal(queries.length, 1, queries.join('\n'))
      } finally {
        await storage.close()
      }
    })
  })

  describe('getEvents', () => {
    it('returns events newest first, filtered by type, page by page', async () => {
      const storage = await openFresh()
      try {
        const task = buildTask()
        const other = buildTask()
        await storage.store.createTask(task, [{ type: 'created', data: {}, at: '2026-01-01T00:00:00.000Z' }])
        await storage.store.createTask(other, [{ type: 'created', data: {} }])
        const updates = Array.from({ length: 7 }, (_, index) => ({
          type: index % 2 === 0 ? 'progress' : 'agent_message',
          data: { step: index },
          // Two events share each instant: the id keeps their order.
          at: new Date(Date.UTC(2026, 0, 2, 0, 0, Math.floor(index / 2))).toISOString(),
        }))
        await storage.store.updateTask(task, updates)

        const all = await storage.store.getEvents(task.id)
        assert.deepEqual(
          all.items.map((event) => event.data.step),
          [6, 5, 4, 3, 2, 1, 0, undefined],
        )
        assert.ok(all.items.every((event) => event.taskId === task.id))
        assert.equal(all.nextCursor, null)

        const progress = await storage.store.getEvents(task.id, { types: ['progress'] })
        assert.deepEqual(
          progress.items.map((event) => event.data.step),
          [6, 4, 2, 0],
        )

        const steps: unknown[] = []
        let cursor: string | undefined
        do {
          const page = await storage.store.getEvents(task.id, { limit: 3, cursor })
          steps.push(...page.items.map((event) => event.data.step))
          cursor = page.nextCursor ?? undefined
        } while (cursor !== undefined)
        assert.deepEqual(steps, [6, 5, 4, 3, 2, 1, 0, undefined])
      } finally {
        await storage.close()
      }
    })

    it('stamps an event without a time with the current time and a fresh id', async () => {
      const storage = await openFresh()
      try {
        const before = Date.now()
        const task = buildTask()
        await storage.store.createTask(task, [{ type: 'created', data: {} }])
        const [event] = (await storage.store.getEvents(task.id)).items
        assert.ok(event)
        assert.match(event.id, /^[0-9A-HJKMNP-TV-Z]{26}$/)
        assert.ok(Date.parse(event.at) >= before - 1 && Date.parse(event.at) <= Date.now())
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
        assert.deepEqual(await storage.schema.status(), { executed: [initialMigration], pending: [] })
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
        assert.deepEqual(await storage.schema.status(), { executed: [], pending: [initialMigration] })
        await assert.rejects(storage.store.listTasks({}), MigrationRequiredError)
        await assert.rejects(storage.schema.up({ to: 'Migration_nope' }), ValidationError)
        assert.deepEqual(await storage.schema.up({ to: initialMigration }), [initialMigration])
        assert.deepEqual((await storage.store.listTasks({})).items, [])
      } finally {
        await storage.close()
      }
    })

    it('upgrades an existing database on open and says which migrations it applied', async () => {
      const path = await tempDbPath()
      const bare = await openSqlStore({ dialect: 'sqlite', path, migrate: 'none' })
      await bare.schema.status()
      await bare.close()
      // An earlier migration on record makes this an existing database with one pending migration.
      await withRawOrm(path, (orm) =>
        orm.em
          .getConnection()
          .execute('insert into mikro_orm_migrations (name) values (?)', ['Migration20250101000000_x']),
      )
      const infos: Array<{ message: string; context: unknown }> = []
      const logger = { ...silentLogger, info: (message: string, context?: unknown) => infos.push({ message, context }) }
      const storage = await openSqlStore({ dialect: 'sqlite', path, logger })
      try {
        assert.equal(infos.length, 1)
        assert.match(infos[0]?.message ?? '', new RegExp(initialMigration))
        assert.deepEqual((await storage.schema.status()).pending, [])
      } finally {
        await storage.close()
      }
    })

    it('refuses, in check mode, a database that lacks the latest migration', async () => {
      const path = await tempDbPath()
      await (await openSqlStore({ dialect: 'sqlite', path })).close()
      await withRawOrm(path, (orm) =>
        orm.em.getConnection().execute('delete from mikro_orm_migrations where name = ?', [initialMigration]),
      )

      await assert.rejects(openSqlStore({ dialect: 'sqlite', path, migrate: 'check' }), (error: unknown) => {
        assert.ok(error instanceof MigrationRequiredError)
        assert.match(error.message, /jjm migrate up/)
        assert.match(error.message, new RegExp(initialMigration))
        return true
      })
    })

    it('agrees with the entity schemas (no schema difference after migrating)', async () => {
      const path = await tempDbPath()
      await (await openSqlStore({ dialect: 'sqlite', path })).close()
      const diff = await withRawOrm(path, (orm) => orm.schema.getUpdateSchemaSQL({ wrap: false }))
      assert.equal(diff.trim(), '')
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
        await second.store.updateTask({ ...task, state: 'planning' }, [{ type: 'state_changed', data: {} }])
        assert.equal((await first.store.getTask(task.id))?.state, 'planning')
        assert.equal((await first.store.getEvents(task.id)).items.length, 2)
      } finally {
        await first.close()
        await second.close()
      }
    })

    it('serialises concurrent writes through one store', async () => {
      const storage = await openFresh()
      try {
        const task = buildTask()
        await storage.store.createTask(task, [])
        await Promise.all([
          ...Array.from({ length: 10 }, () => storage.store.createTask(buildTask(), [{ type: 'created', data: {} }])),
          ...Array.from({ length: 10 }, (_, step) =>
            storage.store.updateTask(task, [{ type: 'progress', data: { step } }]),
          ),
        ])
        assert.equal((await storage.store.listTasks({})).items.length, 11)
        assert.equal((await storage.store.getEvents(task.id)).items.length, 10)
      } finally {
        await storage.close()
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
