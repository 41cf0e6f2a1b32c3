import { resolve } from 'node:path'
import { Args, Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { ExitCode } from '../../core/errors.js'
import { type ImportReport, importServiceOf } from '../../core/import-service.js'
import { openLegacyJsonFile } from '../../plugins/storage-json/reader.js'

export default class MigrateImportJson extends JjmCommand<typeof MigrateImportJson> {
  static override summary = "Copy the tasks of the original job manager's JSON file into jjm's database."
  static override description = `Copies tasks with their events, chat messages, source files and sync cursors (so the
monitor carries on where it was), and the idempotency keys used so far, into the configured
storage (SQLite by default, PostgreSQL with DATABASE_URL). Every task keeps its own times,
and nothing is notified: the import is history, not news. A task whose id or Jules session
is already there is skipped, so running the command twice imports nothing the second time.
Records that are not valid tasks are listed and left out; the valid ones are imported.
Exit codes:
  0   every record was imported or already present
  11  some records are invalid (the others were imported), or there is no such file
  18  the file is not a legacy JSON task file, or the database failed`

  static override examples = [
    '<%= config.bin %> migrate import-json ~/jobs/tasks.json',
    '<%= config.bin %> migrate import-json tasks.json --dry-run',
    'DATABASE_URL=postgresql://jjm@db/jjm <%= config.bin %> migrate import-json tasks.json --json',
  ]

  static override args = {
    file: Args.file({ description: 'The JSON file of the original job manager.', required: true }),
  }

  static override flags = {
    'dry-run': Flags.boolean({ summary: 'Read the file and count what would be imported; write nothing.' }),
  }

  async run(): Promise<ImportReport & { file: string; dryRun: boolean }> {
    const file = resolve(this.args.file)
    const dryRun = this.flags['dry-run'] === true
    // The file is read first: a missing or corrupt one is reported before any database is opened.
    const source = await openLegacyJsonFile(file)
    const report = await importServiceOf(await this.core()).import(source, { dryRun })

    const { tasks, events, chatMessages, sourceFiles } = report.imported
    this.log(
      `${dryRun ? 'would import' : 'imported'} ${tasks} tasks, ${events} events, ${chatMessages} chat messages, ${sourceFiles} source files; ` +
        `skipped ${report.skipped} already present; ${report.invalid.length} invalid`,
    )
    if (report.invalid.length > 0) {
      for (const record of report.invalid) {
        this.logToStderr(`invalid  ${record.id}  ${record.field === '' ? '' : `${record.field}: `}${record.reason}`)
      }
      this.logToStderr(
        `${report.invalid.length} record(s) of ${file} were not imported. Fix them and run the command again: the tasks imported now will be skipped.`,
      )
      // Not thrown: --json still prints the report, and the valid records are in.
      process.exitCode = ExitCode.validation
    }
    return { file, dryRun, ...report }
  }
}
