/**
 * Each port's contract suite runs on its own, as a plugin author runs it while
 * implementing the ports one at a time (`import { describeSyncStatesContract }
 * from 'jjm/testing'`): here against SQLite in memory.
 */
import { openSqlStore } from '../../../src/plugins/storage-sql/sql-store.js'
import {
  describeCreationIntentsContract,
  describeNotificationOutboxContract,
  describeSyncStatesContract,
  describeTaskConversationContract,
  describeTaskEventLogContract,
  describeTaskRecordsContract,
  type OpenTaskStore,
} from '../../../src/testing/index.js'

const open: OpenTaskStore = async () => {
  const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
  return { store: storage.store, close: () => storage.close() }
}

describeTaskRecordsContract('sqlite in memory', open)
describeTaskEventLogContract('sqlite in memory', open)
describeTaskConversationContract('sqlite in memory', open)
describeSyncStatesContract('sqlite in memory', open)
describeCreationIntentsContract('sqlite in memory', open)
describeNotificationOutboxContract('sqlite in memory', open)
