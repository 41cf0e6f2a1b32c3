/**
 * The JSON representations users see, as zod schemas: what `--json` prints,
 * what the REST API answers and accepts, and what its OpenAPI document lists
 * under components (each schema's `id`). One definition: the committed JSON
 * Schemas under `schemas/` are generated from these (`npm run schemas`), and
 * the TypeScript types of the domain are checked against them at compile time
 * (see RepresentationChecks at the end), so neither can drift from the other.
 *
 * Outputs are strict objects: a field that appears in real output without
 * being described here fails the schema tests instead of slipping into what
 * scripts rely on.
 */
import { z } from 'zod'
import type { ApiKey } from './api-keys.js'
import type { BulkActionReport } from './bulk-actions.js'
import type { CheckResult, HealthReport } from './health.js'
import type { SourceView } from './manager.js'
import type { AwaitingTask, MonitorReport, SyncFailure, TaskChange } from './monitor.js'
import type { NotificationPruneResult, NotificationRetryResult } from './notification-admin.js'
import type { MigrationStatus, NotificationRecord, TaskUpdate } from './ports.js'
import type { RateLimitPause } from './rate-limit.js'
import {
  type AutomationMode,
  type ChatMessage,
  type PullRequest,
  type SourceFile,
  type Task,
  type TaskEvent,
  type TaskInput,
  type TaskPage,
  taskEventTypes,
  taskStates,
} from './task.js'
import type {
  ArchiveResult,
  DeleteResult,
  OperationResult,
  PlanView,
  TaskChanges,
  TaskDetails,
  TaskPatch,
  TaskWithDetails,
  WaitResult,
} from './task-operations.js'

const timestamp = z.iso.datetime({ offset: true }).describe('RFC 3339 timestamp.')
const count = z.number().int().min(0)
const jsonObject = z.record(z.string(), z.unknown())

/** The list representation of the house: `{items, nextCursor}`. */
function pageOf<Item extends z.ZodType>(item: Item, id: string, what: string) {
  return z
    .strictObject({
      items: z.array(item),
      nextCursor: z
        .string()
        .nullable()
        .describe(
          'Pass it back as the cursor for the next page; empty or null at the end of the list (the only end-of-list signal).',
        ),
    })
    .meta({ id, description: `One page of ${what}.` })
}

// -- tasks ------------------------------------------------------------------

export const taskStateSchema = z.union([z.enum(taskStates), z.string()]).meta({
  id: 'TaskState',
  description: `A Jules session state, lower-case: ${taskStates.join(', ')}. Terminal: completed, failed. A state this jjm does not know yet is passed on as Jules gave it.`,
})

export const automationModeSchema = z.enum(['AUTOMATION_MODE_UNSPECIFIED', 'AUTO_CREATE_PR']).meta({
  id: 'AutomationMode',
  description: 'AUTO_CREATE_PR lets Jules open a pull request when done.',
})

export const pullRequestSchema = z
  .strictObject({ url: z.string(), title: z.string(), description: z.string() })
  .meta({ id: 'PullRequest', description: 'The pull request the task produced.' })

export const queuePositionSchema = z
  .strictObject({
    position: z.number().int().positive().describe('1 for the task that starts next.'),
    reason: z
      .enum(['concurrent_limit', 'daily_limit', 'next_pass'])
      .describe(
        '`concurrent_limit`: every slot runs a session; `daily_limit`: the rolling 24 hours’ quota is spent; `next_pass`: a slot is free and the monitor’s next pass starts it.',
      ),
    nextSlotAt: timestamp
      .nullable()
      .describe('When the rolling day frees the slot this task waits for (daily_limit only).'),
    running: z.number().int().nonnegative().describe('Sessions running now.'),
    concurrentLimit: z.number().int().positive().nullable(),
    startedToday: z.number().int().nonnegative().describe('Sessions started in the last 24 hours.'),
    dailyLimit: z.number().int().positive().nullable(),
  })
  .meta({ id: 'QueuePosition', description: 'Where a pending task stands in the local queue under plan quotas.' })

