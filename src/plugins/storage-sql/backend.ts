import type { StorageBackend, StorageHandle } from '../../core/backends.js'
import { ConfigurationError, StorageError } from '../../core/errors.js'

/** SQLite storage: the default, one file under the jjm data directory. */
export const sqliteBackend: StorageBackend = {
  kind: 'storage',
  name: 'sqlite',
  description: 'SQLite file (the default): jjm data directory, or --db / JJM_DB / storage.path',
  async open({ config, logger, migrate }) {
    // The ORM loads only when storage is actually opened, never for --help.
    const [{ openSqlStore }, { sqliteLock }] = await Promise.all([import('./sql-store.js'), import('./lock.js')])
    const storage = await openSqlStore({
      dialect: 'sqlite',
      path: config.storage.path,
      logger: logger.child({ storage: 'sqlite' }),
      migrate,
    })
    return { ...storage, tryLock: sqliteLock(config.storage.path, { logger }) }
  },
}

/**
 * PostgreSQL storage, shared by a team: DATABASE_URL or storage.url. With
 * `storage.fallback: sqlite`, an unreachable server at start-up opens the
 * SQLite file instead, loudly; without it, the error stands.
 */
export const postgresqlBackend: StorageBackend = {
  kind: 'storage',
  name: 'postgresql',
  description: 'PostgreSQL server shared by a team: DATABASE_URL or storage.url, storage.poolSize connections',
  async open({ config, logger, migrate }): Promise<StorageHandle> {
    const url = config.storage.url
    if (url === undefined || url === '') {
      throw new ConfigurationError(
        'The postgresql storage backend needs a connection URL: set DATABASE_URL or storage.url (e.g. postgresql://jjm@db.example.com:5432/jjm).',
        { context: { key: 'storage.url' } },
      )
    }
    const fallback = config.storage.fallback
    if (fallback !== undefined && fallback !== 'sqlite') {
      throw new ConfigurationError(`storage.fallback "${fallback}" is not supported; the only fallback is sqlite.`, {
        context: { key: 'storage.fallback', value: fallback },
      })
    }
    const [{ openSqlStore }, { postgresqlLock, sqliteLock }] = await Promise.all([
      import('./sql-store.js'),
      import('./lock.js'),
    ])
    try {
      const storage = await openSqlStore({
        dialect: 'postgresql',
        url,
        poolSize: config.storage.poolSize,
        logger: logger.child({ storage: 'postgresql' }),
        migrate,
      })
      return { ...storage, tryLock: postgresqlLock(url, { logger }) }
    } catch (error) {
      const unreachable = error instanceof StorageError && error.context.problem === 'unreachable'
      if (fallback === undefined || !unreachable) throw error
      const path = config.storage.path
      const degraded = `PostgreSQL is unreachable (${error.message}); using the SQLite fallback at ${path} instead.`
      logger.warn(
        `STORAGE DEGRADED: PostgreSQL at ${String(error.context.url)} is unreachable, so jjm is using the SQLite fallback at ${path} (storage.fallback). Everything written now goes to that file and will NOT be in PostgreSQL. Bring the server back and restart jjm to return to PostgreSQL.`,
        { url: error.context.url, fallback: path, reason: error.message },
      )
      const storage = await openSqlStore({
        dialect: 'sqlite',
        path,
        logger: logger.child({ storage: 'sqlite', fallbackFor: 'postgresql' }),
        migrate,
      })
      return { ...storage, degraded, tryLock: sqliteLock(path, { logger }) }
    }
  },
}
