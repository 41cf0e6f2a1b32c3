/**
 * Runs one stand-in of ./mcp-stand-ins.ts over stdio, as the real server
 * runs: `node --import tsx test/support/mcp-stand-in-server.ts --preset
 * google-jules-mcp|jules-mcp [--run-seconds <n>] [--db <file>] [--control-file <file>]`.
 *
 * The simulator behind it runs on the real clock (its client is another
 * process); a plan waits for approval until approved. With `--db`, sessions
 * are kept in that SQLite file, so that the server jjm starts for each command
 * sees the earlier ones. With `--control-file`, it also serves the
 * simulator's HTTP control routes (POST /_sim/clock:advance, …) and writes
 * their URL to that file, so that a test can move the clock forward.
 */
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { OffsetClock } from '../../src/core/clock.js'
import { openSqlStore } from '../../src/plugins/storage-sql/sql-store.js'
import { Simulator } from '../../src/sim/engine.js'
import { MemorySimStateStore } from '../../src/sim/memory-store.js'
import { googleJulesMcpStandIn, pythonJulesMcpStandIn } from './mcp-stand-ins.js'

const { values } = parseArgs({
  options: {
    preset: { type: 'string' },
    'run-seconds': { type: 'string', default: '2' },
    db: { type: 'string' },
    'control-file': { type: 'string' },
  },
})
const clock = new OffsetClock()
const simulator = new Simulator({
  store:
    values.db === undefined
      ? new MemorySimStateStore()
      : (await openSqlStore({ dialect: 'sqlite', path: values.db })).sim,
  clock,
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
  process.stderr.write('mcp-stand-in-server: error: --preset must be google-jules-mcp or jules-mcp\n')
  process.exit(2)
}
let control: { close(): Promise<void> } | undefined
if (values['control-file'] !== undefined) {
  const { startSimServer } = await import('../../src/sim/http.js')
  const http = await startSimServer({ simulator, clock })
  await writeFile(values['control-file'], http.url)
  control = http
}
process.stdin.once('end', () => {
  void server.close()
  // The control server would keep the process alive once the client has gone.
  void control?.close()
})
await server.connect(new StdioServerTransport())
process.stderr.write(`mcp-stand-in-server: ${values.preset} ready pid=${process.pid}\n`)