export const taskSchema = z
  .strictObject({
    id: z.string().describe("jjm's own id: a ULID, sortable by creation time."),
    sessionName: z
      .string()
      .describe('The Jules session, `sessions/{id}`; empty while the task is `pending` in the local queue.'),
    title: z.string(),
    prompt: z.string(),
    repository: z.string().describe('`owner/repo`; empty for a task on no repository (its result is a change set).'),
    source: z
      .string()
      .describe('The Jules source, `sources/github/{owner}/{repo}`; empty for a task on no repository.'),
    branch: z.string().describe('The starting branch; empty for a task on no repository.'),
    state: taskStateSchema,
    requirePlanApproval: z.boolean(),
    automationMode: automationModeSchema,
    url: z.string().nullable().describe('The session in the Jules web app.'),
    pullRequest: pullRequestSchema.nullable(),
    labels: z.array(z.string()).describe('Free tags for filtering.'),
    metadata: jsonObject.describe('Free JSON set by people and scripts (`jjm tasks update --metadata`).'),
    createdAt: timestamp,
    updatedAt: timestamp,
    completedAt: timestamp.nullable(),
    lastSyncedAt: timestamp.nullable().describe('When the monitor last read the session from Jules.'),
    stalledSince: timestamp
      .nullable()
      .describe(
        "When jjm marked the task stalled: no new activity from Jules for its state's `monitor.stalledAfter`. Null when it is not stalled.",
      ),
    archived: z
      .boolean()
      .describe(
        'Put away by a person (`jjm tasks archive`): hidden from lists unless they ask for archived tasks (`--archived`, `archived=true`).',
      ),
    version: z
      .number()
      .int()
      .positive()
      .describe(
        "Goes up by one with every change to the task's row; 1 when created. The REST API's ETag; send it back as If-Match.",
      ),
    priority: z
      .number()
      .int()
      .describe('Order in the local queue under plan quotas: higher starts first, then older; 0 by default.'),
    queue: queuePositionSchema
      .optional()
      .describe('Where a pending task stands in the local queue; only when one task is read on its own.'),
  })
  .meta({ id: 'Task', description: "jjm's record of one Jules session." })

export const taskPageSchema = pageOf(taskSchema, 'TaskPage', 'tasks, newest first')

export const taskEventTypeSchema = z.union([z.enum(taskEventTypes), z.string()]).meta({
  id: 'TaskEventType',
  description: `What happened: ${taskEventTypes.join(', ')}.`,
})

export const taskEventSchema = z
  .strictObject({
    id: z.string(),
    taskId: z.string(),
    type: taskEventTypeSchema,
    data: jsonObject.describe('What the event records; its fields depend on the type.'),
    at: timestamp,
  })
  .meta({ id: 'TaskEvent', description: "One line of a task's append-only history." })

export const taskEventPageSchema = pageOf(taskEventSchema, 'TaskEventPage', 'task events, newest first')

export const chatMessageSchema = z
  .strictObject({
    id: z.string(),
    taskId: z.string(),
    role: z.enum(['user', 'agent']),
    text: z.string(),
    activityId: z.string().nullable().describe('The Jules activity it came from.'),
    at: timestamp,
  })
  .meta({ id: 'ChatMessage', description: 'One message between a person and the agent.' })

export const sourceFileSchema = z
  .strictObject({
    taskId: z.string(),
    path: z.string(),
    changeType: z.string().describe('`added`, `modified`, `deleted`, `renamed`, or what the patch says.'),
  })
  .meta({ id: 'SourceFile', description: "A path the task's change set touches." })

export const planSchema = z
  .strictObject({
    at: timestamp,
    steps: z.array(z.strictObject({ title: z.string(), description: z.string() })),
  })
  .meta({ id: 'Plan', description: 'The plan the agent proposed, from the latest plan_generated event.' })

