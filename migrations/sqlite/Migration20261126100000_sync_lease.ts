import { Migration } from '@mikro-orm/migrations'

/**
 * The lease on syncing a task: `sync_lease_holder` is the daemon syncing it
 * now and `sync_lease_until` when that daemon is presumed dead, so that
 * several daemons on one database divide the monitor's work and never sync a
 * task twice at once. Existing tasks get no lease: nobody syncs them yet.
 */
export class Migration20261126100000_sync_lease extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table `task` add column `sync_lease_holder` text null;')
    this.addSql('alter table `task` add column `sync_lease_until` datetime null;')
  }

  /** Leases are dropped: daemons running during the downgrade may sync a task at the same time. */
  override async down(): Promise<void> {
    this.addSql('alter table `task` drop column `sync_lease_until`;')
    this.addSql('alter table `task` drop column `sync_lease_holder`;')
  }
}
