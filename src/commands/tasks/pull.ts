import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Args, Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { type AppliedPatch, applyPatch } from '../../cli/git-checkout.js'
import type { TaskPatch } from '../../core/task-operations.js'

/** `jjm tasks pull --json`: the patch, and where it went. */
export interface TaskPullResult extends TaskPatch {
  /** The file it was written to (--output), absolute; null otherwise. */
  output: string | null
  /** What --apply did; null without it. */
  applied: AppliedPatch | null
}

export default class TasksPull extends JjmCommand<typeof TasksPull> {
  static override summary = "Get a task's change set as a unified diff: print it, write it, or apply it here."
  static override description =
    `Reads the session from Jules now: its final change set (outputs), else the newest change set among its activities. Without flags the diff goes to standard output; --output FILE writes it; --apply applies it to the git checkout of the current directory with a 3-way merge (git apply --3way) and lists the files it changed. --apply refuses a checkout that is not a clone of the task's repository (no remote names it) or that has uncommitted changes to tracked files.
Exit codes: 0 done, 11 not a clone of the task's repository, 13 no such task, 14 no change set yet (or a dirty checkout), 17 the patch did not apply cleanly.`

  static override examples = [
    '<%= config.bin %> tasks pull 01JD3 > fix.patch',
    '<%= config.bin %> tasks pull 01JD3 --output fix.patch',
    'cd ~/src/api && <%= config.bin %> tasks pull 01JD3 --apply',
  ]

  static override args = {
    id: Args.string({ description: 'Task id, Jules session id or name, or a unique id prefix.', required: true }),
  }

  static override flags = {
    output: Flags.string({ char: 'o', summary: 'Write the diff to this file instead of standard output.' }),
    apply: Flags.boolean({ summary: 'Apply the diff to the git checkout here (3-way merge).' }),
  }

  async run(): Promise<TaskPullResult> {
    const { manager } = await this.core()
    const patch = await manager.getTaskPatch(this.args.id)
    let output: string | null = null
    if (this.flags.output !== undefined) {
      output = resolve(this.flags.output)
      await writeFile(output, patch.patch)
      this.logToStderr(`Wrote the change set of task ${patch.taskId} (${patch.state}) to ${output}.`)
    }
    let applied: AppliedPatch | null = null
    if (this.flags.apply) {
      applied = await applyPatch(process.cwd(), patch.repository, patch.patch)
      this.logToStderr(`Applied the change set of task ${patch.taskId} to ${applied.checkout}:`)
      for (const file of applied.files) this.logToStderr(`  ${file}`)
      if (patch.suggestedCommitMessage) this.logToStderr(`Suggested commit message: ${patch.suggestedCommitMessage}`)
    }
    if (output === null && !this.flags.apply && !this.jsonEnabled()) process.stdout.write(patch.patch)
    return { ...patch, output, applied }
  }
}
