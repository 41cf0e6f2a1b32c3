/**
 * The behaviour every TaskStore has, whatever it stores into: jjm's own
 * backends (SQLite, PostgreSQL, JSON) and every third-party storage plugin run
 * this same suite against themselves, the way keyv's adapters share one test
 * suite. It runs every port's suite (src/testing/contract/), which a plugin
 * author may also run one at a time while implementing the ports in turn.
 *
 * ```ts
 * import { describeTaskStoreContract } from 'jjm/testing'
 * describeTaskStoreContract('my store', async () => {
 *   const store = await openMyStore()
 *   return { store, close: () => store.close() }
 * })
 * ```
 */
import type { TaskStore } from '../core/ports.js'
import { declareCreationIntentsTests } from './contract/creation-intents.js'
import { declareTaskEventLogTests } from './contract/event-log.js'
import { declareNotificationOutboxTests } from './contract/outbox.js'
import { type ContractOptions, describeContract, type OpenedStore, type OpenStore } from './contract/support.js'
import { declareSyncStatesTests } from './contract/sync-states.js'
import { declareTaskConversationTests } from './contract/task-conversation.js'
import { declareTaskRecordsTests } from './contract/task-records.js'

/** A store opened for one test, and how to dispose of it afterwards. */
export type OpenedTaskStore = OpenedStore<TaskStore>

/**
 * Opens a fresh, empty store for one test. A backend that needs a service
 * which is not running calls `t.skip(reason)` and returns undefined: the test
 * is then reported as skipped (or throws, to fail it, e.g. in CI).
 */
export type OpenTaskStore = OpenStore<TaskStore>

export type TaskStoreContractOptions = ContractOptions

/**
 * Declares, with node:test, the suite every TaskStore must pass: every port's
 * suite, in one describe block. Each test opens its own store through `open`
 * and closes it, pass or fail.
 */
export function describeTaskStoreContract(
  name: string,
  open: OpenTaskStore,
  options: TaskStoreContractOptions = {},
): void {
  describeContract(`TaskStore contract: ${name}`, open, options, (storeTest) => {
    declareTaskRecordsTests(storeTest)
    declareTaskEventLogTests(storeTest)
    declareTaskConversationTests(storeTest)
    declareSyncStatesTests(storeTest)
    declareCreationIntentsTests(storeTest)
    declareNotificationOutboxTests(storeTest)
  })
}
