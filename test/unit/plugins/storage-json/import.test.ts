import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ValidationError } from '../../../../src/core/errors.js'
import { createIdGenerator } from '../../../../src/core/ids.js'
import { type HistoryReader, type ImportReport, ImportService } from '../../../../src/core/import-service.js'
import { JobManager } from '../../../../src/core/manager.js'
import { Monitor } from '../../../../src/core/monitor.js'
import { type CreationIntent, silentLogger, type TaskStore } from '../../../../src/core/ports.js'
import type { Task } from '../../../../src/core/task.js'
import { parseLegacyFile } from '../../../../src/plugins/storage-json/format.js'
import { legacyJsonReader, openLegacyJsonFile } from '../../../../src/plugins/storage-json/reader.js'
import { sqlHistoryReader } from '../../../../src/plugins/storage-sql/export.js'
import { openSqlStore, type SqlStorage } from '../../../../src/plugins/storage-sql/sql-store.js'
import { createSimClient } from '../../../../src/sim/adapter.js'
import { buildTask } from '../../../../src/testing/build-task.js'
import { type Harness, openHarness } from '../../core/harness.js'

/** A legacy record of `task` with some history, as the original job manager wrote it (snake_case). */
function legacyRecord(task: Task, history: { events?: number; messages?: number; files?: number } = {}) {
  return {
    id: task.id,
    session_name: task.sessionName,
    title: task.title,
    prompt: task.prompt,
    repository: task.repository,
    state: task.state,
    labels: task.labels,
    created_at: task.createdAt,
    updated_at: task.updatedAt,
    events: Array.from({ length: history.events ?? 0 }, (_, index) => ({
      id: index + 1,
      type: index === 0 ? 'created' : 'progress',
      data: { step: index },
      at: new Date(Date.parse(task.createdAt) + index * 1000).toISOString(),
    })),
    chat_messages: Array.from({ length: history.messages ?? 0 }, (_, index) => ({
      role: index % 2 === 0 ? 'user' : 'agent',
      text: `message ${index}`,
      activity_id: `${task.id}-act-${index}`,
      at: new Date(Date.parse(task.createdAt) + index * 1000).toISOString(),
    })),
    source_files: Array.from({ length: history.files ?? 0 }, (_, index) => ({
      path: `src/file-${index}.ts`,
      change_type: 'modified',
    })),
  }
}

function source(document: unknown): HistoryReader {
  return legacyJsonReader(
    parseLegacyFile(JSON.stringify(document), '/legacy/tasks.json', { defaultTime: '2025-01-01T00:00:00.000Z' }),
  )
}

function importTasks(
  reader: HistoryReader,
  store: TaskStore,
  options: { dryRun?: boolean } = {},
): Promise<ImportReport> {
  return new ImportService({ target: store }).import(reader, options)
}

async function withSqlStore(work: (store: TaskStore) => Promise<void>): Promise<void> {
  const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
  try {
    await work(storage.store)
  } finally {
    await storage.close()
  }
}