export const taskDetailsSchema = z
  .strictObject({
    task: taskSchema,
    plan: planSchema.nullable(),
    chatMessages: z.array(chatMessageSchema).describe('The latest messages, oldest first.'),
    sourceFiles: z.array(sourceFileSchema),
    events: z.array(taskEventSchema).describe('The latest events, newest first.'),
  })
  .meta({
    id: 'TaskDetails',
    description:
      'A task with its plan, latest messages, changed files and recent history (what `jjm tasks show` prints).',
  })

export const taskWithDetailsSchema = taskSchema
  .extend({
    details: z
      .strictObject({
        plan: planSchema.nullable(),
        chatMessages: z.array(chatMessageSchema).describe('The latest messages, oldest first.'),
        sourceFiles: z.array(sourceFileSchema),
        events: z.array(taskEventSchema).describe('The latest events, newest first.'),
      })
      .describe('What `jjm tasks show` prints beside the task.'),
  })
  .meta({
    id: 'TaskWithDetails',
    description:
      "A task's own fields (the Task object) and, under `details`, its plan, latest messages, changed files and recent history: `jjm tasks show --json` and `GET /api/v1/tasks/{id}?include=details`.",
  })

export const taskUpdateSchema = z
  .strictObject({
    taskId: z.string(),
    type: z.string().describe('The event type that caused it (`created`, `state_changed`, …) or `updated`.'),
    task: taskSchema.optional().describe('The task after the change; absent after a purge.'),
    at: timestamp,
  })
  .meta({ id: 'TaskUpdate', description: 'One change to one task, as the live stream of updates carries it.' })

// -- inputs -----------------------------------------------------------------

const taskInputFields = {
  prompt: z.string().describe('What Jules should do.'),
  repository: z
    .string()
    .optional()
    .describe(
      '`owner/repo` (or give `source`); leave both out for a task on no repository, whose result is a change set.',
    ),
  source: z.string().optional().describe('The Jules source, `sources/github/{owner}/{repo}`.'),
  branch: z.string().optional().describe('Branch to start from (default: the repository default branch).'),
  title: z.string().optional().describe('Jules generates one when absent.'),
  labels: z.array(z.string()).optional(),
  requirePlanApproval: z.boolean().optional().describe('Wait for an approval before Jules carries out its plan.'),
  automationMode: automationModeSchema.optional(),
  metadata: jsonObject.optional(),
  priority: z
    .number()
    .int()
    .min(-1000)
    .max(1000)
    .optional()
    .describe('Under plan quotas, the order in the local queue: higher starts first (default 0, from -1000 to 1000).'),
}

export const taskInputSchema = z.strictObject(taskInputFields).meta({
  id: 'TaskInput',
  description: 'A new task: the body of `POST /api/v1/tasks`, and the fields of `jjm tasks create`.',
})

/**
 * One entry of a `jjm tasks create --from` file: the fields of a new task,
 * plus `repo` (short for `repository`) and the entry's own idempotency key.
 * Like the parser, it also takes a single label as a string and `null` for an absent text.
 */
export const taskFileEntrySchema = z
  .strictObject({
    prompt: taskInputFields.prompt,
    repository: taskInputFields.repository.nullable(),
    repo: z.string().nullable().optional().describe('Short for `repository`.'),
    source: taskInputFields.source.nullable(),
    branch: taskInputFields.branch.nullable(),
    title: taskInputFields.title.nullable(),
    labels: z
      .union([z.array(z.string()), z.string()])
      .nullable()
      .optional(),
    requirePlanApproval: taskInputFields.requirePlanApproval,
    automationMode: taskInputFields.automationMode,
    metadata: taskInputFields.metadata,
    priority: taskInputFields.priority,
    idempotencyKey: z
      .string()
      .min(1)
      .nullable()
      .optional()
      .describe('Created at most once under this key; by default a key is derived from the file and the entry.'),
  })
  .meta({ id: 'TaskFileEntry', description: 'One task of a `jjm tasks create --from` file (YAML or JSON).' })

