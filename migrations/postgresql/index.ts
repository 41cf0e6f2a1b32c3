/**
 * The PostgreSQL migrations, oldest first. Listed by hand (MikroORM's
 * `migrations.migrationsList`) rather than discovered by a glob, so that they
 * run the same from src/ under tsx and from dist/ in a globally installed
 * package. Append each new migration here, and its twin in ../sqlite/.
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

export const postgresqlMigrations: MigrationObject[] = [
  { name: 'Migration20261125000000_initial', class: Migration20261125000000_initial },
  { name: 'Migration20261125120000_soft_delete', class: Migration20261125120000_soft_delete },
  { name: 'Migration20261125180000_api_keys', class: Migration20261125180000_api_keys },
  { name: 'Migration20261125200000_sync_and_intents', class: Migration20261125200000_sync_and_intents },
  { name: 'Migration20261125210000_notification_outbox', class: Migration20261125210000_notification_outbox },
  { name: 'Migration20261126010000_intent_lease', class: Migration20261126010000_intent_lease },
  {
    name: 'Migration20261126090000_notification_outbox_retention',
    class: Migration20261126090000_notification_outbox_retention,
  },
  { name: 'Migration20261126100000_sync_lease', class: Migration20261126100000_sync_lease },
  { name: 'Migration20261207000000_task_sync', class: Migration20261207000000_task_sync },
  { name: 'Migration20261208010000_task_archived', class: Migration20261208010000_task_archived },
  { name: 'Migration20261208020000_stalled', class: Migration20261208020000_stalled },
  { name: 'Migration20261208030000_task_priority', class: Migration20261208030000_task_priority },
]
