import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import type { ApiKeyStore } from './api-keys.js'
import type { JjmConfig } from './config.js'
import { ConfigurationError } from './errors.js'
import type { JulesClient } from './jules/client.js'
import type { NotifierRoute } from './notifications.js'
import type { Cache, Clock, EventBus, Logger, Notifier, SchemaManager, SimStateStore, TaskStore } from './ports.js'
import type { JulesBudgetStore, JulesBudgetStoreOptions } from './rate-limit.js'

/** What a storage backend gives core once opened. */
export interface StorageHandle {
  store: TaskStore
  /** Where the in-process Jules simulator keeps its sessions, when the backend can. */
  sim?: SimStateStore
  /** Schema migrations, for backends that have a schema. */
  schema?: SchemaManager
  /** Keys to the REST API, for backends that can keep them (the daemon and `jjm api-keys` need one). */
  apiKeys?: ApiKeyStore
  /**
   * Why the backend runs in a degraded mode, when it does (e.g. PostgreSQL was
   * unreachable and the configured SQLite fallback was opened instead); for
   * /health and the logs.
   */
  degraded?: string
  /**
   * Takes a named lock shared by every process on this database (so that two
   * overlapping `monitor --once` runs never sync the same tasks); resolves to
   * the release function, or to undefined when another process holds it.
   * `lost`, when given, aborts if the lock went away while held and could not
   * be taken again: the holder stops what the lock protects.
   */
  tryLock?(name: string): Promise<((() => Promise<void>) & { readonly lost?: AbortSignal }) | undefined>
  /** Database connections in use right now (a pool's busy ones), for `jjm_db_connections_in_use`; cheap, no query. */
  connectionsInUse?(): number
  close(): Promise<void>
}

export interface StorageOpenOptions {
  config: JjmConfig
  logger: Logger
  /**
   * `auto`: bring a new or older schema up to date; `check`: refuse a schema
   * that is behind; `none`: touch nothing (the migrate commands).
   */
  migrate: 'auto' | 'check' | 'none'
}

/** A storage backend, as a plugin registers it. */
export interface StorageBackend {
  kind: 'storage'
  /** The name users select it by: `--storage NAME`, `JJM_STORAGE`, `storage.backend`. */
  name: string
  description: string
  open(options: StorageOpenOptions): Promise<StorageHandle>
}

export interface CacheOpenOptions {
  config: JjmConfig
  logger: Logger
}

/** What a cache backend gives core once opened: the cache and the event bus that follows it. */
export interface CacheHandle {
  /** Absent for the `none` backend: every read goes to the store. */
  cache?: Cache
  bus: EventBus
  /**
   * Asks the cache's server whether it answers (Redis: PING); rejects when it
   * does not. Absent for caches in this process, which cannot be down.
   */
  ping?(): Promise<void>
  /**
   * One Jules account's request budget kept on the cache's server, shared by
   * every process that uses it (Redis). Absent for caches in this process:
   * core keeps the budget in memory.
   */
  julesBudgetStore?(options: JulesBudgetStoreOptions): Promise<JulesBudgetStore>
  close(): Promise<void>
}

/** A cache backend, as a plugin registers it. */
export interface CacheBackend {
  kind: 'cache'
  /** The name users select it by: `--cache NAME`, `JJM_CACHE`, `cache.backend`. */
  name: string
  description: string
  open(options: CacheOpenOptions): Promise<CacheHandle>
}

export interface NotifierOpenOptions {
  /** The route from `notifiers:` that selected this backend, with the backend's own settings (url, secret, …). */
  route: NotifierRoute
  config: JjmConfig
  logger: Logger
}

/** A notifier backend, as a plugin registers it: selected by `backend:` in a `notifiers:` entry. */
export interface NotifierBackend {
  kind: 'notifier'
  /** The name a `notifiers:` entry selects it by, e.g. `webhook`. */
  name: string
  description: string
  open(options: NotifierOpenOptions): Promise<Notifier>
}

export interface JulesOpenOptions {
  config: JjmConfig
  /** The opened storage: `sim` is where an in-process simulator keeps its sessions, when the backend can. */
  storage: Pick<StorageHandle, 'sim'>
  logger: Logger
  /** The clock core runs on; a simulator reads it, so that tests move sessions along without waiting. */
  clock: Clock
  /** jjm's version, for a User-Agent or an MCP client name. */
  version: string
  /** Tell it of each 429 as it arrives: the whole Jules account pauses at once (the shared budget). */
  onRateLimited?: (retryAfterSeconds: number | undefined) => void
}

