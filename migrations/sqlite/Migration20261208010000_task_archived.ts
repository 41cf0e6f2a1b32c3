import { Migration } from '@mikro-orm/migrations'

/**
 * Archived tasks (issue 11): `task.archived` hides a task that a person put
 * away from lists unless they ask for archived ones, as Jules hides an
 * archived session. Every existing task stays as it was: not archived.
 */
export class Migration20261208010000_task_archived extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table `task` add column `archived` integer not null default false;')
  }

  /** Archived tasks reappear in lists (older jjm cannot hide them). */
  override async down(): Promise<void> {
    this.addSql('alter table `task` drop column `archived`;')
  }
}