export const taskFileSchema = z
  .union([z.array(taskFileEntrySchema).min(1), z.strictObject({ tasks: z.array(taskFileEntrySchema).min(1) })])
  .meta({ id: 'TaskFile', description: 'A `jjm tasks create --from` file: a list of tasks, or `tasks:` holding one.' })

export const taskChangesSchema = z
  .strictObject({
    title: z.string().optional(),
    labels: z.array(z.string()).optional().describe('Replaces every label; not together with addLabels/removeLabels.'),
    addLabels: z.array(z.string()).optional(),
    removeLabels: z.array(z.string()).optional(),
    metadata: jsonObject.optional().describe("Merged into the task's metadata; a key set to null is removed."),
  })
  .meta({ id: 'TaskChanges', description: 'What `PATCH /api/v1/tasks/{id}` and `jjm tasks update` may change.' })

// -- results of operations --------------------------------------------------

export const operationResultSchema = z
  .strictObject({
    taskId: z.string(),
    operation: z.enum(['message', 'approve', 'resume']),
    state: taskStateSchema.describe("The task's state when the operation was sent."),
    at: timestamp,
  })
  .meta({
    id: 'OperationResult',
    description: "Jules accepted the operation at `at`; the agent's reply arrives later, as activities.",
  })

export const deleteResultSchema = z
  .strictObject({
    taskId: z.string(),
    deleted: z.boolean().describe('False when a person declined the confirmation.'),
    purged: z.boolean().describe('True when the history went too.'),
    session: z
      .enum(['kept', 'deleted', 'already_gone'])
      .describe(
        "The Jules session: `kept` (jjm's record only), `deleted` at Jules too (`--remote`), or `already_gone` (Jules no longer had it).",
      ),
    at: timestamp,
  })
  .meta({ id: 'DeleteResult', description: 'What deleting a task did.' })

export const archiveResultSchema = z
  .strictObject({
    taskId: z.string(),
    action: z.enum(['archive', 'unarchive']),
    outcome: z
      .enum(['done', 'unchanged'])
      .describe("`unchanged`: jjm's record already said so (Jules was told again all the same)."),
    task: taskSchema.describe('The task after the action.'),
    at: timestamp,
  })
  .meta({ id: 'ArchiveResult', description: 'What archiving (or unarchiving) one task did, at Jules and in jjm.' })

export const bulkActionOutcomeSchema = z
  .strictObject({
    taskId: z.string().describe("The task's id, or the reference given when no task has it."),
    title: z.string().nullable(),
    state: taskStateSchema.nullable(),
    status: z
      .enum(['matched', 'done', 'unchanged', 'failed'])
      .describe("`matched`: a dry run's task; `unchanged`: it already was archived (or not)."),
    error: z.strictObject({ code: z.string(), message: z.string() }).nullable(),
  })
  .meta({ id: 'BulkActionOutcome', description: 'What a bulk action did to one task.' })

export const bulkActionReportSchema = z
  .strictObject({
    action: z.enum(['archive', 'unarchive', 'delete']),
    dryRun: z.boolean().describe('True: the tasks were counted and named, nothing was changed.'),
    count: count.describe('Tasks matched (given ids count whether found or not).'),
    succeeded: count,
    failed: count.describe('Tasks the action failed for; the exit code is 17 when any did.'),
    results: z.array(bulkActionOutcomeSchema).describe('One per task: newest first for a filter, as given for ids.'),
  })
  .meta({
    id: 'BulkActionReport',
    description:
      'What one action did to many tasks (`jjm tasks archive|unarchive`, `POST /api/v1/tasks/bulk`); with a dry run, which tasks it would touch.',
  })

