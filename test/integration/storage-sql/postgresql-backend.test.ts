import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { loadConfig } from '../../../src/core/config.js'
import { StorageError } from '../../../src/core/errors.js'
import { type Logger, silentLogger } from '../../../src/core/ports.js'
import { postgresqlBackend } from '../../../src/plugins/storage-sql/backend.js'
import { postgres, uniqueName } from '../../support/services.js'

function warningsOf(logger: { warnings: string[] }): Logger {
  const recording: Logger = {
    ...silentLogger,
    warn: (message) => logger.warnings.push(message),
    child: () => recording,
  }
  return recording
}

describe('the postgresql storage backend on a running server', () => {
  it('uses PostgreSQL, not the fallback, when the server answers', async (t) => {
    const service = await postgres(t)
    if (service === undefined) return
    const database = await service.createDatabase()
    const dir = await mkdtemp(join(tmpdir(), 'jjm-pg-backend-'))
    try {
      const config = await loadConfig({
        configDir: join(dir, 'config'),
        dataDir: join(dir, 'data'),
        env: { DATABASE_URL: database.url, JJM_STORAGE_FALLBACK: 'sqlite' },
      })
      const seen = { warnings: [] as string[] }
      const handle = await postgresqlBackend.open({ config, logger: warningsOf(seen), migrate: 'auto' })
      try {
        assert.equal(handle.degraded, undefined)
        assert.deepEqual(seen.warnings, [])
        assert.deepEqual((await handle.schema?.status())?.pending, [])
      } finally {
        await handle.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
      await database.drop()
    }
  })

  it('does not fall back when the server is reachable but the database is missing', async (t) => {
    const service = await postgres(t)
    if (service === undefined) return
    const dir = await mkdtemp(join(tmpdir(), 'jjm-pg-backend-'))
    try {
      const url = new URL(service.adminUrl)
      url.pathname = `/${uniqueName('jjm_missing')}`
      const config = await loadConfig({
        configDir: join(dir, 'config'),
        dataDir: join(dir, 'data'),
        env: { DATABASE_URL: url.toString(), JJM_STORAGE_FALLBACK: 'sqlite' },
      })
      await assert.rejects(
        postgresqlBackend.open({ config, logger: silentLogger, migrate: 'auto' }),
        (error: unknown) => {
          assert.ok(error instanceof StorageError)
          assert.equal(error.context.problem, 'database-missing')
          return true
        },
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
