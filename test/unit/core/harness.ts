import { ManualClock } from '../../../src/core/clock.js'
import { InProcessEventBus } from '../../../src/core/event-bus.js'
import { createIdGenerator } from '../../../src/core/ids.js'
import type { JulesClient } from '../../../src/core/jules/client.js'
import { JobManager } from '../../../src/core/manager.js'
import { Monitor } from '../../../src/core/monitor.js'
import type { PlanLimits } from '../../../src/core/plan-quota.js'
import { silentLogger } from '../../../src/core/ports.js'
import { openSqlStore, type SqlStorage } from '../../../src/plugins/storage-sql/sql-store.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { Simulator } from '../../../src/sim/engine.js'

/** A JobManager and a Monitor over the simulator and an in-memory SQLite store, on a clock the test drives. */
export interface Harness {
  clock: ManualClock
  simulator: Simulator
  /** The simulator as a Jules client. */
  jules: JulesClient
  storage: SqlStorage
  manager: JobManager
  monitor: Monitor
  bus: InProcessEventBus
  close(): Promise<void>
}

export async function openHarness(
  options: {
    runSeconds?: number
    limits?: PlanLimits
    jules?: (sim: JulesClient) => JulesClient
    /** The manager's waits (`waitForTask`) move the clock instead of sleeping. */
    waitOnClock?: boolean
  } = {},
): Promise<Harness> {
  const clock = new ManualClock('2026-11-25T10:00:00.000Z')
  const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
  const simulator = new Simulator({ store: storage.sim, clock, runSeconds: options.runSeconds ?? 20 })
  const jules = options.jules ? options.jules(createSimClient(simulator)) : createSimClient(simulator)
  const bus = new InProcessEventBus()
  const deps = { jules, store: storage.store, clock, logger: silentLogger, bus }
  // The monitor waits for its rate limit on the test's clock, not in real time.
  const manager = new JobManager({
    ...deps,
    newId: createIdGenerator(),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.waitOnClock === true ? { sleep: async (ms: number) => clock.advance(ms) } : {}),
  })
  const monitor = new Monitor({
    ...deps,
    concurrency: 4,
    sleep: async (ms) => clock.advance(ms),
    queue: manager.queue,
  })
  return {
    clock,
    simulator,
    jules,
    storage,
    manager,
    monitor,
    bus,
    close: async () => {
      monitor.close()
      await bus.close()
      await storage.close()
    },
  }
}
