import { summariseActiveTasks } from './active-summary.js'
import { ApiKeyService } from './api-keys.js'
import type { BackendRegistry, CacheHandle, JulesOpenOptions, StorageHandle, StorageOpenOptions } from './backends.js'
import { CachedTaskStore } from './cached-store.js'
import { systemClock } from './clock.js'
import type { JjmConfig } from './config.js'
import { ConfigurationError } from './errors.js'
import { createIdGenerator } from './ids.js'
import type { JulesClient } from './jules/client.js'
import { instrumentedJulesClient } from './jules/instrumented.js'
import { optional } from './jules/optional.js'
import { withJjmErrors } from './jules/plugin-errors.js'
import { JobManager, publishUpdate } from './manager.js'
import type { Metrics } from './metrics.js'
import { Monitor } from './monitor.js'
import { NotificationAdmin } from './notification-admin.js'
import { NotificationCenter, routeNames } from './notifications.js'
import { NotifyingTaskStore } from './notifying-store.js'
import { planLimits } from './plan-quota.js'
import type { Clock, EventBus, Logger, Notifier, TaskStore } from './ports.js'
import { defaultBurst, type JulesBudget, JulesThrottle, julesAccountKey } from './rate-limit.js'
import { leaseHolderName, SessionSynchronizer } from './synchronizer.js'

export interface CoreOptions {
  config: JjmConfig
  logger: Logger
  registry: BackendRegistry
  migrate?: StorageOpenOptions['migrate']
  clock?: Clock
  /** jjm's version, sent to Jules in the User-Agent. */
  version?: string
  /**
   * Where core records its metrics; absent: nothing is recorded. Made by the
   * process that serves or pushes them (the daemon, `monitor --once`).
   */
  metrics?: Metrics
}

/** Everything a command or the daemon needs, wired from one config. */
export interface Core {
  config: JjmConfig
  clock: Clock
  manager: JobManager
  monitor: Monitor
  /** The notification outbox as people see it: list, retry, prune. */
  notifications: NotificationAdmin
  jules: JulesClient
  /**
   * The Jules request budget (`monitor.requestsPerMinute`): one per Jules
   * account, shared through Redis by every process on it when the cache is
   * Redis. The monitor draws on it; so should anything else that calls Jules in bulk.
   */
  julesBudget: JulesBudget
  storage: StorageHandle
  /** The store as core uses it: behind the cache when one is configured. */
  store: TaskStore
  cache: CacheHandle
  bus: EventBus
  logger: Logger
  /**
   * Keys to the REST API.
   * @throws ConfigurationError when the storage backend cannot keep them (json).
   */
  apiKeys(): ApiKeyService
  close(): Promise<void>
}

