import { Migration } from '@mikro-orm/migrations'

/**
 * Stalled tasks (issue 11): `task_sync` records when a sync last saw Jules do
 * something (`activity_at`) and when a sync marked the task stalled
 * (`stalled_since`). The twin of SQLite's migration.
 */
export class Migration20261208020000_stalled extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'alter table "task_sync" add column "activity_at" timestamptz null, add column "stalled_since" timestamptz null;',
    )
  }

  override async down(): Promise<void> {
    this.addSql('alter table "task_sync" drop column "stalled_since", drop column "activity_at";')
  }
}
