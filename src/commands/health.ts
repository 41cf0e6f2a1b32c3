import { Flags } from '@oclif/core'
import { JjmCommand } from '../cli/base-command.js'
import { renderTable } from '../cli/render.js'
import { ExitCode } from '../core/errors.js'
import type { CheckResult, HealthReport, HealthStatus } from '../core/health.js'

const exitCodeOf: Record<HealthStatus, number> = {
  healthy: ExitCode.ok,
  degraded: ExitCode.healthDegraded,
  unhealthy: ExitCode.healthUnhealthy,
}

export default class Health extends JjmCommand<typeof Health> {
  static override summary = "Check jjm's dependencies (Jules, database, Redis, disk) once and print the report."
  static override description =
    `The same report as a daemon's /health: by default the checks run here, against this machine's configuration; with --url, a running daemon is asked instead (for container health checks).
Exit codes:
  0   healthy: every check passes
  40  degraded: Jules or Redis fails, or a check warns; jjm still works
  41  unhealthy: the database or the disk fails (e.g. migrations pending: run \`jjm migrate up\`)
  17  --url: no jjm daemon answered there`

  static override examples = [
    '<%= config.bin %> health',
    '<%= config.bin %> health --json',
    '<%= config.bin %> health --url http://127.0.0.1:8080',
  ]

  static override flags = {
    url: Flags.string({
      summary: 'Ask the daemon at this address (its /health) instead of checking here, e.g. http://127.0.0.1:8080.',
    }),
  }

  // A health check reports a schema that is behind; it never migrates it, nor refuses to look.
  protected override migrateMode = 'none' as const

  async run(): Promise<HealthReport> {
    const { checkHealth, fetchHealthReport } = await import('../core/health.js')
    const report =
      this.flags.url === undefined
        ? await checkHealth(await this.core(), this.config.version)
        : await fetchHealthReport(this.flags.url, (await this.jjmConfig()).health.timeoutMs)
    this.log(`${report.status} (jjm ${report.version}, up ${report.uptime} s)`)
    this.log(
      renderTable(Object.entries(report.checks), [
        { header: 'CHECK', value: ([name]) => name },
        { header: 'STATUS', value: ([, check]: [string, CheckResult]) => check.status },
        { header: 'LATENCY', value: ([, check]) => `${Math.round(check.latencyMs)} ms` },
        { header: 'MESSAGE', value: ([, check]) => check.message },
      ]),
    )
    process.exitCode = exitCodeOf[report.status]
    return report
  }
}
