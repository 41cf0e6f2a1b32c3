/**
 * What jjm gives the authors of backend plugins for their own tests
 * (`import { describeTaskStoreContract } from 'jjm/testing'`): the behaviour
 * every TaskStore must have, as a node:test suite, and a task builder.
 */
export { buildTask } from './build-task.js'
export {
  describeTaskStoreContract,
  type OpenedTaskStore,
  type OpenTaskStore,
  type TaskStoreContractOptions,
} from './task-store-contract.js'
