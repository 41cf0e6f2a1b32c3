import { Migration } from '@mikro-orm/migrations'

/**
 * Soft delete and messages without an activity: `task.deleted_at` hides a
 * deleted task while its history stays; `chat_message.activity_id` becomes
 * nullable (the unique constraint ignores NULLs).
 */
export class Migration20261125120000_soft_delete extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table "task" add column "deleted_at" timestamptz null;')
    this.addSql('alter table "chat_message" alter column "activity_id" drop not null;')
  }

  /** Deleted tasks reappear (older jjm cannot hide them); a message without an activity gets its own id as one. */
  override async down(): Promise<void> {
    this.addSql('update "chat_message" set "activity_id" = "id" where "activity_id" is null;')
    this.addSql('alter table "chat_message" alter column "activity_id" set not null;')
    this.addSql('alter table "task" drop column "deleted_at";')
  }
}
