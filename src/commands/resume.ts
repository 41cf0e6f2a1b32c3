import { Args, Flags } from '@oclif/core'
import { JjmCommand } from '../cli/base-command.js'
import { defaultResumeText, type OperationResult } from '../core/task-operations.js'

export default class Resume extends JjmCommand<typeof Resume> {
  static override summary = 'Resume a paused task.'
  static override description =
    `Jules has no resume method: jjm sends the agent a message asking it to continue ("${defaultResumeText}" unless --text says otherwise). Only a paused task can be resumed; the state is checked with Jules first.
Exit codes: 0 resumed, 13 no such task, 14 the task is not paused.`

  static override examples = [
    '<%= config.bin %> resume 01JD3',
    '<%= config.bin %> resume 01JD3 --text "Continue, and skip the docs"',
  ]

  static override args = {
    id: Args.string({ description: 'Task id, Jules session id or name, or a unique id prefix.', required: true }),
  }

  static override flags = {
    text: Flags.string({ summary: `The message that resumes the task (default: "${defaultResumeText}").` }),
  }

  async run(): Promise<OperationResult> {
    const { manager } = await this.core()
    const result = await manager.resumeTask(this.args.id, this.flags.text)
    this.log(`Asked task ${result.taskId} to continue at ${result.at}.`)
    return result
  }
}
