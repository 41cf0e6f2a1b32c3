import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import { creationIntentRetentionMs, NotificationAdmin } from '../../../src/core/notification-admin.js'
import { silentLogger } from '../../../src/core/ports.js'
import type { TaskState } from '../../../src/core/task.js'
import { openSqlStore, type SqlStorage } from '../../../src/plugins/storage-sql/sql-store.js'
import { buildTask } from '../../../src/testing/build-task.js'
import { postgres } from '../../support/services.js'

const hourMs = 3_600_000

/**
 * Idempotency keys in every situation, on a clock two days ahead of the
 * machine's (the store dates a completed create and a soft delete by the
 * machine's clock), then one monitor pass's cleanup.
 */
async function keysAfterCleanup(storage: SqlStorage, pruneBatch = 500): Promise<{ kept: string[]; now: number }> {
  const store = storage.store
  const now = Date.now() + 48 * hourMs
  const clock = new ManualClock(now)
  const iso = (ms: number) => new Date(ms).toISOString()
  const lease = (at: number) => ({ holder: `h-${at}`, expiresAt: iso(at + 60_000) })
  const created = async (key: string, state: TaskState, updatedAt: number, remove?: 'delete' | 'purge') => {
    const begun = now - 3 * 24 * hourMs
    await store.beginCreation(key, 'hash', iso(begun), lease(begun))
    const task = buildTask({ state, createdAt: iso(begun), updatedAt: iso(updatedAt) })
    await store.createTask(task, [{ type: 'created', data: {}, at: iso(begun) }], { idempotencyKey: key })
    if (remove !== undefined) await store.deleteTask(task.id, { purge: remove === 'purge' })
  }
  const failed = async (key: string, at: number) => {
    await store.beginCreation(key, 'hash', iso(at), lease(at))
    await store.failCreation(key, 'Jules refused', iso(at))
    await store.releaseCreation(key, `h-${at}`)
  }
  await created('completed-2-days-ago', 'completed', now - 48 * hourMs)
  await created('failed-25-hours-ago', 'failed', now - 25 * hourMs)
  await created('completed-an-hour-ago', 'completed', now - hourMs)
  await created('still-running', 'running', now - 72 * hourMs)
  await created('deleted-2-days-ago', 'running', now - 72 * hourMs, 'delete')
  await created('purged', 'running', now - 72 * hourMs, 'purge')
  await failed('create-failed-2-days-ago', now - 48 * hourMs)
  await failed('create-failed-2-hours-ago', now - 2 * hourMs)
  // Failed long ago, but its key is still held locked (an attempt that may have reached Jules).
  const heldAt = now - 48 * hourMs
  await store.beginCreation('failed-but-held', 'hash', iso(heldAt), { holder: 'held', expiresAt: iso(now + hourMs) })
  await store.failCreation('failed-but-held', 'timed out', iso(heldAt))
  const pendingAt = now - 72 * hourMs
  await store.beginCreation('create-in-progress', 'hash', iso(pendingAt), lease(pendingAt))

  const admin = new NotificationAdmin({
    store,
    deliver: async () => undefined,
    routeIds: [],
    clock,
    logger: silentLogger,
    retention: { keepDeliveredDays: 7, keepFailedDays: 30 },
    pruneBatch,
    intents: store,
  })
  await admin.pruneExpired()
  const kept = (await storage.listCreationIntents()).map((intent) => intent.key).sort()
  return { kept, now }
}

const stillNeeded = [
  'completed-an-hour-ago',
  'create-failed-2-hours-ago',
  'create-in-progress',
  'failed-but-held',
  'still-running',
]

async function checkRetention(storage: SqlStorage) {
  assert.equal(creationIntentRetentionMs, 24 * hourMs, 'the documented retention: 24 h')
  const { kept } = await keysAfterCleanup(storage)
  assert.deepEqual(kept, stillNeeded)
}

async function onPostgres(t: TestContext, work: (storage: SqlStorage) => Promise<void>) {
  const pg = await postgres(t)
  if (!pg) return
  const database = await pg.createDatabase()
  try {
    const storage = await openSqlStore({ dialect: 'postgresql', url: database.url, poolSize: 2 })
    try {
      await work(storage)
    } finally {
      await storage.close()
    }
  } finally {
    await database.drop()
  }
}

describe('idempotency keys are forgotten 24 h after their task ends, a batch per monitor pass', {
  timeout: 60_000,
}, () => {
  it('on SQLite: keeps the keys a retry may still need and prunes the rest', async () => {
    const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
    try {
      await checkRetention(storage)
    } finally {
      await storage.close()
    }
  })

  it('on PostgreSQL: keeps the keys a retry may still need and prunes the rest', async (t) => {
    await onPostgres(t, checkRetention)
  })

  it('prunes at most one batch per pass', async () => {
    const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
    try {
      const { kept } = await keysAfterCleanup(storage, 2)
      assert.equal(kept.length, stillNeeded.length + 3, `5 could go, 2 went: ${kept.join(', ')}`)
    } finally {
      await storage.close()
    }
  })
})
