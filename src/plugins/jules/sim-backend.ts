import type { JulesBackend } from '../../core/backends.js'

/**
 * `sim`: the simulator (src/sim) in this process, on core's clock. Its
 * sessions live in the storage backend when it can keep them (so that one
 * command sees the sessions another created), in memory otherwise.
 */
export const simJulesBackend: JulesBackend = {
  kind: 'jules',
  name: 'sim',
  description: 'The built-in Jules simulator, in this process: no network, no API key',
  async open({ config, storage, logger, clock }) {
    const [{ Simulator }, { createSimClient }, { MemorySimStateStore }] = await Promise.all([
      import('../../sim/engine.js'),
      import('../../sim/adapter.js'),
      import('../../sim/memory-store.js'),
    ])
    const simulator = new Simulator({
      store: storage.sim ?? new MemorySimStateStore(),
      clock,
      runSeconds: config.sim.runSeconds,
      autoApproveSeconds: config.sim.autoApproveSeconds,
    })
    return createSimClient(simulator, { logger: logger.child({ jules: 'sim' }) })
  },
}
