/**
 * The PostgreSQL migrations' names, oldest first, without their code: what
 * opening a store compares with the \`mikro_orm_migrations\` table, so that a
 * store whose schema is current never loads MikroORM's migrator (umzug and
 * its command-line dependencies). \`index.ts\` pairs each name with its class,
 * and the compiler refuses a name without a class or a class without a name.
 * Append each new migration here and in \`index.ts\`, and its twin in ../sqlite/.
 */
export const postgresqlMigrationNames = [
  'Migration20261125000000_initial',
  'Migration20261125120000_soft_delete',
  'Migration20261125180000_api_keys',
  'Migration20261125200000_sync_and_intents',
  'Migration20261125210000_notification_outbox',
  'Migration20261126010000_intent_lease',
  'Migration20261126090000_notification_outbox_retention',
  'Migration20261126100000_sync_lease',
  'Migration20261207000000_task_sync',
  'Migration20261208010000_task_archived',
  'Migration20261208020000_stalled',
  'Migration20261208030000_task_priority',
] as const

export type PostgresqlMigrationName = (typeof postgresqlMigrationNames)[number]
