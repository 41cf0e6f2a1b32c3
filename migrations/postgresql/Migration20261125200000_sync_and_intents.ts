import { Migration } from '@mikro-orm/migrations'

/**
 * What makes syncs and creations repeatable (issue 4): `task.sync_cursor`
 * (`jsonb`) records where a task's activity sync has got to, written in the
 * same transaction as the events it produced; `creation_intent` records a
 * creation under an idempotency key before Jules is called. An intent
 * outlives a purge of its task (`on delete set null`). The twin of SQLite's
 * migration.
 */
export class Migration20261125200000_sync_and_intents extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table "task" add column "sync_cursor" jsonb null;')
    this.addSql(
      'create table "creation_intent" ("key" varchar(255) not null, "request_hash" varchar(64) not null, "state" varchar(32) not null, "session_name" varchar(255) null, "task_id" varchar(26) null, "error" text null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "creation_intent_pkey" primary key ("key"));',
    )
    this.addSql(
      'alter table "creation_intent" add constraint "creation_intent_task_id_foreign" foreign key ("task_id") references "task" ("id") on update cascade on delete set null;',
    )
  }

  /** Cursors and intents are gone: the next sync reads every activity again, a key is new again. */
  override async down(): Promise<void> {
    this.addSql('drop table if exists "creation_intent" cascade;')
    this.addSql('alter table "task" drop column "sync_cursor";')
  }
}
