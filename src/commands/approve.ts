import { Args } from '@oclif/core'
import { JjmCommand } from '../cli/base-command.js'
import type { OperationResult } from '../core/task-operations.js'

export default class Approve extends JjmCommand<typeof Approve> {
  static override summary = "Approve a task's plan so that Jules carries it out."
  static override description =
    `Only a task in awaiting_plan_approval can be approved; the state is checked with Jules first. See the plan with \`jjm tasks show ID\`.
Exit codes: 0 approved, 13 no such task, 14 the task is not awaiting plan approval.`

  static override examples = ['<%= config.bin %> approve 01JD3', '<%= config.bin %> approve 01JD3 --json']

  static override args = {
    id: Args.string({ description: 'Task id, Jules session id or name, or a unique id prefix.', required: true }),
  }

  async run(): Promise<OperationResult> {
    const { manager } = await this.core()
    const result = await manager.approvePlan(this.args.id)
    this.log(`Approved the plan of task ${result.taskId} at ${result.at}.`)
    return result
  }
}
