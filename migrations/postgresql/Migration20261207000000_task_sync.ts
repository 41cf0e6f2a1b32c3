import { Migration } from '@mikro-orm/migrations'

/**
 * Sync state apart from the task (issue 10): `task_sync` holds each task's
 * cursor, last sync and sync lease, so that a sync that changed nothing
 * writes no task row and an edit can never revert a sync. `task.version`
 * makes every write of a task a compare-and-set. The lease's end becomes
 * milliseconds since the epoch by the database's clock (`lease_until`,
 * `bigint`), compared in SQL rather than against a process's clock. Every
 * task gets its row, with what it had. The twin of SQLite's migration.
 */
export class Migration20261207000000_task_sync extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'create table "task_sync" ("task_id" varchar(26) not null, "cursor" jsonb null, "last_synced_at" timestamptz null, "lease_holder" varchar(64) null, "lease_until" bigint null, constraint "task_sync_pkey" primary key ("task_id"));',
    )
    this.addSql('create index "task_sync_last_synced_at_index" on "task_sync" ("last_synced_at");')
    this.addSql(
      'create index "task_sync_lease_holder_lease_until_index" on "task_sync" ("lease_holder", "lease_until");',
    )
    this.addSql(
      'alter table "task_sync" add constraint "task_sync_task_id_foreign" foreign key ("task_id") references "task" ("id") on update cascade on delete cascade;',
    )
    this.addSql(
      'insert into "task_sync" ("task_id", "cursor", "last_synced_at", "lease_holder", "lease_until") select "id", "sync_cursor", "last_synced_at", "sync_lease_holder", (extract(epoch from "sync_lease_until") * 1000)::bigint from "task";',
    )
    this.addSql('alter table "task" add column "version" int not null default 1;')
    this.addSql(
      'alter table "task" drop column "sync_cursor", drop column "last_synced_at", drop column "sync_lease_holder", drop column "sync_lease_until";',
    )
  }

  /** The sync state goes back into the task's row; versions are dropped (older jjm does not compare them). */
  override async down(): Promise<void> {
    this.addSql(
      'alter table "task" add column "last_synced_at" timestamptz null, add column "sync_cursor" jsonb null, add column "sync_lease_holder" varchar(64) null, add column "sync_lease_until" timestamptz null;',
    )
    this.addSql(
      'update "task" set "last_synced_at" = "s"."last_synced_at", "sync_cursor" = "s"."cursor", "sync_lease_holder" = "s"."lease_holder", "sync_lease_until" = to_timestamp("s"."lease_until" / 1000.0) from "task_sync" as "s" where "s"."task_id" = "task"."id";',
    )
    this.addSql('alter table "task" drop column "version";')
    this.addSql('drop table if exists "task_sync" cascade;')
  }
}
