import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import fc from 'fast-check'
import type { TaskStore } from '../../../src/core/ports.js'
import { checkStorableMetadata, isStorableText, maxMetadataDepth } from '../../../src/core/storable.js'
import { openSqlStore } from '../../../src/plugins/storage-sql/sql-store.js'
import type { OpenedTaskStore, OpenTaskStore } from '../../../src/testing/index.js'
import { buildTask } from '../../../src/testing/index.js'
import { postgres } from '../../support/services.js'

// Issue 10: "A property test writes arbitrary unicode strings and JSON values
// through every store and reads them back unchanged." Whatever passes
// src/core/storable.ts (everything but a NUL, an unpaired surrogate, reserved
// keys, metadata too deep or too large) is read back exactly as written.

const numRuns = 100

/** Any string of Unicode code points, all the planes, that jjm accepts. */
const text = fc.string({ unit: 'binary', maxLength: 80 }).filter(isStorableText)

/** JSON values with unicode keys and strings; -0 is JSON's 0, so it is written as 0. */
const json = fc
  .jsonValue({ maxDepth: 6, stringUnit: 'binary' })
  .map((value) => JSON.parse(JSON.stringify(value)) as unknown)

// fast-check makes some dictionaries without a prototype; a store reads back plain objects.
const metadata = fc
  .dictionary(text, json, { maxKeys: 8 })
  .map((value) => Object.fromEntries(Object.entries(value)))
  .filter((value) => {
    try {
      checkStorableMetadata('metadata', value)
      return true
    } catch {
      return false
    }
  })

/** Storable metadata at the depth limit, built without recursion. */
function deepest(): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: '🦀' }
  for (let level = 1; level < maxMetadataDepth; level++) value = { k: value }
  return value
}

function describeRoundTrip(name: string, open: OpenTaskStore): void {
  const withStore = async (t: TestContext, work: (store: TaskStore) => Promise<void>): Promise<void> => {
    const opened: OpenedTaskStore | undefined = await open(t)
    if (opened === undefined) return
    try {
      await work(opened.store)
    } finally {
      await opened.close()
    }
  }

  describe(`storable input on ${name}`, () => {
    it('reads back every task field written, for arbitrary unicode text and JSON metadata', {
      timeout: 300_000,
    }, async (t) => {
      await withStore(t, async (store) => {
        await fc.assert(
          fc.asyncProperty(
            text,
            text,
            fc.array(text, { maxLength: 5 }),
            metadata,
            async (title, prompt, labels, meta) => {
              const task = buildTask({ title, prompt, labels, metadata: meta })
              await store.createTask(task, [{ type: 'created', data: { title, labels, metadata: meta } }])
              assert.deepStrictEqual(await store.getTask(task.id), task)
              const events = await store.getEvents(task.id)
              assert.deepStrictEqual(events.items[0]?.data, { title, labels, metadata: meta })
            },
          ),
          { numRuns },
        )
      })
    })

    it('reads back the fields an update replaced, and chat messages, unchanged', { timeout: 300_000 }, async (t) => {
      await withStore(t, async (store) => {
        await fc.assert(
          fc.asyncProperty(text, metadata, text, async (title, meta, message) => {
            const task = buildTask()
            await store.createTask(task, [{ type: 'created', data: {} }])
            const changed = { ...task, title, metadata: meta }
            await store.updateTask(changed, [{ type: 'updated', data: { title: { from: task.title, to: title } } }], {
              expectedVersion: 1,
            })
            assert.deepStrictEqual(await store.getTask(task.id), { ...changed, version: 2 })
            await store.addChatMessages(task.id, [
              { activityId: null, role: 'user', text: message, at: task.createdAt },
            ])
            const messages = await store.listChatMessages(task.id)
            assert.deepStrictEqual(
              messages.items.map((stored) => stored.text),
              [message],
            )
          }),
          { numRuns },
        )
      })
    })

    it('finds a task by searching for its own title, whatever characters it holds', { timeout: 300_000 }, async (t) => {
      await withStore(t, async (store) => {
        // Case folding is the database's (and differs from JavaScript's beyond ASCII): titles without capitals only.
        const uncased = text.filter(
          (value) => value !== '' && value.toLowerCase() === value && value.toUpperCase() === value,
        )
        await fc.assert(
          fc.asyncProperty(uncased, async (title) => {
            const task = buildTask({ title })
            await store.createTask(task, [{ type: 'created', data: {} }])
            const found = await store.listTasks({ search: title, limit: 200 })
            assert.ok(
              found.items.some((item) => item.id === task.id),
              `searching ${JSON.stringify(title)} finds its task`,
            )
          }),
          { numRuns },
        )
      })
    })

    it('keeps metadata at the depth limit', { timeout: 30_000 }, async (t) => {
      await withStore(t, async (store) => {
        const task = buildTask({ metadata: deepest() })
        await store.createTask(task, [{ type: 'created', data: {} }])
        assert.deepStrictEqual((await store.getTask(task.id))?.metadata, task.metadata)
      })
    })
  })
}

describeRoundTrip('SQLite in memory', async () => {
  const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
  return { store: storage.store, close: () => storage.close() }
})

describeRoundTrip('a SQLite file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-roundtrip-'))
  const storage = await openSqlStore({ dialect: 'sqlite', path: join(dir, 'jjm.db') })
  return {
    store: storage.store,
    async close() {
      await storage.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
})

describeRoundTrip('PostgreSQL', async (t) => {
  const service = await postgres(t)
  if (service === undefined) return undefined
  const database = await service.createDatabase()
  try {
    const storage = await openSqlStore({ dialect: 'postgresql', url: database.url, poolSize: 4 })
    return {
      store: storage.store,
      async close() {
        await storage.close()
        await database.drop()
      },
    }
  } catch (error) {
    await database.drop()
    throw error
  }
})
