import type { StorageBackend } from '../../core/backends.js'
import { ConfigurationError } from '../../core/errors.js'

/**
 * `json` names the legacy file format of the original job manager. jjm reads
 * such a file only to import it (`jjm migrate import-json FILE`, through
 * core's import service); it is no storage for commands. The name stays
 * registered so that a config still saying `storage.backend: json` gets this
 * explanation rather than "unknown backend".
 */
export const jsonBackend: StorageBackend = {
  kind: 'storage',
  name: 'json',
  description: 'The legacy JSON file of the original job manager: import it with jjm migrate import-json FILE',
  async open() {
    throw new ConfigurationError(
      'The json storage backend is the legacy file format of the original job manager: jjm reads such a file only to import it. ' +
        'Import it once with `jjm migrate import-json FILE` (into SQLite by default, or PostgreSQL with DATABASE_URL), ' +
        'then use sqlite or postgresql storage (remove storage.backend: json, JJM_STORAGE=json or --storage json).',
      { context: { backend: 'json' } },
    )
  },
}
