import { Flags } from '@oclif/core'
import { JjmCommand } from '../cli/base-command.js'
import { ValidationError } from '../core/errors.js'
import { type MonitorReport, monitorExitCode } from '../core/monitor.js'

export default class Monitor extends JjmCommand<typeof Monitor> {
  static override summary = 'Sync every active task from Jules and record what changed.'
  static override description = `With --once, one pass for cron or a systemd timer. Exit codes:
  0   nothing changed and no task waits for a person
  20  tasks changed
  21  a task waits for a person (plan approval, an answer, a resume)
  22  some tasks could not be synced (the others were)
With --watch, a pass every --interval until interrupted (or until no task is active, with --until-done).`

  static override examples = [
    '<%= config.bin %> monitor --once',
    '<%= config.bin %> monitor --once --json',
    '<%= config.bin %> monitor --watch --interval 5 --until-done',
  ]

  static override flags = {
    once: Flags.boolean({ summary: 'One pass, then exit with a code that says what it found.', exclusive: ['watch'] }),
    watch: Flags.boolean({ summary: 'A pass every --interval seconds until interrupted.' }),
    interval: Flags.integer({ summary: 'Seconds between passes with --watch.', default: 10, min: 1 }),
    'until-done': Flags.boolean({ summary: 'With --watch: stop when no task is active any more.' }),
  }

  async run(): Promise<MonitorReport> {
    if (!this.flags.once && !this.flags.watch) {
      throw new ValidationError('Say how to monitor: --once for a single pass (cron), or --watch to keep going.')
    }
    const { monitor } = await this.core()
    if (this.flags.once) {
      const report = await monitor.syncOnce()
      this.printReport(report)
      process.exitCode = monitorExitCode(report)
      return report
    }
    let stopped = false
    const stop = () => {
      stopped = true
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    let report = await monitor.syncOnce()
    this.printReport(report)
    while (!stopped && !(this.flags['until-done'] && report.checked === 0)) {
      await sleepUnless(this.flags.interval * 1000, () => stopped)
      if (stopped) break
      report = await monitor.syncOnce()
      this.printReport(report)
    }
    process.exitCode = report.errors.length > 0 ? monitorExitCode(report) : 0
    return report
  }

  private printReport(report: MonitorReport): void {
    const time = report.finishedAt.slice(11, 19)
    for (const change of report.changes) {
      const pr = change.pullRequestUrl ? `  PR ${change.pullRequestUrl}` : ''
      this.log(`${time}  ${change.taskId}  ${change.from} → ${change.to}  ${change.title}${pr}`)
    }
    for (const waiting of report.awaitingPerson) {
      this.log(`${time}  ${waiting.taskId}  waits for ${waiting.waitingFor}  ${waiting.title}`)
    }
    for (const failure of report.errors) {
      this.logToStderr(`${time}  ${failure.taskId}  sync failed: ${failure.message} [${failure.code}]`)
    }
    if (this.flags.once || report.changes.length > 0 || report.errors.length > 0) {
      this.log(
        `${time}  checked ${report.checked} active task(s): ${report.changes.length} changed, ${report.awaitingPerson.length} waiting for a person, ${report.errors.length} failed to sync`,
      )
    }
  }
}

async function sleepUnless(ms: number, stopped: () => boolean): Promise<void> {
  const step = 200
  for (let waited = 0; waited < ms && !stopped(); waited += step) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(step, ms - waited)))
  }
}
