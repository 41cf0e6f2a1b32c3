/**
 * What each command prints with `--json`, by oclif command id: the table that
 * `npm run schemas` turns into `schemas/<command-id>.json`. A command that
 * prints no JSON object says why instead of naming a schema. Every command of
 * the manifest must appear here (a test checks), so a new command cannot ship
 * an undocumented `--json` shape.
 */
import { z } from 'zod'
import type ApiKeysCreate from '../commands/api-keys/create.js'
import type ApiKeysList from '../commands/api-keys/list.js'
import type ApiKeysRevoke from '../commands/api-keys/revoke.js'
import type Approve from '../commands/approve.js'
import type Health from '../commands/health.js'
import type Message from '../commands/message.js'
import type MigrateDown from '../commands/migrate/down.js'
import type MigrateImportJson from '../commands/migrate/import-json.js'
import type MigrateImportSqlite from '../commands/migrate/import-sqlite.js'
import type MigrateStatus from '../commands/migrate/status.js'
import type MigrateUp from '../commands/migrate/up.js'
import type Monitor from '../commands/monitor.js'
import type NotificationsList from '../commands/notifications/list.js'
import type NotificationsPrune from '../commands/notifications/prune.js'
import type NotificationsRetry from '../commands/notifications/retry.js'
import type Resume from '../commands/resume.js'
import type { SimServeResult } from '../commands/sim/serve.js'
import type SourcesList from '../commands/sources/list.js'
import type TasksArchive from '../commands/tasks/archive.js'
import type TasksCreate from '../commands/tasks/create.js'
import type TasksDelete from '../commands/tasks/delete.js'
import type TasksList from '../commands/tasks/list.js'
import type TasksPull from '../commands/tasks/pull.js'
import type TasksShow from '../commands/tasks/show.js'
import type TasksUnarchive from '../commands/tasks/unarchive.js'
import type TasksUpdate from '../commands/tasks/update.js'
import type TasksWait from '../commands/tasks/wait.js'
import {
  apiKeyPageSchema,
  apiKeySchema,
  bulkActionReportSchema,
  bulkCreateReportSchema,
  createdApiKeySchema,
  deleteResultSchema,
  errorSchema,
  healthReportSchema,
  importReportSchema,
  migrationStatusSchema,
  migrationsAppliedSchema,
  migrationsRevertedSchema,
  monitorReportSchema,
  notificationPageSchema,
  notificationPruneSchema,
  notificationRetrySchema,
  operationResultSchema,
  parallelCreateReportSchema,
  type SameShape,
  simServerSchema,
  sourcePageSchema,
  taskPageSchema,
  taskPullResultSchema,
  taskSchema,
  taskWithDetailsSchema,
  waitResultSchema,
} from '../core/representation.js'

export interface CommandOutput {
  schema: z.ZodType
  /** One sentence for the schema's description: what the object is. */
  description: string
}

/** A command whose `--json` prints nothing a script can use, and why. */
export interface NoCommandOutput {
  schema: null
  reason: string
}

export const commandOutputs = {
  'api-keys:create': { schema: createdApiKeySchema, description: 'The new key, with the key itself (shown only now).' },
  'api-keys:list': { schema: apiKeyPageSchema, description: 'Every API key, newest first.' },
  'api-keys:revoke': { schema: apiKeySchema, description: 'The revoked key.' },
  daemon: { schema: null, reason: 'The daemon runs until stopped and prints no result; its API answers JSON.' },
  approve: { schema: operationResultSchema, description: 'The approval Jules accepted.' },
  health: {
    schema: healthReportSchema,
    description:
      'The health report (the same object as GET /health); the exit code says healthy, degraded or unhealthy.',
  },
  message: { schema: operationResultSchema, description: 'The message Jules accepted.' },
  resume: { schema: operationResultSchema, description: 'The resume Jules accepted.' },
  monitor: {
    schema: monitorReportSchema,
    description: 'What the (last) monitor pass found; with --realtime, an empty report when interrupted.',
  },
  'mcp:serve': { schema: null, reason: 'Standard output carries the MCP protocol, not a JSON result.' },
  'migrate:down': { schema: migrationsRevertedSchema, description: 'The migrations reverted.' },
  'migrate:import-json': { schema: importReportSchema, description: 'What the import did.' },
  'migrate:import-sqlite': { schema: importReportSchema, description: 'What the copy did.' },
  'migrate:status': { schema: migrationStatusSchema, description: 'The schema migrations of the database.' },
  'migrate:up': { schema: migrationsAppliedSchema, description: 'The migrations applied.' },
  'notifications:list': { schema: notificationPageSchema, description: 'One page of the notification outbox.' },
  'notifications:prune': { schema: notificationPruneSchema, description: 'What the prune deleted.' },
  'notifications:retry': { schema: notificationRetrySchema, description: 'What the retry delivered.' },
  'sim:serve': { schema: simServerSchema, description: 'Printed once the simulator listens; it runs until stopped.' },
  'sources:list': { schema: sourcePageSchema, description: 'One page of the repositories Jules can work on.' },
  'tasks:create': {
    schema: z.union([taskSchema, bulkCreateReportSchema, parallelCreateReportSchema]),
    description:
      'The task created (or replayed under its idempotency key); with --from, the bulk report; with --parallel, the bulk report and the group.',
  },
  'tasks:delete': { schema: deleteResultSchema, description: 'What the deletion did.' },
  'tasks:list': { schema: taskPageSchema, description: 'One page of tasks, newest first.' },
  'tasks:show': {
    schema: taskWithDetailsSchema,
    description:
      "The task's fields and, under `details`, what the view shows (the same object as GET /api/v1/tasks/{id}?include=details).",
  },
  'tasks:archive': { schema: bulkActionReportSchema, description: 'What archiving did to each task (or would do).' },
  'tasks:pull': { schema: taskPullResultSchema, description: 'The change set, and where it went.' },
  'tasks:unarchive': {
    schema: bulkActionReportSchema,
    description: 'What unarchiving did to each task (or would do).',
  },
  'tasks:update': { schema: taskSchema, description: 'The task after the change.' },
  'tasks:wait': { schema: waitResultSchema, description: 'How the wait ended.' },
} satisfies Record<string, CommandOutput | NoCommandOutput>

