import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type ConfigSources, describeConfig, loadConfig } from '../../../src/core/config.js'
import { ConfigurationError } from '../../../src/core/errors.js'

const secretKey = 'AQ.sup3r-s3cret-jules-key-0123456789'

let root: string
let counter = 0

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'jjm-config-'))
})

after(async () => {
  await rm(root, { recursive: true, force: true })
})

/** A fresh config dir and data dir, with `files` written into the config dir. */
async function setup(files: Record<string, string> = {}): Promise<ConfigSources & { configDir: string }> {
  counter += 1
  const configDir = join(root, `case-${counter}`, 'config')
  const dataDir = join(root, `case-${counter}`, 'data')
  await mkdir(configDir, { recursive: true })
  for (const [name, text] of Object.entries(files)) await writeFile(join(configDir, name), text)
  return { configDir, dataDir, env: {} }
}

async function configError(promise: Promise<unknown>): Promise<ConfigurationError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof ConfigurationError, `expected a ConfigurationError, got ${String(error)}`)
    return error
  }
  assert.fail('expected loadConfig to throw')
}

describe('loadConfig', () => {
  it('gives the documented defaults when nothing is configured', async () => {
    const sources = await setup()
    const config = await loadConfig(sources)
    assert.deepEqual(config, {
      jules: {
        backend: 'rest',
        apiUrl: 'https://jules.googleapis.com',
        timeoutMs: 30_000,
        createGraceMs: 60_000,
        maxAttempts: 3,
        breaker: { failureThreshold: 5, cooldownMs: 30_000 },
      },
      sim: { runSeconds: 20, autoApproveSeconds: 600 },
      storage: { backend: 'sqlite', path: join(sources.dataDir, 'jjm.sqlite'), poolSize: 10 },
      cache: { backend: 'memory' },
      log: { level: 'warn', format: 'auto' },
      monitor: {
        concurrency: 4,
        requestsPerMinute: 60,
        leaseTtlSeconds: 30,
        stalledAfter: { queued: 600_000, planning: 900_000, in_progress: 1_800_000 },
        nudgeStalled: false,
        nudgeMessage: 'Are you still working on this? Please continue, or tell me what is blocking you.',
      },
      notifiers: [],
      notifications: { keepDeliveredDays: 7, keepFailedDays: 30 },
      api: {
        host: '127.0.0.1',
        port: 8080,
        corsOrigins: [],
        bodyLimitBytes: 1_048_576,
        rateLimit: 600,
        authFailuresPerMinute: 10,
        shutdownTimeoutMs: 15_000,
        metricsPort: 9090,
        metricsOnApiPort: false,
      },
      health: { intervalSeconds: 30, timeoutMs: 5_000, diskWarnBytes: 1_073_741_824, diskFailBytes: 104_857_600 },
      dataDir: sources.dataDir,
    })
  })

  it('reads the health check interval, deadline and disk thresholds, and refuses an interval of 0', async () => {
    const sources = await setup({ 'config.yaml': 'health:\n  intervalSeconds: 10\n  diskFailBytes: 5000\n' })
    const config = await loadConfig({ ...sources, env: { JJM_HEALTH_TIMEOUT_MS: '250' } })
    assert.deepEqual(config.health, {
      intervalSeconds: 10,
      timeoutMs: 250,
      diskWarnBytes: 1_073_741_824,
      diskFailBytes: 5000,
    })
    const zero = await configError(loadConfig({ ...sources, env: { JJM_HEALTH_INTERVAL_SECONDS: '0' } }))
    assert.match(zero.message, /JJM_HEALTH_INTERVAL_SECONDS.*at least 1/)
  })

  it('reads the sync lease TTL, and refuses one under 2 s', async () => {
    const sources = await setup({})
    const config = await loadConfig({ ...sources, env: { JJM_MONITOR_LEASE_TTL_SECONDS: '4' } })
    assert.equal(config.monitor.leaseTtlSeconds, 4)
    const short = await configError(loadConfig({ ...sources, env: { JJM_MONITOR_LEASE_TTL_SECONDS: '1' } }))
    assert.match(short.message, /JJM_MONITOR_LEASE_TTL_SECONDS.*at least 2/)
  })

  it('reads monitor.stalledAfter as durations from the file and the environment, and off as never', async () => {
    const sources = await setup({
      'config.yaml': 'monitor:\n  stalledAfter:\n    in_progress: 1h30m\n    queued: off\n    planning: 120\n',
    })
    const config = await loadConfig({ ...sources, env: { JJM_MONITOR_STALLED_AFTER_PLANNING: '45m' } })
    assert.deepEqual(config.monitor.stalledAfter, { queued: null, planning: 2_700_000, in_progress: 5_400_000 })
  })

  it('refuses a stalledAfter that is not a duration, naming the key and the fix', async () => {
    const sources = await setup({ 'config.yaml': 'monitor:\n  stalledAfter:\n    in_progress: soon\n' })
    const error = await configError(loadConfig(sources))
    assert.match(error.message, /Invalid value "soon" for monitor\.stalledAfter\.in_progress/)
    assert.match(error.message, /a duration such as 10m, 30m or 1h30m/)
    const fromEnv = await configError(
      loadConfig({ ...(await setup()), env: { JJM_MONITOR_STALLED_AFTER_QUEUED: '10 minutes' } }),
    )
    assert.match(fromEnv.message, /from environment variable JJM_MONITOR_STALLED_AFTER_QUEUED/)
  })

  it('refuses a stalledAfter for a state that waits for a person: it is never stalled', async () => {
    const sources = await setup({ 'config.yaml': 'monitor:\n  stalledAfter:\n    awaiting_plan_approval: 1h\n' })
    const error = await configError(loadConfig(sources))
    assert.match(error.message, /awaiting_plan_approval waits for a person, and is never stalled/)
    assert.match(error.message, /stalledAfter takes queued, planning, in_progress/)
  })

  it('reads the nudge switch and message, the switch from the environment too', async () => {
    const sources = await setup({ 'config.yaml': 'monitor:\n  nudgeMessage: Still there?\n' })
    const config = await loadConfig({ ...sources, env: { JJM_MONITOR_NUDGE_STALLED: 'true' } })
    assert.equal(config.monitor.nudgeStalled, true)
    assert.equal(config.monitor.nudgeMessage, 'Still there?')
  })

  it('reads how long the outbox keeps done notifications, and refuses a negative or non-numeric age', async () => {
    const sources = await setup({ 'config.yaml': 'notifications:\n  keepDeliveredDays: 1.5\n' })
    const config = await loadConfig({ ...sources, env: { JJM_NOTIFICATIONS_KEEP_FAILED_DAYS: '90' } })
    assert.deepEqual(config.notifications, { keepDeliveredDays: 1.5, keepFailedDays: 90 })
    const negative = await configError(
      loadConfig({ ...(await setup({ 'config.yaml': 'notifications:\n  keepFailedDays: -1\n' })) }),
    )
    assert.match(negative.message, /notifications\.keepFailedDays .*expected a number of days, at least 0/)
    const word = await configError(loadConfig({ ...sources, env: { JJM_NOTIFICATIONS_KEEP_DELIVERED_DAYS: 'week' } }))
    assert.match(word.message, /JJM_NOTIFICATIONS_KEEP_DELIVERED_DAYS="week"/)
  })

  it('reads config.yaml from the config dir and records which file it read', async () => {
    const sources = await setup({
      'config.yaml': 'jules:\n  backend: sim\n  breaker:\n    failureThreshold: 2\nsim:\n  runSeconds: 0.5\n',
    })
    const config = await loadConfig(sources)
    assert.equal(config.jules.backend, 'sim')
    assert.equal(config.jules.breaker.failureThreshold, 2)
    assert.equal(config.jules.breaker.cooldownMs, 30_000)
    assert.equal(config.sim.runSeconds, 0.5)
    assert.equal(config.configFile, join(sources.configDir, 'config.yaml'))
  })

  it('reads config.json when there is no YAML file', async () => {
    const sources = await setup({ 'config.json': JSON.stringify({ storage: { backend: 'json', poolSize: 3 } }) })
    const config = await loadConfig(sources)
    assert.equal(config.storage.backend, 'json')
    assert.equal(config.storage.poolSize, 3)
    assert.equal(config.configFile, join(sources.configDir, 'config.json'))
  })

  it('treats an empty file and blank keys as nothing set', async () => {
    const sources = await setup({ 'config.yml': 'jules:\n  apiKey:\n' })
    const config = await loadConfig(sources)
    assert.equal(config.jules.apiKey, undefined)
    assert.equal(config.configFile, join(sources.configDir, 'config.yml'))
  })

  describe('precedence', () => {
    it('lets the environment override the file', async () => {
      const sources = await setup({ 'config.yaml': 'jules:\n  backend: mcp\nlog:\n  level: debug\n' })
      const config = await loadConfig({ ...sources, env: { JJM_JULES: 'sim', JJM_LOG_LEVEL: 'warn' } })
      assert.equal(config.jules.backend, 'sim')
      assert.equal(config.log.level, 'warn')
    })

    it('lets a flag override the environment', async () => {
      const sources = await setup()
      const config = await loadConfig({
        ...sources,
        env: { JJM_STORAGE: 'postgresql', JJM_LOG_FORMAT: 'pretty' },
        flags: { storage: 'json', logFormat: 'json' },
      })
      assert.equal(config.storage.backend, 'json')
      assert.equal(config.log.format, 'json')
    })

    it('lets a flag override the file', async () => {
      const sources = await setup({ 'config.yaml': 'cache:\n  backend: redis\n' })
      const config = await loadConfig({ ...sources, flags: { cache: 'none', jules: 'sim' } })
      assert.equal(config.cache.backend, 'none')
      assert.equal(config.jules.backend, 'sim')
    })

    it('maps every documented environment variable to its key', async () => {
      const sources = await setup()
      const config = await loadConfig({
        ...sources,
        env: {
          JULES_API_KEY: secretKey,
          JULES_API_URL: 'http://localhost:8080/',
          JJM_JULES: 'mcp',
          JJM_STORAGE: 'sqlite',
          JJM_CACHE: 'none',
          JJM_DB: '/srv/jjm.db',
          JJM_LOG_LEVEL: 'trace',
          JJM_LOG_FORMAT: 'json',
          JJM_LOG_FILE: '/var/log/jjm.log',
          JJM_SIM_RUN_SECONDS: '2',
          JJM_SIM_AUTO_APPROVE_SECONDS: '0',
          JJM_JULES_TIMEOUT_MS: '5000',
          JJM_JULES_MAX_ATTEMPTS: '1',
          JJM_MONITOR_CONCURRENCY: '16',
        },
      })
      assert.equal(config.jules.apiKey, secretKey)
      assert.equal(config.jules.apiUrl, 'http://localhost:8080')
      assert.equal(config.jules.backend, 'mcp')
      assert.equal(config.cache.backend, 'none')
      assert.equal(config.storage.path, '/srv/jjm.db')
      assert.deepEqual(config.log, { level: 'trace', format: 'json', file: '/var/log/jjm.log' })
      assert.deepEqual(config.sim, { runSeconds: 2, autoApproveSeconds: 0 })
      assert.equal(config.jules.timeoutMs, 5000)
      assert.equal(config.jules.maxAttempts, 1)
      assert.equal(config.monitor.concurrency, 16)
    })

    it('ignores an empty environment variable', async () => {
      const sources = await setup({ 'config.yaml': 'storage:\n  backend: json\n' })
      const config = await loadConfig({ ...sources, env: { JJM_STORAGE: '' } })
      assert.equal(config.storage.backend, 'json')
    })
  })

  describe('connection URLs', () => {
    it('takes DATABASE_URL to mean postgresql', async () => {
      const sources = await setup()
      const config = await loadConfig({ ...sources, env: { DATABASE_URL: 'postgres://jjm@db/jjm' } })
      assert.equal(config.storage.backend, 'postgresql')
      assert.equal(config.storage.url, 'postgres://jjm@db/jjm')
    })

    it('keeps a storage backend chosen explicitly in the file, env or flags despite DATABASE_URL', async () => {
      const env = { DATABASE_URL: 'postgres://jjm@db/jjm' }
      const fromFile = await setup({ 'config.yaml': 'storage:\n  backend: sqlite\n' })
      assert.equal((await loadConfig({ ...fromFile, env })).storage.backend, 'sqlite')
      const bare = await setup()
      assert.equal((await loadConfig({ ...bare, env: { ...env, JJM_STORAGE: 'json' } })).storage.backend, 'json')
      assert.equal((await loadConfig({ ...bare, env, flags: { storage: 'sqlite' } })).storage.backend, 'sqlite')
    })

    it('takes REDIS_URL to mean redis unless a cache backend is chosen', async () => {
      const sources = await setup()
      const env = { REDIS_URL: 'redis://cache:6379' }
      assert.equal((await loadConfig({ ...sources, env })).cache.backend, 'redis')
      assert.equal((await loadConfig({ ...sources, env, flags: { cache: 'memory' } })).cache.backend, 'memory')
    })
  })

  describe('paths', () => {
    it('resolves a relative storage.path in a file against the file, and from env or flag against the cwd', async () => {
      const sources = await setup({ 'config.yaml': 'storage:\n  path: db/jjm.sqlite\nlog:\n  file: logs/jjm.log\n' })
      const fromFile = await loadConfig(sources)
      assert.equal(fromFile.storage.path, join(sources.configDir, 'db', 'jjm.sqlite'))
      assert.equal(fromFile.log.file, join(sources.configDir, 'logs', 'jjm.log'))
      const fromEnv = await loadConfig({ ...sources, env: { JJM_DB: 'env.sqlite' } })
      assert.equal(fromEnv.storage.path, resolve('env.sqlite'))
      const fromFlag = await loadConfig({ ...sources, flags: { db: 'flag.sqlite' } })
      assert.equal(fromFlag.storage.path, resolve('flag.sqlite'))
    })

    it('leaves an in-memory sqlite path alone', async () => {
      const sources = await setup()
      assert.equal((await loadConfig({ ...sources, flags: { db: ':memory:' } })).storage.path, ':memory:')
    })

    it('puts the default database under a data dir set in the file', async () => {
      const sources = await setup({ 'config.yaml': 'dataDir: ./state\n' })
      const config = await loadConfig(sources)
      assert.equal(config.dataDir, join(sources.configDir, 'state'))
      assert.equal(config.storage.path, join(sources.configDir, 'state', 'jjm.sqlite'))
    })
  })

  describe('config file choice', () => {
    it('reads an explicit --config file instead of the config dir', async () => {
      const sources = await setup({ 'config.yaml': 'jules:\n  backend: mcp\n' })
      const other = join(root, 'explicit.yaml')
      await writeFile(other, 'jules:\n  backend: sim\n')
      const config = await loadConfig({ ...sources, file: other })
      assert.equal(config.jules.backend, 'sim')
      assert.equal(config.configFile, other)
    })

    it('reads the file named by JJM_CONFIG', async () => {
      const sources = await setup()
      const other = join(root, 'from-env.json')
      await writeFile(other, '{"monitor": {"concurrency": 9}}')
      const config = await loadConfig({ ...sources, env: { JJM_CONFIG: other } })
      assert.equal(config.monitor.concurrency, 9)
    })

    it('refuses an explicit config file that does not exist, naming the path', async () => {
      const sources = await setup()
      const missing = join(root, 'nope.yaml')
      const error = await configError(loadConfig({ ...sources, flags: { config: missing } }))
      assert.match(error.message, /nope\.yaml/)
      assert.match(error.message, /--config/)
      assert.equal(error.code, 'JJM_CONFIGURATION')
    })
  })

  describe('errors', () => {
    it('names an unknown key, the file and the keys it could have meant', async () => {
      const sources = await setup({ 'config.yaml': 'jules:\n  apikey: x\n' })
      const error = await configError(loadConfig(sources))
      const file = join(sources.configDir, 'config.yaml')
      assert.match(error.message, /Unknown key "jules\.apikey"/)
      assert.ok(error.message.includes(file))
      assert.match(error.message, /Did you mean "jules\.apiKey"\?/)
      assert.match(error.message, /Known keys under jules: backend, apiKey, apiUrl/)
      assert.deepEqual(error.context, { key: 'jules.apikey', source: file })
    })

    it('names an unknown top-level key', async () => {
      const sources = await setup({ 'config.json': '{"databse": {}}' })
      const error = await configError(loadConfig(sources))
      assert.match(error.message, /Unknown key "databse"/)
      assert.match(error.message, /Known top-level keys: jules, sim, storage/)
    })

    it('names the key, the file and the allowed values for a bad value in the file', async () => {
      const sources = await setup({ 'config.yaml': 'log:\n  level: loud\n' })
      const error = await configError(loadConfig(sources))
      const file = join(sources.configDir, 'config.yaml')
      assert.match(error.message, /log\.level/)
      assert.ok(error.message.includes(file))
      assert.match(error.message, /trace, debug, info, warn, error, silent/)
      assert.deepEqual(error.context, { key: 'log.level', source: file, value: 'loud' })
    })

    it('names the environment variable for a bad enum value from the environment', async () => {
      const sources = await setup()
      const error = await configError(loadConfig({ ...sources, env: { JJM_LOG_FORMAT: 'xml' } }))
      assert.match(error.message, /log\.format/)
      assert.match(error.message, /environment variable JJM_LOG_FORMAT/)
      assert.match(error.message, /auto, pretty, json/)
      assert.equal(error.context.source, 'JJM_LOG_FORMAT')
    })

    it('accepts any Jules backend name, since a plugin may register it (the registry checks it when Jules is called)', async () => {
      const sources = await setup()
      assert.equal((await loadConfig({ ...sources, env: { JJM_JULES: 'grpc' } })).jules.backend, 'grpc')
    })

    it('refuses an empty Jules backend name, naming the environment variable', async () => {
      const sources = await setup()
      const error = await configError(loadConfig({ ...sources, env: { JJM_JULES: ' ' } }))
      assert.match(error.message, /jules\.backend/)
      assert.match(error.message, /environment variable JJM_JULES/)
      assert.match(error.message, /rest, sim, mcp/)
    })

    it('names the flag for a bad value from a flag', async () => {
      const sources = await setup()
      const error = await configError(loadConfig({ ...sources, flags: { logFormat: 'xml' } }))
      assert.match(error.message, /log\.format from --log-format/)
      assert.match(error.message, /auto, pretty, json/)
      assert.equal(error.context.source, '--log-format')
    })

    for (const bad of ['abc', '-1', '1.5', '']) {
      it(`refuses ${JSON.stringify(bad)} for a whole-number environment variable, naming it`, async () => {
        const sources = await setup()
        // An empty variable is treated as unset, so it must not fail.
        if (bad === '') {
          const config = await loadConfig({ ...sources, env: { JJM_JULES_TIMEOUT_MS: bad } })
          assert.equal(config.jules.timeoutMs, 30_000)
          return
        }
        const error = await configError(loadConfig({ ...sources, env: { JJM_JULES_TIMEOUT_MS: bad } }))
        assert.match(error.message, /JJM_JULES_TIMEOUT_MS/)
        assert.match(error.message, /jules\.timeoutMs/)
        assert.match(error.message, /whole number/)
        assert.deepEqual(error.context, { key: 'jules.timeoutMs', source: 'JJM_JULES_TIMEOUT_MS', value: bad })
      })
    }

    it('refuses a number below the minimum', async () => {
      const sources = await setup()
      const error = await configError(loadConfig({ ...sources, env: { JJM_MONITOR_CONCURRENCY: '0' } }))
      assert.match(error.message, /monitor\.concurrency from environment variable JJM_MONITOR_CONCURRENCY/)
      assert.match(error.message, /at least 1/)
    })

    it('refuses a number written as a string in the file', async () => {
      const sources = await setup({ 'config.yaml': 'storage:\n  poolSize: "10"\n' })
      const error = await configError(loadConfig(sources))
      assert.match(error.message, /storage\.poolSize/)
      assert.match(error.message, /whole number/)
    })

    it('refuses an API URL that is not http(s)', async () => {
      const sources = await setup()
      const error = await configError(loadConfig({ ...sources, env: { JULES_API_URL: 'ftp://example.com' } }))
      assert.match(error.message, /jules\.apiUrl from environment variable JULES_API_URL/)
    })

    it('refuses a section that is not a mapping', async () => {
      const sources = await setup({ 'config.yaml': 'jules: rest\n' })
      const error = await configError(loadConfig(sources))
      assert.match(error.message, /"jules" .* must be a mapping/)
    })

    it('reports a YAML syntax error with the file, line and column', async () => {
      const sources = await setup({ 'config.yaml': 'jules:\n  backend: sim\n  apiUrl: [1,\nlog: {}\n' })
      const error = await configError(loadConfig(sources))
      assert.ok(error.message.includes(join(sources.configDir, 'config.yaml')))
      assert.match(error.message, /line \d+, column \d+/)
      assert.equal(typeof error.context.line, 'number')
    })

    it('reports a JSON syntax error with the line', async () => {
      const sources = await setup({ 'config.json': '{\n  "jules": {\n    "backend": "sim",\n  }\n}\n' })
      const error = await configError(loadConfig(sources))
      assert.ok(error.message.includes(join(sources.configDir, 'config.json')))
      assert.match(error.message, /line 4, column 3/)
    })
  })

  describe('the API key', () => {
    it('is never echoed in an error about it', async () => {
      const sources = await setup({ 'config.yaml': `jules:\n  apiKey: [${secretKey}]\n` })
      const error = await configError(loadConfig(sources))
      assert.match(error.message, /jules\.apiKey/)
      assert.ok(!JSON.stringify({ message: error.message, context: error.context }).includes(secretKey))
      assert.ok(!error.toString().includes(secretKey))
    })

    it('is never echoed in a syntax error on its line', async () => {
      const sources = await setup({ 'config.yaml': `jules:\n  apiKey: "${secretKey}\n` })
      const error = await configError(loadConfig(sources))
      assert.ok(!error.toString().includes(secretKey))
      const json = await setup({ 'config.json': `{"jules": {"apiKey": "${secretKey}" x}}` })
      const jsonError = await configError(loadConfig(json))
      assert.ok(!jsonError.toString().includes(secretKey))
    })

    it('is redacted by describeConfig, as are URL passwords, without touching the config', async () => {
      const sources = await setup()
      const config = await loadConfig({
        ...sources,
        env: { JULES_API_KEY: secretKey, DATABASE_URL: 'postgres://jjm:hunter2@db/jjm' },
      })
      const described = describeConfig(config)
      assert.equal(described.jules.apiKey, 'AQ.s…(redacted)')
      assert.equal(described.storage.url, 'postgres://jjm:***@db/jjm')
      assert.ok(!JSON.stringify(described).includes(secretKey))
      assert.ok(!JSON.stringify(described).includes('hunter2'))
      assert.equal(config.jules.apiKey, secretKey)
    })

    it('is fully hidden when it is too short to show a prefix', async () => {
      const sources = await setup()
      const config = await loadConfig({ ...sources, env: { JULES_API_KEY: 'short' } })
      assert.equal(describeConfig(config).jules.apiKey, '(redacted)')
    })
  })
})

