import { Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { pageFlags, taskStateFlag } from '../../cli/flags.js'
import { renderTable, taskColumns } from '../../cli/render.js'
import { ValidationError } from '../../core/errors.js'
import type { TaskFilter, TaskPage } from '../../core/task.js'
import { groupLabel } from '../../core/task-group.js'

export default class TasksList extends JjmCommand<typeof TasksList> {
  static override summary = 'List tasks, newest first.'
  static override examples = [
    '<%= config.bin %> tasks list',
    '<%= config.bin %> tasks list --state awaiting_plan_approval --state awaiting_user_feedback --repo acme/api',
    '<%= config.bin %> tasks list --label backend --since 2026-11-01 --json',
    '<%= config.bin %> tasks list --stalled',
    '<%= config.bin %> tasks list --archived --repo acme/api',
    '<%= config.bin %> tasks list --group 01JD9ZQ4W5X6Y7Z8A9B0C1D2E3',
  ]

  static override flags = {
    state: taskStateFlag({
      multiple: true,
      multipleNonGreedy: true,
      summary: 'Only tasks in this state (repeatable).',
    }),
    repo: Flags.string({ char: 'r', summary: 'Only tasks on this repository (owner/repo).' }),
    label: Flags.string({ char: 'l', summary: 'Only tasks with this label.' }),
    since: Flags.string({ summary: 'Only tasks created at or after this date or RFC 3339 time.' }),
    search: Flags.string({ char: 's', summary: 'Only tasks whose title contains this text.' }),
    stalled: Flags.boolean({
      allowNo: true,
      summary:
        'Only tasks marked stalled (no activity from Jules for monitor.stalledAfter); --no-stalled: only the others.',
    }),
    group: Flags.string({
      summary: 'Only the attempts of one `tasks create --parallel` (its group id).',
      exclusive: ['label'],
    }),
    archived: Flags.boolean({ summary: 'Only archived tasks (hidden otherwise; see `jjm tasks archive`).' }),
    ...pageFlags,
  }

  async run(): Promise<TaskPage> {
    const filter: TaskFilter = {}
    if (this.flags.state) filter.states = this.flags.state
    if (this.flags.repo) filter.repository = this.flags.repo
    if (this.flags.label) filter.label = this.flags.label
    if (this.flags.group) filter.label = groupLabel(this.flags.group)
    if (this.flags.archived) filter.archived = true
    if (this.flags.search) filter.search = this.flags.search
    if (this.flags.stalled !== undefined) filter.stalled = this.flags.stalled
    if (this.flags.since) filter.since = parseSince(this.flags.since)
    if (this.flags.limit !== undefined) filter.limit = this.flags.limit
    if (this.flags.cursor) filter.cursor = this.flags.cursor
    const { manager } = await this.core()
    const page = await manager.listTasks(filter)
    if (page.items.length === 0) {
      this.log(
        this.flags.archived
          ? 'No archived tasks match.'
          : 'No tasks match. Create one with `jjm tasks create --repo owner/repo "prompt"`.',
      )
    } else {
      this.log(renderTable(page.items, taskColumns))
      if (page.nextCursor) this.log(`\nMore: ${this.config.bin} tasks list --cursor ${page.nextCursor}`)
    }
    return page
  }
}

function parseSince(value: string): string {
  const at = Date.parse(value)
  if (Number.isNaN(at)) {
    throw new ValidationError(`--since "${value}" is not a date; use e.g. 2026-11-01 or 2026-11-01T08:00:00Z.`)
  }
  return new Date(at).toISOString()
}
