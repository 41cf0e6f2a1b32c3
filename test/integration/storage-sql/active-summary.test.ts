import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { summariseActiveTasks } from '../../../src/core/active-summary.js'
import { openSqlStore, type SqlStorage } from '../../../src/plugins/storage-sql/sql-store.js'
import { buildTask } from '../../../src/testing/index.js'
import { postgres } from '../../support/services.js'

async function sqlite(): Promise<{ storage: SqlStorage; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-summary-'))
  const storage = await openSqlStore({ dialect: 'sqlite', path: join(dir, 'jjm.sqlite') })
  return { storage, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

async function postgresql(t: TestContext): Promise<{ storage: SqlStorage; cleanup(): Promise<void> } | undefined> {
  const pg = await postgres(t)
  if (!pg) return undefined
  const database = await pg.createDatabase()
  const storage = await openSqlStore({ dialect: 'postgresql', url: database.url })
  return { storage, cleanup: () => database.drop() }
}

for (const [name, open] of [
  ['SQLite', async () => sqlite()],
  ['PostgreSQL', postgresql],
] as const) {
  describe(`counting the active tasks on ${name}`, () => {
    it('counts by state and finds the oldest sync in one query, leaving out ended and deleted tasks', async (t) => {
      const opened = await open(t)
      if (!opened) return
      const { storage, cleanup } = opened
      try {
        const store = storage.store
        assert.deepEqual(await store.summariseActiveTasks?.(), { byState: {}, oldestSyncAt: null, stalled: 0 })
        const tasks = [
          buildTask({ state: 'queued', lastSyncedAt: null, createdAt: '2026-11-25T09:00:00.000Z' }),
          buildTask({ state: 'in_progress', lastSyncedAt: '2026-11-25T09:30:00.000Z' }),
          buildTask({ state: 'in_progress', lastSyncedAt: '2026-11-25T09:45:00.000Z' }),
          buildTask({ state: 'awaiting_plan_approval', lastSyncedAt: '2026-11-25T09:50:00.000Z' }),
          buildTask({ state: 'completed', lastSyncedAt: '2026-11-25T08:00:00.000Z' }),
          buildTask({ state: 'failed', lastSyncedAt: '2026-11-25T08:00:00.000Z' }),
        ]
        const deleted = buildTask({ state: 'paused', lastSyncedAt: '2026-11-25T07:00:00.000Z' })
        for (const task of [...tasks, deleted]) await store.createTask(task, [{ type: 'created', data: {} }])
        await store.deleteTask(deleted.id)
        // One in-progress task marked stalled by a sync.
        const stalled = tasks[1] as (typeof tasks)[number]
        await store.claimSyncLeases([stalled.id], 'daemon-a', 60_000)
        await store.commitSync({
          taskId: stalled.id,
          holder: 'daemon-a',
          events: [],
          cursor: { sessionUpdateTime: null, lastActivityTime: null, lastActivityNames: [] },
          syncedAt: '2026-11-25T09:30:00.000Z',
          stalledSince: '2026-11-25T09:30:00.000Z',
        })
        const summary = await store.summariseActiveTasks?.()
        assert.deepEqual(summary, {
          byState: { queued: 1, in_progress: 2, awaiting_plan_approval: 1 },
          oldestSyncAt: '2026-11-25T09:00:00.000Z',
          stalled: 1,
        })
        assert.deepEqual(summary, summariseActiveTasks(await store.listActiveTasks()), 'the same as counting the rows')
      } finally {
        await storage.close()
        await cleanup()
      }
    })
  })
}
