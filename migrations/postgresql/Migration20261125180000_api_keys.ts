import { Migration } from '@mikro-orm/migrations'

/**
 * API keys for the REST API: only a salted hash of each key and a short public
 * prefix are stored, never the key. Names and prefixes are unique (the unique
 * constraint on `prefix` is also how a presented key finds its row); scopes
 * are `jsonb`, instants `timestamptz`. The twin of SQLite's migration.
 */
export class Migration20261125180000_api_keys extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      'create table "api_key" ("id" varchar(26) not null, "name" varchar(255) not null, "prefix" varchar(32) not null, "key_hash" text not null, "salt" text not null, "scopes" jsonb not null, "rate_limit" int null, "created_at" timestamptz not null, "expires_at" timestamptz null, "revoked_at" timestamptz null, "last_used_at" timestamptz null, constraint "api_key_pkey" primary key ("id"));',
    )
    this.addSql('alter table "api_key" add constraint "api_key_name_unique" unique ("name");')
    this.addSql('alter table "api_key" add constraint "api_key_prefix_unique" unique ("prefix");')
  }

  /** Every key is gone: a daemon of an older jjm has no keys to check. */
  override async down(): Promise<void> {
    this.addSql('drop table if exists "api_key" cascade;')
  }
}
