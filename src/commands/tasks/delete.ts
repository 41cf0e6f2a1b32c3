import { createInterface } from 'node:readline/promises'
import { Args, Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { ValidationError } from '../../core/errors.js'
import type { DeleteResult } from '../../core/task-operations.js'

export default class TasksDelete extends JjmCommand<typeof TasksDelete> {
  static override summary = "Delete jjm's record of a task; with --remote, the Jules session too."
  static override description =
    `Asks for confirmation on a terminal unless --yes; without a terminal, --yes is required. The task disappears from lists and lookups; its history stays, with a \`deleted\` event, unless --purge removes it too. Without --remote the Jules session is left alone; with --remote it is deleted at Jules first (a session Jules no longer has counts as deleted), under the task's lease, and a Jules backend that cannot delete sessions refuses (exit code 17) before anything is deleted.
Exit codes: 0 deleted (or declined), 11 --yes missing without a terminal, 13 no such task, 17 Jules refused or cannot delete sessions.`

  static override examples = [
    '<%= config.bin %> tasks delete 01JD3',
    '<%= config.bin %> tasks delete 01JD3 --yes --purge --json',
    '<%= config.bin %> tasks delete 01JD3 --remote --yes',
  ]

  static override args = {
    id: Args.string({ description: 'Task id, Jules session id or name, or a unique id prefix.', required: true }),
  }

  static override flags = {
    yes: Flags.boolean({ char: 'y', summary: 'Do not ask for confirmation.' }),
    purge: Flags.boolean({ summary: "Remove the task's history too (events, messages, files)." }),
    remote: Flags.boolean({ summary: 'Delete the session at Jules too (it cannot be undone there).' }),
  }

  async run(): Promise<DeleteResult> {
    const { manager, clock } = await this.core()
    const task = await manager.getTask(this.args.id)
    if (!this.flags.yes) {
      if (!process.stdin.isTTY) {
        throw new ValidationError(
          `Deleting task ${task.id} needs confirmation and standard input is not a terminal: pass --yes.`,
          { context: { taskId: task.id } },
        )
      }
      const what = this.flags.purge ? 'and all its history' : '(its history is kept; --purge removes it)'
      const where = this.flags.remote ? ` and its Jules session ${task.sessionName}` : ''
      if (!(await confirm(`Delete task ${task.id} "${task.title}"${where} ${what}? [y/N] `))) {
        this.log('Nothing deleted.')
        const at = new Date(clock.now()).toISOString()
        return { taskId: task.id, deleted: false, purged: false, session: 'kept', at }
      }
    }
    const result = await manager.deleteTask(task.id, { purge: this.flags.purge, remote: this.flags.remote })
    const session =
      result.session === 'deleted'
        ? `, its Jules session ${task.sessionName}`
        : result.session === 'already_gone'
          ? ` (its Jules session ${task.sessionName} was already gone)`
          : ''
    this.log(`Deleted task ${result.taskId}${session}${result.purged ? ' and its history' : ''}.`)
    return result
  }
}

async function confirm(question: string): Promise<boolean> {
  // The question goes to stderr: stdout stays the command's output.
  const prompt = createInterface({ input: process.stdin, output: process.stderr })
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim())
  } finally {
    prompt.close()
  }
}
