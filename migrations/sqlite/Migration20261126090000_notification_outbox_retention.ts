import { Migration } from '@mikro-orm/migrations'

/**
 * Indexes for the outbox's clean-up and listing (issue 4): every monitor pass
 * deletes delivered and given-up notifications past their retention, and
 * must find them without reading the whole table; `jjm notifications list
 * --task` finds a task's notifications the same way.
 */
export class Migration20261126090000_notification_outbox_retention extends Migration {
  override async up(): Promise<void> {
    this.addSql('create index `notification_outbox_delivered_at_index` on `notification_outbox` (`delivered_at`);')
    this.addSql('create index `notification_outbox_failed_at_index` on `notification_outbox` (`failed_at`);')
    this.addSql('create index `notification_outbox_task_id_index` on `notification_outbox` (`task_id`);')
  }

  override async down(): Promise<void> {
    this.addSql('drop index if exists `notification_outbox_delivered_at_index`;')
    this.addSql('drop index if exists `notification_outbox_failed_at_index`;')
    this.addSql('drop index if exists `notification_outbox_task_id_index`;')
  }
}
