import { Command, Errors, Flags, type Interfaces } from '@oclif/core'
import { BackendRegistry } from '../core/backends.js'
import { type JjmConfig, loadConfig } from '../core/config.js'
import type { Core } from '../core/core.js'
import { ConfigurationError, ExitCode, isJjmError, toJjmError } from '../core/errors.js'
import { createLogger } from '../core/log.js'
import type { Metrics } from '../core/metrics.js'
import type { Logger } from '../core/ports.js'
import './hooks.js'

export type JjmFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof JjmCommand)['baseFlags'] & T['flags']>
export type JjmArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

const globalGroup = 'GLOBAL'

/**
 * The one base class of jjm's commands: owns the shared flags, builds the core
 * lazily from the validated config, and turns a JjmError into one line on
 * stderr (or a JSON error with --json) and its exit code.
 */
export abstract class JjmCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    jules: Flags.string({
      helpGroup: globalGroup,
      summary:
        'Jules backend: rest (the Jules API), sim (built-in simulator, no network), mcp (a Jules MCP server), or one a plugin adds.',
    }),
    storage: Flags.string({ helpGroup: globalGroup, summary: 'Storage backend, e.g. sqlite.' }),
    cache: Flags.string({ helpGroup: globalGroup, summary: 'Cache backend: memory, none.' }),
    db: Flags.string({ helpGroup: globalGroup, summary: 'SQLite database file (default: in the jjm data directory).' }),
    'log-level': Flags.string({
      helpGroup: globalGroup,
      summary: 'Log level for stderr.',
      options: ['trace', 'debug', 'info', 'warn', 'error', 'silent'],
    }),
    'log-format': Flags.string({
      helpGroup: globalGroup,
      summary: 'Log format: pretty on a terminal, json (one object per line) otherwise.',
      options: ['auto', 'pretty', 'json'],
    }),
    config: Flags.string({ helpGroup: globalGroup, summary: 'Config file (YAML or JSON).' }),
  }

  protected flags!: JjmFlags<T>
  protected args!: JjmArgs<T>
  private corePromise: Promise<Core> | undefined
  private rootLogger: (Logger & { close(): Promise<void> }) | undefined
  private commandLogger: Logger | undefined
  private configPromise: Promise<JjmConfig> | undefined

  public override async init(): Promise<void> {
    await super.init()
    const { args, flags } = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof JjmCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as JjmFlags<T>
    this.args = args as JjmArgs<T>
  }

  /**
   * Where the core records metrics, set (before the core opens) only by a
   * command that can serve or push them: the CLI records nothing otherwise.
   */
  protected metrics: Metrics | undefined

  /** How storage migrations are treated when the core opens. */
  protected migrateMode: 'auto' | 'check' | 'none' = 'auto'

  /** The validated configuration (file < environment < flags). */
  protected jjmConfig(): Promise<JjmConfig> {
    this.configPromise ??= loadConfig({
      configDir: this.config.configDir,
      dataDir: this.config.dataDir,
      env: process.env,
      flags: {
        jules: this.flags.jules,
        storage: this.flags.storage,
        cache: this.flags.cache,
        db: this.flags.db,
        logLevel: this.flags['log-level'],
        logFormat: this.flags['log-format'],
        config: this.flags.config,
      },
    })
    return this.configPromise
  }

  /**
   * Where log lines go instead of stderr, as plain lines: set (before the
   * core opens) by a command that redraws the terminal, where a line written
   * beside its frame would break the redraw.
   */
  protected logStream: NodeJS.WritableStream | undefined

  protected async logger(): Promise<Logger> {
    if (!this.commandLogger) {
      const config = await this.jjmConfig()
      this.rootLogger = createLogger({
        level: config.log.level,
        format: config.log.format,
        ...(config.log.file ? { file: config.log.file } : {}),
        ...(this.logStream
          ? { stream: this.logStream, isTTY: false, format: config.log.format === 'json' ? 'json' : 'pretty' }
          : {}),
      })
      this.commandLogger = this.rootLogger.child({ command: this.id ?? 'jjm' })
    }
    return this.commandLogger
  }

  /** The core library, opened on first use and closed when the command ends. */
  protected core(): Promise<Core> {
    this.corePromise ??= this.openCore()
    return this.corePromise
  }

  private async openCore(): Promise<Core> {
    const config = await this.jjmConfig()
    const logger = await this.logger()
    const registry = await this.backendRegistry()
    const { openCore } = await import('../core/core.js')
    if (config.jules.backend === 'sim') {
      // On stderr even with --json: stdout stays the command's JSON.
      process.stderr.write('jjm: using the built-in Jules simulator (--jules sim): nothing is sent to Jules.\n')
    }
    return openCore({
      config,
      logger,
      registry,
      migrate: this.migrateMode,
      version: this.config.version,
      ...(this.metrics ? { metrics: this.metrics } : {}),
    })
  }

  /** Collects every plugin's answer to the `jjm:backends` hook, the built-in ones included. */
  protected async backendRegistry(): Promise<BackendRegistry> {
    const registry = new BackendRegistry()
    const result = await this.config.runHook('jjm:backends', {})
    for (const failure of result.failures) {
      throw new ConfigurationError(
        `Plugin ${failure.plugin.name} failed to register its backends: ${failure.error.message}. Update or uninstall it (jjm plugins).`,
        { context: { plugin: failure.plugin.name } },
      )
    }
    for (const success of result.successes) {
      registry.register(success.plugin.name, success.result)
    }
    return registry
  }

  protected override async catch(thrown: Error & { exitCode?: number }): Promise<unknown> {
    const error = toJjmError(thrown)
    if (!isJjmError(error)) {
      if (!this.jsonEnabled() || thrown instanceof Errors.ExitError) return super.catch(thrown)
      // oclif would print the whole error, parser input and config included, and exit 1 even for a
      // usage error: scripts get the documented error shape (schemas/error.json) and the usage exit code.
      const exitCode = (thrown as { oclif?: { exit?: number } }).oclif?.exit ?? ExitCode.unexpected
      const code = exitCode === ExitCode.usage ? 'JJM_USAGE' : 'JJM_UNEXPECTED'
      this.logJson({ error: { code, message: thrown.message } })
      return this.exit(exitCode)
    }
    if (this.jsonEnabled()) {
      this.logJson({ error: { code: error.code, message: error.message, context: error.context } })
    } else {
      this.logToStderr(`Error: ${error.message} [${error.code}]`)
    }
    return this.exit(error.exitCode)
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    try {
      if (this.corePromise) await (await this.corePromise.catch(() => undefined))?.close()
    } finally {
      await this.rootLogger?.close()
    }
    return super.finally(error)
  }
}
