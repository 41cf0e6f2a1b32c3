import { Migration } from '@mikro-orm/migrations'

/**
 * Sync state apart from the task (issue 10): `task_sync` holds each task's
 * cursor, last sync and sync lease, so that a sync that changed nothing
 * writes no task row and an edit can never revert a sync. `task.version`
 * makes every write of a task a compare-and-set. The lease's end becomes
 * milliseconds since the epoch by the database's clock (`lease_until`),
 * compared in SQL rather than against a process's clock. Every task gets its
 * row, with what it had.
 */
export class Migration20261207000000_task_sync extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'create table `task_sync` (`task_id` text not null, `cursor` json null, `last_synced_at` datetime null, `lease_holder` text null, `lease_until` bigint null, constraint `task_sync_task_id_foreign` foreign key(`task_id`) references `task`(`id`) on delete cascade on update cascade, primary key (`task_id`));',
    )
    this.addSql('create index `task_sync_task_id_index` on `task_sync` (`task_id`);')
    this.addSql('create index `task_sync_last_synced_at_index` on `task_sync` (`last_synced_at`);')
    this.addSql(
      'create index `task_sync_lease_holder_lease_until_index` on `task_sync` (`lease_holder`, `lease_until`);',
    )
    // SQLite keeps MikroORM's datetimes as milliseconds since the epoch already.
    this.addSql(
      'insert into `task_sync` (`task_id`, `cursor`, `last_synced_at`, `lease_holder`, `lease_until`) select `id`, `sync_cursor`, `last_synced_at`, `sync_lease_holder`, `sync_lease_until` from `task`;',
    )
    this.addSql('alter table `task` add column `version` integer not null default 1;')
    this.addSql('alter table `task` drop column `sync_cursor`;')
    this.addSql('alter table `task` drop column `last_synced_at`;')
    this.addSql('alter table `task` drop column `sync_lease_holder`;')
    this.addSql('alter table `task` drop column `sync_lease_until`;')
  }

  /** The sync state goes back into the task's row; versions are dropped (older jjm does not compare them). */
  override async down(): Promise<void> {
    this.addSql('alter table `task` add column `last_synced_at` datetime null;')
    this.addSql('alter table `task` add column `sync_cursor` json null;')
    this.addSql('alter table `task` add column `sync_lease_holder` text null;')
    this.addSql('alter table `task` add column `sync_lease_until` datetime null;')
    this.addSql(
      'update `task` set `last_synced_at` = (select `s`.`last_synced_at` from `task_sync` as `s` where `s`.`task_id` = `task`.`id`), `sync_cursor` = (select `s`.`cursor` from `task_sync` as `s` where `s`.`task_id` = `task`.`id`), `sync_lease_holder` = (select `s`.`lease_holder` from `task_sync` as `s` where `s`.`task_id` = `task`.`id`), `sync_lease_until` = (select `s`.`lease_until` from `task_sync` as `s` where `s`.`task_id` = `task`.`id`);',
    )
    this.addSql('alter table `task` drop column `version`;')
    this.addSql('drop table if exists `task_sync`;')
  }
}
