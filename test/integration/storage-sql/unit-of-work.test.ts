import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import type { TaskStore } from '../../../src/core/ports.js'
import { openSqlStore, type SqlStorage } from '../../../src/plugins/storage-sql/sql-store.js'
import { buildTask } from '../../../src/testing/index.js'
import { postgres } from '../../support/services.js'

/** The SQL store on each dialect: SQLite in a file (one connection) and PostgreSQL (a pool). */
const dialects: Array<{
  name: string
  open(t: TestContext): Promise<{ storage: SqlStorage; done(): Promise<void> } | undefined>
}> = [
  {
    name: 'SQLite',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'jjm-unit-of-work-'))
      const storage = await openSqlStore({ dialect: 'sqlite', path: join(dir, 'jjm.sqlite') })
      return {
        storage,
        async done() {
          await storage.close()
          await rm(dir, { recursive: true, force: true })
        },
      }
    },
  },
  {
    name: 'PostgreSQL',
    async open(t) {
      const service = await postgres(t)
      if (service === undefined) return undefined
      const database = await service.createDatabase()
      const storage = await openSqlStore({ dialect: 'postgresql', url: database.url })
      return {
        storage,
        async done() {
          await storage.close()
          await database.drop()
        },
      }
    },
  },
]

async function historyOf(store: TaskStore, taskId: string): Promise<{ events: string[]; messages: string[] }> {
  const events = (await store.getEvents(taskId, { limit: 50 })).items.map((event) => event.type)
  const messages = (await store.listChatMessages(taskId)).items.map((message) => message.text)
  return { events, messages }
}

for (const dialect of dialects) {
  describe(`a unit of work on ${dialect.name}`, { timeout: 120_000 }, () => {
    it('keeps every write made inside it, or none when it fails', async (t) => {
      const opened = await dialect.open(t)
      if (opened === undefined) return
      const { store } = opened.storage
      try {
        const unitOfWork = store.unitOfWork?.bind(store)
        assert.ok(unitOfWork, 'the SQL store offers a unit of work')
        const task = buildTask()
        await store.createTask(task, [{ type: 'created', data: {} }])

        await assert.rejects(
          unitOfWork(async () => {
            await store.logEvent(task.id, { type: 'message_sent', data: { text: 'lost' } })
            await store.addChatMessages(task.id, [{ role: 'user', text: 'lost', activityId: null, at: task.createdAt }])
            await store.updateTask({ ...task, title: 'lost' }, [], { expectedVersion: task.version })
            throw new Error('the process died between the writes')
          }),
          /the process died/,
        )
        assert.deepEqual(await historyOf(store, task.id), { events: ['created'], messages: [] }, 'nothing was kept')
        assert.equal((await store.getTask(task.id))?.title, task.title)
        assert.equal((await store.getTask(task.id))?.version, task.version)

        await unitOfWork(async () => {
          await store.logEvent(task.id, { type: 'message_sent', data: { text: 'kept' } })
          await store.addChatMessages(task.id, [{ role: 'user', text: 'kept', activityId: null, at: task.createdAt }])
        })
        assert.deepEqual(await historyOf(store, task.id), { events: ['message_sent', 'created'], messages: ['kept'] })
      } finally {
        await opened.done()
      }
    })

    it('lets a refused write inside it fail alone, keeping the others (its own transaction is a savepoint)', async (t) => {
      const opened = await dialect.open(t)
      if (opened === undefined) return
      const { store } = opened.storage
      try {
        const task = buildTask()
        await store.createTask(task, [{ type: 'created', data: {} }])
        await store.unitOfWork?.(async () => {
          await store.logEvent(task.id, { type: 'progress', data: {} })
          await assert.rejects(
            store.updateTask({ ...task, title: 'stale' }, [], { expectedVersion: task.version + 5 }),
            (error: Error & { code?: string }) => error.code === 'JJM_TASK_VERSION_CONFLICT',
          )
        })
        assert.deepEqual((await historyOf(store, task.id)).events, ['progress', 'created'])
      } finally {
        await opened.done()
      }
    })
  })
}