export const taskPatchSchema = z
  .strictObject({
    taskId: z.string(),
    state: taskStateSchema.describe("The task's state when the patch was read from Jules."),
    repository: z.string().describe('`owner/repo`: where the patch applies.'),
    patch: z.string().describe('A unified diff, as git writes it.'),
    from: z
      .enum(['outputs', 'activity'])
      .describe("The session's final change set (`outputs`), else its newest changeSet activity."),
    baseCommitId: z.string().nullable(),
    suggestedCommitMessage: z.string().nullable(),
  })
  .meta({ id: 'TaskPatch', description: "A task's change set as a unified diff (`jjm tasks pull`)." })

export const taskPullResultSchema = taskPatchSchema
  .extend({
    output: z.string().nullable().describe('The file the diff was written to (--output), absolute; null otherwise.'),
    applied: z
      .strictObject({
        checkout: z.string().describe('The top of the git checkout the diff was applied to.'),
        files: z.array(z.string()).describe('The paths the diff touches.'),
      })
      .nullable()
      .describe('What --apply did; null without it.'),
  })
  .meta({ id: 'TaskPullResult', description: 'What `jjm tasks pull` read, and where the diff went.' })

export const waitResultSchema = z
  .strictObject({
    task: taskSchema,
    outcome: z
      .enum(['reached', 'failed', 'ended', 'needs_person', 'timed_out'])
      .describe('How the wait ended; each outcome has its own exit code.'),
  })
  .meta({ id: 'WaitResult', description: 'How `jjm tasks wait` ended, with the task as it was then.' })

export const bulkFailureSchema = z
  .strictObject({
    index: z.number().int().min(1).describe('The entry, counting from 1.'),
    line: z.number().int().min(1).optional().describe('The line the entry starts on.'),
    title: z.string().optional(),
    repository: z.string().optional(),
    code: z.string().describe('The error code, e.g. JJM_VALIDATION.'),
    message: z.string(),
  })
  .meta({ id: 'BulkFailure', description: 'An entry of a task file that could not be created.' })

export const bulkCreateReportSchema = z
  .strictObject({
    created: z.array(taskSchema).describe('Tasks this run created, in file order.'),
    replayed: z.array(taskSchema).describe('Tasks an earlier run created under the same keys: nothing new.'),
    failed: z.array(bulkFailureSchema),
  })
  .meta({ id: 'BulkCreateReport', description: 'What `jjm tasks create --from FILE` did with each entry.' })

export const parallelCreateReportSchema = bulkCreateReportSchema
  .extend({
    group: z.string().describe('The group id: every attempt has the label `group:ID` (`jjm tasks list --group ID`).'),
  })
  .meta({
    id: 'ParallelCreateReport',
    description: 'What `jjm tasks create --parallel N` did: N attempts of one prompt, as one group.',
  })

// -- monitoring -------------------------------------------------------------

export const taskChangeSchema = z
  .strictObject({
    taskId: z.string(),
    title: z.string(),
    from: taskStateSchema,
    to: taskStateSchema,
    events: z.array(z.string()).describe('Event types recorded by this sync, in order.'),
    pullRequestUrl: z.string().nullable(),
  })
  .meta({ id: 'TaskChange', description: 'A task that changed during a monitor pass.' })

export const awaitingTaskSchema = z
  .strictObject({
    taskId: z.string(),
    title: z.string(),
    state: taskStateSchema,
    waitingFor: z.string().describe('What the task waits for, in words for people.'),
  })
  .meta({ id: 'AwaitingTask', description: 'A task that waits for a person.' })

export const syncFailureSchema = z
  .strictObject({ taskId: z.string(), code: z.string(), message: z.string() })
  .meta({ id: 'SyncFailure', description: 'A task that could not be synced in this pass.' })

