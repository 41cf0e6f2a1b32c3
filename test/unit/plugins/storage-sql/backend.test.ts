import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { type JjmConfig, loadConfig } from '../../../../src/core/config.js'
import { ConfigurationError, StorageError } from '../../../../src/core/errors.js'
import { type Logger, silentLogger } from '../../../../src/core/ports.js'
import { postgresqlBackend } from '../../../../src/plugins/storage-sql/backend.js'
import { buildTask } from '../../../../src/testing/index.js'

const unreachableUrl = 'postgresql://jjm:s3cret@127.0.0.1:1/jjm'
const tempDirs: string[] = []

after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

async function configWith(env: Record<string, string>): Promise<JjmConfig> {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-pg-backend-'))
  tempDirs.push(dir)
  return loadConfig({ configDir: join(dir, 'config'), dataDir: join(dir, 'data'), env })
}

/** A logger that keeps its warnings, so that a test can read what an operator would see. */
function recordingLogger(): Logger & { warnings: Array<{ message: string; context: unknown }> } {
  const warnings: Array<{ message: string; context: unknown }> = []
  const logger: Logger & { warnings: typeof warnings } = {
    ...silentLogger,
    warnings,
    warn: (message, context) => warnings.push({ message, context }),
    child: () => logger,
  }
  return logger
}

describe('the postgresql storage backend', () => {
  it('is selected by DATABASE_URL alone', async () => {
    const config = await configWith({ DATABASE_URL: unreachableUrl })
    assert.equal(config.storage.backend, postgresqlBackend.name)
  })

  it('asks for DATABASE_URL or storage.url when no URL is configured', async () => {
    const config = await configWith({ JJM_STORAGE: 'postgresql' })
    await assert.rejects(
      postgresqlBackend.open({ config, logger: silentLogger, migrate: 'auto' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigurationError)
        assert.match(error.message, /DATABASE_URL/)
        assert.match(error.message, /storage\.url/)
        return true
      },
    )
  })

  it('fails with a StorageError, never a silent switch, when the server is unreachable and no fallback is set', async () => {
    const config = await configWith({ DATABASE_URL: unreachableUrl })
    const logger = recordingLogger()
    await assert.rejects(postgresqlBackend.open({ config, logger, migrate: 'auto' }), (error: unknown) => {
      assert.ok(error instanceof StorageError)
      assert.equal(error.context.problem, 'unreachable')
      assert.doesNotMatch(error.message, /s3cret/)
      return true
    })
    assert.deepEqual(logger.warnings, [])
  })

  it('opens the SQLite fallback, says so loudly and marks the storage degraded, when configured', async () => {
    const config = await configWith({ DATABASE_URL: unreachableUrl, JJM_STORAGE_FALLBACK: 'sqlite' })
    const logger = recordingLogger()
    const handle = await postgresqlBackend.open({ config, logger, migrate: 'auto' })
    try {
      assert.ok(handle.degraded)
      assert.match(handle.degraded, /unreachable/)
      assert.match(handle.degraded, new RegExp(config.storage.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      assert.equal(logger.warnings.length, 1)
      const [warning] = logger.warnings
      assert.match(warning?.message ?? '', /SQLite fallback/)
      assert.match(warning?.message ?? '', /will NOT be in PostgreSQL/)
      assert.doesNotMatch(JSON.stringify(logger.warnings), /s3cret/)
      assert.doesNotMatch(handle.degraded, /s3cret/)

      const task = buildTask()
      await handle.store.createTask(task, [])
      assert.deepEqual(await handle.store.getTask(task.id), task)
    } finally {
      await handle.close()
    }
  })

  it('refuses a fallback other than sqlite', async () => {
    const config = await configWith({ DATABASE_URL: unreachableUrl })
    config.storage.fallback = 'json'
    await assert.rejects(postgresqlBackend.open({ config, logger: silentLogger, migrate: 'auto' }), ConfigurationError)
  })
})
