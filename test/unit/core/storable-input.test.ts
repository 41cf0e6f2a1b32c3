import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { parseTaskFile } from '../../../src/core/bulk-create.js'
import { StorageError, TaskNotFoundError, ValidationError } from '../../../src/core/errors.js'
import { createIdGenerator } from '../../../src/core/ids.js'
import type { JulesClient } from '../../../src/core/jules/client.js'
import { JobManager } from '../../../src/core/manager.js'
import { silentLogger, type TaskStore } from '../../../src/core/ports.js'
import { maxMetadataBytes } from '../../../src/core/storable.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { type Harness, openHarness } from './harness.js'

// Issue 10: what jjm cannot store is refused, naming the field, before Jules
// hears of it; a session Jules did start is recorded or adopted, never orphaned.

/** The harness' simulator behind a client that counts the calls that change something at Jules. */
function countingJules(h: Harness): { jules: JulesClient; calls: string[] } {
  const inner = createSimClient(h.simulator)
  const calls: string[] = []
  return {
    calls,
    jules: {
      ...inner,
      createSession: async (request) => {
        calls.push('createSession')
        return inner.createSession(request)
      },
      sendMessage: async (name, text) => {
        calls.push('sendMessage')
        return inner.sendMessage(name, text)
      },
    },
  }
}

function managerOver(h: Harness, jules: JulesClient, store: TaskStore = h.storage.store): JobManager {
  return new JobManager({ jules, store, clock: h.clock, logger: silentLogger, newId: createIdGenerator(), bus: h.bus })
}

async function sessionCount(h: Harness): Promise<number> {
  return (await h.simulator.listSessions({ pageSize: 100 })).sessions.length
}

