import { Args } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { renderTask } from '../../cli/render.js'
import type { Task } from '../../core/task.js'

export default class TasksShow extends JjmCommand<typeof TasksShow> {
  static override summary = 'Show one task: its state, pull request and recent history.'
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
    const task = await manager.getTask(this.args.id)
    if (!this.jsonEnabled()) {
      const events = await manager.getEvents(task.id, { limit: 10 })
      this.log(renderTask(task, events.items))
    }
    return task
  }
}
