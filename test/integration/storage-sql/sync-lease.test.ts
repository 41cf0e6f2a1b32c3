import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import { InProcessEventBus } from '../../../src/core/event-bus.js'
import { createIdGenerator } from '../../../src/core/ids.js'
import type { JulesClient } from '../../../src/core/jules/client.js'
import { JobManager } from '../../../src/core/manager.js'
import { Monitor } from '../../../src/core/monitor.js'
import { silentLogger } from '../../../src/core/ports.js'
import { openSqlStore, type SqlStorage } from '../../../src/plugins/storage-sql/sql-store.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { Simulator } from '../../../src/sim/engine.js'
import { buildTask } from '../../../src/testing/index.js'
import { postgres } from '../../support/services.js'

interface Shared {
  /** Two stores (two connection pools) on one database, as two daemons have. */
  open(): Promise<SqlStorage>
  cleanup(): Promise<void>
}

async function sqliteFile(): Promise<Shared> {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-lease-'))
  const path = join(dir, 'jjm.sqlite')
  return {
    open: () => openSqlStore({ dialect: 'sqlite', path }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  }
}

async function postgresDatabase(t: TestContext): Promise<Shared | undefined> {
  const pg = await postgres(t)
  if (!pg) return undefined
  const database = await pg.createDatabase()
  return { open: () => openSqlStore({ dialect: 'postgresql', url: database.url }), cleanup: () => database.drop() }
}

const at = (ms: number) => new Date(Date.UTC(2026, 10, 25, 10, 0, 0) + ms).toISOString()

for (const [name, make] of [
  ['SQLite', async () => sqliteFile()],
  ['PostgreSQL', postgresDatabase],
] as const) {
  describe(`sync leases on ${name}`, { timeout: 60_000 }, () => {
    it('lets one holder sync a task until its lease runs out (by the database clock) or it gives it back', async (t) => {
      const shared = await make(t)
      if (!shared) return
      const [a, b] = [await shared.open(), await shared.open()]
      try {
        const task = buildTask()
        await a.store.createTask(task, [{ type: 'created', data: {} }])
        const claim = (store: SqlStorage, holder: string, ttlMs = 60_000, syncedBefore?: string) =>
          store.store.claimSyncLeases([task.id], holder, ttlMs, syncedBefore === undefined ? {} : { syncedBefore })
        assert.deepEqual(await claim(a, 'daemon-a'), [task.id])
        assert.deepEqual(await claim(b, 'daemon-b'), [], 'a live lease keeps others off')
        assert.deepEqual(
          await claim(a, 'daemon-a', 0),
          [task.id],
          'the holder may claim again (here: a lease already run out)',
        )
        assert.deepEqual(await claim(b, 'daemon-b'), [task.id], 'an expired lease is taken over')
        assert.deepEqual(await claim(a, 'daemon-a'), [])
        assert.deepEqual(
          await a.store.renewSyncLeases([task.id], 'daemon-a', 60_000),
          [],
          'nor renewed by the old holder',
        )
        await b.store.releaseSyncLeases([task.id], 'daemon-a')
        assert.deepEqual(await claim(a, 'daemon-a'), [], 'only the holder gives a lease back')
        await b.store.releaseSyncLeases([task.id], 'daemon-b')
        assert.deepEqual(await claim(a, 'daemon-a'), [task.id])
        const synced = await a.store.commitSync({
          taskId: task.id,
          holder: 'daemon-a',
          events: [],
          cursor: { sessionUpdateTime: at(70_000), lastActivityTime: null, lastActivityNames: [] },
          syncedAt: at(70_000),
        })
        assert.equal(synced.outcome, 'committed')
        await a.store.releaseSyncLeases([task.id], 'daemon-a')
        assert.deepEqual(
          await claim(b, 'daemon-b', 60_000, at(70_000)),
          [],
          'a task synced since it was listed is not synced again',
        )
        assert.deepEqual(await claim(b, 'daemon-b', 60_000, at(70_001)), [task.id])
        await b.store.releaseSyncLeases([task.id], 'daemon-b')
        await a.store.deleteTask(task.id)
        assert.deepEqual(await claim(b, 'daemon-b'), [], 'a deleted task is nobody’s to sync')
        assert.deepEqual(await a.store.getTask(task.id), undefined)
      } finally {
        await a.close()
        await b.close()
        await shared.cleanup()
      }
    })

    it('gives each of 20 tasks to exactly one of 8 claimers on two connection pools', async (t) => {
      const shared = await make(t)
      if (!shared) return
      const stores = [await shared.open(), await shared.open()]
      try {
        for (let round = 0; round < 3; round++) {
          const tasks = Array.from({ length: 20 }, () => buildTask())
          for (const task of tasks) await stores[0]?.store.createTask(task, [{ type: 'created', data: {} }])
          const ids = tasks.map((task) => task.id)
          const claims = await Promise.all(
            Array.from({ length: 8 }, (_, i) => {
              // Each claimer lists the tasks in its own order, as daemons sorting differently would.
              const order = i % 2 === 0 ? ids : [...ids].reverse()
              const rotated = [...order.slice(i), ...order.slice(0, i)]
              return stores[i % 2]?.store.claimSyncLeases(rotated, `holder-${i}`, 60_000) ?? Promise.resolve([])
            }),
          )
          const all = claims.flat()
          assert.equal(all.length, 20, `round ${round}: every task claimed once (${claims.map((c) => c.length)})`)
          assert.deepEqual([...new Set(all)].sort(), [...ids].sort(), `round ${round}: by exactly one holder`)
          for (const [i, claimed] of claims.entries()) {
            for (const id of claimed) {
              assert.equal((await stores[1]?.store.getSyncState(id))?.leaseHolder, `holder-${i}`)
            }
          }
        }
      } finally {
        for (const store of stores) await store.close()
        await shared.cleanup()
      }
    })

    it('divides one pass between two monitors on one database: every task synced once, no event twice', async (t) => {
      const shared = await make(t)
      if (!shared) return
      const [a, b] = [await shared.open(), await shared.open()]
      const clock = new ManualClock('2026-11-25T10:00:00.000Z')
      const simulator = new Simulator({ store: a.sim, clock, runSeconds: 20 })
      const sim = createSimClient(simulator)
      const polls = new Map<string, number>()
      // Slow answers make the two passes overlap for real.
      const slow: JulesClient = {
        ...sim,
        async getSession(name) {
          polls.set(name, (polls.get(name) ?? 0) + 1)
          await new Promise((resolve) => setTimeout(resolve, 30))
          return sim.getSession(name)
        },
      }
      const deps = (storage: SqlStorage) => ({
        jules: slow,
        store: storage.store,
        clock,
        logger: silentLogger,
        bus: new InProcessEventBus(),
        concurrency: 3,
        requestsPerMinute: 100_000,
      })
      try {
        const manager = new JobManager({ ...deps(a), newId: createIdGenerator() })
        const tasks = []
        for (let i = 0; i < 12; i++)
          tasks.push(await manager.createTask({ prompt: `task ${i}`, repository: 'acme/api' }))
        const first = new Monitor({ ...deps(a), leaseHolder: 'daemon-a' })
        const second = new Monitor({ ...deps(b), leaseHolder: 'daemon-b' })
        clock.advance(3_000)
        const [ra, rb] = await Promise.all([first.syncOnce({ force: true }), second.syncOnce({ force: true })])
        assert.equal((ra.polled ?? 0) + (rb.polled ?? 0), 12, `polled ${ra.polled} + ${rb.polled}`)
        assert.ok((ra.polled ?? 0) > 0 && (rb.polled ?? 0) > 0, 'both daemons did some of the work')
        for (const task of tasks) assert.equal(polls.get(task.sessionName), 1, `${task.id} polled once`)
        for (const task of tasks) {
          const changes = (await a.store.getEvents(task.id, { types: ['state_changed'] })).items
          assert.equal(changes.length, 1, 'one state change recorded, not two')
        }
        // The leases were given back: the next pass of either may take any task.
        clock.advance(30_000)
        const next = await second.syncOnce({ force: true })
        assert.equal(next.polled, 12)
        first.close()
        second.close()
      } finally {
        await a.close()
        await b.close()
        await shared.cleanup()
      }
    })
  })
}
