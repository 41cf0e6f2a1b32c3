import { openSqlStore } from '../../../src/plugins/storage-sql/sql-store.js'
import { describeTaskStoreContract } from '../../../src/testing/index.js'
import { postgres } from '../../support/services.js'

// Each test gets its own database, dropped afterwards; without PostgreSQL the
// tests skip locally and fail in CI (see test/support/services.ts).
describeTaskStoreContract('postgresql', async (t) => {
  const service = await postgres(t)
  if (service === undefined) return undefined
  const database = await service.createDatabase()
  try {
    const storage = await openSqlStore({ dialect: 'postgresql', url: database.url, poolSize: 4 })
    return {
      store: storage.store,
      async close() {
        await storage.close()
        await database.drop()
      },
    }
  } catch (error) {
    await database.drop()
    throw error
  }
})
