import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import type { JulesClient } from '../../../src/core/jules/client.js'
import { JobManager } from '../../../src/core/manager.js'
import { Monitor } from '../../../src/core/monitor.js'
import { silentLogger } from '../../../src/core/ports.js'
import { JulesThrottle } from '../../../src/core/rate-limit.js'
import { SessionSynchronizer } from '../../../src/core/synchronizer.js'
import { type Harness, openHarness } from './harness.js'

/** A Jules client that runs `before` (once) when the next getSession is called, as if it happened during the sync. */
function interruptingClient(jules: JulesClient, before: { run?: () => Promise<void> }): JulesClient {
  return new Proxy(jules, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      if (property !== 'getSession') return value.bind(target)
      return async (...args: unknown[]) => {
        const answer = await Reflect.apply(value, target, args)
        const run = before.run
        before.run = undefined
        await run?.()
        return answer
      }
    },
  })
}

async function countEvents(h: Harness, taskId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const event of (await h.storage.store.getEvents(taskId, { limit: 200 })).items) {
    counts[event.type] = (counts[event.type] ?? 0) + 1
  }
  return counts
}

describe('SessionSynchronizer', { timeout: 60_000 }, () => {
  let h: Harness
  beforeEach(async () => {
    h = await openHarness({ runSeconds: 20 })
  })
  afterEach(async () => {
    await h.close()
  })

  function synchronizerFor(jules: JulesClient, holder: string, leaseTtlMs?: number): SessionSynchronizer {
    return new SessionSynchronizer({
      jules,
      store: h.storage.store,
      clock: h.clock,
      logger: silentLogger,
      budget: new JulesThrottle({ perMinute: 6000, clock: h.clock, sleep: async (ms) => h.clock.advance(ms) }),
      holder,
      ...(leaseTtlMs === undefined ? {} : { leaseTtlMs }),
      sleep: async (ms) => h.clock.advance(ms),
    })
  }

  it("keeps a person's edit made while a sync reads Jules, and records the sync's changes once", async () => {
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api' })
    h.clock.advance(30_000)
    const during: { run?: () => Promise<void> } = {
      run: async () => {
        await h.manager.updateTask(task.id, { title: 'Renamed mid-sync', addLabels: ['urgent'] })
      },
    }
    const monitor = new Monitor({
      jules: interruptingClient(h.jules, during),
      store: h.storage.store,
      clock: h.clock,
      logger: silentLogger,
      concurrency: 2,
      sleep: async (ms) => h.clock.advance(ms),
    })
    const report = await monitor.syncOnce()
    monitor.close()
    assert.equal(report.changes[0]?.to, 'completed')
    const stored = await h.manager.getTask(task.id)
    assert.equal(stored.title, 'Renamed mid-sync', 'the sync did not revert the edit')
    assert.deepEqual(stored.labels, ['urgent'])
    assert.equal(stored.state, 'completed', 'the edit did not revert the sync')
    const counts = await countEvents(h, task.id)
    assert.equal(counts.completed, 1)
    assert.equal(counts.state_changed, 1)
    assert.equal(counts.updated, 1)
    assert.equal(stored.version, 3, 'created (1), edited (2), synced (3)')
  })

  it('records nothing when its lease ran out and another process took the task over during the sync', async () => {
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api' })
    h.clock.advance(30_000)
    const during: { run?: () => Promise<void> } = {
      run: async () => {
        // The lease (1 ms, by the database's clock) runs out; another process takes the task.
        await new Promise((resolve) => setTimeout(resolve, 20))
        const taken = await h.storage.store.claimSyncLeases([task.id], 'other-daemon', 60_000)
        assert.deepEqual(taken, [task.id])
      },
    }
    const jules = h.jules
    const sync = synchronizerFor(interruptingClient(jules, during), 'slow-daemon', 1)
    const result = await sync.sync(task)
    sync.close()
    assert.equal(result.status, 'lease_lost')
    const stored = await h.manager.getTask(task.id)
    assert.equal(stored.state, 'queued', 'nothing was recorded')
    assert.deepEqual(await countEvents(h, task.id), { created: 1 })
  })

  it('records each transition once when tasks wait and the monitor sync one task at the same time', async () => {
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api', automationMode: 'AUTO_CREATE_PR' })
    const jules = h.jules
    const cli = new JobManager({
      jules,
      store: h.storage.store,
      clock: h.clock,
      logger: silentLogger,
      newId: () => 'unused',
      synchronizer: synchronizerFor(jules, 'cli'),
    })
    for (let step = 0; step < 12; step++) {
      h.clock.advance(2_500)
      await Promise.all([
        h.monitor.syncOnce({ force: true }),
        cli.getTaskDetails(task.id),
        cli.waitForTask(task.id, { timeoutMs: 0 }),
      ])
    }
    const stored = await h.manager.getTask(task.id)
    assert.equal(stored.state, 'completed')
    const counts = await countEvents(h, task.id)
    assert.equal(counts.completed, 1)
    assert.equal(counts.pull_request, 1)
    const transitions = (await h.storage.store.getEvents(task.id, { types: ['state_changed'], limit: 50 })).items
      .map((event) => `${event.data.from}→${event.data.to}`)
      .reverse()
    assert.equal(new Set(transitions).size, transitions.length, `no transition twice: ${transitions.join(', ')}`)
    for (let i = 1; i < transitions.length; i++) {
      assert.equal(transitions[i]?.split('→')[0], transitions[i - 1]?.split('→')[1], 'one unbroken chain of states')
    }
  })

  it('writes no task row on a pass where Jules reports nothing new, and still notes the sync', async () => {
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api', requirePlanApproval: true })
    h.clock.advance(15_000)
    await h.monitor.syncOnce()
    const waiting = await h.manager.getTask(task.id)
    assert.equal(waiting.state, 'awaiting_plan_approval')
    for (let pass = 0; pass < 3; pass++) {
      h.clock.advance(1_000)
      await h.monitor.syncOnce({ force: true })
    }
    const after = await h.manager.getTask(task.id)
    assert.equal(after.version, waiting.version, 'the task row was not written')
    assert.equal(after.updatedAt, waiting.updatedAt)
    assert.ok((after.lastSyncedAt ?? '') > (waiting.lastSyncedAt ?? ''), 'the sync state moved')
  })

  it('records what Jules sends even when a person could not have typed it: a NUL, a constructor key, deep nesting', async () => {
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api' })
    h.clock.advance(30_000)
    let deep: Record<string, unknown> = { bottom: true }
    for (let i = 0; i < 100; i++) deep = { next: deep }
    const odd: JulesClient = new Proxy(h.jules, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver)
        if (typeof value !== 'function') return value
        if (property !== 'listActivities') return value.bind(target)
        return async (...args: unknown[]) => {
          const page = await Reflect.apply(value, target, args)
          const [first, ...rest] = page.activities
          if (first === undefined) return page
          return {
            ...page,
            activities: [
              { name: `${first.name}-odd`, createTime: first.createTime, agentMessaged: { agentMessage: 'a\u0000b' } },
              {
                name: `${first.name}-new-kind`,
                createTime: first.createTime,
                futureThing: { constructor: 'x', __proto__: { polluted: true }, deep },
              },
              first,
              ...rest,
            ],
          }
        }
      },
    })
    const sync = synchronizerFor(odd, 'daemon')
    const result = await sync.sync(task)
    sync.close()
    assert.equal(result.status, 'synced')
    assert.equal(result.task.state, 'completed')
    const messages = (await h.storage.store.listChatMessages(task.id)).items
    assert.ok(
      messages.some((message) => message.text === 'a\uFFFDb'),
      'the NUL became U+FFFD',
    )
    const raw = (await h.storage.store.getEvents(task.id, { types: ['activity'], limit: 10 })).items[0]
    const detail = raw?.data.detail as Record<string, unknown>
    assert.equal(detail._constructor, 'x', 'the reserved key is kept under another name')
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype was polluted')
    assert.match(JSON.stringify(detail.deep), /too deep/)
  })

  it('refuses an edit made against an older version, changing nothing', async () => {
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api' })
    const edited = await h.manager.updateTask(task.id, { title: 'First' }, { expectedVersion: task.version })
    assert.equal(edited.version, task.version + 1)
    await assert.rejects(
      h.manager.updateTask(task.id, { title: 'Second' }, { expectedVersion: task.version }),
      (error: Error & { code?: string; httpStatus?: number }) =>
        error.code === 'JJM_TASK_VERSION_CONFLICT' && error.httpStatus === 412 && /read it again/.test(error.message),
    )
    assert.equal((await h.manager.getTask(task.id)).title, 'First')
  })
})
