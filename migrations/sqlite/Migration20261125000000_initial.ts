import { Migration } from '@mikro-orm/migrations'

/**
 * The first SQLite schema: tasks, their history, chat messages, changed files,
 * and the simulator's sessions. Dates are stored the way MikroORM stores them
 * on SQLite (milliseconds since the epoch in a `datetime` column).
 */
export class Migration20261125000000_initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'create table `task` (`id` text not null, `session_name` text not null, `title` text not null, `prompt` text not null, `repository` text not null, `source` text not null, `branch` text not null, `state` text not null, `require_plan_approval` integer not null, `automation_mode` text not null, `url` text null, `pull_request` json null, `labels` json not null, `metadata` json not null, `created_at` datetime not null, `updated_at` datetime not null, `completed_at` datetime null, `last_synced_at` datetime null, primary key (`id`));',
    )
    this.addSql('create unique index `task_session_name_unique` on `task` (`session_name`);')
    this.addSql('create index `task_state_updated_at_index` on `task` (`state`, `updated_at`);')
    this.addSql('create index `task_repository_index` on `task` (`repository`);')
    this.addSql('create index `task_created_at_index` on `task` (`created_at`);')

    this.addSql(
      'create table `task_event` (`id` text not null, `task_id` text not null, `type` text not null, `data` json not null, `at` datetime not null, constraint `task_event_task_id_foreign` foreign key(`task_id`) references `task`(`id`) on delete cascade on update cascade, primary key (`id`));',
    )
    this.addSql('create index `task_event_task_id_index` on `task_event` (`task_id`);')
    this.addSql('create index `task_event_task_id_at_index` on `task_event` (`task_id`, `at`);')

    this.addSql(
      'create table `chat_message` (`id` text not null, `task_id` text not null, `activity_id` text not null, `role` text not null, `text` text not null, `at` datetime not null, constraint `chat_message_task_id_foreign` foreign key(`task_id`) references `task`(`id`) on delete cascade on update cascade, primary key (`id`));',
    )
    this.addSql('create index `chat_message_task_id_index` on `chat_message` (`task_id`);')
    this.addSql(
      'create unique index `chat_message_task_id_activity_id_unique` on `chat_message` (`task_id`, `activity_id`);',
    )

    this.addSql(
      'create table `source_file` (`id` text not null, `task_id` text not null, `path` text not null, `change_type` text not null, constraint `source_file_task_id_foreign` foreign key(`task_id`) references `task`(`id`) on delete cascade on update cascade, primary key (`id`));',
    )
    this.addSql('create index `source_file_task_id_index` on `source_file` (`task_id`);')
    this.addSql('create unique index `source_file_task_id_path_unique` on `source_file` (`task_id`, `path`);')

    this.addSql(
      'create table `sim_session` (`id` text not null, `created_at` datetime not null, `state` json not null, primary key (`id`));',
    )
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists `task_event`;')
    this.addSql('drop table if exists `chat_message`;')
    this.addSql('drop table if exists `source_file`;')
    this.addSql('drop table if exists `task`;')
    this.addSql('drop table if exists `sim_session`;')
  }
}
