/**
 * Schema migrations: status, up and down over MikroORM's migrator, and the
 * policy applied when a store opens.
 */
import type { MigrationObject } from '@mikro-orm/core'
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
  getExecutedMigrations(): Promise<Array<{ name: string }>>
  getPendingMigrations(): Promise<Array<{ name: string }>>
  up(options?: { to?: string }): Promise<Array<{ name: string }>>
  down(options?: { to?: string }): Promise<Array<{ name: string }>>
}

export class MigrationManager implements SchemaManager {
  constructor(
    private readonly migrator: OrmMigrator,
    private readonly known: MigrationObject[],
    private readonly at: StoreContext,
  ) {}

  async status(): Promise<MigrationStatus> {
    try {
      const executed = await this.migrator.getExecutedMigrations()
      const pending = await this.migrator.getPendingMigrations()
      return { executed: executed.map((row) => row.name), pending: pending.map((row) => row.name) }
    } catch (error) {
      throw toStorageError(error, 'read the migration status', this.at)
    }
  }

  async up(options: { to?: string } = {}): Promise<string[]> {
    const names = this.known.map((migration) => migration.name)
    if (options.to !== undefined && !names.includes(options.to)) {
      throw new ValidationError(`There is no migration named "${options.to}". Known migrations: ${names.join(', ')}.`, {
        context: { to: options.to, known: names },
      })
    }
    try {
      const applied = await this.migrator.up(options.to === undefined ? undefined : { to: options.to })
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
      const reverted = await this.migrator.down(options.to === undefined ? undefined : { to: options.to })
      return reverted.map((migration) => migration.name)
    } catch (error) {
      throw toStorageError(error, 'revert migrations', this.at)
    }
  }
}

/** What opening a store does about pending migrations; see {@link MigrationPolicy}. */
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
