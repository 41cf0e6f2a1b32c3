/**
 * The Jules simulator as an HTTP server for the end-to-end tests, and the
 * environment of a user who reaches it through the `rest` backend.
 */
import { join } from 'node:path'
import type { Clock } from '../../src/core/ports.js'
import { Simulator } from '../../src/sim/engine.js'
import { type SimServer, startSimServer } from '../../src/sim/http.js'
import { MemorySimStateStore } from '../../src/sim/memory-store.js'

export const e2eApiKey = 'e2e-key'

/** A simulator on `clock` (the test moves its sessions on) behind a free loopback port, accepting {@link e2eApiKey}. */
export async function startE2eSimulator(
  clock: Clock,
  options: { runSeconds?: number } = {},
): Promise<{ simulator: Simulator; server: SimServer }> {
  const simulator = new Simulator({
    store: new MemorySimStateStore(),
    clock,
    ...(options.runSeconds === undefined ? {} : { runSeconds: options.runSeconds }),
  })
  const server = await startSimServer({ simulator, port: 0, apiKeys: [e2eApiKey] })
  return { simulator, server }
}

/** A user whose home (config, data, cache) is `dir`, driving the simulator at `url` with the rest backend. */
export function e2eEnvironment(dir: string, url: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    JULES_API_URL: url,
    JULES_API_KEY: e2eApiKey,
    JJM_JULES: 'rest',
    JJM_LOG_LEVEL: 'warn',
    ...extra,
  }
}
