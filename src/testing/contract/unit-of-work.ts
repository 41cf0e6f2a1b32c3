/**
 * The unit-of-work contract suite, for a store that offers `unitOfWork`
 * (optional on the port): every write made inside one is kept, or none, and
 * a write refused inside it fails alone. It writes through TaskRecords,
 * TaskEventLog and TaskConversation.
 */
import assert from 'node:assert/strict'
import type { TaskConversation, TaskEventLog, TaskRecords, TaskStore } from '../../core/ports.js'
import { buildTask } from '../build-task.js'
import { type ContractOptions, describeContract, type OpenStore, type StoreTest } from './support.js'

/** The ports the unit-of-work suite calls; `unitOfWork` is required here. */
export type UnitOfWorkContractStore = TaskRecords &
  TaskEventLog &
  TaskConversation &
  Required<Pick<TaskStore, 'unitOfWork'>>

async function historyOf(store: UnitOfWorkContractStore, taskId: string) {
  const events = (await store.getEvents(taskId, { limit: 50 })).items.map((event) => event.type)
  const messages = (await store.listChatMessages(taskId)).items.map((message) => message.text)
  return { events, messages }
}

/** Declares the unit-of-work tests inside the current describe block. */
export function declareUnitOfWorkTests(storeTest: StoreTest<UnitOfWorkContractStore>): void {
  storeTest('keeps every write made inside a unit of work, or none when it fails', async (store) => {
    const task = buildTask()
    await store.createTask(task, [{ type: 'created', data: {} }])
    await assert.rejects(
      store.unitOfWork(async () => {
        await store.logEvent(task.id, { type: 'message_sent', data: { text: 'lost' } })
        await store.addChatMessages(task.id, [{ role: 'user', text: 'lost', activityId: null, at: task.createdAt }])
        await store.updateTask({ ...task, title: 'lost' }, [], { expectedVersion: task.version })
        throw new Error('the process died between the writes')
      }),
      /the process died/,
    )
    assert.deepEqual(await historyOf(store, task.id), { events: ['created'], messages: [] }, 'nothing was kept')
    const after = await store.getTask(task.id)
    assert.deepEqual([after?.title, after?.version], [task.title, task.version])

    await store.unitOfWork(async () => {
      await store.logEvent(task.id, { type: 'message_sent', data: { text: 'kept' } })
      await store.addChatMessages(task.id, [{ role: 'user', text: 'kept', activityId: null, at: task.createdAt }])
    })
    assert.deepEqual(await historyOf(store, task.id), { events: ['message_sent', 'created'], messages: ['kept'] })
  })

  storeTest('lets a write refused inside a unit of work fail alone, keeping the others', async (store) => {
    const task = buildTask()
    await store.createTask(task, [{ type: 'created', data: {} }])
    await store.unitOfWork(async () => {
      await store.logEvent(task.id, { type: 'progress', data: {} })
      await assert.rejects(
        store.updateTask({ ...task, title: 'stale' }, [], { expectedVersion: task.version + 5 }),
        (error: Error & { code?: string }) => error.code === 'JJM_TASK_VERSION_CONFLICT',
      )
    })
    assert.deepEqual((await historyOf(store, task.id)).events, ['progress', 'created'])
  })
}

/** The unit-of-work suite on its own, for a store that offers `unitOfWork`. */
export function describeUnitOfWorkContract(
  name: string,
  open: OpenStore<UnitOfWorkContractStore>,
  options: ContractOptions = {},
): void {
  describeContract(`unit of work contract: ${name}`, open, options, declareUnitOfWorkTests)
}
