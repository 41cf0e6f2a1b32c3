import { Args } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { renderTask } from '../../cli/render.js'
import type { TaskWithDetails } from '../../core/task-operations.js'

export default class TasksShow extends JjmCommand<typeof TasksShow> {
  static override summary =
    'Show one task: its state, plan, latest messages, pull request, changed files and recent history.'
  static override description =
    "--json prints the task's fields with what the view shows under `details` (plan, latest messages, changed files, recent events): the same object as GET /api/v1/tasks/{id}?include=details. Exit codes: 0 shown, 13 no such task."
  static override examples = [
    '<%= config.bin %> tasks show 01JD3',
    '<%= config.bin %> tasks show sessions/1234567 --json',
  ]

  static override args = {
    id: Args.string({
      description: 'Task id, Jules session id or name, or a unique id prefix.',
      required: true,
    }),
  }

  async run(): Promise<TaskWithDetails> {
    const { manager } = await this.core()
    const { details, ...task } = await manager.getTaskWithDetails(this.args.id)
    if (!this.jsonEnabled()) {
      const { events, ...rest } = details
      this.log(renderTask(task, events, rest))
    }
    return { ...task, details }
  }
}
