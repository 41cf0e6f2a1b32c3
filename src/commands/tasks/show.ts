import { Args } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { renderTask } from '../../cli/render.js'
import type { Task } from '../../core/task.js'

export default class TasksShow extends JjmCommand<typeof TasksShow> {
  static override summary =
    'Show one task: its state, plan, latest messages, pull request, changed files and recent history.'
  static override description =
    '--json prints the task itself (the same object as GET /api/v1/tasks/{id}); a pending task has `queue`, its place in the local queue. Exit codes: 0 shown, 13 no such task.'
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

  async run(): Promise<Task> {
    const { manager } = await this.core()
    if (this.jsonEnabled()) return manager.showTask(this.args.id)
    const { task, events, ...details } = await manager.getTaskDetails(this.args.id)
    this.log(renderTask(task, events, details))
    return task
  }
}
