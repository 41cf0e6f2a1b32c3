/**
 * What `jjm tasks archive` and `jjm tasks unarchive` share: the selection
 * flags (ids, or a filter), the dry run, and the report of each task's result.
 */
import { Args, Flags } from '@oclif/core'
import type { BulkActionReport, BulkSelection } from '../core/bulk-actions.js'
import { ExitCode } from '../core/errors.js'
import type { Clock } from '../core/ports.js'
import { JjmCommand } from './base-command.js'
import { parseDuration } from './duration.js'
import { taskStateFlag } from './flags.js'
import { renderTable, truncate } from './render.js'

export const bulkSelectionFlags = {
  state: taskStateFlag({
    multiple: true,
    multipleNonGreedy: true,
    summary: 'Every task in this state (repeatable).',
  }),
  repo: Flags.string({ char: 'r', summary: 'Every task on this repository (owner/repo).' }),
  label: Flags.string({ char: 'l', summary: 'Every task with this label.', exclusive: ['group'] }),
  group: Flags.string({ summary: 'Every task of this group (the attempts of one `tasks create --parallel`).' }),
  'older-than': Flags.string({
    summary: 'Every task last changed longer ago than this (30d, 12h, 90m).',
  }),
  'dry-run': Flags.boolean({ summary: 'Count and name the tasks; change nothing.' }),
}

export interface BulkSelectionFlagValues {
  state?: string[]
  repo?: string
  label?: string
  group?: string
  'older-than'?: string
}

/** The selection the flags and the given ids describe. */
export function selectionOf(ids: string[], flags: BulkSelectionFlagValues, clock: Clock): BulkSelection {
  const olderThan = flags['older-than']
  return {
    ...(ids.length > 0 ? { taskIds: ids } : {}),
    ...(flags.state && flags.state.length > 0 ? { states: flags.state } : {}),
    ...(flags.repo === undefined ? {} : { repository: flags.repo }),
    ...(flags.label === undefined ? {} : { label: flags.label }),
    ...(flags.group === undefined ? {} : { group: flags.group }),
    ...(olderThan === undefined
      ? {}
      : { updatedBefore: new Date(clock.now() - parseDuration(olderThan, '--older-than')).toISOString() }),
  }
}

/** The report for people: what would happen (a dry run) or what did, task by task. */
export function renderBulkReport(report: BulkActionReport, verb: { past: string; future: string }): string {
  if (report.count === 0) return `No tasks match: nothing ${verb.past}.`
  const table = renderTable(report.results, [
    { header: 'TASK', value: (result) => result.taskId },
    { header: 'STATE', value: (result) => result.state ?? '-' },
    {
      header: report.dryRun ? 'TITLE' : 'RESULT',
      value: (result) =>
        report.dryRun
          ? truncate(result.title ?? '', 60)
          : result.status === 'failed'
            ? `failed: ${result.error?.message.split('\n', 1)[0] ?? ''} [${result.error?.code ?? ''}]`
            : result.status,
    },
  ])
  if (report.dryRun) {
    return `${table}\n\n${report.count} task(s) would be ${verb.future}. Run the same command without --dry-run to do it.`
  }
  const unchanged = report.results.filter((result) => result.status === 'unchanged').length
  const done = report.succeeded - unchanged
  return `${table}\n\n${done} ${verb.past}, ${unchanged} already so, ${report.failed} failed.`
}

/** `jjm tasks archive` and `jjm tasks unarchive`: the same command, told which. */
export abstract class ArchiveCommand extends JjmCommand<typeof ArchiveCommand> {
  static override strict = false

  static override args = {
    id: Args.string({ description: 'Task id(s), Jules session ids or names, or unique id prefixes.' }),
  }

  static override flags = bulkSelectionFlags

  protected abstract readonly action: 'archive' | 'unarchive'

  async run(): Promise<BulkActionReport> {
    const { argv } = await this.parse(this.ctor)
    const { manager, clock } = await this.core()
    const report = await manager.runBulkAction({
      action: this.action,
      selection: selectionOf(argv.map(String), this.flags, clock),
      dryRun: this.flags['dry-run'],
    })
    const past = `${this.action}d`
    this.log(renderBulkReport(report, { past, future: past }))
    if (report.failed > 0) {
      process.exitCode = ExitCode.operationFailed
      // On stderr even with --json: stdout stays the report.
      process.stderr.write(
        `${report.failed} of ${report.count} task(s) could not be ${past}; see the report. Run the same command again to retry them.\n`,
      )
    }
    return report
  }
}
