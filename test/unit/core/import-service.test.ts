import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { BackendRegistry } from '../../../src/core/backends.js'
import { ManualClock } from '../../../src/core/clock.js'
import { loadConfig } from '../../../src/core/config.js'
import { type Core, openCore } from '../../../src/core/core.js'
import { ConfigurationError } from '../../../src/core/errors.js'
import {
  type HistoryReader,
  ImportService,
  importServiceOf,
  type TaskHistory,
} from '../../../src/core/import-service.js'
import { silentLogger, type TaskStore } from '../../../src/core/ports.js'
import type { Task } from '../../../src/core/task.js'
import hook from '../../../src/plugins/backends-hook.js'
import { buildTask } from '../../../src/testing/build-task.js'

/** A task that failed in 2024, with the whole history of that day. */
function failedIn2024(): TaskHistory {
  const task: Task = {
    ...buildTask({ labels: ['legacy'] }),
    state: 'failed',
    createdAt: '2024-03-01T09:00:00.000Z',
    updatedAt: '2024-03-01T10:00:00.000Z',
    completedAt: '2024-03-01T10:00:00.000Z',
    lastSyncedAt: '2024-03-01T10:00:05.000Z',
  }
  return {
    task,
    deleted: false,
    events: [
      { type: 'created', data: {}, at: '2024-03-01T09:00:00.000Z' },
      { type: 'state_changed', data: { from: 'queued', to: 'in_progress' }, at: '2024-03-01T09:01:00.000Z' },
      { type: 'state_changed', data: { from: 'in_progress', to: 'failed' }, at: '2024-03-01T10:00:00.000Z' },
      { type: 'failed', data: { reason: 'tests failed' }, at: '2024-03-01T10:00:00.000Z' },
    ],
    chatMessages: [
      { role: 'agent', text: 'Plan: fix the test', activityId: 'a1', at: '2024-03-01T09:02:00.000Z' },
      { role: 'user', text: 'Go ahead', activityId: 'a2', at: '2024-03-01T09:03:00.000Z' },
    ],
    sourceFiles: [{ path: 'src/upload.ts', changeType: 'modified' }],
    syncCursor: {
      sessionUpdateTime: '2024-03-01T10:00:00.000Z',
      lastActivityTime: '2024-03-01T10:00:00.000Z',
      lastActivityNames: [`${task.sessionName}/activities/9`],
    },
  }
}

function readerOf(histories: TaskHistory[]): HistoryReader & { reads: number } {
  const reader = {
    reads: 0,
    async *tasks() {
      reader.reads += 1
      yield* histories
    },
    invalid: async () => [],
    creationIntents: async () => [],
  }
  return reader
}