export async function openCore(options: CoreOptions): Promise<Core> {
  const { config, logger, registry, metrics } = options
  const clock = options.clock ?? systemClock
  const storage = await registry
    .storage(config.storage.backend)
    .open({ config, logger, migrate: options.migrate ?? 'auto' })
  let cache: CacheHandle
  try {
    cache = await registry.cache(config.cache.backend).open({ config, logger })
  } catch (error) {
    await storage.close()
    throw error
  }
  let julesBudget: JulesBudget
  try {
    julesBudget = await openJulesBudget(config, cache, clock, logger)
  } catch (error) {
    await cache.close()
    await storage.close()
    throw error
  }
  const cachedStore: TaskStore = cache.cache
    ? new CachedTaskStore(storage.store, cache.cache, { logger, clock, ...(metrics ? { metrics } : {}) })
    : storage.store
  let notifications: NotificationCenter
  try {
    notifications = notificationCenter(config, registry, cachedStore, clock, logger, metrics)
  } catch (error) {
    await julesBudget.close?.()
    await cachedStore.close()
    await cache.close()
    throw error
  }
  const store: TaskStore = notifications.enabled ? new NotifyingTaskStore(cachedStore, notifications) : cachedStore
  const bus = cache.bus
  const lazyJules = lazyJulesClient(config.jules.backend, () =>
    createJulesClient(registry, {
      config,
      storage,
      logger,
      clock,
      ...(options.version === undefined ? {} : { version: options.version }),
      onRateLimited: (retryAfterSeconds) => {
        // Every process on the account pauses at the first 429, not after this one's retries.
        julesBudget.rateLimited(retryAfterSeconds)
      },
    }),
  )
  const jules = metrics ? instrumentedJulesClient(lazyJules, metrics) : lazyJules
  const newId = createIdGenerator()
  let apiKeyService: ApiKeyService | undefined
  // One sync path per process, shared by the commands, the API and the monitor: one budget, one set of leases.
  const synchronizer = new SessionSynchronizer({
    jules,
    store,
    clock,
    logger,
    budget: julesBudget,
    holder: leaseHolderName(),
    leaseTtlMs: config.monitor.leaseTtlSeconds * 1000,
    stalledAfter: config.monitor.stalledAfter,
    ...(config.monitor.nudgeStalled ? { nudgeMessage: config.monitor.nudgeMessage } : {}),
    publish: (update) => publishUpdate(bus, logger, update),
    ...(metrics ? { metrics } : {}),
  })
  const manager = new JobManager({
    jules,
    store,
    clock,
    logger,
    newId,
    bus,
    synchronizer,
    julesTimeoutMs: config.jules.timeoutMs,
    createGraceMs: config.jules.createGraceMs,
    ...(metrics ? { metrics } : {}),
    ...optionalLimits(planLimits(config.jules)),
    ...(storage.tryLock ? { tryLock: storage.tryLock.bind(storage) } : {}),
  })
  const outbox = new NotificationAdmin({
    store,
    deliver: () => notifications.deliver(),
    routeIds: routeNames(config.notifiers),
    clock,
    logger: logger.child({ component: 'notifications' }),
    retention: config.notifications,
    intents: storage.store,
  })
  const monitor: Monitor = new Monitor({
    jules,
    store,
    clock,
    logger,
    bus,
    concurrency: config.monitor.concurrency,
    synchronizer,
    notifications,
    outboxCleanup: outbox,
    queue: manager.queue,
    ...(metrics ? { metrics } : {}),
  })
  // The scrape-time gauges read this core until it closes.
  const detachMetrics = metrics?.attach({
    // Counted by the database itself when it can (one aggregate query, however many tasks are active).
    activeTasks: async () =>
      storage.store.summariseActiveTasks
        ? storage.store.summariseActiveTasks()
        : summariseActiveTasks(await store.listActiveTasks()),
    ...(storage.connectionsInUse ? { connectionsInUse: () => storage.connectionsInUse?.() ?? 0 } : {}),
    breakerState: () => jules.circuit?.().state,
    clock,
  })
  return {
    config,
    clock,
    manager,
    monitor,
    notifications: outbox,
    jules,
    julesBudget,
    storage,
    store,
    cache,
    bus,
    logger,
    apiKeys() {
      if (storage.apiKeys === undefined) {
        throw new ConfigurationError(
          `The ${config.storage.backend} storage backend cannot keep API keys. Use sqlite (the default) or postgresql storage for the daemon and \`jjm api-keys\`.`,
          { context: { backend: config.storage.backend } },
        )
      }
      apiKeyService ??= new ApiKeyService(storage.apiKeys, clock, newId, {
        bus,
        logger: logger.child({ component: 'api-keys' }),
      })
      return apiKeyService
    },
    async close() {
      detachMetrics?.()
      synchronizer.close()
      await apiKeyService?.close()
      await jules.close?.()
      await julesBudget.close?.()
      // The decorator closes the store underneath it (after handing over missed invalidations).
      await store.close()
      await cache.close()
    },
  }
}

/**
 * One Jules budget per account: in the cache's server when it keeps state
 * for several processes (Redis), so that N daemons together stay within
 * `monitor.requestsPerMinute` and one 429 pauses them all; in this process otherwise.
 */
