import { ArchiveCommand } from '../../cli/bulk-action.js'

export default class TasksArchive extends ArchiveCommand {
  static override summary = 'Archive tasks at Jules and in jjm: hidden from lists unless --archived.'
  static override description =
    `Give task ids, or pick tasks with a filter (--state, --repo, --label, --group, --older-than); --dry-run counts and names them without changing anything. Each session is archived at Jules first (a Jules backend without archiving refuses, exit code 17), then jjm's record, under the task's lease, with an \`archived\` event. One failure does not stop the rest. \`jjm tasks unarchive\` brings tasks back.
Exit codes: 0 every task archived (or already was), 17 at least one failed (see the report), 11 no ids and no filter.`

  static override examples = [
    '<%= config.bin %> tasks archive 01JD3 01JD4',
    '<%= config.bin %> tasks archive --state completed --older-than 30d --dry-run',
    '<%= config.bin %> tasks archive --state completed --state failed --older-than 30d --json',
  ]

  static override strict = false

  protected readonly action = 'archive'
}
