import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSqlStore, type SqlStorage } from '../../../src/plugins/storage-sql/sql-store.js'
import { describeUnitOfWorkContract, type UnitOfWorkContractStore } from '../../../src/testing/index.js'
import { postgres } from '../../support/services.js'

/** The SQL store as the suite needs it: it offers a unit of work. */
function withUnitOfWork(storage: SqlStorage): UnitOfWorkContractStore {
  const { store } = storage
  assert.ok(store.unitOfWork, 'the SQL store offers a unit of work')
  return store as UnitOfWorkContractStore
}

// SQLite in a file: one connection, which the unit holds while it runs.
describeUnitOfWorkContract('SQLite file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-unit-of-work-'))
  const storage = await openSqlStore({ dialect: 'sqlite', path: join(dir, 'jjm.sqlite') })
  return {
    store: withUnitOfWork(storage),
    async close() {
      await storage.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
})

// PostgreSQL: a pool, so the unit's writes must all go to its one connection.
describeUnitOfWorkContract('PostgreSQL', async (t) => {
  const service = await postgres(t)
  if (service === undefined) return undefined
  const database = await service.createDatabase()
  const storage = await openSqlStore({ dialect: 'postgresql', url: database.url })
  return {
    store: withUnitOfWork(storage),
    async close() {
      await storage.close()
      await database.drop()
    },
  }
})
