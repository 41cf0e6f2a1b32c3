import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Args, Flags } from '@oclif/core'
import cliProgress from 'cli-progress'
import { ulid } from 'ulidx'
import { JjmCommand } from '../../cli/base-command.js'
import { renderTable, truncate } from '../../cli/render.js'
import {
  type BulkFailure,
  type BulkOutcome,
  createMany,
  defaultBulkConcurrency,
  parseTaskFile,
} from '../../core/bulk-create.js'
import { ExitCode, ValidationError } from '../../core/errors.js'
import type { Task, TaskInput } from '../../core/task.js'
import { groupIdOf, maxParallelAttempts, parallelEntries } from '../../core/task-group.js'

/** `--from --json`: the same shape a bulk create over the REST API would answer with. */
export interface BulkCreateReport {
  created: Task[]
  replayed: Task[]
  failed: BulkFailure[]
}

/** `--parallel N --json`: the bulk report, and the group the N attempts share. */
export interface ParallelCreateReport extends BulkCreateReport {
  group: string
}

/** The flags that describe one task; `--from` takes all of that from the file. */
const singleTaskFlags = [
  'repo',
  'source',
  'branch',
  'title',
  'require-plan-approval',
  'auto-pr',
  'label',
  'prompt-file',
  'idempotency-key',
]

export default class TasksCreate extends JjmCommand<typeof TasksCreate> {
  static override summary = 'Create a Jules task (one session), on a repository or on none, or many from a file.'
  static override description =
    `The prompt comes from the argument, from --prompt-file, or from standard input. The branch defaults to the repository default branch as Jules knows it. Without --repo or --source the task runs on no repository (a "repoless" Jules session): its result is a change set, not a pull request; apply it with \`jjm tasks pull\`.

With --idempotency-key, the same key never starts a second Jules session: running the command again returns the first task, even when the first attempt timed out after Jules accepted it. When jjm cannot tell whether Jules started the session (Jules did not answer in time, the connection broke after the request went out), the command exits with 15 and says after how many seconds to retry (jules.timeoutMs plus jules.createGraceMs); until then, and while another run with the same key is still in progress, the command refuses with exit code 14 and says when to retry; the retry after that records the session Jules started, or starts one if Jules has none. The same key with a different request is refused with exit code 11.

With --parallel N, N attempts of the same prompt are created as one group: each has the label group:ID (list them with \`jjm tasks list --group ID\`) and metadata.parallel {group, attempt, of}, and a title given gets " [i/N]". Each attempt has its own idempotency key derived from --idempotency-key when given, so running the same command with the same key again creates no attempt twice (without a key, each run is a new group). The exit code is non-zero when any attempt failed.

With --from FILE (YAML or JSON), every entry of the file becomes a task, at most --concurrency at once. An entry has the fields of POST /api/v1/tasks: prompt, repository (or repo, or source), branch, title, labels, requirePlanApproval, automationMode, metadata, and optionally idempotencyKey. Running the same file again creates nothing twice: only entries that failed, or are new, are created. The exit code is non-zero when any entry failed.`
  static override examples = [
    '<%= config.bin %> tasks create --repo acme/api "Add retries to the HTTP client"',
    '<%= config.bin %> tasks create --repo acme/api --require-plan-approval --auto-pr --label backend --prompt-file prompt.md',
    'echo "Fix the flaky test" | <%= config.bin %> tasks create --repo acme/web --jules sim',
    '<%= config.bin %> tasks create --repo acme/api --idempotency-key deploy-1234 "Bump the API version"',
    '<%= config.bin %> tasks create --from tasks.yaml --concurrency 3',
    '<%= config.bin %> tasks create --repo acme/api --parallel 3 --idempotency-key flaky-42 "Fix the flaky upload test"',
    '<%= config.bin %> tasks create "Write a script that converts the CSV in this prompt to JSON: ..."',
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
    'prompt-file': Flags.file({ summary: 'Read the prompt from this file.', exists: true }),
    'idempotency-key': Flags.string({
      summary: 'Create at most once under this key: a retry returns the first task instead of a second session.',
    }),
    from: Flags.file({
      summary: 'Create every task listed in this YAML or JSON file.',
      exists: true,
      exclusive: singleTaskFlags,
    }),
    parallel: Flags.integer({
      summary: `Create this many attempts of the prompt as one group (1 to ${maxParallelAttempts}).`,
      min: 1,
      max: maxParallelAttempts,
      exclusive: ['from'],
    }),
    concurrency: Flags.integer({
      summary: `With --from or --parallel: tasks created at once (default ${defaultBulkConcurrency}, the free plan's running limit).`,
      min: 1,
      max: 100,
    }),
  }

