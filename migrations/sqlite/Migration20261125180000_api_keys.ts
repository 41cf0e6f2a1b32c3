import { Migration } from '@mikro-orm/migrations'

/**
 * API keys for the REST API: only a salted hash of each key and a short public
 * prefix are stored, never the key. Names and prefixes are unique (the unique
 * index on `prefix` is also how a presented key finds its row). Nothing else
 * refers to the table, so down drops it alone.
 */
export class Migration20261125180000_api_keys extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'create table `api_key` (`id` text not null, `name` text not null, `prefix` text not null, `key_hash` text not null, `salt` text not null, `scopes` json not null, `rate_limit` integer null, `created_at` datetime not null, `expires_at` datetime null, `revoked_at` datetime null, `last_used_at` datetime null, primary key (`id`));',
    )
    this.addSql('create unique index `api_key_name_unique` on `api_key` (`name`);')
    this.addSql('create unique index `api_key_prefix_unique` on `api_key` (`prefix`);')
  }

  /** Every key is gone: a daemon of an older jjm has no keys to check. */
  override async down(): Promise<void> {
    this.addSql('drop table if exists `api_key`;')
  }
}
