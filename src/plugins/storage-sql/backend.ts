import type { StorageBackend } from '../../core/backends.js'

/** SQLite storage: the default, one file under the jjm data directory. */
export const sqliteBackend: StorageBackend = {
  kind: 'storage',
  name: 'sqlite',
  description: 'SQLite file (the default): jjm data directory, or --db / JJM_DB / storage.path',
  async open({ config, logger, migrate }) {
    // The ORM loads only when storage is actually opened, never for --help.
    const { openSqlStore } = await import('./sql-store.js')
    return openSqlStore({
      dialect: 'sqlite',
      path: config.storage.path,
      logger: logger.child({ storage: 'sqlite' }),
      migrate,
    })
  },
}
