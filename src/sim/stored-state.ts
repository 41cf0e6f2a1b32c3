import type { BackendRegistry } from '../core/backends.js'
import type { JjmConfig } from '../core/config.js'
import { ConfigurationError } from '../core/errors.js'
import type { Logger, SimStateStore } from '../core/ports.js'

/** Where a simulator server keeps its sessions. */
export interface SimStateHandle {
  store: SimStateStore
  /** For the start-up line: the file (or backend) holding the sessions, or `memory`. */
  where: string
  close(): Promise<void>
}

export interface SimStateOptions {
  config: JjmConfig
  registry: BackendRegistry
  logger: Logger
  /**
   * Keep the sessions in jjm's configured storage (the SQLite file of `--db`,
   * say) rather than in memory, so that the next run of the server sees them.
   */
  stored: boolean
}

/**
 * Opens the simulator's session store for a simulator server: in memory, or
 * in the configured storage backend, where the `sim` Jules backend of every
 * other command keeps them (the same tables, so one file serves both).
 *
 * @throws ConfigurationError when the configured storage backend cannot keep
 *   simulated sessions.
 */
export async function openSimState(options: SimStateOptions): Promise<SimStateHandle> {
  const { config, registry, logger } = options
  if (!options.stored) {
    const { MemorySimStateStore } = await import('./memory-store.js')
    return { store: new MemorySimStateStore(), where: 'memory', close: async () => {} }
  }
  const storage = await registry.storage(config.storage.backend).open({ config, logger, migrate: 'auto' })
  if (storage.sim === undefined) {
    await storage.close()
    throw new ConfigurationError(
      `The ${config.storage.backend} storage backend cannot keep simulated sessions. Use --storage sqlite --db FILE.`,
      { context: { backend: config.storage.backend } },
    )
  }
  const where = config.storage.backend === 'postgresql' ? 'postgresql' : config.storage.path
  return { store: storage.sim, where, close: () => storage.close() }
}
