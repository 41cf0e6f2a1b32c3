import { constants } from 'node:os'
import { Flags } from '@oclif/core'
import { JjmCommand } from '../cli/base-command.js'
import type { Core } from '../core/core.js'
import { ExitCode, ValidationError } from '../core/errors.js'
import { type MonitorPass, type MonitorReport, monitorExitCode } from '../core/monitor.js'

export default class Monitor extends JjmCommand<typeof Monitor> {
  static override summary = 'Sync every active task from Jules and record what changed.'
  static override description = `With --once, one pass for cron or a systemd timer. Exit codes:
  0   nothing changed and no task waits for a person
  20  tasks changed
  21  a task waits for a person (plan approval, an answer, a resume)
  22  some tasks could not be synced (the others were)
  23  another monitor run holds the lock on this database: nothing was done
With --watch, a pass every --interval until interrupted (or until no task is active, with --until-done), or exit 23
if the lock is lost for good (the database restarted and another run took it).
On a terminal it shows a table of the active tasks, redrawn after every pass: state, age, what each waits for
and when it was last synced. Otherwise it prints one line per change.`

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
    realtime: Flags.boolean({
      summary: 'Show task updates live from the event bus (Redis pub/sub across daemons) instead of syncing.',
      description:
        'Another process (a daemon, a timer) does the syncing; this one prints every change as it is published, and reads the database every --interval seconds while the event bus is down.',
      exclusive: ['once', 'watch'],
    }),
  }

  async run(): Promise<MonitorReport> {
    if (!this.flags.once && !this.flags.watch && !this.flags.realtime) {
      throw new ValidationError(
        'Say how to monitor: --once for a single pass (cron), --watch to keep syncing, or --realtime to follow live updates.',
      )
    }
    if (this.flags.realtime) return this.followUpdates()
    // A table redrawn in place for a person at a terminal; lines for a pipe, a log file or --json.
    const live =
      this.flags.watch && process.stdout.isTTY === true && !this.jsonEnabled()
        ? new (await import('../cli/live-monitor.js')).LiveMonitorView(process.stdout, {
            intervalSeconds: this.flags.interval,
          })
        : undefined
    if (live) this.logStream = live.logStream
    const pushgatewayUrl = this.flags.once ? (await this.jjmConfig()).monitor.pushgatewayUrl : undefined
    if (pushgatewayUrl !== undefined) {
      // Only a run that pushes records metrics: a registry nobody reads is not filled.
      const { Metrics } = await import('../core/metrics.js')
      this.metrics = new Metrics({ version: this.config.version, processMetrics: false })
    }
    const { monitor, storage, clock } = await this.core()
    // One monitor per database at a time: two overlapping runs would sync the same tasks twice.
    const release: ((() => Promise<void>) & { lost?: AbortSignal }) | undefined = storage.tryLock
      ? await storage.tryLock('monitor')
      : async () => {}
    if (!release) {
      this.logToStderr('Another jjm monitor run holds the lock on this database; nothing was done.')
      process.exitCode = ExitCode.monitorLocked
      const now = new Date(clock.now()).toISOString()
      return { startedAt: now, finishedAt: now, checked: 0, changes: [], awaitingPerson: [], errors: [] }
    }
    try {
      return await this.monitorRuns(monitor, live && ((pass) => live.show(pass, clock.now())), release.lost)
    } finally {
      live?.done()
      await release()
    }
  }

  private async monitorRuns(
    monitor: Core['monitor'],
    show: ((pass: MonitorPass) => void) | undefined,
    lockLost: AbortSignal | undefined,
  ): Promise<MonitorReport> {
    if (this.flags.once) {
      const report = await monitor.syncOnce({ force: true })
      await this.pushMetrics()
      this.printReport(report)
      process.exitCode = monitorExitCode(report)
      return report
    }
    let stopped = false
    const stop = (signal: NodeJS.Signals) => {
      // A second Ctrl-C ends at once a pass that hangs (on Jules, say), as the default handler would.
      if (stopped) process.exit(128 + (constants.signals[signal] ?? 0))
      stopped = true
    }
    // `on`, not `once`: log-update's cursor restorer re-raises a signal when it finds itself its only listener.
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    try {
      const report = await this.watch(monitor, show, () => stopped || lockLost?.aborted === true)
      if (lockLost?.aborted) {
        // Another run may sync now: going on would sync the same tasks twice.
        this.logToStderr(`${(lockLost.reason as Error).message}`)
        process.exitCode = ExitCode.monitorLocked
      }
      return report
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
  }

  private async watch(
    monitor: Core['monitor'],
    show: ((pass: MonitorPass) => void) | undefined,
    stopped: () => boolean,
  ): Promise<MonitorReport> {
    const passOnce = async (): Promise<MonitorReport> => {
      const pass = await monitor.pass()
      if (show) show(pass)
      else this.printReport(pass.report)
      return pass.report
    }
    let report = await passOnce()
    while (!stopped() && !(this.flags['until-done'] && report.checked === 0)) {
      await sleepUnless(this.flags.interval * 1000, stopped)
      if (stopped()) break
      report = await passOnce()
    }
    process.exitCode = report.errors.length > 0 ? monitorExitCode(report) : 0
    return report
  }

  /** Pushes this run's figures to the configured Pushgateway; a failure is a warning, the run still counts. */
  private async pushMetrics(): Promise<void> {
    const url = (await this.jjmConfig()).monitor.pushgatewayUrl
    if (this.metrics === undefined || url === undefined) return
    try {
      await this.metrics.push(url)
    } catch (error) {
      this.logToStderr(
        `Warning: could not push the metrics to the Pushgateway at ${url}: ${error instanceof Error ? error.message : String(error)}. Check monitor.pushgatewayUrl (JJM_PUSHGATEWAY_URL); the sync itself is done.`,
      )
    }
  }

  /** Prints published task updates until interrupted; polls the store while the bus is down. */
  private async followUpdates(): Promise<MonitorReport> {
    const { bus, store, clock, logger } = await this.core()
    const { watchTaskUpdates } = await import('../core/polling-fallback.js')
    const startedAt = new Date(clock.now()).toISOString()
    let since = startedAt
    let seen = 0
    // An in-process bus only hears this process, which syncs nothing: read the database instead.
    const source = bus.crossProcess ? bus : { ...unhealthyBus, close: async () => {} }
    const watch = watchTaskUpdates({
      bus: source,
      logger,
      intervalMs: this.flags.interval * 1000,
      poll: async () => {
        const page = await store.listTasks({ updatedSince: since, limit: 200 })
        since = new Date(clock.now()).toISOString()
        return page.items.map((task) => ({ taskId: task.id, type: 'updated', task, at: task.updatedAt }))
      },
      onUpdate: (update) => {
        seen++
        const task = update.task
        this.log(
          `${update.at.slice(11, 19)}  ${update.taskId}  ${update.type}${task ? `  ${task.state}  ${task.title}` : ''}`,
        )
      },
    })
    this.logToStderr('Following task updates; Ctrl-C to stop.')
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    await watch.stop()
    const finishedAt = new Date(clock.now()).toISOString()
    this.logToStderr(`${seen} update(s) seen.`)
    return { startedAt, finishedAt, checked: 0, changes: [], awaitingPerson: [], errors: [] }
  }

  private printReport(report: MonitorReport): void {
    const time = report.finishedAt.slice(11, 19)
    for (const change of report.changes) {
      const pr = change.pullRequestUrl ? `  PR ${change.pullRequestUrl}` : ''
      // A change without a new state recorded activities (progress, messages, files): say which.
      const what =
        change.from === change.to
          ? `${change.to}: ${[...new Set(change.events)].join(', ')}`
          : `${change.from} → ${change.to}`
      this.log(`${time}  ${change.taskId}  ${what}  ${change.title}${pr}`)
    }
    for (const waiting of report.awaitingPerson) {
      this.log(`${time}  ${waiting.taskId}  waits for ${waiting.waitingFor}  ${waiting.title}`)
    }
    for (const started of report.started ?? []) {
      this.log(`${time}  ${started.taskId}  started from the local queue (${started.sessionName})  ${started.title}`)
    }
    for (const failure of report.errors) {
      this.logToStderr(`${time}  ${failure.taskId}  sync failed: ${failure.message} [${failure.code}]`)
    }
    if (this.flags.once || report.changes.length > 0 || report.errors.length > 0 || report.started !== undefined) {
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

/** A bus that never delivers, so that the watcher polls the store. */
const unhealthyBus = {
  healthy: false,
  publish: async () => {},
  subscribe: async (): Promise<() => Promise<void>> => {
    throw new Error('no cross-process event bus')
  },
}
