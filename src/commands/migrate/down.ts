import { Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { OperationFailedError } from '../../core/errors.js'

export default class MigrateDown extends JjmCommand<typeof MigrateDown> {
  static override summary = 'Revert schema migrations: the latest one, or down to a named one.'
  static override description =
    'Without --to, reverts the latest applied migration. With --to NAME, reverts every migration applied after NAME and NAME itself. Data in tables and columns that a reverted migration created is lost; `jjm migrate up` re-applies the migrations.'

  static override examples = [
    '<%= config.bin %> migrate down',
    '<%= config.bin %> migrate down --to Migration20261125120000_soft_delete',
  ]

  static override flags = {
    to: Flags.string({ summary: 'Revert down to and including this migration (default: the latest one only).' }),
  }

  protected override migrateMode = 'none' as const

  async run(): Promise<{ reverted: string[] }> {
    const { storage, config } = await this.core()
    if (!storage.schema) {
      throw new OperationFailedError(`The ${config.storage.backend} storage backend has no schema to migrate.`)
    }
    const reverted = await storage.schema.down(this.flags.to === undefined ? {} : { to: this.flags.to })
    this.log(
      reverted.length === 0
        ? 'Nothing to revert: no migration is applied.'
        : reverted.map((name) => `reverted  ${name}`).join('\n'),
    )
    return { reverted }
  }
}
