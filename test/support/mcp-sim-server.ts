/**
 * A Jules MCP server for tests: the simulator behind jjm's MCP tool set, on
 * stdio. Spawn it with `node --import tsx test/support/mcp-sim-server.ts`.
 *
 *   --omit <tool>          leave a tool out (repeatable), e.g. --omit approve_plan
 *   --text-only            answer JSON as text content only, no structuredContent
 *   --run-seconds <n>      simulated run time of a session (default 1; real seconds)
 *   --fault <status>:<op>  queue one fault, e.g. --fault 429:sessions.get, or
 *                          --fault malformed:sessions.get for an answer that is not JSON (repeatable)
 *
 * It says `ready pid=<pid>` on stderr, so a test can check that the process ends.
 */
import { parseArgs } from 'node:util'
import { systemClock } from '../../src/core/clock.js'
import { Simulator } from '../../src/core/jules/sim/engine.js'
import { serveSimMcpOverStdio } from '../../src/core/jules/sim/mcp-server.js'
import { MemorySimStateStore } from '../../src/core/jules/sim/memory-store.js'

const { values } = parseArgs({
  options: {
    omit: { type: 'string', multiple: true, default: [] },
    'text-only': { type: 'boolean', default: false },
    'run-seconds': { type: 'string', default: '1' },
    fault: { type: 'string', multiple: true, default: [] },
  },
})

// The real clock: the client under test runs in another process, so the
// fixture cannot share a manual clock with it; short runs keep tests quick.
// A plan waits for approval until approved (autoApproveSeconds 0).
const simulator = new Simulator({
  store: new MemorySimStateStore(),
  clock: systemClock,
  runSeconds: Number(values['run-seconds']),
  autoApproveSeconds: 0,
})
for (const fault of values.fault) {
  const [status, method] = fault.split(':')
  const methods = method ? { methods: [method] } : {}
  if (status === 'malformed') simulator.injectFault({ status: 200, malformed: true, ...methods })
  else simulator.injectFault({ status: Number(status), ...methods })
}
process.stderr.write(`mcp-sim-server: ready pid=${process.pid}\n`)
const server = await serveSimMcpOverStdio({ simulator, omitTools: values.omit, textOnly: values['text-only'] })
await server.closed