describe('importing a legacy JSON file into the SQL store', () => {
  it('copies tasks with their events, chat messages and source files, and imports nothing the second time', async () => {
    const first = buildTask({ labels: ['legacy'] })
    const second = buildTask({ state: 'completed' })
    const legacy = source({
      [first.id]: legacyRecord(first, { events: 3, messages: 2, files: 2 }),
      [second.id]: legacyRecord(second, { events: 1 }),
    })
    await withSqlStore(async (store) => {
      const report = await importTasks(legacy, store)
      assert.deepEqual(report, {
        imported: { tasks: 2, events: 4, chatMessages: 2, sourceFiles: 2 },
        skipped: 0,
        invalid: [],
      })

      const copied = await store.getTask(first.id)
      assert.equal(copied?.sessionName, first.sessionName)
      assert.deepEqual(copied?.labels, ['legacy'])
      assert.equal(copied?.createdAt, first.createdAt)
      const events = (await store.getEvents(first.id)).items
      assert.deepEqual(
        events.map((event) => [event.type, event.data.step, event.at]),
        [
          ['progress', 2, new Date(Date.parse(first.createdAt) + 2000).toISOString()],
          ['progress', 1, new Date(Date.parse(first.createdAt) + 1000).toISOString()],
          ['created', 0, first.createdAt],
        ],
      )
      assert.deepEqual(
        (await store.listChatMessages(first.id)).items.map((message) => [message.role, message.text]),
        [
          ['user', 'message 0'],
          ['agent', 'message 1'],
        ],
      )
      assert.deepEqual(
        (await store.listSourceFiles(first.id)).map((file) => file.path),
        ['src/file-0.ts', 'src/file-1.ts'],
      )

      const again = await importTasks(legacy, store)
      assert.deepEqual(again, {
        imported: { tasks: 0, events: 0, chatMessages: 0, sourceFiles: 0 },
        skipped: 2,
        invalid: [],
      })
      assert.equal((await store.getEvents(first.id)).items.length, 3)
      assert.equal((await store.listChatMessages(first.id)).items.length, 2)
    })
  })

  it('reports invalid records with their id and reason and still imports the valid ones', async () => {
    const good = buildTask()
    const legacy = source({
      version: 1,
      tasks: {
        [good.id]: legacyRecord(good),
        NOPROMPT: { id: 'NOPROMPT', session_name: 'sessions/1', repository: 'acme/api' },
      },
    })
    await withSqlStore(async (store) => {
      const report = await importTasks(legacy, store)
      assert.equal(report.imported.tasks, 1)
      assert.deepEqual(report.invalid, [{ id: 'NOPROMPT', field: 'prompt', reason: 'is missing' }])
      assert.ok(await store.getTask(good.id))
    })
  })

  it('counts what it would import on a dry run and writes nothing', async () => {
    const task = buildTask()
    const legacy = source({ [task.id]: legacyRecord(task, { events: 2, messages: 3, files: 1 }) })
    await withSqlStore(async (store) => {
      const report = await importTasks(legacy, store, { dryRun: true })
      assert.deepEqual(report.imported, { tasks: 1, events: 2, chatMessages: 3, sourceFiles: 1 })
      assert.equal(await store.getTask(task.id), undefined)
    })
  })

  it('skips a task whose Jules session is already recorded under another id', async () => {
    const existing = buildTask()
    const copy = buildTask({ sessionName: existing.sessionName })
    await withSqlStore(async (store) => {
      await store.createTask(existing, [])
      const report = await importTasks(source({ [copy.id]: legacyRecord(copy) }), store)
      assert.equal(report.skipped, 1)
      assert.equal(report.imported.tasks, 0)
      assert.equal(await store.getTask(copy.id), undefined)
    })
  })

  it('does not bring back a task that was deleted, in the source or in the destination', async () => {
    const deletedHere = buildTask()
    const deletedThere = buildTask()
    const legacy = source({
      version: 1,
      tasks: {
        [deletedHere.id]: legacyRecord(deletedHere),
        [deletedThere.id]: { ...legacyRecord(deletedThere), deletedAt: '2026-01-05T00:00:00.000Z' },
      },
    })
    await withSqlStore(async (store) => {
      await store.createTask(deletedHere, [])
      await store.deleteTask(deletedHere.id)
      const report = await importTasks(legacy, store)
      assert.deepEqual(report.imported.tasks, 0)
      assert.equal(report.skipped, 2)
      assert.equal(await store.getTask(deletedHere.id), undefined)
      assert.equal(await store.getTask(deletedThere.id), undefined)
    })
  })

  it('keeps the fields jjm does not know under metadata.legacy', async () => {
    const task = buildTask({ metadata: {} })
    const legacy = source({ [task.id]: { ...legacyRecord(task), owner_team: 'platform', cost: 3 } })
    await withSqlStore(async (store) => {
      await importTasks(legacy, store)
      assert.deepEqual((await store.getTask(task.id))?.metadata, { legacy: { owner_team: 'platform', cost: 3 } })
    })
  })
})

/**
 * Writes the tasks of `storage` as jjm's former json backend kept them: the
 * versioned legacy form, each task with its history and sync cursor, and the
 * creation intents.
 */
async function writeLegacyFile(path: string, storage: SqlStorage): Promise<void> {
  const tasks: Record<string, unknown> = {}
  for await (const history of sqlHistoryReader(storage).tasks()) {
    const { task, events, chatMessages, sourceFiles, syncCursor } = history
    tasks[task.id] = {
      ...task,
      ...(syncCursor === null ? {} : { syncCursor }),
      events: events.map((event, index) => ({ id: String(index + 1), ...event })),
      chatMessages,
      sourceFiles,
    }
  }
  const intents = await storage.listCreationIntents()
  const creationIntents = Object.fromEntries(intents.map((intent) => [intent.key, intent]))
  await writeFile(path, JSON.stringify({ version: 1, tasks, creationIntents }, null, 2))
}

