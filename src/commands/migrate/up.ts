import { Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { OperationFailedError } from '../../core/errors.js'

export default class MigrateUp extends JjmCommand<typeof MigrateUp> {
  static override summary = 'Apply pending schema migrations.'
  static override examples = [
    '<%= config.bin %> migrate up',
    '<%= config.bin %> migrate up --to Migration20261125000000_initial',
  ]

  static override flags = {
    to: Flags.string({ summary: 'Stop after this migration (default: apply all pending).' }),
  }

  protected override migrateMode = 'none' as const

  async run(): Promise<{ applied: string[] }> {
    const { storage, config } = await this.core()
    if (!storage.schema) {
      throw new OperationFailedError(`The ${config.storage.backend} storage backend has no schema to migrate.`)
    }
    const applied = await storage.schema.up(this.flags.to === undefined ? {} : { to: this.flags.to })
    this.log(
      applied.length === 0
        ? 'Nothing to apply: the schema is up to date.'
        : applied.map((name) => `applied  ${name}`).join('\n'),
    )
    return { applied }
  }
}
