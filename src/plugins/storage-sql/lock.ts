import { createHash } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { StorageError } from '../../core/errors.js'

/** A release function, or undefined when another process holds the lock. */
export type TryLock = (name: string) => Promise<(() => Promise<void>) | undefined>

/**
 * SQLite: a lock file beside the database (proper-lockfile). The lock is kept
 * fresh while held, so a crashed holder's lock goes stale and is taken over
 * instead of blocking every later run.
 */
export function sqliteLock(databasePath: string): TryLock {
  return async (name) => {
    if (databasePath === ':memory:') return async () => {}
    const { default: lockfile } = await import('proper-lockfile')
    const target = `${databasePath}.${name}`
    await mkdir(dirname(target), { recursive: true })
    try {
      const release = await lockfile.lock(target, { realpath: false, stale: 30_000, update: 10_000, retries: 0 })
      return async () => {
        await release().catch(() => {})
      }
    } catch (error) {
      if ((error as { code?: string }).code === 'ELOCKED') return undefined
      throw new StorageError(`Could not take the ${name} lock beside ${databasePath}: ${(error as Error).message}.`, {
        context: { lock: name, path: databasePath },
        cause: error,
      })
    }
  }
}

/**
 * PostgreSQL: a session-level advisory lock on a connection of its own, held
 * until released or until the connection ends (a crashed holder frees it).
 */
export function postgresqlLock(url: string): TryLock {
  return async (name) => {
    const { default: pg } = await import('pg')
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
    // The key is a stable 63-bit number derived from the lock's name.
    const key = BigInt.asIntN(64, BigInt(`0x${createHash('sha256').update(`jjm:${name}`).digest('hex').slice(0, 16)}`))
    try {
      await client.connect()
      const answer = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1::bigint) as locked', [
        key.toString(),
      ])
      if (!answer.rows[0]?.locked) {
        await client.end()
        return undefined
      }
    } catch (error) {
      await client.end().catch(() => {})
      throw new StorageError(`Could not take the ${name} lock in PostgreSQL: ${(error as Error).message}.`, {
        context: { lock: name },
        cause: error,
      })
    }
    return async () => {
      await client.query('select pg_advisory_unlock($1::bigint)', [key.toString()]).catch(() => {})
      await client.end().catch(() => {})
    }
  }
}
