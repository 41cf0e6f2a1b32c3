import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { Args, Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { ExitCode, ValidationError } from '../../core/errors.js'
import { type ImportReport, importServiceOf } from '../../core/import-service.js'

export default class MigrateImportSqlite extends JjmCommand<typeof MigrateImportSqlite> {
  static override summary = 'Copy the tasks of a jjm SQLite database into the configured storage (e.g. PostgreSQL).'
  static override description = `Copies every task with its events, chat messages, source files and sync cursor (so the
monitor carries on where it was), and the idempotency keys used so far, from a jjm SQLite
file into the configured storage. Every task keeps its own times, and nothing is notified:
the copy is history, not news. A task whose id or Jules session is already there is
skipped, so running the command twice copies nothing the second time. The SQLite file
is only read; its schema must be current (run \`jjm migrate up --db FILE\` first if not).
Exit codes:
  0   every task was copied or already present
  11  there is no such file
  18  a database failed
  19  the SQLite schema is behind`

  static override examples = [
    'DATABASE_URL=postgresql://jjm@db/jjm <%= config.bin %> migrate import-sqlite ~/.local/share/jjm/jjm.sqlite',
    'DATABASE_URL=postgresql://jjm@db/jjm <%= config.bin %> migrate import-sqlite jjm.sqlite --dry-run --json',
  ]

  static override args = {
    file: Args.string({ description: 'The jjm SQLite database to copy from.', required: true }),
  }

  static override flags = {
    'dry-run': Flags.boolean({ summary: 'Count what would be copied; write nothing.' }),
  }

  async run(): Promise<ImportReport & { file: string; dryRun: boolean }> {
    const file = resolve(this.args.file)
    if (!existsSync(file)) {
      throw new ValidationError(`There is no file ${file}. Give the path of the jjm SQLite database to copy.`, {
        context: { path: file },
      })
    }
    const dryRun = this.flags['dry-run'] === true
    const core = await this.core()
    const { config } = core
    if (config.storage.backend === 'sqlite' && resolve(config.storage.path) === file) {
      throw new ValidationError(
        'The source and the destination are the same SQLite file: set DATABASE_URL (or --storage) to the destination.',
      )
    }
    const { openSqlStore } = await import('../../plugins/storage-sql/sql-store.js')
    const { sqlHistoryReader } = await import('../../plugins/storage-sql/export.js')
    const source = await openSqlStore({ dialect: 'sqlite', path: file, migrate: 'check', logger: await this.logger() })
    let report: ImportReport
    try {
      report = await importServiceOf(core).import(sqlHistoryReader(source), { dryRun })
    } finally {
      await source.close()
    }
    const { tasks, events, chatMessages, sourceFiles } = report.imported
    this.log(
      `${dryRun ? 'would copy' : 'copied'} ${tasks} tasks, ${events} events, ${chatMessages} chat messages, ${sourceFiles} source files; ` +
        `skipped ${report.skipped} already present`,
    )
    if (report.invalid.length > 0) process.exitCode = ExitCode.validation
    return { file, dryRun, ...report }
  }
}
