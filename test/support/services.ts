/**
 * The real servers integration tests use: PostgreSQL and Redis on loopback.
 * On a developer's machine without them a test skips with a message that says
 * how to start them; in CI (CI=true) a missing service fails the test instead.
 *
 *   const pg = await postgres(t)          // undefined → the test was skipped
 *   if (!pg) return
 *   const { url, drop } = await pg.createDatabase()
 */
import { randomBytes } from 'node:crypto'
import { createConnection } from 'node:net'
import type { TestContext } from 'node:test'

export const postgresAdminUrl = process.env.JJM_TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
export const redisUrl = process.env.JJM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

const inCI = process.env.CI === 'true' || process.env.CI === '1'

function unavailable(t: TestContext, service: string, how: string, cause: unknown): undefined {
  const reason = `${service} is not reachable (${cause instanceof Error ? cause.message : String(cause)}). ${how}`
  if (inCI) throw new Error(`CI needs ${reason}`)
  t.skip(reason)
  return undefined
}

/** A unique, readable name for one test's database, schema or key prefix. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`
}

export interface PostgresService {
  adminUrl: string
  /** A fresh database for one test; `drop()` removes it. */
  createDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }>
}

export async function postgres(t: TestContext): Promise<PostgresService | undefined> {
  const { default: pg } = await import('pg')
  const admin = new pg.Client({ connectionString: postgresAdminUrl, connectionTimeoutMillis: 3000 })
  try {
    await admin.connect()
    await admin.query('select 1')
  } catch (error) {
    return unavailable(
      t,
      `PostgreSQL at ${postgresAdminUrl}`,
      'Start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set JJM_TEST_POSTGRES_URL.',
      error,
    )
  } finally {
    await admin.end().catch(() => {})
  }
  return {
    adminUrl: postgresAdminUrl,
    async createDatabase() {
      const name = uniqueName('jjm_test')
      const client = new pg.Client({ connectionString: postgresAdminUrl })
      await client.connect()
      try {
        await client.query(`create database "${name}"`)
      } finally {
        await client.end()
      }
      const url = new URL(postgresAdminUrl)
      url.pathname = `/${name}`
      return {
        url: url.toString(),
        name,
        async drop() {
          const dropper = new pg.Client({ connectionString: postgresAdminUrl })
          await dropper.connect()
          try {
            await dropper.query(`drop database if exists "${name}" with (force)`)
          } finally {
            await dropper.end()
          }
        },
      }
    },
  }
}

export interface RedisService {
  url: string
  /** A key prefix no other test uses. */
  prefix: string
}

/** Checks that Redis answers PING; returns its URL and a fresh key prefix. */
export async function redis(t: TestContext): Promise<RedisService | undefined> {
  const url = new URL(redisUrl)
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = createConnection({ host: url.hostname, port: Number(url.port || 6379) })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error('no answer within 3 s'))
      }, 3000)
      socket.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      socket.once('connect', () => socket.write('PING\r\n'))
      socket.once('data', (data) => {
        clearTimeout(timer)
        socket.end()
        if (data.toString().startsWith('+PONG')) resolve()
        else reject(new Error(`unexpected answer ${JSON.stringify(data.toString())}`))
      })
    })
  } catch (error) {
    return unavailable(
      t,
      `Redis at ${redisUrl}`,
      'Start it (redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "") or set JJM_TEST_REDIS_URL.',
      error,
    )
  }
  return { url: redisUrl, prefix: `${uniqueName('jjmtest')}:` }
}