/** A real HTTP receiver on 127.0.0.1 that counts what it is sent. */
async function receiver() {
  const received: string[] = []
  const server = createServer((request, response) => {
    request.resume()
    request.on('end', () => {
      received.push(String(request.headers['x-jjm-delivery']))
      response.end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** Core as every command opens it (SQLite, the memory cache), with a webhook that gets every event. */
async function coreWithWebhook(url: string): Promise<{ core: Core; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-import-service-'))
  const config = await loadConfig({
    configDir: join(dir, 'config'),
    dataDir: join(dir, 'data'),
    env: { JJM_NOTIFIERS: JSON.stringify([{ backend: 'webhook', url, events: ['*'] }]) },
  })
  const registry = new BackendRegistry()
  registry.register('jjm', await (hook as unknown as () => Promise<Parameters<BackendRegistry['register']>[1]>)())
  const core = await openCore({
    config,
    logger: silentLogger,
    registry,
    clock: new ManualClock('2026-11-25T10:00:00Z'),
  })
  let closed = false
  return {
    core,
    async close() {
      if (!closed) await core.close()
      closed = true
      await rm(dir, { recursive: true, force: true })
    },
  }
}

describe('the import service', { timeout: 60_000 }, () => {
  it('pages nobody about the past: an imported failed task queues and sends no notification', async () => {
    const hook = await receiver()
    const opened = await coreWithWebhook(hook.url)
    try {
      const { core } = opened
      const history = failedIn2024()
      const report = await importServiceOf(core).import(readerOf([history]))
      assert.deepEqual(report.imported, { tasks: 1, events: 4, chatMessages: 2, sourceFiles: 1 })

      // A task created now, through the store commands use, is notified: the route works.
      const today = buildTask()
      await core.store.createTask(today, [{ type: 'created', data: {}, at: '2026-11-25T10:00:00.000Z' }])
      const outbox = await core.notifications.list({})
      assert.deepEqual(
        outbox.items.map((entry) => [entry.taskId, entry.eventType]),
        [[today.id, 'created']],
        'nothing is queued for the imported task',
      )
      await opened.close() // waits for the deliveries in flight
      assert.equal(hook.received.length, 1, 'only the task created today was sent')
    } finally {
      await opened.close()
      await hook.close()
    }
  })

  it('keeps every instant of the history and stamps nothing now', async () => {
    const hook = await receiver()
    const opened = await coreWithWebhook(hook.url)
    try {
      const { core } = opened
      const history = failedIn2024()
      await importServiceOf(core).import(readerOf([history]))
      const store = core.store
      assert.deepEqual(await store.getTask(history.task.id), history.task)
      const events = (await store.getEvents(history.task.id)).items.reverse()
      assert.deepEqual(
        events.map(({ type, data, at }) => ({ type, data, at })),
        history.events,
      )
      assert.deepEqual(
        (await store.listChatMessages(history.task.id)).items.map(({ role, text, activityId, at }) => ({
          role,
          text,
          activityId,
          at,
        })),
        history.chatMessages,
      )
      assert.deepEqual(await store.getSyncCursor(history.task.id), history.syncCursor)
      const outbox = await core.notifications.list({})
      assert.deepEqual(outbox.items, [])
    } finally {
      await opened.close()
      await hook.close()
    }
  })

  it('imports nothing twice: a second run, or a copy of the task under another id, is skipped', async () => {
    const hook = await receiver()
    const opened = await coreWithWebhook(hook.url)
    try {
      const { core } = opened
      const history = failedIn2024()
      const service = importServiceOf(core)
      await service.import(readerOf([history]))
      const copy: TaskHistory = { ...history, task: { ...history.task, id: buildTask().id } }
      const again = await service.import(readerOf([history, copy]))
      assert.deepEqual(again, {
        imported: { tasks: 0, events: 0, chatMessages: 0, sourceFiles: 0 },
        skipped: 2,
        invalid: [],
      })
      assert.equal((await core.store.getEvents(history.task.id)).items.length, 4)
      assert.equal(await core.store.getTask(copy.task.id), undefined)
    } finally {
      await opened.close()
      await hook.close()
    }
  })

  it('shows the imported tasks in task lists cached before the import', async () => {
    const hook = await receiver()
    const opened = await coreWithWebhook(hook.url)
    try {
      const { core } = opened
      assert.ok(core.cache.cache, 'the memory cache is on by default')
      assert.deepEqual((await core.store.listTasks({})).items, [])
      const history = failedIn2024()
      await importServiceOf(core).import(readerOf([history]))
      assert.deepEqual(
        (await core.store.listTasks({})).items.map((task) => task.id),
        [history.task.id],
      )
    } finally {
      await opened.close()
      await hook.close()
    }
  })

  it('writes nothing on a dry run, and counts what it would write', async () => {
    const hook = await receiver()
    const opened = await coreWithWebhook(hook.url)
    try {
      const { core } = opened
      const history = failedIn2024()
      const report = await importServiceOf(core).import(readerOf([history, { ...failedIn2024(), deleted: true }]), {
        dryRun: true,
      })
      assert.deepEqual(report, {
        imported: { tasks: 1, events: 4, chatMessages: 2, sourceFiles: 1 },
        skipped: 1,
        invalid: [],
      })
      assert.equal(await core.store.getTask(history.task.id), undefined)
    } finally {
      await opened.close()
      await hook.close()
    }
  })

  it('refuses a store that cannot import, before reading anything', async () => {
    const withoutImport = { importTask: undefined } as unknown as TaskStore
    const reader = readerOf([failedIn2024()])
    await assert.rejects(
      new ImportService({ target: withoutImport, backend: 'fixture-file' }).import(reader),
      (error: unknown) => {
        assert.ok(error instanceof ConfigurationError)
        assert.match(error.message, /The fixture-file storage backend cannot import history/)
        return true
      },
    )
    assert.equal(reader.reads, 0)
  })
})