export const rateLimitPauseSchema = z
  .strictObject({
    until: timestamp.describe('When requests to Jules resume.'),
    retryAfterSeconds: z.number().nullable().describe('What Jules asked for, when it said.'),
  })
  .meta({ id: 'RateLimitPause', description: 'Jules rate limited the monitor: every request waits until `until`.' })

export const monitorReportSchema = z
  .strictObject({
    startedAt: timestamp,
    finishedAt: timestamp,
    checked: count.describe('Active tasks looked at.'),
    changes: z.array(taskChangeSchema),
    awaitingPerson: z.array(awaitingTaskSchema),
    errors: z.array(syncFailureSchema),
    polled: count.optional().describe('How many of the checked tasks were due and read from Jules.'),
    rateLimited: rateLimitPauseSchema.nullable().optional(),
    started: z
      .array(z.strictObject({ taskId: z.string(), title: z.string(), sessionName: z.string() }))
      .optional()
      .describe('Pending tasks whose Jules sessions the pass started (plan quotas).'),
  })
  .meta({ id: 'MonitorReport', description: 'What one monitor pass over the active tasks found.' })

// -- sources, storage, the simulator, errors --------------------------------

export const sourceSchema = z
  .strictObject({
    name: z.string().describe('The Jules source name, `sources/github/{owner}/{repo}`.'),
    repository: z.string().describe('`owner/repo`.'),
    defaultBranch: z.string().nullable(),
    isPrivate: z.boolean().nullable(),
  })
  .meta({ id: 'Source', description: 'A repository Jules can work on.' })

export const sourcePageSchema = pageOf(sourceSchema, 'SourcePage', 'sources')

export const healthCheckSchema = z
  .strictObject({
    status: z.enum(['pass', 'warn', 'fail']).describe('warn: jjm works around it; fail: the dependency is down.'),
    latencyMs: z.number().min(0).describe('How long the check took.'),
    message: z.string().describe('What was found, and what to do about it.'),
    checkedAt: timestamp.describe('When the check finished.'),
  })
  .meta({ id: 'HealthCheck', description: 'What one health check found.' })

export const healthReportSchema = z
  .strictObject({
    status: z
      .enum(['healthy', 'degraded', 'unhealthy'])
      .describe(
        'unhealthy: a critical check (database, disk) fails; degraded: another fails or any warns; healthy: all pass.',
      ),
    version: z.string().describe("jjm's version."),
    uptime: z.number().min(0).describe('Seconds since the daemon (for a local `jjm health`, the command) started.'),
    checks: z
      .record(z.string(), healthCheckSchema)
      .describe('By name: jules, database, redis (only with the redis cache), disk.'),
  })
  .meta({ id: 'Health', description: "jjm's health: the last result of each check, from the background runner." })

export const migrationStatusSchema = z
  .strictObject({
    storage: z.string().describe('The storage backend, e.g. sqlite or postgresql.'),
    executed: z.array(z.string()).describe('Migrations applied, oldest first.'),
    pending: z.array(z.string()).describe('Migrations not applied yet.'),
  })
  .meta({ id: 'MigrationStatus', description: 'Which schema migrations the database has and which are pending.' })

export const migrationsAppliedSchema = z
  .strictObject({ applied: z.array(z.string()).describe('Migrations applied by this run, in order.') })
  .meta({ id: 'MigrationsApplied', description: 'What `jjm migrate up` applied.' })

export const migrationsRevertedSchema = z
  .strictObject({ reverted: z.array(z.string()).describe('Migrations reverted by this run, latest first.') })
  .meta({ id: 'MigrationsReverted', description: 'What `jjm migrate down` reverted.' })

export const importReportSchema = z
  .strictObject({
    file: z.string().describe('The absolute path of the file read.'),
    dryRun: z.boolean().describe('True when nothing was written: the counts say what would be imported.'),
    imported: z.strictObject({ tasks: count, events: count, chatMessages: count, sourceFiles: count }),
    skipped: count.describe('Tasks already in the destination (by id or Jules session), or deleted in the source.'),
    invalid: z
      .array(z.strictObject({ id: z.string(), field: z.string(), reason: z.string() }))
      .describe('Records that are not valid tasks; nothing of them was imported.'),
  })
  .meta({ id: 'ImportReport', description: 'What an import did, or with --dry-run would do.' })

