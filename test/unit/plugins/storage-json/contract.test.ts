import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openJsonStore } from '../../../../src/plugins/storage-json/json-store.js'
import { describeTaskStoreContract } from '../../../../src/testing/task-store-contract.js'

describeTaskStoreContract('json file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-json-contract-'))
  // A nested path: the store creates the directory on its first write.
  const storage = await openJsonStore({ path: join(dir, 'nested', 'tasks.json') })
  return {
    store: storage.store,
    close: async () => {
      await storage.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
})

describeTaskStoreContract('json in memory', async () => {
  const storage = await openJsonStore({ path: ':memory:' })
  return { store: storage.store, close: () => storage.close() }
})
