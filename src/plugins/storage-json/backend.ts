import { basename, dirname, join } from 'node:path'
import type { StorageBackend } from '../../core/backends.js'
import type { JjmConfig } from '../../core/config.js'

/**
 * The file the json backend uses: `storage.path` (`--db`, `JJM_DB`) as given.
 * Without one, storage.path is the SQLite default (`jjm.sqlite` in the data
 * directory); the JSON store then uses `jjm.json` beside it rather than write
 * JSON into a file named .sqlite.
 */
export function jsonStorePath(config: Pick<JjmConfig, 'storage' | 'dataDir'>): string {
  const path = config.storage.path
  const isSqliteDefault = path === join(config.dataDir, 'jjm.sqlite')
  return isSqliteDefault ? join(dirname(path), `${basename(path, '.sqlite')}.json`) : path
}

/** One JSON file in the original job manager's format: `--storage json --db tasks.json`. */
export const jsonBackend: StorageBackend = {
  kind: 'storage',
  name: 'json',
  description: 'One JSON file in the original job manager format: --storage json --db tasks.json',
  async open({ config, logger }) {
    const { openJsonStore } = await import('./json-store.js')
    const storage = await openJsonStore({ path: jsonStorePath(config), logger: logger.child({ storage: 'json' }) })
    // No schema: the file carries its own format version.
    return { store: storage.store, sim: storage.sim, close: storage.close }
  },
}
