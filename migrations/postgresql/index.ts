/**
 * The PostgreSQL migrations, oldest first. Listed by hand (MikroORM's
 * `migrations.migrationsList`) rather than discovered by a glob, so that they
 * run the same from src/ under tsx and from dist/ in a globally installed
 * package. Append each new migration here and in `names.ts`, and its twin in ../sqlite/.
 */
import type { MigrationObject } from '@mikro-orm/core'
import { Migration20261125000000_initial } from './Migration20261125000000_initial.js'
import { Migration20261125120000_soft_delete } from './Migration20261125120000_soft_delete.js'
import { Migration20261125180000_api_keys } from './Migration20261125180000_api_keys.js'
import { Migration20261125200000_sync_and_intents } from './Migration20261125200000_sync_and_intents.js'
import { Migration20261125210000_notification_outbox } from './Migration20261125210000_notification_outbox.js'
import { Migration20261126010000_intent_lease } from './Migration20261126010000_intent_lease.js'
import { Migration20261126090000_notification_outbox_retention } from './Migration20261126090000_notification_outbox_retention.js'
import { Migration20261126100000_sync_lease } from './Migration20261126100000_sync_lease.js'
import { Migration20261207000000_task_sync } from './Migration20261207000000_task_sync.js'
import { Migration20261208010000_task_archived } from './Migration20261208010000_task_archived.js'
import { Migration20261208020000_stalled } from './Migration20261208020000_stalled.js'
import { Migration20261208030000_task_priority } from './Migration20261208030000_task_priority.js'
import { type PostgresqlMigrationName, postgresqlMigrationNames } from './names.js'

const classes: Record<PostgresqlMigrationName, MigrationObject['class']> = {
  Migration20261125000000_initial,
  Migration20261125120000_soft_delete,
  Migration20261125180000_api_keys,
  Migration20261125200000_sync_and_intents,
  Migration20261125210000_notification_outbox,
  Migration20261126010000_intent_lease,
  Migration20261126090000_notification_outbox_retention,
  Migration20261126100000_sync_lease,
  Migration20261207000000_task_sync,
  Migration20261208010000_task_archived,
  Migration20261208020000_stalled,
  Migration20261208030000_task_priority,
}

export const postgresqlMigrations: MigrationObject[] = postgresqlMigrationNames.map((name) => ({
  name,
  class: classes[name],
}))
