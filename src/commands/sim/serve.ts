import { Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'

export interface SimServeResult {
  url: string
  apiKeys: string[]
}

export default class SimServe extends JjmCommand<typeof SimServe> {
  static override summary = 'Serve the built-in Jules simulator over HTTP (a sandbox: nothing reaches Jules).'
  static override description = `The simulator answers the Jules v1alpha REST API with simulated sessions, so jjm's
rest backend (or any Jules client) can be tried and tested with no network and no key:

  JULES_API_URL=http://127.0.0.1:8765 JULES_API_KEY=sim-key jjm tasks create --jules rest --repo acme/api "..."

JULES_API_URL may name the server with or without /v1alpha, as Google's SDK does (its baseUrl
option: http://127.0.0.1:8765/v1alpha). Requests are read as Google reads them: proto field
names work, unknown fields are 400 INVALID_ARGUMENT.

Scenario markers in a prompt choose what the simulated agent does: [sim:fail], [sim:feedback],
[sim:pause], [sim:slow], and the lags of the live API: [sim:late] (activities answer 404 for
the first seconds) and [sim:linger] (IN_PROGRESS a little after completing). A prompt without
a sourceContext makes a session on no repository. Control endpoints under /_sim move its clock
and inject faults.`

  static override examples = [
    '<%= config.bin %> sim serve --port 8765',
    '<%= config.bin %> sim serve --run-seconds 5 --api-key my-test-key',
    '<%= config.bin %> sim serve --activities-404-seconds 3',
  ]

  static override flags = {
    host: Flags.string({ summary: 'Address to listen on.', default: '127.0.0.1' }),
    port: Flags.integer({ char: 'p', summary: 'Port (0 picks a free one).', default: 8765, min: 0, max: 65535 }),
    'api-key': Flags.string({
      summary: 'An API key the simulator accepts (repeatable).',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'run-seconds': Flags.integer({ summary: 'Seconds a simulated session takes from queued to completed.', min: 1 }),
    'activities-404-seconds': Flags.integer({
      summary: 'Seconds after a create during which activities.list answers 404, as Jules does (default 0).',
      min: 0,
    }),
  }

  async run(): Promise<void> {
    const config = await this.jjmConfig()
    const logger = await this.logger()
    const { OffsetClock } = await import('../../core/clock.js')
    const { Simulator } = await import('../../sim/engine.js')
    const { MemorySimStateStore } = await import('../../sim/memory-store.js')
    const { startSimServer } = await import('../../sim/http.js')
    const clock = new OffsetClock()
    const simulator = new Simulator({
      store: new MemorySimStateStore(),
      clock,
      runSeconds: this.flags['run-seconds'] ?? config.sim.runSeconds,
      autoApproveSeconds: config.sim.autoApproveSeconds,
      activitiesNotFoundSeconds: this.flags['activities-404-seconds'] ?? 0,
    })
    const apiKeys = this.flags['api-key'] ?? ['sim-key']
    const server = await startSimServer({
      simulator,
      clock,
      host: this.flags.host,
      port: this.flags.port,
      apiKeys,
      logger,
    })
    // stderr even with --json, which keeps stdout for the JSON object.
    process.stderr.write(
      [
        `Jules SIMULATOR listening on ${server.url} (simulated sessions; nothing reaches Jules).`,
        `  Try: JULES_API_URL=${server.url} JULES_API_KEY=${apiKeys[0]} ${this.config.bin} sources list --jules rest`,
        '  Stop with Ctrl-C.',
        '',
      ].join('\n'),
    )
    // Printed at once, not on exit: a script starting the server needs the URL (with --port 0) now.
    if (this.jsonEnabled()) this.logJson({ url: server.url, apiKeys } satisfies SimServeResult)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    await server.close()
  }
}
