import { Flags } from '@oclif/core'
import { JjmCommand } from '../cli/base-command.js'
import { nextStopSignal } from '../cli/stop-signal.js'

export default class Daemon extends JjmCommand<typeof Daemon> {
  static override summary = 'Serve the REST API and run the monitor loop until stopped.'
  static override description =
    `The API lives under /api/v1 (description: /api/v1/openapi.json, page: /docs); /health, /health/live and /health/ready need no key. Create keys with \`jjm api-keys create\`.
Prometheus metrics are served at /metrics on their own port (--metrics-port, api.metricsPort, default 9090), and on the API port too with api.metricsOnApiPort: true.
SIGTERM or SIGINT stops it gracefully: it stops accepting, finishes in-flight requests and the current sync, closes its connections and exits 0 within api.shutdownTimeoutMs.
Several daemons may share one PostgreSQL (DATABASE_URL) and one Redis (REDIS_URL): each monitor pass runs under a database lock, revocations and rate limits hold across them.
Exit codes: 0 stopped by a signal, 10 configuration error (e.g. the port is in use), 18 storage error, 19 database schema behind.`

  static override examples = [
    '<%= config.bin %> daemon',
    '<%= config.bin %> daemon --host 0.0.0.0 --port 8080 --metrics-port 9090',
    'DATABASE_URL=postgresql://jjm@db/jjm REDIS_URL=redis://cache:6379 <%= config.bin %> daemon --no-monitor',
  ]

  static override flags = {
    host: Flags.string({ summary: 'Address to listen on (default: api.host, 127.0.0.1).' }),
    port: Flags.integer({
      summary: 'Port to listen on (default: api.port, 8080; 0 picks a free one).',
      min: 0,
      max: 65_535,
    }),
    monitor: Flags.boolean({
      summary: 'Run the monitor loop too (--no-monitor: only serve the API).',
      default: true,
      allowNo: true,
    }),
    interval: Flags.integer({ summary: 'Seconds between monitor passes.', default: 10, min: 1 }),
    'metrics-port': Flags.integer({
      summary: 'Port of /metrics for Prometheus (default: api.metricsPort, 9090; 0 picks a free one).',
      min: 0,
      max: 65_535,
    }),
  }

  static override enableJsonFlag = false

  async run(): Promise<void> {
    const logger = await this.logger()
    // Made before the core, so that core records into the registry the metrics port serves.
    const { Metrics } = await import('../core/metrics.js')
    const metrics = new Metrics({ version: this.config.version, logger: logger.child({ component: 'metrics' }) })
    this.metrics = metrics
    const core = await this.core()
    const { startDaemon } = await import('../api/daemon.js')
    const daemon = await startDaemon({
      core,
      logger,
      version: this.config.version,
      host: this.flags.host ?? core.config.api.host,
      port: this.flags.port ?? core.config.api.port,
      monitor: this.flags.monitor,
      monitorIntervalMs: this.flags.interval * 1000,
      metrics,
      metricsPort: this.flags['metrics-port'] ?? core.config.api.metricsPort,
      metricsOnApiPort: core.config.api.metricsOnApiPort,
    })
    // Scripts and tests read this line to learn the addresses (with --port 0 / --metrics-port 0, the ports picked).
    this.logToStderr(
      `jjm daemon listening on ${daemon.url} (API ${daemon.url}/api/v1, docs ${daemon.url}/docs, metrics ${daemon.metricsUrl})`,
    )
    const signal = await nextStopSignal()
    this.logToStderr(`${signal}: stopping (finishing in-flight requests and the current sync)…`)
    await daemon.stop(core.config.api.shutdownTimeoutMs)
    this.logToStderr('jjm daemon stopped.')
  }
}
