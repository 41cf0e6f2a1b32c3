import { Args, Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { ValidationError } from '../../core/errors.js'
import type { Task } from '../../core/task.js'
import type { TaskChanges } from '../../core/task-operations.js'

export default class TasksUpdate extends JjmCommand<typeof TasksUpdate> {
  static override summary = "Change a task's title, labels or metadata (jjm's record only; nothing is sent to Jules)."
  static override description = `Records an \`updated\` event with what changed.
Exit codes: 0 updated (or nothing to change), 11 invalid input, 13 no such task.`

  static override examples = [
    '<%= config.bin %> tasks update 01JD3 --title "Retries for the HTTP client"',
    '<%= config.bin %> tasks update 01JD3 --add-label urgent --remove-label later',
    '<%= config.bin %> tasks update 01JD3 --label backend --label q4 --metadata ticket=OPS-12 --json',
  ]

  static override args = {
    id: Args.string({ description: 'Task id, Jules session id or name, or a unique id prefix.', required: true }),
  }

  static override flags = {
    title: Flags.string({ char: 't', summary: 'New title.' }),
    label: Flags.string({
      char: 'l',
      summary: 'Replace the labels with these (repeatable; --label "" removes them all).',
      multiple: true,
      multipleNonGreedy: true,
      exclusive: ['add-label', 'remove-label'],
    }),
    'add-label': Flags.string({ summary: 'Add a label (repeatable).', multiple: true, multipleNonGreedy: true }),
    'remove-label': Flags.string({ summary: 'Remove a label (repeatable).', multiple: true, multipleNonGreedy: true }),
    metadata: Flags.string({
      char: 'm',
      summary: 'Set a metadata key: key=value (repeatable); key= removes it.',
      multiple: true,
      multipleNonGreedy: true,
    }),
  }

  async run(): Promise<Task> {
    const changes: TaskChanges = {}
    if (this.flags.title !== undefined) changes.title = this.flags.title
    if (this.flags.label !== undefined) changes.labels = this.flags.label
    if (this.flags['add-label'] !== undefined) changes.addLabels = this.flags['add-label']
    if (this.flags['remove-label'] !== undefined) changes.removeLabels = this.flags['remove-label']
    if (this.flags.metadata !== undefined) changes.metadata = parseMetadata(this.flags.metadata)
    const { manager } = await this.core()
    const task = await manager.updateTask(this.args.id, changes)
    this.log(`Task ${task.id}: ${task.title}`)
    this.log(`  labels    ${task.labels.length > 0 ? task.labels.join(', ') : '-'}`)
    if (Object.keys(task.metadata).length > 0) this.log(`  metadata  ${JSON.stringify(task.metadata)}`)
    return task
  }
}

function parseMetadata(pairs: string[]): Record<string, unknown> {
  // No prototype: `__proto__=x` stays a key, for core to refuse, instead of vanishing.
  const metadata: Record<string, unknown> = Object.create(null)
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    if (at <= 0) {
      throw new ValidationError(`--metadata "${pair}" is not key=value.`, { context: { metadata: pair } })
    }
    const value = pair.slice(at + 1)
    metadata[pair.slice(0, at).trim()] = value === '' ? null : value
  }
  return metadata
}
