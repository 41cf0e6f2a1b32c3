/**
 * The built-in Jules backends. Each is a thin factory over its adapter
 * (src/core/jules/rest.ts, src/core/jules/mcp.ts, src/sim/): the adapter's
 * module loads only when the backend is opened.
 */
import type { JulesBackend } from '../../core/backends.js'
import { mcpJulesBackend } from './mcp-backend.js'
import { restJulesBackend } from './rest-backend.js'
import { simJulesBackend } from './sim-backend.js'

export const julesBackends: JulesBackend[] = [restJulesBackend, mcpJulesBackend, simJulesBackend]
