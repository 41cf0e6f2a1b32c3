import { Migration } from '@mikro-orm/migrations'

/**
 * Stalled tasks (issue 11): `task_sync` records when a sync last saw Jules do
 * something (`activity_at`) and when a sync marked the task stalled
 * (`stalled_since`). Both belong to the sync state, written under the lease,
 * so that a stall is marked once however many processes watch the task.
 */
export class Migration20261208020000_stalled extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table `task_sync` add column `activity_at` datetime null;')
    this.addSql('alter table `task_sync` add column `stalled_since` datetime null;')
  }

  override async down(): Promise<void> {
    this.addSql('alter table `task_sync` drop column `stalled_since`;')
    this.addSql('alter table `task_sync` drop column `activity_at`;')
  }
}