/**
 * A Jules backend, as a plugin registers it: an adapter of the JulesClient
 * port (src/core/jules/client.ts). Run `describeJulesClientContract` from
 * `jjm/testing` against it.
 */
export interface JulesBackend {
  kind: 'jules'
  /** The name users select it by: `--jules NAME`, `JJM_JULES`, `jules.backend`. */
  name: string
  description: string
  /**
   * Builds the client; called at the first call to Jules, not at start-up, so
   * that commands that never talk to Jules need none of its settings. Import
   * heavy modules here.
   */
  open(options: JulesOpenOptions): Promise<JulesClient>
}

export type Backend = StorageBackend | CacheBackend | NotifierBackend | JulesBackend

/** The answer of a `jjm:backends` hook: the backends one plugin provides. */
export interface BackendRegistration {
  backends: Backend[]
}

interface Registered {
  backend: Backend
  plugin: string
}

/**
 * The backends that every plugin's `jjm:backends` hook answered with. A backend
 * is chosen by name from config; the built-in ones register the same way as a
 * third-party plugin does.
 */
export class BackendRegistry {
  private readonly entries: Registered[] = []

  register(plugin: string, registration: BackendRegistration): void {
    if (!registration || !Array.isArray(registration.backends)) {
      throw new ConfigurationError(
        `Plugin ${plugin} answered the jjm:backends hook with no backends list; its hook must return { backends: [...] }.`,
        { context: { plugin } },
      )
    }
    for (const backend of registration.backends) {
      if (!backend || typeof backend.name !== 'string' || typeof backend.open !== 'function') {
        throw new ConfigurationError(`Plugin ${plugin} registered a backend without a name or an open() function.`, {
          context: { plugin },
        })
      }
      const clash = this.entries.find(
        (entry) => entry.backend.kind === backend.kind && entry.backend.name === backend.name,
      )
      if (clash) {
        throw new ConfigurationError(
          `Two plugins register the ${backend.kind} backend "${backend.name}": ${clash.plugin} and ${plugin}. Uninstall one of them (jjm plugins uninstall).`,
          { context: { kind: backend.kind, name: backend.name } },
        )
      }
      this.entries.push({ backend, plugin })
    }
  }

  list(kind?: Backend['kind']): Array<{ kind: string; name: string; description: string; plugin: string }> {
    return this.entries
      .filter((entry) => kind === undefined || entry.backend.kind === kind)
      .map(({ backend, plugin }) => ({
        kind: backend.kind,
        name: backend.name,
        description: backend.description,
        plugin,
      }))
  }

  storage(name: string): StorageBackend {
    return this.find('storage', name) as StorageBackend
  }

  cache(name: string): CacheBackend {
    return this.find('cache', name) as CacheBackend
  }

  notifier(name: string): NotifierBackend {
    return this.find('notifier', name) as NotifierBackend
  }

  jules(name: string): JulesBackend {
    return this.find('jules', name) as JulesBackend
  }

  private find(kind: Backend['kind'], name: string): Backend {
    const found = this.entries.find((entry) => entry.backend.kind === kind && entry.backend.name === name)
    if (found) return found.backend
    const available = this.list(kind)
      .map((entry) => `${entry.name} (from ${entry.plugin})`)
      .join(', ')
    throw new ConfigurationError(
      `No ${kind} backend is named "${name}". Available: ${available || 'none'}. ${kind === 'notifier' ? 'Choose one with backend: in a notifiers: entry' : `Choose one with --${kind}, JJM_${kind.toUpperCase()} or ${kind}.backend`}, or install the plugin that provides it (jjm plugins install).`,
      { context: { kind, name } },
    )
  }
}

/**
 * The namespace of the cache keys and event channels of one database. Several
 * jjm deployments may share one Redis; without it, one would read another's
 * cached pages and live updates. Processes on the same database must agree on
 * it, so it comes from the database's identity (host, port and name for
 * PostgreSQL, never the user or password; the file for SQLite and JSON), or
 * from `cache.namespace` when the same database is reached under different
 * host names.
 */
export function cacheNamespace(config: JjmConfig): string {
  if (config.cache.namespace) return config.cache.namespace
  let identity: string
  if (config.storage.url) {
    try {
      const url = new URL(config.storage.url)
      const host = url.hostname === 'localhost' ? '127.0.0.1' : url.hostname.toLowerCase()
      identity = `${config.storage.backend}:${host}:${url.port || '5432'}${url.pathname}`
    } catch {
      identity = `${config.storage.backend}:${config.storage.url}`
    }
  } else {
    identity = `${config.storage.backend}:${resolve(config.storage.path)}`
  }
  return createHash('sha256').update(identity).digest('hex').slice(0, 12)
}
