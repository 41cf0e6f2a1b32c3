import { Migration } from '@mikro-orm/migrations'

const chatMessageColumns = '`id`, `task_id`, `activity_id`, `role`, `text`, `at`'

/**
 * Soft delete and messages without an activity: `task.deleted_at` hides a
 * deleted task while its history stays; `chat_message.activity_id` becomes
 * nullable (the unique index ignores NULLs). SQLite cannot relax a NOT NULL in
 * place, so the table is rebuilt; nothing references it, so foreign keys can
 * stay on.
 */
export class Migration20261125120000_soft_delete extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table `task` add column `deleted_at` datetime null;')
    rebuildChatMessage(this, 'null')
  }

  /** Deleted tasks reappear (older jjm cannot hide them); a message without an activity gets its own id as one. */
  override async down(): Promise<void> {
    this.addSql('update `chat_message` set `activity_id` = `id` where `activity_id` is null;')
    rebuildChatMessage(this, 'not null')
    this.addSql('alter table `task` drop column `deleted_at`;')
  }
}

function rebuildChatMessage(migration: Migration, activityId: 'null' | 'not null'): void {
  migration.addSql(
    `create table \`chat_message__temp_alter\` (\`id\` text not null, \`task_id\` text not null, \`activity_id\` text ${activityId}, \`role\` text not null, \`text\` text not null, \`at\` datetime not null, constraint \`chat_message_task_id_foreign\` foreign key(\`task_id\`) references \`task\`(\`id\`) on delete cascade on update cascade, primary key (\`id\`));`,
  )
  migration.addSql(`insert into \`chat_message__temp_alter\` select ${chatMessageColumns} from \`chat_message\`;`)
  migration.addSql('drop table `chat_message`;')
  migration.addSql('alter table `chat_message__temp_alter` rename to `chat_message`;')
  migration.addSql('create index `chat_message_task_id_index` on `chat_message` (`task_id`);')
  migration.addSql(
    'create unique index `chat_message_task_id_activity_id_unique` on `chat_message` (`task_id`, `activity_id`);',
  )
}
