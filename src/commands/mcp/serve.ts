import { Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'

export default class McpServe extends JjmCommand<typeof McpServe> {
  static override summary = 'Serve the built-in Jules simulator as an MCP server over stdio (nothing reaches Jules).'
  static override description =
    `Speaks the Model Context Protocol on stdin/stdout, so it is meant to be started by an MCP
client, not typed at: jjm's own mcp backend, or an AI assistant. Logs go to stderr; stdout
carries only the protocol. The server stops when its client closes stdin.

Tools (jjm's Jules tool set; each takes the Jules API request fields and answers the Jules JSON,
as structuredContent and as JSON text; a failure is an isError result holding Google's error body):
  list_sources     {filter?, pageSize?, pageToken?}                  → {sources, nextPageToken}
  get_source       {name}                                            → Source
  create_session   {prompt, sourceContext, title?, requirePlanApproval?, automationMode?} → Session
  get_session      {name}                                            → Session
  list_sessions    {pageSize?, pageToken?}                           → {sessions, nextPageToken}
  list_activities  {parent, pageSize?, pageToken?, filter?}          → {activities, nextPageToken}
  send_message     {session, prompt}                                 → {}
  approve_plan     {session}                                         → {}

jjm's mcp backend also accepts these names with a jules_ prefix. Try it with:

  jjm tasks create --jules mcp --repo acme/api "..."   # with, in config.yaml:
    jules:
      mcp:
        command: jjm
        args: [mcp, serve]

Scenario markers in a prompt choose what the simulated agent does: [sim:fail], [sim:feedback],
[sim:pause], [sim:slow]. Simulated sessions live in memory, for as long as the server runs.`

  static override examples = ['<%= config.bin %> mcp serve', '<%= config.bin %> mcp serve --run-seconds 5']

  static override flags = {
    'run-seconds': Flags.integer({ summary: 'Seconds a simulated session takes from queued to completed.', min: 1 }),
  }

  async run(): Promise<void> {
    const config = await this.jjmConfig()
    const logger = await this.logger()
    const { systemClock } = await import('../../core/clock.js')
    const { Simulator } = await import('../../core/jules/sim/engine.js')
    const { MemorySimStateStore } = await import('../../core/jules/sim/memory-store.js')
    const { serveSimMcpOverStdio } = await import('../../core/jules/sim/mcp-server.js')
    const simulator = new Simulator({
      store: new MemorySimStateStore(),
      clock: systemClock,
      runSeconds: this.flags['run-seconds'] ?? config.sim.runSeconds,
      autoApproveSeconds: config.sim.autoApproveSeconds,
    })
    const server = await serveSimMcpOverStdio({ simulator, logger, version: this.config.version })
    logger.info('Jules SIMULATOR serving MCP on stdio (simulated sessions; nothing reaches Jules)')
    const stop = (): void => void server.close()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    await server.closed
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}
