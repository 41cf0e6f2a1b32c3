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
  list_sessions    {pageSize?, pageToken?, filter?}                  → {sessions, nextPageToken}
  list_activities  {parent, pageSize?, pageToken?, filter?}          → {activities, nextPageToken}
  send_message     {session, prompt}                                 → {}
  approve_plan     {session}                                         → {}
  archive_session, unarchive_session, delete_session  {session}      → {}

jjm's mcp backend also speaks to other Jules MCP servers (jules.mcp.preset; see docs/mcp.md). Try it with:

  jjm tasks create --jules mcp --repo acme/api "..."   # with, in config.yaml:
    jules:
      mcp:
        command: jjm
        args: [mcp, serve]

Scenario markers in a prompt choose what the simulated agent does: [sim:fail], [sim:feedback],
[sim:pause], [sim:slow]. Simulated sessions live in memory, for as long as the server runs,
unless --db FILE (or --storage) is given: then they are kept in that SQLite file, in the tables
the sim backend of every jjm command uses, and the next run of the server (jjm's mcp backend
starts one per command, and again after a crash) sees the same sessions. JJM_DB and the config
file are not enough on their own: the server inherits the environment of the jjm that starts it,
whose database is that jjm's own.`

  static override examples = [
    '<%= config.bin %> mcp serve',
    '<%= config.bin %> mcp serve --run-seconds 5',
    '<%= config.bin %> mcp serve --db ~/.local/share/jjm/mcp-sim.sqlite',
  ]

  static override flags = {
    'run-seconds': Flags.integer({ summary: 'Seconds a simulated session takes from queued to completed.', min: 1 }),
  }

  async run(): Promise<void> {
    const config = await this.jjmConfig()
    const logger = await this.logger()
    const { systemClock } = await import('../../core/clock.js')
    const { Simulator } = await import('../../sim/engine.js')
    const { openSimState } = await import('../../sim/stored-state.js')
    const { serveSimMcpOverStdio } = await import('../../sim/mcp-server.js')
    const state = await openSimState({
      config,
      registry: await this.backendRegistry(),
      logger,
      stored: this.flags.db !== undefined || this.flags.storage !== undefined,
    })
    const simulator = new Simulator({
      store: state.store,
      clock: systemClock,
      runSeconds: this.flags['run-seconds'] ?? config.sim.runSeconds,
      autoApproveSeconds: config.sim.autoApproveSeconds,
    })
    const server = await serveSimMcpOverStdio({ simulator, logger, version: this.config.version })
    logger.info('Jules SIMULATOR serving MCP on stdio (simulated sessions; nothing reaches Jules)', {
      sessionsIn: state.where,
    })
    const stop = (): void => void server.close()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      await server.closed
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      await state.close()
    }
  }
}
