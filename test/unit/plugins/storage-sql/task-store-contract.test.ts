import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSqlStore } from '../../../../src/plugins/storage-sql/sql-store.js'
import { describeTaskStoreContract } from '../../../../src/testing/index.js'

describeTaskStoreContract('sqlite file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-contract-'))
  const storage = await openSqlStore({ dialect: 'sqlite', path: join(dir, 'jjm.db') })
  return {
    store: storage.store,
    async close() {
      await storage.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
})

describeTaskStoreContract('sqlite in memory', async () => {
  const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
  return { store: storage.store, close: () => storage.close() }
})
