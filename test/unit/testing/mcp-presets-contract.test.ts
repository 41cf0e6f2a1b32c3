/**
 * The mcp backend, through the presets of the Jules MCP servers people
 * install, passes the Jules backend contract of `jjm/testing` against
 * stand-ins of those servers (test/support/mcp-stand-ins.ts): jules-mcp-server
 * over streamable HTTP in this process on a manual clock, the Python
 * jules-mcp over stdio in a child process whose clock the suite moves.
 *
 * Google's @google/jules-mcp is not run here: it has no source tools and
 * needs a branch with every repository, which the suite does not give (see
 * test/unit/core/jules/mcp-presets.test.ts for what it does pass).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import type { JulesClient } from '../../../src/core/jules/client.js'
import { createMcpClient } from '../../../src/core/jules/mcp.js'
import { Simulator } from '../../../src/sim/engine.js'
import { MemorySimStateStore } from '../../../src/sim/memory-store.js'
import { describeJulesClientContract, simClockDriver, simServerDriver } from '../../../src/testing/index.js'
import { julesMcpServerStandIn, serveOverHttp } from '../../support/mcp-stand-ins.js'

const root = new URL('../../..', import.meta.url).pathname
const quickBackoff = { initialDelayMs: 10, maxDelayMs: 50 }

// One stand-in per preset for the whole suite: every test makes sessions of its own.
let http: Promise<{ client: JulesClient; clock: ManualClock; close(): Promise<void> }> | undefined
let stdio: Promise<{ client: JulesClient; controlUrl: string; dir: string }> | undefined
after(async () => {
  if (http) await (await http).close()
  if (stdio) {
    const { client, dir } = await stdio
    await client.close?.()
    await rm(dir, { recursive: true, force: true })
  }
})

describeJulesClientContract('mcp through the jules-mcp-server preset', async () => {
  http ??= (async () => {
    const clock = new ManualClock()
    const simulator = new Simulator({ store: new MemorySimStateStore(), clock, autoApproveSeconds: 0 })
    const served = await serveOverHttp(() => julesMcpServerStandIn(simulator))
    const client = await createMcpClient({ url: served.url, preset: 'jules-mcp-server', backoff: quickBackoff })
    return {
      client,
      clock,
      async close() {
        await client.close?.()
        await served.close()
      },
    }
  })()
  const { client, clock } = await http
  return { client, driver: simClockDriver((ms) => clock.advance(ms)), close: async () => {} }
})

describeJulesClientContract('mcp through the jules-mcp (Python) preset', async () => {
  stdio ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-mcp-presets-contract-'))
    const controlFile = join(dir, 'control-url')
    const client = await createMcpClient({
      command: process.execPath,
      args: [
        '--import',
        'tsx',
        join(root, 'test', 'support', 'mcp-stand-in-server.ts'),
        '--preset',
        'jules-mcp',
        '--run-seconds',
        '20',
        '--control-file',
        controlFile,
      ],
      cwd: root,
      preset: 'jules-mcp',
      timeoutMs: 20_000,
      backoff: quickBackoff,
    })
    return { client, controlUrl: await readFile(controlFile, 'utf8'), dir }
  })()
  const { client, controlUrl } = await stdio
  return { client, driver: simServerDriver(controlUrl), close: async () => {} }
})
