import { Migration } from '@mikro-orm/migrations'

/**
 * The notification outbox (issue 4): every notification is written here in
 * the same transaction as the event it tells of, and stays until delivered
 * or given up, so that delivery is at least once and survives restarts. No
 * foreign key to the task: a purge must not drop a notification not yet sent.
 */
export class Migration20261125210000_notification_outbox extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'create table `notification_outbox` (`id` text not null, `notifier` text not null, `task_id` text not null, `event_type` text not null, `payload` json not null, `attempts` integer not null, `next_attempt_at` datetime not null, `delivered_at` datetime null, `failed_at` datetime null, `last_error` text null, `created_at` datetime not null, primary key (`id`));',
    )
    this.addSql(
      'create index `notification_outbox_next_attempt_at_index` on `notification_outbox` (`next_attempt_at`);',
    )
  }

  /** Notifications not yet delivered are lost. */
  override async down(): Promise<void> {
    this.addSql('drop table if exists `notification_outbox`;')
  }
}