describe('importing a store the monitor has synced', () => {
  const input = { prompt: 'Add retries to the HTTP client', repository: 'acme/api' }

  /**
   * A jjm store on `h`'s simulator and clock, its manager and monitor, and
   * how the import reads it: straight from SQLite, or from the legacy JSON
   * file jjm's former json backend would have kept of it.
   */
  async function sourceStore(h: Harness, kind: 'json' | 'sqlite') {
    const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
    const deps = { jules: createSimClient(h.simulator), clock: h.clock, logger: silentLogger, bus: h.bus }
    const dir = await mkdtemp(join(tmpdir(), 'jjm-import-'))
    const read = async (): Promise<HistoryReader> => {
      if (kind === 'sqlite') return sqlHistoryReader(storage)
      const file = join(dir, 'tasks.json')
      await writeLegacyFile(file, storage)
      return openLegacyJsonFile(file)
    }
    return {
      store: storage.store,
      intents: () => storage.listCreationIntents(),
      read,
      close: async () => {
        await storage.close()
        await rm(dir, { recursive: true, force: true })
      },
      manager: new JobManager({ ...deps, store: storage.store, newId: createIdGenerator() }),
      monitor: new Monitor({ ...deps, store: storage.store, concurrency: 2, sleep: async (ms) => h.clock.advance(ms) }),
    }
  }

  const history = async (store: TaskStore, taskId: string) =>
    (await store.getEvents(taskId, { limit: 200 })).items.map((event) => [event.type, event.data, event.at])

  for (const kind of ['json', 'sqlite'] as const) {
    it(`carries a ${kind} source's history, times, sync cursors and idempotency keys over: no event twice, no second session`, async () => {
      const h = await openHarness({ runSeconds: 60 })
      const source = await sourceStore(h, kind)
      try {
        const task = await source.manager.createTask(input, { idempotencyKey: 'deploy-1' })
        h.clock.advance(15_000)
        await source.monitor.syncOnce()
        assert.ok((await history(source.store, task.id)).length > 1, 'the first sync recorded events')

        // The import runs a day later: nothing of it may say "now".
        h.clock.advance(86_400_000)
        const report = await importTasks(await source.read(), h.storage.store)
        assert.equal(report.imported.tasks, 1)
        assert.deepEqual(await h.storage.store.getTask(task.id), await source.store.getTask(task.id))
        assert.deepEqual(await history(h.storage.store, task.id), await history(source.store, task.id))
        assert.deepEqual(
          (await h.storage.store.listChatMessages(task.id)).items.map(({ role, text, activityId, at }) => ({
            role,
            text,
            activityId,
            at,
          })),
          (await source.store.listChatMessages(task.id)).items.map(({ role, text, activityId, at }) => ({
            role,
            text,
            activityId,
            at,
          })),
        )
        assert.deepEqual(
          (await h.storage.store.getSyncState(task.id))?.cursor,
          (await source.store.getSyncState(task.id))?.cursor,
        )

        // Both stores sync the same session from where they were: the copy must end with the same history.
        h.clock.advance(30_000)
        await source.monitor.syncOnce()
        await h.monitor.syncOnce()
        const imported = await history(h.storage.store, task.id)
        assert.deepEqual(imported, await history(source.store, task.id))
        assert.equal(new Set(imported.map((event) => JSON.stringify(event))).size, imported.length)

        const again = await h.manager.createTaskWithOutcome(input, { idempotencyKey: 'deploy-1' })
        assert.equal(again.outcome, 'replayed', 'the key used before the import still names its task')
        assert.equal(again.task.id, task.id)
        assert.equal((await h.simulator.listSessions()).sessions.length, 1)
        const [intent] = await h.storage.listCreationIntents()
        const [original]: CreationIntent[] = await source.intents()
        assert.deepEqual(
          [intent?.state, intent?.createdAt, intent?.updatedAt],
          ['done', original?.createdAt, original?.updatedAt],
          'the key keeps its own times',
        )
      } finally {
        await source.close()
        await h.close()
      }
    })
  }

  it('copies a key whose attempt was still open, so a retry after the import adopts its session', async () => {
    const h = await openHarness()
    const source = await sourceStore(h, 'sqlite')
    try {
      // The attempt reached Jules, then its process died before recording anything but the intent.
      const claim = await source.store.beginCreation(
        'deploy-2',
        'c'.repeat(64),
        new Date(h.clock.now()).toISOString(),
        {
          holder: 'dead',
          expiresAt: new Date(h.clock.now() + 1_000).toISOString(),
        },
      )
      assert.equal(claim.created, true)
      const imported = await source.read()
      assert.deepEqual(
        (await imported.creationIntents()).map((intent) => [intent.key, intent.state]),
        [['deploy-2', 'pending']],
      )
      await importTasks(imported, h.storage.store)
      const copied = await h.storage.store.beginCreation(
        'deploy-2',
        'c'.repeat(64),
        new Date(h.clock.now() + 2_000).toISOString(),
        {
          holder: 'next',
          expiresAt: new Date(h.clock.now() + 60_000).toISOString(),
        },
      )
      assert.equal(copied.created, false, 'the key is known in the destination')
      assert.equal(copied.claimed, true, 'and nobody holds it there')
      assert.equal(copied.intent.createdAt, claim.intent.createdAt, 'its time still bounds the search for its session')
    } finally {
      await source.close()
      await h.close()
    }
  })
})

describe('reading a legacy JSON file to import', () => {
  it('refuses a file that does not exist as invalid input, naming it', async () => {
    await assert.rejects(openLegacyJsonFile('/nowhere/tasks.json'), (error: unknown) => {
      assert.ok(error instanceof ValidationError)
      assert.match(error.message, /There is no file \/nowhere\/tasks\.json/)
      return true
    })
  })
})
