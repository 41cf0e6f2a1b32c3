import type { TaskStore } from './ports.js'

export type SyncLeases = Required<Pick<TaskStore, 'claimSyncLease' | 'releaseSyncLease'>>

/**
 * The sync-lease methods of a store decorator (cache, notifications): passed
 * to the store underneath; one without leases lets every claim through.
 */
export function passSyncLeases(store: TaskStore): SyncLeases {
  return {
    claimSyncLease: (...claim) => (store.claimSyncLease ? store.claimSyncLease(...claim) : Promise.resolve(true)),
    releaseSyncLease: async (taskId, holder) => {
      await store.releaseSyncLease?.(taskId, holder)
    },
  }
}