  async run(): Promise<Task | BulkCreateReport | ParallelCreateReport> {
    if (this.flags.concurrency !== undefined && this.flags.from === undefined && this.flags.parallel === undefined) {
      this.error('--concurrency goes with --from FILE or --parallel N.', { exit: ExitCode.usage })
    }
    if (this.flags.from !== undefined) {
      if (this.args.prompt !== undefined) {
        this.error('--from takes the prompts from the file: give either a prompt or --from FILE, not both.', {
          exit: ExitCode.usage,
        })
      }
      return this.createFromFile(this.flags.from)
    }
    if (this.args.prompt !== undefined && this.flags['prompt-file'] !== undefined) {
      this.error('Give the prompt either as an argument or with --prompt-file, not both.', { exit: ExitCode.usage })
    }
    const prompt = await this.readPrompt()
    const key = this.flags['idempotency-key']
    const input: TaskInput = {
      prompt,
      ...(this.flags.repo === undefined ? {} : { repository: this.flags.repo }),
      ...(this.flags.source === undefined ? {} : { source: this.flags.source }),
      ...(this.flags.branch === undefined ? {} : { branch: this.flags.branch }),
      ...(this.flags.title === undefined ? {} : { title: this.flags.title }),
      labels: this.flags.label ?? [],
      requirePlanApproval: this.flags['require-plan-approval'],
      automationMode: this.flags['auto-pr'] ? 'AUTO_CREATE_PR' : 'AUTOMATION_MODE_UNSPECIFIED',
    }
    if (this.flags.parallel !== undefined) return this.createParallel(input, this.flags.parallel, key)
    const { manager } = await this.core()
    const { task, outcome } = await manager.createTaskWithOutcome(
      input,
      key === undefined ? {} : { idempotencyKey: key },
    )
    if (outcome === 'replayed') {
      this.log(`Task ${task.id} (${task.sessionName}) was already created under this key: nothing new. ${task.state}`)
    } else {
      const adopted = outcome === 'adopted' ? ' (the session an earlier attempt started)' : ''
      this.log(
        `Created task ${task.id} (${task.sessionName})${adopted} on ${task.repository === '' ? 'no repository (its result will be a change set)' : `${task.repository}@${task.branch}`}: ${task.state}`,
      )
    }
    if (task.url) this.log(`  ${task.url}`)
    this.log(`  Follow it with: ${this.config.bin} monitor --once, then ${this.config.bin} tasks show ${task.id}`)
    return task
  }

  private async createParallel(
    input: TaskInput,
    attempts: number,
    key: string | undefined,
  ): Promise<ParallelCreateReport> {
    const group = groupIdOf(key, ulid)
    const entries = parallelEntries(input, attempts, { group, ...(key === undefined ? {} : { idempotencyKey: key }) })
    const { manager, julesBudget } = await this.core()
    const result = await createMany(manager, entries, {
      sourceName: `parallel:${group}`,
      concurrency: this.flags.concurrency ?? defaultBulkConcurrency,
      budget: julesBudget,
    })
    if (!this.jsonEnabled()) {
      this.log(`Group ${group}: ${attempts} attempt(s) of one prompt.`)
      this.printSummary(result.outcomes, 'ATTEMPT')
      this.log(`  Follow them with: ${this.config.bin} tasks list --group ${group}`)
    }
    if (result.failed.length > 0) {
      process.exitCode = ExitCode.operationFailed
      const which = result.failed.map((failure) => failure.index).join(', ')
      const retry =
        key === undefined
          ? 'Pass --idempotency-key next time to make a retry safe; creating again now starts a new group.'
          : 'Run the same command again: the attempts already created are not created twice.'
      process.stderr.write(`${result.failed.length} of ${attempts} attempts failed (attempt ${which}). ${retry}\n`)
    }
    return { group, created: result.created, replayed: result.replayed, failed: result.failed }
  }

  private async createFromFile(file: string): Promise<BulkCreateReport> {
    const entries = parseTaskFile(await readFile(file, 'utf8'), file)
    const { manager, julesBudget } = await this.core()
    const logger = await this.logger()
    const bar = process.stderr.isTTY
      ? new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: 'Creating tasks [{bar}] {value}/{total}  {status}',
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined
    bar?.start(entries.length, 0, { status: '' })
    let result: Awaited<ReturnType<typeof createMany>>
    try {
      result = await createMany(manager, entries, {
        // Absolute, so that the same file gives the same keys from any directory.
        sourceName: resolve(file),
        concurrency: this.flags.concurrency ?? defaultBulkConcurrency,
        onProgress: ({ done, outcome }) => bar?.update(done, { status: progressStatus(outcome) }),
        // The budget the monitor draws on too (shared through Redis when the cache is redis).
        budget: julesBudget,
        onWait: ({ index, delayMs, error }) => {
          bar?.update({ status: `entry ${index}: looking again in ${Math.ceil(delayMs / 1000)}s` })
          logger.info('waiting for the lock on a task’s idempotency key before looking for its session', {
            entry: index,
            delayMs,
            reason: error instanceof Error ? error.message : String(error),
          })
        },
      })
    } finally {
      bar?.stop()
    }

    if (!this.jsonEnabled()) this.printSummary(result.outcomes)
    if (result.failed.length > 0) {
      process.exitCode = ExitCode.operationFailed
      const which = result.failed.map((failure) => failure.index).join(', ')
      // On stderr even with --json (oclif mutes logToStderr then): stdout stays the report.
      process.stderr.write(
        `${result.failed.length} of ${entries.length} entries failed (entry ${which}). Fix them and run the same command again: the entries already created are not created twice.\n`,
      )
    }
    return { created: result.created, replayed: result.replayed, failed: result.failed }
  }

  private printSummary(outcomes: BulkOutcome[], indexHeader = 'ENTRY'): void {
    this.log(
      renderTable(outcomes, [
        { header: indexHeader, value: (outcome) => String(outcome.index) },
        { header: 'REPOSITORY', value: (outcome) => outcome.task?.repository ?? outcome.repository ?? '-' },
        { header: 'RESULT', value: (outcome) => outcome.status },
        {
          header: 'TASK / ERROR',
          value: (outcome) =>
            outcome.task
              ? `${outcome.task.id}  ${truncate(outcome.task.title, 48)}`
              : `${outcome.error?.message.split('\n', 1)[0] ?? ''} [${outcome.error?.code ?? ''}]`,
        },
      ]),
    )
    const count = (status: BulkOutcome['status']) => outcomes.filter((outcome) => outcome.status === status).length
    this.log(`\n${count('created')} created, ${count('replayed')} already there, ${count('failed')} failed.`)
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

function progressStatus(outcome: BulkOutcome): string {
  return outcome.status === 'failed' ? `entry ${outcome.index} failed` : `entry ${outcome.index} ${outcome.status}`
}