async function openJulesBudget(
  config: JjmConfig,
  cache: CacheHandle,
  clock: Clock,
  logger: Logger,
): Promise<JulesBudget> {
  const perMinute = config.monitor.requestsPerMinute
  const burst = defaultBurst(perMinute)
  const shared = await cache.julesBudgetStore?.({ account: julesAccountKey(config.jules), perMinute, burst })
  return new JulesThrottle({
    perMinute,
    burst,
    clock,
    logger: logger.child({ component: 'jules-budget' }),
    ...(shared === undefined ? {} : { shared }),
  })
}

/**
 * Routing and delivery of the configured notifiers. Unknown backend names are
 * refused at once; the notifiers themselves (undici, nodemailer) open at the
 * first delivery, so that a command that sends nothing never loads them.
 */
function notificationCenter(
  config: JjmConfig,
  registry: BackendRegistry,
  store: TaskStore,
  clock: Clock,
  logger: Logger,
  metrics: Metrics | undefined,
): NotificationCenter {
  const routes = config.notifiers
  const backends = routes.map((route) => registry.notifier(route.backend))
  const names = routeNames(routes)
  return new NotificationCenter({
    routes,
    store,
    clock,
    logger: logger.child({ component: 'notifications' }),
    ...(metrics ? { metrics } : {}),
    openNotifiers: async () => {
      const notifiers = new Map<string, Notifier>()
      for (const [index, backend] of backends.entries()) {
        const route = routes[index]
        const name = names[index]
        if (route === undefined || name === undefined) continue
        const notifier = await backend.open({ route, config, logger })
        notifiers.set(name, { name, send: (notification) => notifier.send(notification) })
      }
      return notifiers
    },
  })
}

/**
 * Builds the Jules adapter named in config (`jules.backend`) by the backend
 * the registry holds under that name: a built-in one (rest, mcp, sim) or a
 * plugin's. Refusals come out as JjmErrors even from a plugin that throws
 * plain errors carrying jjm's codes.
 *
 * @throws ConfigurationError listing the registered Jules backends when none has that name.
 */
export async function createJulesClient(
  registry: BackendRegistry,
  options: Omit<JulesOpenOptions, 'clock' | 'version' | 'storage'> &
    Partial<Pick<JulesOpenOptions, 'clock' | 'version' | 'storage'>>,
): Promise<JulesClient> {
  const backend = registry.jules(options.config.jules.backend)
  const client = await backend.open({
    ...options,
    storage: options.storage ?? {},
    clock: options.clock ?? systemClock,
    version: options.version ?? 'dev',
  })
  return withJjmErrors(client)
}

/**
 * Defers building the Jules adapter to its first use, so that commands that
 * never talk to Jules (tasks list, migrate) need no API key.
 */
function lazyJulesClient(kind: string, build: () => Promise<JulesClient>): JulesClient {
  let client: Promise<JulesClient> | undefined
  // Kept once built, so that the breaker's state can be read synchronously.
  let built: JulesClient | undefined
  const get = () => {
    client ??= build().then((adapter) => {
      built = adapter
      return adapter
    })
    return client
  }
  return {
    kind,
    listSources: async (request) => (await get()).listSources(request),
    getSource: async (name) => (await get()).getSource(name),
    createSession: async (request) => (await get()).createSession(request),
    getSession: async (name) => (await get()).getSession(name),
    listSessions: async (request) => (await get()).listSessions(request),
    listActivities: async (session, request) => (await get()).listActivities(session, request),
    sendMessage: async (session, prompt) => (await get()).sendMessage(session, prompt),
    approvePlan: async (session) => (await get()).approvePlan(session),
    archiveSession: async (session) => optional(await get(), 'archiveSession')(session),
    unarchiveSession: async (session) => optional(await get(), 'unarchiveSession')(session),
    deleteSession: async (session) => optional(await get(), 'deleteSession')(session),
    // Not built yet: no call has failed, so the circuit is closed.
    circuit: () => built?.circuit?.() ?? { state: 'closed' },
    async close() {
      if (client) await (await client.catch(() => undefined))?.close?.()
    },
  }
}

export { optional } from './jules/optional.js'

function optionalLimits(limits: ReturnType<typeof planLimits>): {
  limits?: NonNullable<ReturnType<typeof planLimits>>
} {
  return limits === undefined ? {} : { limits }
}
