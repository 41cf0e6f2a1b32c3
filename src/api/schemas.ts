/**
 * The shapes of what the API accepts, as zod schemas: they validate requests
 * and are the source of the OpenAPI document (openapi.ts), so the two cannot
 * disagree.
 */
import { z } from 'zod'
import { apiKeyScopes } from '../core/api-keys.js'
import { bulkActions, maxBulkTasks } from '../core/bulk-actions.js'
import type { EventQuery } from '../core/ports.js'
import { taskChangesSchema, taskInputSchema } from '../core/representation.js'
import { type TaskFilter, taskStates } from '../core/task.js'

const instant = z.iso
  .datetime({ offset: true })
  .meta({ description: 'An RFC 3339 instant, e.g. 2026-11-25T10:00:00Z.' })
const label = z.string().min(1).max(64)

export const maxPageLimit = 200

const limit = z.coerce
  .number()
  .int()
  .min(1, 'must be at least 1')
  .transform((value) => Math.min(value, maxPageLimit))
  .meta({ description: `Items per page, 1 to ${maxPageLimit}; larger values are clamped to ${maxPageLimit}.` })
const cursor = z.string().max(2048).meta({ description: 'The `nextCursor` of the previous page.' })
const list = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => (Array.isArray(value) ? value : [value]).flatMap((item) => item.split(',')).filter(Boolean))

export const taskListQuery = z
  .object({
    state: list.pipe(z.array(z.enum(taskStates))).optional(),
    repository: z
      .string()
      .regex(/^[^/\s]+\/[^/\s]+$/, 'must be owner/repo')
      .optional(),
    label: z.string().optional(),
    group: z.string().min(1).max(58).optional().meta({
      description: 'Only the attempts of one parallel create (the label `group:ID`); not together with `label`.',
    }),
    archived: z
      .enum(['true', 'false'])
      .optional()
      .meta({ description: 'true: only archived tasks; false (the default): only tasks not archived.' }),
    since: instant.optional(),
    until: instant.optional(),
    q: z.string().max(200).optional(),
    stalled: z
      .enum(['true', 'false'], { error: 'must be true or false' })
      .transform((value) => value === 'true')
      .optional()
      .meta({ description: 'true: only tasks marked stalled; false: only tasks that are not.' }),
    limit: limit.optional(),
    cursor: cursor.optional(),
  })
  .refine((query) => query.group === undefined || query.label === undefined, {
    message: 'give either label or group, not both',
    path: ['group'],
  })
  .meta({ id: 'TaskListQuery' })
  // The query's names are the API's; the filter's are core's.
  .transform(
    ({ state, q, group, archived, label, ...rest }): TaskFilter =>
      dropUndefined({
        ...rest,
        states: state,
        search: q,
        label: group === undefined ? label : `group:${group}`,
        archived: archived === undefined ? undefined : archived === 'true',
      }),
  )

export const deleteTaskQuery = z
  .object({
    purge: z.enum(['true', 'false']).optional().meta({ description: "true: remove the task's history too." }),
    remote: z.enum(['true', 'false']).optional().meta({ description: 'true: delete the session at Jules too.' }),
  })
  .meta({ id: 'DeleteTaskQuery' })

export const taskQuery = z
  .object({
    include: z
      .enum(['details'])
      .optional()
      .meta({ description: '`details`: also the plan, latest messages, changed files and recent events.' }),
  })
  .meta({ id: 'TaskQuery' })

export const bulkActionBody = z
  .object({
    action: z.enum(bulkActions),
    taskIds: z
      .array(z.string().min(1).max(200))
      .min(1)
      .max(maxBulkTasks)
      .optional()
      .describe('Task ids, Jules session names, or unique id prefixes; or give a filter.'),
    filter: z
      .object({
        state: z.array(z.enum(taskStates)).optional(),
        repository: z
          .string()
          .regex(/^[^/\s]+\/[^/\s]+$/, 'must be owner/repo')
          .optional(),
        label: z.string().optional(),
        group: z.string().optional(),
        updatedBefore: instant.optional().describe('Only tasks last changed before this instant.'),
      })
      .strict()
      .optional(),
    dryRun: z.boolean().optional().describe('Count and name the tasks; change nothing.'),
    remote: z.boolean().optional().describe('delete: delete each session at Jules too.'),
    purge: z.boolean().optional().describe("delete: remove each task's history too."),
  })
  .strict()
  .meta({ id: 'BulkActionInput', description: 'One action on many tasks: by `taskIds`, or by `filter`.' })

export const eventListQuery = z
  .object({
    type: list.optional(),
    since: instant.optional(),
    until: instant.optional(),
    limit: limit.optional(),
    cursor: cursor.optional(),
  })
  .meta({ id: 'EventListQuery' })
  .transform(({ type, ...rest }): EventQuery => dropUndefined({ ...rest, types: type }))

/** Core's filters hold only what was asked for. */
function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T
}

/** `POST /api/v1/tasks`: the representation's TaskInput (the same names as a `--from` file). */
export const createTaskBody = taskInputSchema

/** `PATCH /api/v1/tasks/{id}`: the representation's TaskChanges (the same as `jjm tasks update`). */
export const patchTaskBody = taskChangesSchema

export const putTaskBody = z
  .object({
    title: z.string().min(1).max(500),
    labels: z.array(label).max(50),
    metadata: z.record(z.string(), z.unknown()),
  })
  .strict()
  .meta({ id: 'TaskReplacement', description: 'Every field a person may set; metadata is replaced whole.' })

export const messageBody = z
  .object({ text: z.string().min(1).max(100_000) })
  .strict()
  .meta({ id: 'MessageInput' })

export const resumeBody = z
  .object({ text: z.string().min(1).max(100_000).optional() })
  .strict()
  .meta({ id: 'ResumeInput' })

export const createApiKeyBody = z
  .object({
    name: z.string().min(1).max(64),
    scopes: z.array(z.enum(apiKeyScopes)).min(1).optional(),
    rateLimitPerMinute: z.number().int().min(1).optional(),
    expiresInSeconds: z.number().int().min(1).optional(),
  })
  .strict()
  .meta({ id: 'ApiKeyInput' })
