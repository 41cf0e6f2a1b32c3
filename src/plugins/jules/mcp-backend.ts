import type { JulesBackend } from '../../core/backends.js'
import { ConfigurationError } from '../../core/errors.js'

/** `mcp`: a Jules MCP server that jjm spawns and talks to over stdio (the MCP SDK loads only here). */
export const mcpJulesBackend: JulesBackend = {
  kind: 'jules',
  name: 'mcp',
  description: 'A Jules MCP server spawned over stdio (jules.mcp.command and jules.mcp.args)',
  async open({ config, logger, version }) {
    const command = config.jules.mcp?.command
    if (!command) {
      throw new ConfigurationError(
        `The mcp Jules backend needs the command that starts a Jules MCP server. Set jules.mcp.command and jules.mcp.args in the config file, or JJM_JULES_MCP_COMMAND and JJM_JULES_MCP_ARGS (a JSON array); for the built-in simulator, \`jjm mcp serve\`: JJM_JULES_MCP_COMMAND=jjm JJM_JULES_MCP_ARGS='["mcp","serve"]'.`,
        { context: { backend: 'mcp', key: 'jules.mcp.command' } },
      )
    }
    const { createMcpClient } = await import('../../core/jules/mcp.js')
    return createMcpClient({
      command,
      args: config.jules.mcp?.args ?? [],
      timeoutMs: config.jules.timeoutMs,
      maxAttempts: config.jules.maxAttempts,
      breaker: config.jules.breaker,
      logger: logger.child({ jules: 'mcp' }),
      version,
    })
  },
}
