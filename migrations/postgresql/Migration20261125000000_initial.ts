import { Migration } from '@mikro-orm/migrations'

/**
 * The first PostgreSQL schema: tasks, their history, chat messages, changed
 * files, and the simulator's sessions. JSON columns are `jsonb`, instants are
 * `timestamptz`. The same entities as SQLite's first migration.
 */
export class Migration20261125000000_initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'create table "sim_session" ("id" varchar(255) not null, "created_at" timestamptz not null, "state" jsonb not null, constraint "sim_session_pkey" primary key ("id"));',
    )

    this.addSql(
      'create table "task" ("id" varchar(26) not null, "session_name" varchar(255) not null, "title" text not null, "prompt" text not null, "repository" varchar(255) not null, "source" varchar(255) not null, "branch" varchar(255) not null, "state" varchar(64) not null, "require_plan_approval" boolean not null, "automation_mode" varchar(64) not null, "url" text null, "pull_request" jsonb null, "labels" jsonb not null, "metadata" jsonb not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "completed_at" timestamptz null, "last_synced_at" timestamptz null, constraint "task_pkey" primary key ("id"));',
    )
    this.addSql('alter table "task" add constraint "task_session_name_unique" unique ("session_name");')
    this.addSql('create index "task_state_updated_at_index" on "task" ("state", "updated_at");')
    this.addSql('create index "task_repository_index" on "task" ("repository");')
    this.addSql('create index "task_created_at_index" on "task" ("created_at");')

    this.addSql(
      'create table "source_file" ("id" varchar(26) not null, "task_id" varchar(26) not null, "path" text not null, "change_type" varchar(32) not null, constraint "source_file_pkey" primary key ("id"));',
    )
    this.addSql(
      'alter table "source_file" add constraint "source_file_task_id_path_unique" unique ("task_id", "path");',
    )

    this.addSql(
      'create table "chat_message" ("id" varchar(26) not null, "task_id" varchar(26) not null, "activity_id" varchar(255) not null, "role" varchar(16) not null, "text" text not null, "at" timestamptz not null, constraint "chat_message_pkey" primary key ("id"));',
    )
    this.addSql(
      'alter table "chat_message" add constraint "chat_message_task_id_activity_id_unique" unique ("task_id", "activity_id");',
    )

    this.addSql(
      'create table "task_event" ("id" varchar(26) not null, "task_id" varchar(26) not null, "type" varchar(64) not null, "data" jsonb not null, "at" timestamptz not null, constraint "task_event_pkey" primary key ("id"));',
    )
    this.addSql('create index "task_event_task_id_at_index" on "task_event" ("task_id", "at");')

    this.addSql(
      'alter table "source_file" add constraint "source_file_task_id_foreign" foreign key ("task_id") references "task" ("id") on update cascade on delete cascade;',
    )
    this.addSql(
      'alter table "chat_message" add constraint "chat_message_task_id_foreign" foreign key ("task_id") references "task" ("id") on update cascade on delete cascade;',
    )
    this.addSql(
      'alter table "task_event" add constraint "task_event_task_id_foreign" foreign key ("task_id") references "task" ("id") on update cascade on delete cascade;',
    )
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists "task_event" cascade;')
    this.addSql('drop table if exists "chat_message" cascade;')
    this.addSql('drop table if exists "source_file" cascade;')
    this.addSql('drop table if exists "task" cascade;')
    this.addSql('drop table if exists "sim_session" cascade;')
  }
}
