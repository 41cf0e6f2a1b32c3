import { JjmCommand } from '../../cli/base-command.js'
import { OperationFailedError } from '../../core/errors.js'
import type { MigrationStatus } from '../../core/ports.js'

export default class MigrateStatus extends JjmCommand<typeof MigrateStatus> {
  static override summary = 'Show which schema migrations the database has and which are pending.'
  static override examples = [
    '<%= config.bin %> migrate status',
    '<%= config.bin %> migrate status --db ./jjm.sqlite --json',
  ]

  protected override migrateMode = 'none' as const

  async run(): Promise<MigrationStatus & { storage: string }> {
    const { storage, config } = await this.core()
    if (!storage.schema) {
      throw new OperationFailedError(`The ${config.storage.backend} storage backend has no schema to migrate.`)
    }
    const status = await storage.schema.status()
    for (const name of status.executed) this.log(`applied  ${name}`)
    for (const name of status.pending) this.log(`pending  ${name}`)
    this.log(
      status.pending.length === 0
        ? 'The schema is up to date.'
        : `${status.pending.length} migration(s) pending: run \`${this.config.bin} migrate up\`.`,
    )
    return { storage: config.storage.backend, ...status }
  }
}
