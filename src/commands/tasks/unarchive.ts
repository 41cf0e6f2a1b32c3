import { ArchiveCommand } from '../../cli/bulk-action.js'

export default class TasksUnarchive extends ArchiveCommand {
  static override summary = 'Bring archived tasks back, at Jules and in jjm.'
  static override description =
    `Give task ids, or pick archived tasks with a filter (--state, --repo, --label, --group, --older-than); --dry-run counts and names them without changing anything. Each session is unarchived at Jules first, then jjm's record, with an \`unarchived\` event. One failure does not stop the rest. See archived tasks with \`jjm tasks list --archived\`.
Exit codes: 0 every task unarchived (or was not archived), 17 at least one failed (see the report), 11 no ids and no filter.`

  static override examples = [
    '<%= config.bin %> tasks unarchive 01JD3',
    '<%= config.bin %> tasks unarchive --group 01JD9 --dry-run',
  ]

  static override strict = false

  protected readonly action = 'unarchive'
}
