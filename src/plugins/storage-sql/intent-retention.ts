/**
 * How long idempotency keys (creation intents) are kept: until no retry can
 * need them any more. Apart from sql-store.ts so that the store only forwards.
 */
import type { SqlEntityManager } from '@mikro-orm/knex'
import { terminalStates } from '../../core/task.js'
import { guarded, type StoreContext } from './storage-errors.js'

type Entities = typeof import('./entities.js')

/**
 * Deletes up to `limit` creation intents, oldest first, whose outcome no
 * retry can need after `before`: done intents whose task reached a terminal
 * state or was deleted before `before`, done intents whose task was purged and
 * that completed before `before`, failed intents (no task) last tried before
 * `before`. Pending intents (a create in progress, or one to reconcile) and
 * intents whose lease ran past `before` (a key held locked) are never deleted. Returns how many were deleted.
 */
export async function pruneCreationIntents(
  em: SqlEntityManager,
  entities: Entities,
  at: StoreContext,
  before: string,
  limit: number,
): Promise<number> {
  const { CreationIntentSchema } = entities
  const cutoff = new Date(before)
  return guarded('prune creation intents', at, async () => {
    const fork = em.fork()
    const rows: Array<{ key: string }> = await fork
      .createQueryBuilder(CreationIntentSchema, 'i')
      .select('i.key')
      .leftJoin('i.task', 't')
      .where({ 'i.updatedAt': { $lt: cutoff } })
      // A key still locked (an uncertain create holds it) is never forgotten.
      .andWhere({ $or: [{ 'i.leaseExpiresAt': null }, { 'i.leaseExpiresAt': { $lt: cutoff } }] })
      .andWhere({
        $or: [
          { 'i.state': 'failed', 'i.task': null },
          { 'i.state': 'done', 'i.task': null },
          { 'i.state': 'done', 't.deletedAt': { $lt: cutoff } },
          { 'i.state': 'done', 't.state': { $in: [...terminalStates] }, 't.updatedAt': { $lt: cutoff } },
        ],
      })
      .orderBy({ 'i.updatedAt': 'asc', 'i.key': 'asc' })
      .limit(Math.max(1, limit))
      .execute('all')
    if (rows.length === 0) return 0
    // Re-checked as it deletes: a failed intent retried meanwhile is pending (and newer) again.
    return fork.nativeDelete(CreationIntentSchema, {
      key: { $in: rows.map((row) => row.key) },
      state: { $in: ['done', 'failed'] },
      updatedAt: { $lt: cutoff },
      $or: [{ leaseExpiresAt: null }, { leaseExpiresAt: { $lt: cutoff } }],
    })
  })
}
