/**
 * The TaskConversation contract suite: what every TaskConversation
 * implementation does with a task's chat messages and changed files, one task
 * at a time and for many at once. It creates its tasks through TaskRecords.
 */
import assert from 'node:assert/strict'
import { describe } from 'node:test'
import { TaskNotFoundError } from '../../core/errors.js'
import type { TaskConversation, TaskRecords } from '../../core/ports.js'
import { buildTask } from '../build-task.js'
import {
  type ContractOptions,
  chatMessage,
  createTasks,
  describeContract,
  minuteOf,
  type OpenStore,
  refusedAs,
  type StoreTest,
} from './support.js'

/** The ports the TaskConversation suite calls. */
export type TaskConversationContractStore = TaskRecords & TaskConversation

/** Declares the TaskConversation tests inside the current describe block (describeTaskStoreContract runs them with every other port's). */
export function declareTaskConversationTests(storeTest: StoreTest<TaskConversationContractStore>): void {
  describe('chat messages', () => {
    storeTest('records each activity once and says how many messages were new', async (store) => {
      const task = buildTask()
      await createTasks(store, [task])
      const first = [chatMessage('a1', 'Please add tests', 'user', 1), chatMessage('a2', 'Done: 3 tests', 'agent', 2)]
      assert.equal(await store.addChatMessages(task.id, first), 2)
      const again = [...first, chatMessage('a3', 'Thanks', 'user', 3)]
      assert.equal(await store.addChatMessages(task.id, again), 1, 'a sync that repeats records it once')
      assert.equal(await store.addChatMessages(task.id, []), 0)

      const messages = (await store.listChatMessages(task.id)).items
      assert.deepEqual(
        messages.map((message) => [message.activityId, message.role, message.text]),
        [
          ['a1', 'user', 'Please add tests'],
          ['a2', 'agent', 'Done: 3 tests'],
          ['a3', 'user', 'Thanks'],
        ],
      )
      assert.ok(messages.every((message) => message.taskId === task.id && message.id.length > 0))
      assert.equal(messages[0]?.at, chatMessage('a1', '', 'user', 1).at)
    })

    storeTest('keeps every message that has no activity id', async (store) => {
      const task = buildTask()
      await createTasks(store, [task])
      const note = { role: 'user' as const, text: 'Also fix the docs', activityId: null, at: minuteOf(1) }
      assert.equal(await store.addChatMessages(task.id, [note, note]), 2)
      assert.equal((await store.listChatMessages(task.id)).items.length, 2)
    })

    storeTest('lists messages oldest first, page by page', async (store) => {
      const task = buildTask()
      await createTasks(store, [task])
      await store.addChatMessages(
        task.id,
        Array.from({ length: 7 }, (_, index) => chatMessage(`a${index}`, `message ${index}`, 'agent', index)),
      )
      const texts: string[] = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = await store.listChatMessages(task.id, { limit: 3, cursor })
        texts.push(...page.items.map((message) => message.text))
        cursor = page.nextCursor || undefined
        pages += 1
      } while (cursor !== undefined)
      assert.deepEqual(
        texts,
        Array.from({ length: 7 }, (_, index) => `message ${index}`),
      )
      assert.equal(pages, 3)
    })

    storeTest('refuses messages for an unknown task', async (store) => {
      await assert.rejects(
        store.addChatMessages('01NOSUCHTASK0000000000000', [chatMessage('a1', 'Hi')]),
        refusedAs(TaskNotFoundError),
      )
    })
  })

  describe('source files', () => {
    storeTest('replaces the set of changed files as a whole', async (store) => {
      const task = buildTask()
      await createTasks(store, [task])
      await store.setSourceFiles(task.id, [
        { path: 'src/upload.ts', changeType: 'modified' },
        { path: 'README.md', changeType: 'added' },
      ])
      assert.deepEqual(await store.listSourceFiles(task.id), [
        { taskId: task.id, path: 'README.md', changeType: 'added' },
        { taskId: task.id, path: 'src/upload.ts', changeType: 'modified' },
      ])
      await store.setSourceFiles(task.id, [
        { path: 'src/upload.ts', changeType: 'deleted' },
        { path: 'test/upload.test.ts', changeType: 'added' },
      ])
      assert.deepEqual(await store.listSourceFiles(task.id), [
        { taskId: task.id, path: 'src/upload.ts', changeType: 'deleted' },
        { taskId: task.id, path: 'test/upload.test.ts', changeType: 'added' },
      ])
      await store.setSourceFiles(task.id, [])
      assert.deepEqual(await store.listSourceFiles(task.id), [])
    })

    storeTest('refuses files for an unknown task', async (store) => {
      await assert.rejects(
        store.setSourceFiles('01NOSUCHTASK0000000000000', [{ path: 'a', changeType: 'added' }]),
        refusedAs(TaskNotFoundError),
      )
    })
  })

  describe('getRelations', () => {
    storeTest('loads the files and latest messages of many tasks at once', async (store) => {
      const busy = buildTask()
      const quiet = buildTask()
      const bare = buildTask()
      await createTasks(store, [busy, quiet, bare])
      await store.addChatMessages(
        busy.id,
        Array.from({ length: 5 }, (_, index) => chatMessage(`b${index}`, `busy ${index}`, 'agent', index)),
      )
      await store.addChatMessages(quiet.id, [chatMessage('q0', 'quiet 0', 'user', 0)])
      await store.setSourceFiles(busy.id, [
        { path: 'b.ts', changeType: 'added' },
        { path: 'a.ts', changeType: 'modified' },
      ])

      const relations = await store.getRelations([busy.id, quiet.id, bare.id])
      assert.deepEqual([...relations.keys()].sort(), [busy.id, quiet.id, bare.id].sort())
      assert.deepEqual(
        relations.get(busy.id)?.chatMessages.map((message) => message.text),
        ['busy 2', 'busy 3', 'busy 4'],
        'the latest three, oldest first',
      )
      assert.deepEqual(
        relations.get(busy.id)?.sourceFiles.map((file) => file.path),
        ['a.ts', 'b.ts'],
      )
      assert.deepEqual(
        relations.get(quiet.id)?.chatMessages.map((message) => message.text),
        ['quiet 0'],
      )
      assert.deepEqual(relations.get(bare.id), { sourceFiles: [], chatMessages: [] })

      const one = await store.getRelations([busy.id], { messagesPerTask: 1 })
      assert.deepEqual(
        one.get(busy.id)?.chatMessages.map((message) => message.text),
        ['busy 4'],
      )
      assert.equal((await store.getRelations([])).size, 0)
    })
  })
}

/**
 * Declares, with node:test, the suite every TaskConversation implementation must pass.
 * Each test opens its own store through `open` and closes it, pass or fail.
 */
export function describeTaskConversationContract(
  name: string,
  open: OpenStore<TaskConversationContractStore>,
  options: ContractOptions = {},
): void {
  describeContract(`TaskConversation contract: ${name}`, open, options, declareTaskConversationTests)
}
