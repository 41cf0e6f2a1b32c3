import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import { InProcessEventBus } from '../../../src/core/event-bus.js'
import { createIdGenerator } from '../../../src/core/ids.js'
import { ImportService } from '../../../src/core/import-service.js'
import { JobManager } from '../../../src/core/manager.js'
import { Monitor } from '../../../src/core/monitor.js'
import { silentLogger, type TaskStore } from '../../../src/core/ports.js'
import { sqlHistoryReader } from '../../../src/plugins/storage-sql/export.js'
import { openSqlStore } from '../../../src/plugins/storage-sql/sql-store.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { Simulator } from '../../../src/sim/engine.js'
import { postgres } from '../../support/services.js'

/** Everything a user could see of a task's history, with the times it happened. */
async function historyOf(store: TaskStore, taskId: string) {
  return {
    task: await store.getTask(taskId),
    events: (await store.getEvents(taskId, { limit: 200 })).items.map(({ type, data, at }) => ({ type, data, at })),
    chatMessages: (await store.listChatMessages(taskId, { limit: 200 })).items.map(
      ({ role, text, activityId, at }) => ({ role, text, activityId, at }),
    ),
    sourceFiles: (await store.listSourceFiles(taskId)).map(({ path, changeType }) => ({ path, changeType })),
    syncCursor: (await store.getSyncState(taskId))?.cursor ?? undefined,
  }
}

describe('jjm migrate import-sqlite: a SQLite database into PostgreSQL', { timeout: 120_000 }, () => {
  it('copies every task with its history and times, notifies nobody, and copies nothing twice', async (t) => {
    const pg = await postgres(t)
    if (!pg) return
    const database = await pg.createDatabase()
    const dir = await mkdtemp(join(tmpdir(), 'jjm-import-sqlite-'))
    const source = await openSqlStore({ dialect: 'sqlite', path: join(dir, 'personal.sqlite') })
    const target = await openSqlStore({ dialect: 'postgresql', url: database.url })
    try {
      // A personal database a monitor has synced: one task finished with a pull request, one still running.
      const clock = new ManualClock('2026-11-25T10:00:00.000Z')
      const simulator = new Simulator({ store: source.sim, clock, runSeconds: 60, autoApproveSeconds: 1 })
      const deps = { jules: createSimClient(simulator), store: source.store, clock, logger: silentLogger }
      const bus = new InProcessEventBus()
      const manager = new JobManager({ ...deps, bus, newId: createIdGenerator() })
      const monitor = new Monitor({ ...deps, bus, concurrency: 2, sleep: async (ms) => clock.advance(ms) })
      const done = await manager.createTask(
        { prompt: 'Add retries', repository: 'acme/api', automationMode: 'AUTO_CREATE_PR' },
        { idempotencyKey: 'nightly-1' },
      )
      clock.advance(30_000)
      const running = await manager.createTask({ prompt: 'Document retries', repository: 'acme/web' })
      clock.advance(40_000)
      await monitor.syncOnce()
      assert.equal((await source.store.getTask(done.id))?.state, 'completed')
      assert.notEqual((await source.store.getTask(running.id))?.state, 'completed')
      await bus.close()
      const synced = await historyOf(source.store, done.id)
      assert.ok(
        synced.chatMessages.length > 0 && synced.sourceFiles.length > 0 && synced.syncCursor,
        'a history to copy',
      )

      // The copy runs weeks later: nothing of it may say "now".
      const service = new ImportService({ target: target.store })
      const report = await service.import(sqlHistoryReader(source))
      assert.equal(report.imported.tasks, 2)
      assert.equal(report.skipped, 0)
      for (const id of [done.id, running.id]) {
        assert.deepEqual(await historyOf(target.store, id), await historyOf(source.store, id), id)
      }
      const [intent] = await target.listCreationIntents()
      const [original] = await source.listCreationIntents()
      assert.deepEqual(intent, { ...original, leaseHolder: null, leaseExpiresAt: null })
      assert.deepEqual((await target.store.listNotifications({})).items, [], 'nothing went to the outbox')

      const again = await service.import(sqlHistoryReader(source))
      assert.deepEqual(again, {
        imported: { tasks: 0, events: 0, chatMessages: 0, sourceFiles: 0 },
        skipped: 2,
        invalid: [],
      })
      assert.deepEqual(await historyOf(target.store, done.id), await historyOf(source.store, done.id))
    } finally {
      await source.close()
      await target.close()
      await rm(dir, { recursive: true, force: true })
      await database.drop()
    }
  })
})
