import type { JulesBackend } from '../../core/backends.js'

/**
 * `mcp`: a Jules MCP server, spawned over stdio or reached over streamable
 * HTTP, through the preset or declared mapping of its tool set (docs/mcp.md).
 * The MCP SDK loads only here.
 */
export const mcpJulesBackend: JulesBackend = {
  kind: 'jules',
  name: 'mcp',
  description:
    'A Jules MCP server: spawned over stdio (jules.mcp.command) or over streamable HTTP (jules.mcp.url), with its preset (jules.mcp.preset) or a mapping (jules.mcp.tools)',
  async open({ config, logger, version }) {
    const { createMcpClient, mcpClientOptions } = await import('../../core/jules/mcp.js')
    return createMcpClient(mcpClientOptions(config.jules, logger, version))
  },
}
