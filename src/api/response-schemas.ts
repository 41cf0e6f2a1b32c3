/**
 * The response bodies the routes name, by component id. Filled from
 * src/core/representation.ts (the schemas `--json` output is checked
 * against too) once that lands; the API-only ones live here.
 */
import { type ZodType, z } from 'zod'

const check = z.strictObject({
  status: z.enum(['pass', 'fail']),
  latencyMs: z.number(),
  message: z.string(),
})

export const responseSchemas: Record<string, ZodType> = {
  TaskStatus: z.strictObject({
    taskId: z.string(),
    state: z.string(),
    updatedAt: z.string(),
    lastSyncedAt: z.string().nullable(),
    waitingFor: z.string().nullable().describe('What a person must do for the task to go on; null when nothing.'),
    terminal: z.boolean(),
  }),
  Health: z.strictObject({
    status: z.enum(['healthy', 'degraded', 'unhealthy']),
    version: z.string(),
    uptime: z.number().describe('Seconds since the daemon started.'),
    checks: z.record(z.string(), check),
  }),
  Liveness: z.strictObject({ status: z.literal('alive') }),
  Readiness: z.strictObject({ status: z.enum(['ready', 'not_ready']), reason: z.string().optional() }),
}
