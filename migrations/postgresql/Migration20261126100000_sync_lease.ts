import { Migration } from '@mikro-orm/migrations'

/**
 * The lease on syncing a task: `sync_lease_holder` is the daemon syncing it
 * now and `sync_lease_until` when that daemon is presumed dead, so that
 * several daemons on one database divide the monitor's work and never sync a
 * task twice at once. The twin of SQLite's migration.
 */
export class Migration20261126100000_sync_lease extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'alter table "task" add column "sync_lease_holder" varchar(64) null, add column "sync_lease_until" timestamptz null;',
    )
  }

  /** Leases are dropped: daemons running during the downgrade may sync a task at the same time. */
  override async down(): Promise<void> {
    this.addSql('alter table "task" drop column "sync_lease_holder", drop column "sync_lease_until";')
  }
}