export type OutputCommandId = keyof typeof commandOutputs

/** What every command prints with `--json` when it fails. */
export const commandError = {
  schema: errorSchema,
  description: 'Printed instead of the result when the command fails; the exit code says how (see `jjm --help`).',
}

/** The file a command's schema lives in: `tasks:list` → `tasks-list.json`. */
export function schemaFileName(commandId: string): string {
  return `${commandId.replaceAll(':', '-')}.json`
}

type Result<Command extends { prototype: { run(): Promise<unknown> } }> = Awaited<
  ReturnType<Command['prototype']['run']>
>
type Printed<Id extends OutputCommandId> = (typeof commandOutputs)[Id]['schema'] extends z.ZodType
  ? z.output<(typeof commandOutputs)[Id]['schema']>
  : never
type Expect<T extends true> = T

/** Fails to compile when a command returns something other than its schema describes. */
export type CommandOutputChecks = [
  Expect<SameShape<Result<typeof ApiKeysCreate>, Printed<'api-keys:create'>>>,
  Expect<SameShape<Result<typeof ApiKeysList>, Printed<'api-keys:list'>>>,
  Expect<SameShape<Result<typeof ApiKeysRevoke>, Printed<'api-keys:revoke'>>>,
  Expect<SameShape<Result<typeof Approve>, Printed<'approve'>>>,
  Expect<SameShape<Result<typeof Health>, Printed<'health'>>>,
  Expect<SameShape<Result<typeof Message>, Printed<'message'>>>,
  Expect<SameShape<Result<typeof Resume>, Printed<'resume'>>>,
  Expect<SameShape<Result<typeof Monitor>, Printed<'monitor'>>>,
  Expect<SameShape<Result<typeof MigrateDown>, Printed<'migrate:down'>>>,
  Expect<SameShape<Result<typeof MigrateImportJson>, Printed<'migrate:import-json'>>>,
  Expect<SameShape<Result<typeof MigrateImportSqlite>, Printed<'migrate:import-sqlite'>>>,
  Expect<SameShape<Result<typeof MigrateStatus>, Printed<'migrate:status'>>>,
  Expect<SameShape<Result<typeof MigrateUp>, Printed<'migrate:up'>>>,
  Expect<SameShape<Result<typeof NotificationsList>, Printed<'notifications:list'>>>,
  Expect<SameShape<Result<typeof NotificationsPrune>, Printed<'notifications:prune'>>>,
  Expect<SameShape<Result<typeof NotificationsRetry>, Printed<'notifications:retry'>>>,
  Expect<SameShape<SimServeResult, Printed<'sim:serve'>>>,
  Expect<SameShape<Result<typeof SourcesList>, Printed<'sources:list'>>>,
  Expect<SameShape<Result<typeof TasksArchive>, Printed<'tasks:archive'>>>,
  Expect<SameShape<Result<typeof TasksUnarchive>, Printed<'tasks:unarchive'>>>,
  Expect<SameShape<Result<typeof TasksPull>, Printed<'tasks:pull'>>>,
  Expect<SameShape<Result<typeof TasksCreate>, Printed<'tasks:create'>>>,
  Expect<SameShape<Result<typeof TasksDelete>, Printed<'tasks:delete'>>>,
  Expect<SameShape<Result<typeof TasksList>, Printed<'tasks:list'>>>,
  Expect<SameShape<Result<typeof TasksShow>, Printed<'tasks:show'>>>,
  Expect<SameShape<Result<typeof TasksUpdate>, Printed<'tasks:update'>>>,
  Expect<SameShape<Result<typeof TasksWait>, Printed<'tasks:wait'>>>,
]
