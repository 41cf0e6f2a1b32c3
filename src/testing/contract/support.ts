/**
 * What every port's contract suite shares: how a test opens and closes its
 * store, and the builders the tests arrange with.
 */
import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { toJjmError } from '../../core/errors.js'
import type {
  CreationLease,
  NewChatMessage,
  NewNotification,
  SyncCommit,
  SyncCommitResult,
  SyncCursor,
  SyncStates,
  TaskRecords,
} from '../../core/ports.js'
import type { Task, TaskFilter } from '../../core/task.js'

/** A store opened for one test, and how to dispose of it afterwards. */
export interface OpenedStore<S> {
  store: S
  /** Closes the store and removes what the test left behind (a file, a database). */
  close(): Promise<void>
}

/**
 * Opens a fresh, empty store for one test. A backend that needs a service
 * which is not running calls `t.skip(reason)` and returns undefined: the test
 * is then reported as skipped (or throws, to fail it, e.g. in CI).
 */
export type OpenStore<S> = (t: TestContext) => Promise<OpenedStore<S> | undefined>

export interface ContractOptions {
  /** Skips the whole suite, with this reason. */
  skip?: string
}

/** Declares one test that runs `body` against a store of its own. */
export type StoreTest<S> = (title: string, body: (store: S) => Promise<void>) => void

/** The StoreTest that opens each test's store through `open` and closes it, pass or fail. */
export function storeTestWith<S>(open: OpenStore<S>): StoreTest<S> {
  return (title, body) => {
    it(title, async (t) => {
      const opened = await open(t)
      if (opened === undefined) return
      try {
        await body(opened.store)
      } finally {
        await opened.close()
      }
    })
  }
}

/** Declares one port's suite, titled `title`, with `declare`'s tests. */
export function describeContract<S>(
  title: string,
  open: OpenStore<S>,
  options: ContractOptions,
  declare: (storeTest: StoreTest<S>) => void,
): void {
  describe(title, options.skip === undefined ? {} : { skip: options.skip }, () => declare(storeTestWith(open)))
}

/**
 * Checks a refusal by the jjm error it stands for: a plugin without a runtime
 * dependency on jjm throws plain errors carrying jjm's `code`, which jjm maps
 * to its classes exactly like this (toJjmError).
 */
export function refusedAs(expected: abstract new (...args: never[]) => Error): (error: unknown) => boolean {
  return (error) => {
    const mapped = toJjmError(error)
    assert.ok(mapped instanceof expected, `expected a ${expected.name}, got ${String(error)}`)
    return true
  }
}

/** The holder the suite's syncs commit as. */
export const syncHolder = 'contract-sync'

/** Takes `syncHolder`'s lease on the task and commits `commit` under it, synced at `minuteOf(minute)`. */
export async function commitAsSync(
  store: SyncStates,
  commit: Omit<SyncCommit, 'holder' | 'syncedAt'>,
  minute = 1,
): Promise<SyncCommitResult> {
  assert.deepEqual(await store.claimSyncLeases([commit.taskId], syncHolder, 60_000), [commit.taskId])
  return store.commitSync({ holder: syncHolder, syncedAt: minuteOf(minute), ...commit })
}

/** The task a committed sync returned; fails the test on any other outcome. */
export function committed(result: SyncCommitResult): Task {
  assert.equal(result.outcome, 'committed')
  return (result as { task: Task }).task
}

export async function createTasks(store: TaskRecords, tasks: Task[]): Promise<void> {
  for (const task of tasks) await store.createTask(task, [{ type: 'created', data: {} }])
}

export function listIds(store: TaskRecords): (filter: TaskFilter) => Promise<string[]> {
  return async (filter) => (await store.listTasks(filter)).items.map((task) => task.id)
}

export const hashA = 'a'.repeat(64)
export const hashB = 'b'.repeat(64)

/** A lease for attempt `holder` that runs out at minute `until`. */
export function leaseOf(holder: string, until: number): CreationLease {
  return { holder, expiresAt: minuteOf(until) }
}

export function syncCursor(minute: number, names: string[]): SyncCursor {
  return { sessionUpdateTime: minuteOf(minute), lastActivityTime: minuteOf(minute), lastActivityNames: names }
}

export function notification(task: Task, notifier: string, eventType: string, minute: number): NewNotification {
  return {
    notifier,
    taskId: task.id,
    eventType,
    payload: {
      taskId: task.id,
      eventType,
      title: `${eventType}: ${task.title}`,
      text: `Task ${task.id}: ${eventType}`,
      url: 'https://jules.google.com/session/1',
      task,
      at: minuteOf(minute),
    },
  }
}

export function minuteOf(n: number): string {
  return new Date(Date.UTC(2026, 3, 1, 0, n)).toISOString()
}

export function chatMessage(
  activityId: string,
  text: string,
  role: 'user' | 'agent' = 'agent',
  minute = 0,
): NewChatMessage {
  return { activityId, text, role, at: minuteOf(minute) }
}
