/**
 * jjm's three Jules backends, opened by name through the registry exactly as
 * core opens them, pass the Jules backend contract that `jjm/testing` gives
 * plugin authors: `sim` in this process on a manual clock, `rest` against the
 * simulator's HTTP server, `mcp` against the simulator behind jjm's MCP tools
 * in a child process.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { ManualClock, OffsetClock } from '../../../src/core/clock.js'
import { loadConfig } from '../../../src/core/config.js'
import { createJulesClient } from '../../../src/core/core.js'
import type { JulesClient } from '../../../src/core/jules/client.js'
import { silentLogger } from '../../../src/core/ports.js'
import { Simulator } from '../../../src/sim/engine.js'
import { startSimServer } from '../../../src/sim/http.js'
import { MemorySimStateStore } from '../../../src/sim/memory-store.js'
import { describeJulesClientContract, simClockDriver, simServerDriver } from '../../../src/testing/index.js'
import { builtinRegistry } from '../../support/registry.js'

const root = new URL('../../..', import.meta.url).pathname
const dirs: string[] = []

after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

/** The client core would build for `env`. */
async function openByName(env: Record<string, string>, clock = new ManualClock()): Promise<JulesClient> {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-jules-contract-'))
  dirs.push(dir)
  const config = await loadConfig({ configDir: dir, dataDir: dir, env })
  return createJulesClient(await builtinRegistry(), { config, logger: silentLogger, clock, version: 'test' })
}

describeJulesClientContract('sim', async () => {
  const clock = new ManualClock()
  // A plan waits for approval until approved, so that the suite finds it waiting.
  const client = await openByName({ JJM_JULES: 'sim', JJM_SIM_AUTO_APPROVE_SECONDS: '0' }, clock)
  return { client, driver: simClockDriver((ms) => clock.advance(ms)), close: async () => client.close?.() }
})

describeJulesClientContract('rest', async () => {
  const clock = new OffsetClock()
  const simulator = new Simulator({ store: new MemorySimStateStore(), clock, autoApproveSeconds: 0 })
  const server = await startSimServer({ simulator, clock, apiKeys: ['contract-key'] })
  const client = await openByName({ JJM_JULES: 'rest', JULES_API_URL: server.url, JULES_API_KEY: 'contract-key' })
  return {
    client,
    driver: simServerDriver(server.url),
    async close() {
      await client.close?.()
      await server.close()
    },
  }
})

// One MCP server for the whole suite: starting one per test would cost a process start each.
// Every test makes sessions of its own, so sharing its simulator changes nothing they see.
let mcp: Promise<{ client: JulesClient; controlUrl: string }> | undefined
after(async () => {
  if (mcp) await (await mcp).client.close?.()
})

describeJulesClientContract('mcp', async () => {
  mcp ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-jules-contract-mcp-'))
    dirs.push(dir)
    const controlFile = join(dir, 'control-url')
    const fixture = join(root, 'test', 'support', 'mcp-sim-server.ts')
    const client = await openByName({
      JJM_JULES: 'mcp',
      JJM_JULES_MCP_COMMAND: process.execPath,
      JJM_JULES_MCP_ARGS: JSON.stringify(['--import', 'tsx', fixture, '--control-file', controlFile]),
    })
    // The handshake is done, so the server wrote the file before it began serving MCP.
    return { client, controlUrl: await readFile(controlFile, 'utf8') }
  })()
  const { client, controlUrl } = await mcp
  return { client, driver: simServerDriver(controlUrl), close: async () => {} }
})
