import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import { createIdGenerator } from '../../../src/core/ids.js'
import { JobManager } from '../../../src/core/manager.js'
import { Monitor } from '../../../src/core/monitor.js'
import { silentLogger } from '../../../src/core/ports.js'
import type { Task } from '../../../src/core/task.js'
import { openSqlStore, type SqlStorage } from '../../../src/plugins/storage-sql/sql-store.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { Simulator } from '../../../src/sim/engine.js'
import { postgres } from '../../support/services.js'

interface Shared {
  /** Two stores (two connection pools) on one database, as two daemons have. */
  open(): Promise<SqlStorage>
  cleanup(): Promise<void>
}

async function postgresDatabase(t: TestContext): Promise<Shared | undefined> {
  const pg = await postgres(t)
  if (!pg) return undefined
  const database = await pg.createDatabase()
  return { open: () => openSqlStore({ dialect: 'postgresql', url: database.url }), cleanup: () => database.drop() }
}

const minute = 60_000

// PostgreSQL only: two SQLite connections in one process block each other's event loop (better-sqlite3
// waits synchronously for the lock). Two monitors on one SQLite store are in test/unit/core/stalled.test.ts.
for (const [name, make] of [['PostgreSQL', postgresDatabase]] as const) {
  describe(`stalled tasks on ${name}, watched by two daemons`, { timeout: 120_000 }, () => {
    it('marks each stall, nudges it and clears it once, whichever daemon syncs the task', async (t) => {
      const shared = await make(t)
      if (!shared) return
      const storages = [await shared.open(), await shared.open()]
      const clock = new ManualClock('2026-12-01T09:00:00.000Z')
      const monitors = storages.map((storage, index) => {
        // Each daemon has its own simulator over the shared simulator state, as separate processes do.
        const jules = createSimClient(new Simulator({ store: storage.sim, clock, runSeconds: 9600 }))
        return new Monitor({
          jules,
          store: storage.store,
          clock,
          logger: silentLogger,
          concurrency: 3,
          requestsPerMinute: 10_000,
          leaseHolder: `daemon-${index}`,
          stalledAfter: { queued: null, planning: null, in_progress: 30 * minute },
          nudgeMessage: 'Still there?',
          sleep: async (ms) => clock.advance(ms),
        })
      })
      const [first] = storages
      assert.ok(first)
      try {
        const manager = new JobManager({
          jules: createSimClient(new Simulator({ store: first.sim, clock, runSeconds: 9600 })),
          store: first.store,
          clock,
          logger: silentLogger,
          newId: createIdGenerator(),
        })
        const tasks: Task[] = []
        for (let index = 0; index < 8; index++) {
          tasks.push(
            await manager.createTask({ prompt: `Task ${index}`, repository: 'acme/api', requirePlanApproval: false }),
          )
        }
        const start = clock.now()
        const polled = [0, 0]
        // The one quiet gap over 30 minutes is 64 → 104 min: stalled at 94, nudged, answered at once.
        while (clock.now() - start < 110 * minute) {
          clock.set(start + Math.floor((clock.now() - start) / minute + 1) * minute)
          const reports = await Promise.all(monitors.map((monitor) => monitor.syncOnce({ force: true })))
          reports.forEach((report, index) => {
            polled[index] = (polled[index] ?? 0) + (report.polled ?? 0)
          })
        }
        assert.ok(
          polled.every((count) => count > 0),
          `both daemons synced tasks (${polled.join(', ')})`,
        )
        for (const task of tasks) {
          const events = (await first.store.getEvents(task.id, { limit: 200 })).items
          const count = (type: string): number => events.filter((event) => event.type === type).length
          assert.equal(count('stalled'), 1, `one stall of ${task.id}`)
          assert.equal(count('unstalled'), 1, `one end of the stall of ${task.id}`)
          assert.equal(count('message_sent'), 1, `one nudge of ${task.id}`)
          const activities = await createSimClient(
            new Simulator({ store: first.sim, clock, runSeconds: 9600 }),
          ).listActivities(task.sessionName, { pageSize: 100 })
          assert.equal(
            activities.activities.filter((activity) => activity.userMessaged !== undefined).length,
            1,
            'Jules got one nudge',
          )
        }
      } finally {
        for (const monitor of monitors) monitor.close()
        for (const storage of storages) await storage.close()
        await shared.cleanup()
      }
    })
  })
}
