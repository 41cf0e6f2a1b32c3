import { Args } from '@oclif/core'
import { JjmCommand } from '../cli/base-command.js'
import type { OperationResult } from '../core/task-operations.js'

export default class Message extends JjmCommand<typeof Message> {
  static override summary = "Send a message to a task's agent (an answer to its question, or more instructions)."
  static override description =
    `Allowed in any state but completed and failed; the state is checked with Jules first. The agent's reply arrives later: follow it with \`jjm tasks show ID\` after \`jjm monitor --once\`.
Exit codes: 0 sent, 11 empty message, 13 no such task, 14 the task has finished.`

  static override examples = [
    '<%= config.bin %> message 01JD3 "Update the documentation too"',
    '<%= config.bin %> message sessions/1234567 "Only the code, please" --json',
  ]

  static override args = {
    id: Args.string({ description: 'Task id, Jules session id or name, or a unique id prefix.', required: true }),
    text: Args.string({ description: 'What to tell the agent.', required: true }),
  }

  async run(): Promise<OperationResult> {
    const { manager } = await this.core()
    const result = await manager.sendMessage(this.args.id, this.args.text)
    this.log(`Sent a message to task ${result.taskId} (${result.state}) at ${result.at}.`)
    return result
  }
}
