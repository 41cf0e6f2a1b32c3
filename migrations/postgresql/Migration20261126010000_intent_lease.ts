import { Migration } from '@mikro-orm/migrations'

/**
 * The lease on a creation intent (issue 4): `lease_holder` is the attempt
 * working on the key and `lease_expires_at` when it is presumed dead, so that
 * two processes retrying one idempotency key at the same moment do not both
 * call Jules. Existing intents get no lease. The twin of SQLite's migration.
 */
export class Migration20261126010000_intent_lease extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'alter table "creation_intent" add column "lease_holder" varchar(64) null, add column "lease_expires_at" timestamptz null;',
    )
  }

  /** Leases are dropped: an attempt running during the downgrade is no longer protected from a concurrent retry. */
  override async down(): Promise<void> {
    this.addSql('alter table "creation_intent" drop column "lease_holder", drop column "lease_expires_at";')
  }
}
