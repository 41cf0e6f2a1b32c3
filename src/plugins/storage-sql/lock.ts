import { createHash } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { StorageError } from '../../core/errors.js'
import { type Logger, silentLogger } from '../../core/ports.js'

/**
 * A held lock: call it to release. `lost` aborts when the lock went away while
 * held (its connection was killed, its file removed) and could not be taken
 * again: the holder must stop what the lock protects.
 */
export interface HeldLock {
  (): Promise<void>
  readonly lost: AbortSignal
}

/** A held lock, or undefined when another process holds it. */
export type TryLock = (name: string) => Promise<HeldLock | undefined>

export interface LockOptions {
  logger?: Logger
  /**
   * Waits before each attempt to take a lost lock again; the lock is given up
   * when they are spent. Default: at once, then backing off for about 30 s (a
   * database restart).
   */
  reacquireDelaysMs?: readonly number[]
  /** How attempts wait; tests hold an attempt back. */
  wait?: (ms: number) => Promise<void>
  /** SQLite: how often the lock file is refreshed (at least 1 000 ms). */
  updateMs?: number
}

const defaultReacquireDelaysMs = [0, 500, 1_000, 2_000, 4_000, 8_000, 15_000]
// Unref: a released lock still waiting to retry never keeps the process alive.
const realWait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())

/**
 * SQLite: a lock file beside the database (proper-lockfile). The lock is kept
 * fresh while held, so a crashed holder's lock goes stale and is taken over
 * instead of blocking every later run. If the file is removed or taken over
 * while held, the lock is taken again, or given up through `lost`.
 */
export function sqliteLock(databasePath: string, options: LockOptions = {}): TryLock {
  const logger = options.logger ?? silentLogger
  return async (name) => {
    const lost = new AbortController()
    if (databasePath === ':memory:') return Object.assign(async () => {}, { lost: lost.signal })
    const { default: lockfile } = await import('proper-lockfile')
    const target = `${databasePath}.${name}`
    await mkdir(dirname(target), { recursive: true })
    let released = false
    let release: () => Promise<void> = async () => {}
    const take = () =>
      lockfile.lock(target, {
        realpath: false,
        stale: 30_000,
        update: options.updateMs ?? 10_000,
        retries: 0,
        // The default throws from a timer, which ends the process.
        onCompromised: (error) => {
          if (released) return
          logger.warn(`The ${name} lock file beside ${databasePath} was removed or taken over; taking it again`, {
            lock: name,
            error: error.message,
          })
          take().then(
            (again) => {
              release = again
              if (released) void again().catch(() => {})
              else logger.warn(`The ${name} lock is held again`, { lock: name })
            },
            (failure: unknown) => giveUp(failure),
          )
        },
      })
    const giveUp = (failure: unknown) => {
      if (released) return
      const error = new StorageError(
        `Lost the ${name} lock beside ${databasePath} and could not take it again (${(failure as Error).message}); stopping what it protects.`,
        { context: { lock: name, path: databasePath }, cause: failure },
      )
      logger.error(error.message, { lock: name })
      lost.abort(error)
    }
    try {
      release = await take()
    } catch (error) {
      if ((error as { code?: string }).code === 'ELOCKED') return undefined
      throw new StorageError(`Could not take the ${name} lock beside ${databasePath}: ${(error as Error).message}.`, {
        context: { lock: name, path: databasePath },
        cause: error,
      })
    }
    return Object.assign(
      async () => {
        released = true
        await release().catch(() => {})
      },
      { lost: lost.signal },
    )
  }
}

/**
 * PostgreSQL: a session-level advisory lock on a connection of its own, held
 * until released or until the connection ends (a crashed holder frees it).
 * When the connection is killed while held (a server restart,
 * `pg_terminate_backend`), the lock is taken again on a new connection; if
 * another process took it meanwhile, or the server stays away, it is given up
 * through `lost`.
 */
export function postgresqlLock(url: string, options: LockOptions = {}): TryLock {
  const logger = options.logger ?? silentLogger
  const delays = options.reacquireDelaysMs ?? defaultReacquireDelaysMs
  const wait = options.wait ?? realWait
  return async (name) => {
    const { default: pg } = await import('pg')
    // The key is a stable 63-bit number derived from the lock's name.
    const key = BigInt.asIntN(64, BigInt(`0x${createHash('sha256').update(`jjm:${name}`).digest('hex').slice(0, 16)}`))
    const lost = new AbortController()
    let released = false
    let reacquiring = false

    /** Connects and tries the lock: the connection holding it, or undefined when another holds it. */
    const take = async (): Promise<import('pg').Client | undefined> => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
      // Without a listener, a connection killed while idle ends the process ("Unhandled 'error' event").
      client.on('error', (error) => {
        if (released || current !== client) return
        logger.warn(`The PostgreSQL connection holding the ${name} lock failed; the lock is taken again`, {
          lock: name,
          error: error.message,
        })
      })
      try {
        await client.connect()
        const answer = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1::bigint) as locked', [
          key.toString(),
        ])
        if (answer.rows[0]?.locked) return client
      } catch (error) {
        await client.end().catch(() => {})
        throw error
      }
      await client.end().catch(() => {})
      return undefined
    }

    const giveUp = (why: string, cause?: unknown) => {
      const error = new StorageError(
        `Lost the ${name} lock in PostgreSQL: ${why}. Stopping what it protects; start it again once the database is back.`,
        { context: { lock: name }, ...(cause === undefined ? {} : { cause }) },
      )
      logger.error(error.message, { lock: name })
      lost.abort(error)
    }

    const reacquire = async () => {
      if (reacquiring || released) return
      reacquiring = true
      let lastError: unknown
      try {
        for (const delay of delays) {
          await wait(delay)
          if (released) return
          try {
            const client = await take()
            if (client === undefined) return giveUp('another process took it while the connection was down')
            if (released) {
              await client.end().catch(() => {})
              return
            }
            hold(client)
            logger.warn(`The ${name} lock is held again on a new PostgreSQL connection`, { lock: name })
            return
          } catch (error) {
            lastError = error
          }
        }
        giveUp(
          `the database did not answer again (${lastError instanceof Error ? lastError.message : String(lastError)})`,
          lastError,
        )
      } finally {
        reacquiring = false
      }
    }

    let current: import('pg').Client | undefined
    const hold = (client: import('pg').Client) => {
      current = client
      client.once('end', () => {
        if (released || current !== client) return
        current = undefined
        void reacquire()
      })
    }

    try {
      const client = await take()
      if (client === undefined) return undefined
      hold(client)
    } catch (error) {
      throw new StorageError(`Could not take the ${name} lock in PostgreSQL: ${(error as Error).message}.`, {
        context: { lock: name },
        cause: error,
      })
    }
    return Object.assign(
      async () => {
        released = true
        const client = current
        current = undefined
        if (client === undefined) return
        await client.query('select pg_advisory_unlock($1::bigint)', [key.toString()]).catch(() => {})
        await client.end().catch(() => {})
      },
      { lost: lost.signal },
    )
  }
}