export const simServerSchema = z
  .strictObject({
    url: z.string().describe('Where the simulator listens (JULES_API_URL).'),
    apiKeys: z.array(z.string()).describe('The API keys it accepts (JULES_API_KEY).'),
  })
  .meta({ id: 'SimServer', description: 'The running Jules simulator, printed as soon as it listens.' })

export const errorSchema = z
  .strictObject({
    error: z.strictObject({
      code: z
        .string()
        .describe('Stable machine-readable code, e.g. JJM_TASK_NOT_FOUND; JJM_USAGE for a bad flag or argument.'),
      message: z.string().describe('What happened and what to do next.'),
      context: jsonObject.optional().describe('What a reader needs to act on it, e.g. {taskId, state, wanted}.'),
    }),
  })
  .meta({
    id: 'CommandError',
    description: 'What any command prints on standard output with --json when it fails.',
  })

// -- JSON Schema ------------------------------------------------------------

/**
 * The JSON Schema (draft 2020-12) of a representation, named parts in `$defs`:
 * what schemas/ holds and what the OpenAPI document builds on.
 */
export function toJsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    // `format: date-time` says it; zod's equivalent 300-character pattern only hides the rest from readers.
    override: ({ jsonSchema }) => {
      if (jsonSchema.format === 'date-time') delete jsonSchema.pattern
    },
  }) as Record<string, unknown>
}

// -- notifications ----------------------------------------------------------

export const notificationSchema = z
  .strictObject({
    id: z.string().describe('The outbox entry; stable across retries (receivers drop duplicates by it).'),
    taskId: z.string(),
    eventType: z
      .string()
      .describe('As routing names it: awaiting_plan_approval, completed_with_pr, failed, or an event type.'),
    notifier: z.string().describe('The route id: its name, or backend-<hash of its settings>.'),
    state: z.enum(['pending', 'delivered', 'failed']),
    title: z.string(),
    attempts: count.describe('Failed attempts so far.'),
    lastError: z.string().nullable(),
    nextAttemptAt: timestamp.nullable(),
    deliveredAt: timestamp.nullable(),
    failedAt: timestamp.nullable().describe('When delivery was given up.'),
    createdAt: timestamp,
  })
  .meta({ id: 'Notification', description: 'One notification in the outbox.' })

export const notificationPageSchema = pageOf(notificationSchema, 'NotificationPage', 'notifications')

export const notificationRetrySchema = z
  .strictObject({
    items: z.array(notificationSchema).describe('The notifications retried, as they stand after the attempt.'),
    delivered: count,
    pending: count.describe('Failed again; retried later with backoff.'),
    failed: count.describe('Refused for good again.'),
    skipped: z
      .array(notificationSchema)
      .describe('With --failed: left alone because no configured route has their id.'),
  })
  .meta({ id: 'NotificationRetry', description: 'What a retry did.' })

export const notificationPruneSchema = z
  .strictObject({
    delivered: count,
    failed: count,
    deliveredBefore: timestamp,
    failedBefore: timestamp,
  })
  .meta({ id: 'NotificationPrune', description: 'What a prune deleted.' })

// -- API keys -------------------------------------------------------------------

export const apiKeySchema = z
  .strictObject({
    id: z.string(),
    name: z.string(),
    prefix: z.string().describe('Public: the first characters of the key, e.g. jjm_k3x9q2ab.'),
    scopes: z.array(z.enum(['read', 'write', 'admin'])),
    rateLimitPerMinute: z.number().int().min(1).nullable().describe("null: the daemon's api.rateLimit."),
    createdAt: timestamp,
    expiresAt: timestamp.nullable(),
    revokedAt: timestamp.nullable(),
    lastUsedAt: timestamp.nullable(),
  })
  .meta({ id: 'ApiKey', description: 'A key to the REST API: never the key itself, nor its hash.' })

