import { Migration } from '@mikro-orm/migrations'

/**
 * The notification outbox (issue 4): every notification is written here in
 * the same transaction as the event it tells of, and stays until delivered
 * or given up. No foreign key to the task: a purge must not drop a
 * notification not yet sent. The twin of SQLite's migration.
 */
export class Migration20261125210000_notification_outbox extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'create table "notification_outbox" ("id" varchar(26) not null, "notifier" varchar(255) not null, "task_id" varchar(26) not null, "event_type" varchar(64) not null, "payload" jsonb not null, "attempts" int not null, "next_attempt_at" timestamptz not null, "delivered_at" timestamptz null, "failed_at" timestamptz null, "last_error" text null, "created_at" timestamptz not null, constraint "notification_outbox_pkey" primary key ("id"));',
    )
    this.addSql(
      'create index "notification_outbox_next_attempt_at_index" on "notification_outbox" ("next_attempt_at");',
    )
  }

  /** Notifications not yet delivered are lost. */
  override async down(): Promise<void> {
    this.addSql('drop table if exists "notification_outbox" cascade;')
  }
}
