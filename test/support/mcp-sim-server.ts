/**
 * A Jules MCP server for tests: the simulator behind jjm's MCP tool set, on
 * stdio. Spawn it with `node --import tsx test/support/mcp-sim-server.ts`.
 *
 *   --omit <tool>          leave a tool out (repeatable), e.g. --omit approve_plan
 *   --text-only            answer JSON as text content only, no structuredContent
 *   --run-seconds <n>      simulated run time of a session (default 1; real seconds)
 *   --fault <status>:<op>[:<count>]
 *                          queue a fault hitting <count> calls (default 1), e.g. --fault 429:sessions.get,
 *                          --fault malformed:sessions.get for an answer that is not JSON, or
 *                          --fault slow:sessions.get for an answer 8 s late (repeatable)
 *   --db <file>            keep the simulated sessions in this SQLite file, so that a restarted
 *                          server sees them (default: in memory)
 *   --exit <phase>:<tool>:<marker-file>
 *                          exit (code 1) before or after running <tool> (phase `before` or `after`),
 *                          before answering, once: only while <marker-file> does not exist, which
 *                          it then creates (repeatable). Simulates a server dying mid-call.
 *   --control-file <file>  also serve the simulator's HTTP control routes (POST /_sim/clock:advance, …)
 *                          on a free port, and write their base URL to <file> before serving MCP:
 *                          a test in another process moves this server's clock through them
 *
 * It says `ready pid=<pid>` on stderr, so a test can check that the process ends.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { OffsetClock } from '../../src/core/clock.js'
import { openSqlStore } from '../../src/plugins/storage-sql/sql-store.js'
import { Simulator } from '../../src/sim/engine.js'
import { serveSimMcpOverStdio } from '../../src/sim/mcp-server.js'
import { MemorySimStateStore } from '../../src/sim/memory-store.js'

const { values } = parseArgs({
  options: {
    omit: { type: 'string', multiple: true, default: [] },
    'text-only': { type: 'boolean', default: false },
    'run-seconds': { type: 'string', default: '1' },
    fault: { type: 'string', multiple: true, default: [] },
    db: { type: 'string' },
    exit: { type: 'string', multiple: true, default: [] },
    'control-file': { type: 'string' },
  },
})

// The real clock: the client under test runs in another process, so the
// fixture cannot share a manual clock with it; short runs keep tests quick,
// and --control-file lets a test move it forward. A plan waits for approval
// until approved (autoApproveSeconds 0).
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
for (const fault of values.fault) {
  const [status, method, count] = fault.split(':')
  const options = { ...(method ? { methods: [method] } : {}), ...(count ? { count: Number(count) } : {}) }
  if (status === 'malformed') simulator.injectFault({ status: 200, malformed: true, ...options })
  else if (status === 'slow') simulator.injectFault({ status: 200, delayMs: 8000, ...options })
  else simulator.injectFault({ status: Number(status), ...options })
}
const exits = values.exit.map((spec) => {
  const [phase, tool, ...marker] = spec.split(':')
  return { phase, tool, marker: marker.join(':') }
})
const onTool = (tool: string, phase: 'before' | 'after'): void => {
  const exit = exits.find((candidate) => candidate.tool === tool && candidate.phase === phase)
  if (!exit || existsSync(exit.marker)) return
  writeFileSync(exit.marker, `${process.pid}\n`)
  process.stderr.write(`mcp-sim-server: error: exiting ${phase} ${tool} on purpose\n`)
  process.exit(1)
}
let control: { close(): Promise<void> } | undefined
if (values['control-file'] !== undefined) {
  const { startSimServer } = await import('../../src/sim/http.js')
  const http = await startSimServer({ simulator, clock })
  await writeFile(values['control-file'], http.url)
  control = http
}
process.stderr.write(`mcp-sim-server: ready pid=${process.pid}\n`)
const server = await serveSimMcpOverStdio({
  simulator,
  omitTools: values.omit,
  textOnly: values['text-only'],
  onTool,
})
await server.closed
// The control server would keep the process alive once the client has gone.
await control?.close()