export const apiKeyPageSchema = pageOf(apiKeySchema, 'ApiKeyPage', 'API keys, newest first')

export const createdApiKeySchema = apiKeySchema
  .extend({ key: z.string().describe('The secret, shown this once.') })
  .meta({ id: 'CreatedApiKey', description: 'A new API key, with the key itself (shown only now).' })

// -- drift checks -----------------------------------------------------------

/** True when A and B are assignable to each other. */
export type SameShape<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type Expect<T extends true> = T

/**
 * Fails to compile when a domain type and its schema disagree: change both
 * in the same commit (and run `npm run schemas`).
 */
export type RepresentationChecks = [
  Expect<SameShape<z.output<typeof taskSchema>, Task>>,
  Expect<SameShape<z.output<typeof taskPageSchema>, TaskPage>>,
  Expect<SameShape<z.output<typeof automationModeSchema>, AutomationMode>>,
  Expect<SameShape<z.output<typeof pullRequestSchema>, PullRequest>>,
  Expect<SameShape<z.output<typeof taskEventSchema>, TaskEvent>>,
  Expect<SameShape<z.output<typeof chatMessageSchema>, ChatMessage>>,
  Expect<SameShape<z.output<typeof sourceFileSchema>, SourceFile>>,
  Expect<SameShape<z.output<typeof planSchema>, PlanView>>,
  Expect<SameShape<z.output<typeof taskDetailsSchema>, { task: Task } & TaskDetails>>,
  Expect<SameShape<z.output<typeof taskUpdateSchema>, TaskUpdate>>,
  Expect<SameShape<z.output<typeof taskInputSchema>, TaskInput>>,
  Expect<SameShape<z.output<typeof taskChangesSchema>, TaskChanges>>,
  Expect<SameShape<z.output<typeof operationResultSchema>, OperationResult>>,
  Expect<SameShape<z.output<typeof deleteResultSchema>, DeleteResult>>,
  Expect<SameShape<z.output<typeof archiveResultSchema>, ArchiveResult>>,
  Expect<SameShape<z.output<typeof bulkActionReportSchema>, BulkActionReport>>,
  Expect<SameShape<z.output<typeof taskPatchSchema>, TaskPatch>>,
  Expect<SameShape<z.output<typeof taskWithDetailsSchema>, TaskWithDetails>>,
  Expect<SameShape<z.output<typeof waitResultSchema>, WaitResult>>,
  Expect<SameShape<z.output<typeof taskChangeSchema>, TaskChange>>,
  Expect<SameShape<z.output<typeof awaitingTaskSchema>, AwaitingTask>>,
  Expect<SameShape<z.output<typeof syncFailureSchema>, SyncFailure>>,
  Expect<SameShape<z.output<typeof rateLimitPauseSchema>, RateLimitPause>>,
  Expect<SameShape<z.output<typeof monitorReportSchema>, MonitorReport>>,
  Expect<SameShape<z.output<typeof sourceSchema>, SourceView>>,
  Expect<SameShape<z.output<typeof migrationStatusSchema>, MigrationStatus & { storage: string }>>,
  Expect<SameShape<z.output<typeof healthCheckSchema>, CheckResult>>,
  Expect<SameShape<z.output<typeof healthReportSchema>, HealthReport>>,
  Expect<SameShape<z.output<typeof notificationSchema>, NotificationRecord>>,
  Expect<SameShape<z.output<typeof notificationRetrySchema>, NotificationRetryResult>>,
  Expect<SameShape<z.output<typeof notificationPruneSchema>, NotificationPruneResult>>,
  Expect<SameShape<z.output<typeof apiKeySchema>, ApiKey>>,
]
