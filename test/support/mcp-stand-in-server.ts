/**
 * Runs one stand-in of ./mcp-stand-ins.ts over stdio, as the real server
 * runs: `node --import tsx test/support/mcp-stand-in-server.ts --preset
 * google-jules-mcp|jules-mcp [--run-seconds <n>] [--db <file>]`. The simulator behind it
 * runs on the real clock (its client is another process); a plan waits for
 * approval until approved. With `--db`, sessions are kept in that SQLite
 * file, so that the server jjm starts for each command sees the earlier ones.
 */
import { parseArgs } from 'node:util'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { systemClock } from '../../src/core/clock.js'
import { openSqlStore } from '../../src/plugins/storage-sql/sql-store.js'
import { Simulator } from '../../src/sim/engine.js'
import { MemorySimStateStore } from '../../src/sim/memory-store.js'
import { googleJulesMcpStandIn, pythonJulesMcpStandIn } from './mcp-stand-ins.js'

const { values } = parseArgs({
  options: { preset: { type: 'string' }, 'run-seconds': { type: 'string', default: '2' }, db: { type: 'string' } },
})
const simulator = new Simulator({
  store:
    values.db === undefined
      ? new MemorySimStateStore()
      : (await openSqlStore({ dialect: 'sqlite', path: values.db })).sim,
  clock: systemClock,
  runSeconds: Number(values['run-seconds']),
  autoApproveSeconds: 0,
})
const server =
  values.preset === 'google-jules-mcp'
    ? googleJulesMcpStandIn(simulator)
    : values.preset === 'jules-mcp'
      ? pythonJulesMcpStandIn(simulator)
      : undefined
if (server === undefined) {
  process.stderr.write(`mcp-stand-in-server: error: --preset must be google-jules-mcp or jules-mcp\n`)
  process.exit(2)
}
const transport = new StdioServerTransport()
process.stdin.once('end', () => void server.close())
await server.connect(transport)
process.stderr.write(`mcp-stand-in-server: ${values.preset} ready pid=${process.pid}\n`)
