import { readFile } from 'node:fs/promises'
import { Args, Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { ValidationError } from '../../core/errors.js'
import type { Task } from '../../core/task.js'

export default class TasksCreate extends JjmCommand<typeof TasksCreate> {
  static override summary = 'Create a Jules task (one session) on a repository.'
  static override description =
    'The prompt comes from the argument, from --prompt-file, or from standard input. The branch defaults to the repository default branch as Jules knows it.'
  static override examples = [
    '<%= config.bin %> tasks create --repo acme/api "Add retries to the HTTP client"',
    '<%= config.bin %> tasks create --repo acme/api --require-plan-approval --auto-pr --label backend --prompt-file prompt.md',
    'echo "Fix the flaky test" | <%= config.bin %> tasks create --repo acme/web --jules sim',
  ]

  static override args = {
    prompt: Args.string({ description: 'What Jules should do.' }),
  }

  static override flags = {
    repo: Flags.string({ char: 'r', summary: 'Repository as owner/repo.', exclusive: ['source'] }),
    source: Flags.string({ summary: 'Jules source name, sources/github/owner/repo.' }),
    branch: Flags.string({ char: 'b', summary: 'Branch to start from (default: the repository default branch).' }),
    title: Flags.string({ char: 't', summary: 'Title (Jules generates one when absent).' }),
    'require-plan-approval': Flags.boolean({ summary: 'Wait for `jjm approve` before Jules carries out its plan.' }),
    'auto-pr': Flags.boolean({ summary: 'Let Jules open a pull request when done.' }),
    label: Flags.string({
      char: 'l',
      summary: 'Label for filtering (repeatable: --label a --label b).',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'prompt-file': Flags.file({ summary: 'Read the prompt from this file.', exists: true, exclusive: ['prompt'] }),
  }

  async run(): Promise<Task> {
    const prompt = await this.readPrompt()
    const { manager } = await this.core()
    const task = await manager.createTask({
      prompt,
      ...(this.flags.repo === undefined ? {} : { repository: this.flags.repo }),
      ...(this.flags.source === undefined ? {} : { source: this.flags.source }),
      ...(this.flags.branch === undefined ? {} : { branch: this.flags.branch }),
      ...(this.flags.title === undefined ? {} : { title: this.flags.title }),
      labels: this.flags.label ?? [],
      requirePlanApproval: this.flags['require-plan-approval'],
      automationMode: this.flags['auto-pr'] ? 'AUTO_CREATE_PR' : 'AUTOMATION_MODE_UNSPECIFIED',
    })
    this.log(`Created task ${task.id} (${task.sessionName}) on ${task.repository}@${task.branch}: ${task.state}`)
    if (task.url) this.log(`  ${task.url}`)
    this.log(`  Follow it with: ${this.config.bin} monitor --once, then ${this.config.bin} tasks show ${task.id}`)
    return task
  }

  private async readPrompt(): Promise<string> {
    if (this.args.prompt !== undefined) return this.args.prompt
    const file = this.flags['prompt-file']
    if (file !== undefined) return readFile(file, 'utf8')
    if (!process.stdin.isTTY) {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk))
      const text = Buffer.concat(chunks).toString('utf8')
      if (text.trim() !== '') return text
    }
    throw new ValidationError(
      'A task needs a prompt: pass it as an argument, with --prompt-file FILE, or on standard input.',
    )
  }
}
