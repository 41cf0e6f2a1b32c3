import { Migration } from '@mikro-orm/migrations'

/**
 * What makes syncs and creations repeatable (issue 4): `task.sync_cursor`
 * records where a task's activity sync has got to, written in the same
 * transaction as the events it produced, so that an interrupted sync repeats
 * as a whole; `creation_intent` records a creation under an idempotency key
 * before Jules is called, so that a retry after a timeout finds the session
 * instead of creating a second one. An intent outlives a purge of its task
 * (`on delete set null`): the key must still not create another session.
 */
export class Migration20261125200000_sync_and_intents extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table `task` add column `sync_cursor` json null;')
    this.addSql(
      'create table `creation_intent` (`key` text not null, `request_hash` text not null, `state` text not null, `session_name` text null, `task_id` text null, `error` text null, `created_at` datetime not null, `updated_at` datetime not null, constraint `creation_intent_task_id_foreign` foreign key(`task_id`) references `task`(`id`) on delete set null on update cascade, primary key (`key`));',
    )
    this.addSql('create index `creation_intent_task_id_index` on `creation_intent` (`task_id`);')
  }

  /** Cursors and intents are gone: the next sync reads every activity again, a key is new again. */
  override async down(): Promise<void> {
    this.addSql('drop table if exists `creation_intent`;')
    this.addSql('alter table `task` drop column `sync_cursor`;')
  }
}
