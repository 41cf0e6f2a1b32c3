/**
 * What one `GET /api/v1/tasks?limit=50` costs the database, counted on the SQL
 * the store runs (its `debugQueries` hook): one query for the page on a miss,
 * none at all on a hit, the API key included (src/core/api-key-cache.ts).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { startDaemon } from '../../../src/api/daemon.js'
import { type BackendRegistration, BackendRegistry, type StorageBackend } from '../../../src/core/backends.js'
import { ManualClock } from '../../../src/core/clock.js'
import { loadConfig } from '../../../src/core/config.js'
import { openCore } from '../../../src/core/core.js'
import { silentLogger } from '../../../src/core/ports.js'
import hook from '../../../src/plugins/backends-hook.js'
import { openSqlStore } from '../../../src/plugins/storage-sql/sql-store.js'
import { buildTask } from '../../../src/testing/build-task.js'

describe('a page of tasks through the REST API', { timeout: 60_000 }, () => {
  it('costs one SQL query on a miss and none on a hit, the API key check included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-hot-path-'))
    const statements: string[] = []
    const countingSqlite: StorageBackend = {
      kind: 'storage',
      name: 'counting-sqlite',
      description: 'SQLite that reports every statement to the test',
      async open({ config, migrate }) {
        return openSqlStore({
          dialect: 'sqlite',
          path: config.storage.path,
          migrate,
          debugQueries: (sql) => statements.push(sql),
        })
      },
    }
    const registry = new BackendRegistry()
    registry.register('jjm', await (hook as unknown as () => Promise<BackendRegistration>)())
    registry.register('counting-test', { backends: [countingSqlite] })
    const config = await loadConfig({
      configDir: join(dir, 'config'),
      dataDir: join(dir, 'data'),
      env: { JJM_JULES: 'sim', JJM_STORAGE: 'counting-sqlite' },
    })
    const core = await openCore({ config, logger: silentLogger, registry, clock: new ManualClock(), version: 'test' })
    const daemon = await startDaemon({
      core,
      logger: silentLogger,
      version: 'test',
      host: '127.0.0.1',
      port: 0,
      monitor: false,
      monitorIntervalMs: 60_000,
    })
    try {
      for (let n = 0; n < 60; n++) {
        await core.storage.store.createTask(
          buildTask({ createdAt: new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString() }),
          [],
        )
      }
      const { key } = await core.apiKeys().create({ name: 'reader', scopes: ['read'] })
      const page = async () => {
        const response = await request(`${daemon.url}/api/v1/tasks?limit=50`, {
          headers: { authorization: `Bearer ${key}` },
        })
        assert.equal(response.statusCode, 200)
        return (await response.body.json()) as { items: unknown[]; nextCursor: string }
      }

      statements.length = 0
      const first = await page()
      assert.equal(first.items.length, 50)
      const taskQueries = statements.filter((sql) => /\bfrom [`"]?task[`"]?\s/i.test(sql))
      assert.equal(taskQueries.length, 1, `one query for the page:\n${statements.join('\n')}`)

      statements.length = 0
      const second = await page()
      assert.deepEqual(second, first)
      assert.deepEqual(statements, [], 'a hit reads neither the key nor the page from the database')
    } finally {
      await daemon.stop(1_000)
      await core.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
