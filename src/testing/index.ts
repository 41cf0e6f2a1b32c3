/**
 * What jjm gives the authors of backend plugins for their own tests
 * (`import { describeTaskStoreContract } from 'jjm/testing'`): the behaviour
 * every TaskStore must have, as a node:test suite, one suite per port (to run
 * while implementing the ports one at a time), and a task builder; the
 * behaviour every Jules backend must have (`describeJulesClientContract`),
 * with drivers that move jjm's simulator along.
 */
export { buildTask } from './build-task.js'
export {
  type CreationIntentsContractStore,
  describeCreationIntentsContract,
} from './contract/creation-intents.js'
export { describeTaskEventLogContract, type TaskEventLogContractStore } from './contract/event-log.js'
export {
  describeNotificationOutboxContract,
  type NotificationOutboxContractStore,
} from './contract/outbox.js'
export type { ContractOptions, OpenedStore, OpenStore } from './contract/support.js'
export { describeSyncStatesContract, type SyncStatesContractStore } from './contract/sync-states.js'
export {
  describeTaskConversationContract,
  type TaskConversationContractStore,
} from './contract/task-conversation.js'
export { describeTaskRecordsContract, type TaskRecordsContractStore } from './contract/task-records.js'
export { describeUnitOfWorkContract, type UnitOfWorkContractStore } from './contract/unit-of-work.js'
export {
  describeJulesClientContract,
  type JulesClientContractOptions,
  type JulesContractDriver,
  julesSessionStates,
  type OpenedJulesClient,
  type OpenJulesClient,
  simClockDriver,
  simServerDriver,
} from './jules-client-contract.js'
export {
  describeTaskStoreContract,
  type OpenedTaskStore,
  type OpenTaskStore,
  type TaskStoreContractOptions,
} from './task-store-contract.js'