describe('loadConfig: the daemon settings', () => {
  it('reads the API address, origins and limits from the environment and refuses a bad port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-config-api-'))
    try {
      const base = { configDir: join(dir, 'config'), dataDir: join(dir, 'data') }
      const config = await loadConfig({
        ...base,
        env: {
          JJM_API_HOST: '0.0.0.0',
          JJM_API_PORT: '9000',
          JJM_API_CORS_ORIGINS: '["https://dash.example.com"]',
          JJM_API_RATE_LIMIT: '120',
        },
      })
      assert.deepEqual(
        [config.api.host, config.api.port, config.api.corsOrigins, config.api.rateLimit],
        ['0.0.0.0', 9000, ['https://dash.example.com'], 120],
      )
      await assert.rejects(loadConfig({ ...base, env: { JJM_API_PORT: 'http' } }), /api\.port/)
      await assert.rejects(loadConfig({ ...base, env: { JJM_API_RATE_LIMIT: '0' } }), /api\.rateLimit/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('reads the metrics port, /metrics on the API port and the Pushgateway from the file and the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-config-metrics-'))
    try {
      const base = { configDir: join(dir, 'config'), dataDir: join(dir, 'data') }
      await mkdir(base.configDir, { recursive: true })
      await writeFile(join(base.configDir, 'config.yaml'), 'api:\n  metricsOnApiPort: true\n  metricsPort: 9100\n')
      const fromFile = await loadConfig(base)
      assert.deepEqual([fromFile.api.metricsPort, fromFile.api.metricsOnApiPort], [9100, true])
      const fromEnv = await loadConfig({
        ...base,
        env: {
          JJM_METRICS_PORT: '0',
          JJM_METRICS_ON_API_PORT: 'false',
          JJM_PUSHGATEWAY_URL: 'http://pushgateway:9091/',
        },
      })
      assert.deepEqual(
        [fromEnv.api.metricsPort, fromEnv.api.metricsOnApiPort, fromEnv.monitor.pushgatewayUrl],
        [0, false, 'http://pushgateway:9091'],
      )
      await assert.rejects(loadConfig({ ...base, env: { JJM_METRICS_ON_API_PORT: 'yes' } }), /api\.metricsOnApiPort/)
      await assert.rejects(
        loadConfig({ ...base, env: { JJM_PUSHGATEWAY_URL: 'pushgateway' } }),
        /monitor\.pushgatewayUrl/,
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