function naming(field: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`)
    assert.equal(error.exitCode, 11)
    assert.equal(error.httpStatus, 400)
    assert.equal(error.context.field, field)
    return true
  }
}

/** `levels` objects nested inside each other. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true }
  for (let level = 1; level < levels; level++) value = { k: value }
  return value
}

const input = { prompt: 'Add retries to the HTTP client', repository: 'acme/api' }

describe('input jjm cannot store', () => {
  let h: Harness
  let jules: JulesClient
  let calls: string[]
  let manager: JobManager
  beforeEach(async () => {
    h = await openHarness()
    ;({ jules, calls } = countingJules(h))
    manager = managerOver(h, jules)
  })
  afterEach(async () => {
    await h.close()
  })

  describe('creating a task', () => {
    it('refuses a NUL in the prompt or title with 400 / exit 11 before Jules starts a session, on every retry', {
      timeout: 30_000,
    }, async () => {
      for (const attempt of [1, 2]) {
        await assert.rejects(
          manager.createTaskWithOutcome({ ...input, prompt: 'a\u0000b' }, { idempotencyKey: 'nul-1' }),
          naming('prompt'),
          `attempt ${attempt}`,
        )
      }
      await assert.rejects(manager.createTask({ ...input, title: 'Fix it\u0000now' }), naming('title'))
      assert.deepEqual(calls, [])
      assert.equal(await sessionCount(h), 0)
      // The key was never spent: fixed input under the same key creates the task.
      const fixed = await manager.createTaskWithOutcome({ ...input, prompt: 'ab' }, { idempotencyKey: 'nul-1' })
      assert.equal(fixed.outcome, 'created')
      assert.equal(await sessionCount(h), 1)
    })

    it('refuses reserved metadata keys and metadata too deep or too large before Jules starts a session', {
      timeout: 30_000,
    }, async () => {
      await assert.rejects(
        manager.createTask({ ...input, metadata: { constructor: 'x' } }),
        naming('metadata.constructor'),
      )
      await assert.rejects(
        manager.createTask({ ...input, metadata: JSON.parse('{"__proto__": {"admin": true}}') }),
        naming('metadata.__proto__'),
      )
      await assert.rejects(manager.createTask({ ...input, metadata: nested(5_000) }), ValidationError)
      await assert.rejects(
        manager.createTask({ ...input, metadata: { blob: 'x'.repeat(maxMetadataBytes) } }),
        naming('metadata'),
      )
      assert.deepEqual(calls, [])
      assert.equal(await sessionCount(h), 0)
    })

    it('refuses a --from file entry with a NUL before creating any entry, naming the entry and line', {
      timeout: 10_000,
    }, () => {
      const file = JSON.stringify([
        { prompt: 'First', repository: 'acme/api' },
        { prompt: 'Second\u0000', repository: 'acme/api' },
      ])
      assert.throws(
        () => parseTaskFile(file, 'tasks.json'),
        (error) => {
          assert.ok(error instanceof ValidationError)
          assert.match(error.message, /nothing was created/)
          assert.match(error.message, /entry 2.*prompt contains a NUL character/)
          return true
        },
      )
    })

    it('records the session Jules started when the store failed once, bound to that same session, on retry', {
      timeout: 30_000,
    }, async () => {
      let failures = 1
      const store = h.storage.store
      const failingOnce = new Proxy(store, {
        get(target, property, receiver) {
          if (property === 'createTask' && failures > 0) {
            return async () => {
              failures -= 1
              throw new StorageError('Could not create task in the database /var/lib/jjm/jjm.db: disk I/O error.')
            }
          }
          const value = Reflect.get(target, property, receiver)
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
      const flaky = managerOver(h, jules, failingOnce)
      await assert.rejects(flaky.createTask(input, { idempotencyKey: 'store-once' }))
      const sessions = (await h.simulator.listSessions({ pageSize: 100 })).sessions
      assert.equal(sessions.length, 1)
      const retried = await flaky.createTaskWithOutcome(input, { idempotencyKey: 'store-once' })
      assert.equal(retried.outcome, 'adopted')
      assert.equal(retried.task.sessionName, sessions[0]?.name)
      assert.deepEqual(calls, ['createSession'])
      assert.equal(await sessionCount(h), 1)
      const listed = await h.manager.listTasks()
      assert.deepEqual(
        listed.items.map((task) => task.sessionName),
        [sessions[0]?.name],
      )
    })
  })

  describe('changing a task', () => {
    it('refuses a NUL title and unstorable metadata, leaving the task as it was', { timeout: 30_000 }, async () => {
      const task = await manager.createTask({ ...input, metadata: { ticket: 'OPS-1' } })
      await assert.rejects(manager.updateTask(task.id, { title: 'New\u0000' }), naming('title'))
      await assert.rejects(manager.updateTask(task.id, { metadata: { prototype: 1 } }), naming('metadata.prototype'))
      await assert.rejects(manager.updateTask(task.id, { metadata: nested(5_000) }), ValidationError)
      assert.deepEqual(await manager.getTask(task.id), task)
    })

    it('refuses a change whose merge with the stored metadata outgrows the size limit', {
      timeout: 30_000,
    }, async () => {
      const half = 'x'.repeat(maxMetadataBytes / 2)
      const task = await manager.createTask({ ...input, metadata: { a: half } })
      await assert.rejects(manager.updateTask(task.id, { metadata: { b: half } }), naming('metadata'))
      assert.deepEqual((await manager.getTask(task.id)).metadata, { a: half })
    })
  })

  describe('messages', () => {
    it('refuses a message with a NUL before sending it, so the task keeps syncing', { timeout: 30_000 }, async () => {
      const task = await manager.createTask({ ...input, prompt: 'Work [sim:feedback]' })
      h.clock.advance(12_000)
      await h.monitor.syncOnce()
      await assert.rejects(manager.sendMessage(task.id, 'yes\u0000please'), naming('message'))
      await assert.rejects(manager.resumeTask(task.id, 'go\u0000on'), naming('message'))
      assert.deepEqual(calls, ['createSession'])
      h.clock.advance(5_000)
      const report = await h.monitor.syncOnce()
      assert.deepEqual(report.errors, [])
    })
  })

  describe('lookups and filters', () => {
    it('answers "not found" for an id holding a NUL, without asking the database', { timeout: 10_000 }, async () => {
      await assert.rejects(manager.getTask('abc\u0000def'), TaskNotFoundError)
    })

    it('refuses a search or label filter holding a NUL, naming it', { timeout: 10_000 }, async () => {
      await assert.rejects(manager.listTasks({ search: 'it\u0000now' }), naming('search'))
      await assert.rejects(manager.listTasks({ label: 'a\u0000' }), naming('label'))
      const task = await manager.createTask(input)
      await assert.rejects(manager.getEvents(task.id, { types: ['created', 'x\u0000'] }), naming('types[1]'))
    })
  })
})
