/**
 * Schema migrations: status, up and down over MikroORM's migrator, and the
 * policy applied when a store opens.
 *
 * The migrator (umzug and its command-line dependencies) is the heaviest
 * thing the store could load, so it loads only when a migration is applied
 * or reverted. Opening a store, `jjm migrate status` and `jjm health` compare
 * the migrations table with the names this build ships, in one query.
 */
import { MigrationRequiredError, ValidationError } from '../../core/errors.js'
import type { Logger, MigrationStatus, SchemaManager } from '../../core/ports.js'
import { type StoreContext, toStorageError } from './storage-errors.js'

/**
 * `auto`: set up a brand-new database; refuse one whose schema is behind.
 * `check`: refuse any database with pending migrations, new ones included.
 * `none`: leave the schema alone (the `jjm migrate` commands).
 */
export type MigrationPolicy = 'auto' | 'check' | 'none'

/** The part of MikroORM's migrator that jjm uses. */
export interface OrmMigrator {
  up(options?: { to?: string }): Promise<Array<{ name: string }>>
  down(options?: { to?: string }): Promise<Array<{ name: string }>>
}

/** Where a MigrationManager reads the schema's state from. */
export interface MigrationSource {
  /** The names of the migrations this build ships, oldest first. */
  known: readonly string[]
  /**
   * The names recorded in the migrations table, in the order applied, by one
   * query and without the migrator; empty when the table does not exist yet.
   */
  readApplied(): Promise<string[]>
  /** MikroORM's migrator with this build's migrations, loaded on first call. */
  loadMigrator(): Promise<OrmMigrator>
}

export class MigrationManager implements SchemaManager {
  constructor(
    private readonly source: MigrationSource,
    private readonly at: StoreContext,
  ) {}

  /**
   * What is applied and what is pending, from the migrations table and the
   * names this build ships, without loading the migrator: the answer MikroORM's
   * migrator (umzug) gives. Applied is every name in the table, in the order
   * applied; pending is every shipped migration whose name is not in it.
   * Names in the table that this build does not know (a database migrated by
   * a newer jjm) are not pending, and block nothing.
   */
  async status(): Promise<MigrationStatus> {
    let executed: string[]
    try {
      executed = await this.source.readApplied()
    } catch (error) {
      throw toStorageError(error, 'read the migration status', this.at)
    }
    // MikroORM records a migration's name without the file extension, and
    // strips one that an older version recorded.
    const applied = new Set(executed.map(withoutExtension))
    return { executed, pending: this.source.known.filter((name) => !applied.has(name)) }
  }

  async up(options: { to?: string } = {}): Promise<string[]> {
    const names = this.source.known
    if (options.to !== undefined && !names.includes(options.to)) {
      throw new ValidationError(`There is no migration named "${options.to}". Known migrations: ${names.join(', ')}.`, {
        context: { to: options.to, known: names },
      })
    }
    try {
      const migrator = await this.source.loadMigrator()
      const applied = await migrator.up(options.to === undefined ? undefined : { to: options.to })
      return applied.map((migration) => migration.name)
    } catch (error) {
      throw toStorageError(error, 'apply migrations', this.at)
    }
  }

  /**
   * Reverts the latest applied migration, or every one applied after `to` and
   * `to` itself. Returns the names reverted, latest first.
   */
  async down(options: { to?: string } = {}): Promise<string[]> {
    if (options.to !== undefined) {
      const { executed } = await this.status()
      if (!executed.includes(options.to)) {
        throw new ValidationError(
          `"${options.to}" is not an applied migration, so there is nothing to revert down to. Applied: ${executed.join(', ') || 'none'}.`,
          { context: { to: options.to, executed } },
        )
      }
    }
    try {
      const migrator = await this.source.loadMigrator()
      const reverted = await migrator.down(options.to === undefined ? undefined : { to: options.to })
      return reverted.map((migration) => migration.name)
    } catch (error) {
      throw toStorageError(error, 'revert migrations', this.at)
    }
  }
}

function withoutExtension(name: string): string {
  return name.replace(/\.(js|ts)$/, '')
}

/**
 * What opening a store does about pending migrations; see {@link MigrationPolicy}.
 * A current schema costs one query; the migrator loads only to set up a new database.
 */
export async function applyMigrationPolicy(
  schema: SchemaManager,
  policy: MigrationPolicy,
  logger: Logger,
  at: StoreContext,
): Promise<void> {
  if (policy === 'none') return
  const { executed, pending } = await schema.status()
  if (pending.length === 0) return
  // A brand-new database is jjm's first use: set it up without asking. An
  // existing one is upgraded only on purpose, so that a newer jjm never
  // changes a schema that older jjm processes (another daemon) still use.
  if (policy === 'check' || executed.length > 0) {
    throw new MigrationRequiredError(
      `The database ${at.location} needs ${pending.length} migration(s): ${pending.join(', ')}. Run \`jjm migrate up\` first.`,
      { context: { ...at.where, pending } },
    )
  }
  try {
    await schema.up()
  } catch (error) {
    // Two processes starting at once on a new database both try to migrate;
    // the loser finds the work done and carries on.
    const after = await schema.status()
    if (after.pending.length > 0) throw error
    return
  }
  logger.debug(`Set up a new database: ${pending.join(', ')}`, { ...at.where, migrations: pending })
}
