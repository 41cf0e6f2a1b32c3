/**
 * The response bodies the routes name, by component id: the representation
 * schemas that `--json` output is checked against too (one source of truth),
 * and the few that only the API answers.
 */
import { type ZodType, z } from 'zod'
import {
  apiKeyPageSchema,
  apiKeySchema,
  archiveResultSchema,
  bulkActionReportSchema,
  createdApiKeySchema,
  healthReportSchema,
  operationResultSchema,
  taskEventPageSchema,
  taskPageSchema,
  taskSchema,
  taskUpdateSchema,
  taskWithDetailsSchema,
} from '../core/representation.js'

export const responseSchemas: Record<string, ZodType> = {
  Task: taskSchema,
  TaskMaybeWithDetails: z
    .union([taskSchema, taskWithDetailsSchema])
    .describe('A Task; with `include=details`, a TaskWithDetails.'),
  ArchiveResult: archiveResultSchema,
  BulkActionReport: bulkActionReportSchema,
  TaskPage: taskPageSchema,
  TaskEventPage: taskEventPageSchema,
  TaskUpdate: taskUpdateSchema,
  OperationResult: operationResultSchema,
  ApiKey: apiKeySchema,
  ApiKeyPage: apiKeyPageSchema,
  CreatedApiKey: createdApiKeySchema,
  TaskStatus: z.strictObject({
    taskId: z.string(),
    state: z.string(),
    updatedAt: z.string(),
    lastSyncedAt: z.string().nullable(),
    waitingFor: z.string().nullable().describe('What a person must do for the task to go on; null when nothing.'),
    terminal: z.boolean(),
  }),
  Health: healthReportSchema,
  Liveness: z.strictObject({ status: z.literal('alive') }),
  Readiness: z.strictObject({ status: z.enum(['ready', 'not_ready']), reason: z.string().optional() }),
}
