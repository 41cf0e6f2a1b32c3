import { Args, Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { parseDuration } from '../../cli/duration.js'
import { taskStateFlag } from '../../cli/flags.js'
import { ExitCode } from '../../core/errors.js'
import { awaitingPerson, type Task } from '../../core/task.js'
import type { WaitOutcome, WaitResult } from '../../core/task-operations.js'

const exitCodeOf: Record<WaitOutcome, number> = {
  reached: ExitCode.ok,
  failed: ExitCode.waitFailed,
  timed_out: ExitCode.waitTimedOut,
  needs_person: ExitCode.waitNeedsPerson,
  ended: ExitCode.waitEnded,
}

export default class TasksWait extends JjmCommand<typeof TasksWait> {
  static override summary = 'Wait until a task reaches a state, for CI pipelines and scripts.'
  static override description =
    `Polls Jules (recording what changed) until the task is in one of the --until states (default: completed).
Exit codes:
  0   the task reached one of the --until states
  30  the task failed
  31  --timeout passed first
  32  the task needs a person (plan approval, an answer, a resume) and that was not waited for
  33  the task ended in another state
  13  no such task`

  static override examples = [
    '<%= config.bin %> tasks wait 01JD3 --timeout 2h',
    '<%= config.bin %> tasks wait 01JD3 --until awaiting_plan_approval --until completed --interval 30s --json',
  ]

  static override args = {
    id: Args.string({ description: 'Task id, Jules session id or name, or a unique id prefix.', required: true }),
  }

  static override flags = {
    until: taskStateFlag({
      multiple: true,
      multipleNonGreedy: true,
      summary: 'A state to wait for (repeatable; default: completed).',
    }),
    timeout: Flags.string({ summary: 'Give up after this long: 30s, 10m, 2h, 1h30m (default: never).' }),
    interval: Flags.string({ summary: 'Time between looks at Jules.', default: '10s' }),
  }

  async run(): Promise<WaitResult> {
    const timeoutMs = this.flags.timeout === undefined ? undefined : parseDuration(this.flags.timeout, '--timeout')
    const pollIntervalMs = parseDuration(this.flags.interval, '--interval')
    const { manager } = await this.core()
    let shown: string | undefined
    const result = await manager.waitForTask(this.args.id, {
      ...(this.flags.until ? { until: this.flags.until } : {}),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      pollIntervalMs,
      onProgress: (task) => {
        if (task.state === shown) return
        shown = task.state
        this.log(`${new Date().toISOString().slice(11, 19)}  ${task.id}  ${task.state}`)
      },
    })
    this.log(describe(result.task, result.outcome))
    process.exitCode = exitCodeOf[result.outcome]
    return result
  }
}

function describe(task: Task, outcome: WaitOutcome): string {
  switch (outcome) {
    case 'reached':
      return `Task ${task.id} is ${task.state}.${task.pullRequest ? ` Pull request: ${task.pullRequest.url}` : ''}`
    case 'failed':
      return `Task ${task.id} failed.`
    case 'timed_out':
      return `Gave up waiting: task ${task.id} is still ${task.state}.`
    case 'needs_person':
      return `Task ${task.id} waits for ${awaitingPerson(task.state) ?? 'a person'}.`
    case 'ended':
      return `Task ${task.id} ended ${task.state}.`
  }
}
