/**
 * The fixture plugin's store passes the same contract suite as jjm's own
 * stores: what a plugin author does in their own package with
 * `import { describeTaskStoreContract } from 'jjm/testing'`.
 *
 * (This file is not under test/unit/fixtures/: scripts/run-tests.mjs skips
 * every folder named `fixtures`.)
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StorageHandle } from '../../../src/core/backends.js'
import { describeTaskStoreContract } from '../../../src/testing/index.js'

// Plain JavaScript without type declarations: its one export is typed here, at the boundary.
const storeModule = new URL('../../fixtures/jjm-plugin-fixture/json-file-store.js', import.meta.url).href
const { openJsonFileStorage } = (await import(storeModule)) as {
  openJsonFileStorage: (path: string) => Promise<StorageHandle>
}

describeTaskStoreContract('jjm-plugin-fixture (fixture-file)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-fixture-contract-'))
  const storage = await openJsonFileStorage(join(dir, 'jjm.sqlite.fixture.json'))
  return {
    // No adapter: the plugin's plain coded errors are what the contract (and jjm) accept.
    store: storage.store,
    async close() {
      await storage.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
})
