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
import { JjmError, StorageError, TaskNotFoundError, ValidationError } from '../../../src/core/errors.js'
import type { TaskStore } from '../../../src/core/ports.js'
import { describeTaskStoreContract } from '../../../src/testing/index.js'

// Plain JavaScript without type declarations: its one export is typed here, at the boundary.
const storeModule = new URL('../../fixtures/jjm-plugin-fixture/json-file-store.js', import.meta.url).href
const { openJsonFileStorage } = (await import(storeModule)) as {
  openJsonFileStorage: (path: string) => Promise<StorageHandle>
}

/**
 * The fixture depends on nothing, so it throws plain errors that carry jjm's
 * error codes rather than instances of jjm's classes, which the contract
 * checks. This turns each coded error into the class with that code.
 */
function withJjmErrorClasses(store: TaskStore): TaskStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const member: unknown = Reflect.get(target, property, receiver)
      if (typeof member !== 'function') return member
      return async (...args: unknown[]) => {
        try {
          return await member.apply(target, args)
        } catch (error) {
          throw asJjmError(error)
        }
      }
    },
  })
}

function asJjmError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof JjmError || !('code' in error)) return error
  const context: Record<string, unknown> =
    'context' in error && typeof error.context === 'object' && error.context !== null ? { ...error.context } : {}
  const options = { context, cause: error }
  switch (error.code) {
    case 'JJM_STORAGE':
      return new StorageError(error.message, options)
    case 'JJM_VALIDATION':
      return new ValidationError(error.message, options)
    case 'JJM_TASK_NOT_FOUND':
      return new TaskNotFoundError(String(context.taskId), options)
    default:
      return error
  }
}

describeTaskStoreContract('jjm-plugin-fixture (fixture-file)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-fixture-contract-'))
  const storage = await openJsonFileStorage(join(dir, 'jjm.sqlite.fixture.json'))
  return {
    store: withJjmErrorClasses(storage.store),
    async close() {
      await storage.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
})
