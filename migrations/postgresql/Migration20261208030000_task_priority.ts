import { Migration } from '@mikro-orm/migrations'

/**
 * Plan quotas (issue 11): a task created beyond the plan's limits waits in a
 * local `pending` state, ordered by `priority` (higher first); `started_at`
 * is when its Jules session started, what the rolling day's quota counts.
 * Every task recorded so far started when it was created. The twin of
 * SQLite's migration.
 */
export class Migration20261208030000_task_priority extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'alter table "task" add column "priority" int not null default 0, add column "started_at" timestamptz null;',
    )
    this.addSql('update "task" set "started_at" = "created_at";')
    this.addSql('create index "task_started_at_index" on "task" ("started_at");')
  }

  override async down(): Promise<void> {
    this.addSql('drop index "task_started_at_index";')
    this.addSql('alter table "task" drop column "priority", drop column "started_at";')
  }
}
