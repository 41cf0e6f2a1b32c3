import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import { loadConfig } from '../../../src/core/config.js'
import { ConfigurationError, InvalidStateError, JulesConnectionError } from '../../../src/core/errors.js'
import type { JulesClient } from '../../../src/core/jules/client.js'
import { type PlanLimits, planLimits, queuePositionOf } from '../../../src/core/plan-quota.js'
import type { Task } from '../../../src/core/task.js'
import { type Harness, openHarness } from './harness.js'

const free: PlanLimits = { plan: 'free', concurrent: 3, daily: 15 }

let harness: Harness | undefined
afterEach(async () => {
  await harness?.close()
  harness = undefined
})

async function open(options: Parameters<typeof openHarness>[0]): Promise<Harness> {
  harness = await openHarness(options)
  return harness
}

function create(h: Harness, title: string, priority?: number): Promise<Task> {
  return h.manager.createTask({
    prompt: `${title}\nin detail`,
    repository: 'acme/api',
    title,
    ...(priority === undefined ? {} : { priority }),
  })
}

async function pendingTitles(h: Harness): Promise<string[]> {
  return (await h.storage.store.listPendingTasks()).map((task) => task.title)
}

describe('plan limits from the configuration', () => {
  it('gives each plan its quotas, lets an explicit limit override the plan’s, and sets none when nothing is set', () => {
    assert.deepEqual(planLimits({ plan: 'free' }), { plan: 'free', concurrent: 3, daily: 15 })
    assert.deepEqual(planLimits({ plan: 'pro' }), { plan: 'pro', concurrent: 15, daily: 100 })
    assert.deepEqual(planLimits({ plan: 'ultra', limits: { daily: 250 } }), {
      plan: 'ultra',
      concurrent: 60,
      daily: 250,
    })
    assert.deepEqual(planLimits({ limits: { concurrent: 2 } }), { plan: null, concurrent: 2, daily: null })
    assert.equal(planLimits({}), undefined)
  })

  describe('loadConfig', () => {
    let root: string
    before(async () => {
      root = await mkdtemp(join(tmpdir(), 'jjm-plan-'))
      await mkdir(join(root, 'config'), { recursive: true })
    })
    after(async () => rm(root, { recursive: true, force: true }))
    const sources = (env: Record<string, string>) => ({ configDir: join(root, 'config'), dataDir: root, env })

    it('reads JJM_JULES_PLAN and the explicit limits from the environment', async () => {
      const config = await loadConfig(sources({ JJM_JULES_PLAN: 'pro', JJM_JULES_LIMITS_CONCURRENT: '5' }))
      assert.equal(config.jules.plan, 'pro')
      assert.deepEqual(planLimits(config.jules), { plan: 'pro', concurrent: 5, daily: 100 })
      assert.equal(planLimits((await loadConfig(sources({}))).jules), undefined, 'unset: no local limit')
    })

    it('refuses an unknown plan and a limit under 1, saying what is expected', async () => {
      await assert.rejects(loadConfig(sources({ JJM_JULES_PLAN: 'gold' })), (error: unknown) => {
        assert.ok(error instanceof ConfigurationError)
        assert.match(error.message, /JJM_JULES_PLAN.*one of free, pro, ultra/)
        return true
      })
      await assert.rejects(loadConfig(sources({ JJM_JULES_LIMITS_DAILY: '0' })), /jules\.limits\.daily.*at least 1/)
    })
  })
})

describe('the local queue under plan quotas', { timeout: 60_000 }, () => {
  it('starts tasks up to the concurrent limit and keeps the rest pending, no session for them', async () => {
    const h = await open({ limits: free })
    const tasks = []
    for (const title of ['one', 'two', 'three', 'four', 'five']) tasks.push(await create(h, title))
    assert.deepEqual(
      tasks.map((task) => task.state),
      ['queued', 'queued', 'queued', 'pending', 'pending'],
    )
    assert.equal(tasks[3]?.sessionName, '')
    assert.equal((await h.jules.listSessions({})).sessions.length, 3, 'Jules ran only three sessions')
    const fourth = await h.manager.showTask(tasks[3]?.id ?? '')
    assert.deepEqual(fourth.queue, {
      position: 1,
      reason: 'concurrent_limit',
      nextSlotAt: null,
      running: 3,
      concurrentLimit: 3,
      startedToday: 3,
      dailyLimit: 15,
    })
    const listed = await h.manager.listTasks({ states: ['pending'] })
    assert.deepEqual(listed.items.map((task) => task.title).sort(), ['five', 'four'])
  })

  it('orders the queue by priority, higher first, then oldest first', async () => {
    const h = await open({ limits: { plan: null, concurrent: 1, daily: null } })
    await create(h, 'running')
    await create(h, 'old low')
    h.clock.advance(1000)
    await create(h, 'urgent', 5)
    h.clock.advance(1000)
    await create(h, 'new low')
    assert.deepEqual(await pendingTitles(h), ['urgent', 'old low', 'new low'])
    const urgent = (await h.storage.store.listPendingTasks())[0]
    assert.equal((await h.manager.showTask(urgent?.id ?? '')).queue?.position, 1)
  })

  it('starts the next pending task when a running session ends, at the monitor pass that sees it end', async () => {
    const h = await open({ limits: { plan: null, concurrent: 2, daily: null }, runSeconds: 20 })
    await create(h, 'a')
    await create(h, 'b')
    const c = await create(h, 'c')
    const quiet = await h.monitor.syncOnce({ force: true })
    assert.equal(quiet.started, undefined, 'no slot is free while a and b run')
    h.clock.advance(25_000)
    const report = await h.monitor.syncOnce({ force: true })
    assert.deepEqual(
      report.started?.map((started) => started.taskId),
      [c.id],
      'c started once a and b completed (one slot would do; the queue had one task)',
    )
    const started = await h.manager.getTask(c.id)
    assert.notEqual(started.sessionName, '')
    assert.equal(started.state, 'queued')
    const events = (await h.manager.getEvents(c.id)).items.map((event) => event.type)
    assert.deepEqual(events.slice().reverse(), ['queued_locally', 'started'])
  })

  it('waits for the rolling day under the daily limit, and says when the next slot frees', async () => {
    const h = await open({ limits: { plan: null, concurrent: null, daily: 2 }, runSeconds: 20 })
    const first = await create(h, 'first')
    h.clock.advance(60_000)
    await create(h, 'second')
    const third = await create(h, 'third')
    const shown = await h.manager.showTask(third.id)
    assert.equal(shown.queue?.reason, 'daily_limit')
    assert.equal(shown.queue?.nextSlotAt, new Date(Date.parse(first.createdAt) + 24 * 3600_000).toISOString())
    h.clock.advance(23 * 3600_000)
    assert.equal((await h.monitor.syncOnce({ force: true })).started, undefined, 'not before 24 h')
    h.clock.advance(3600_000)
    const report = await h.monitor.syncOnce({ force: true })
    assert.deepEqual(
      report.started?.map((started) => started.taskId),
      [third.id],
    )
  })

  it('refuses message, approve, resume, archive and pull on a pending task, keeps `wait` waiting, and deletes it', async () => {
    const h = await open({ limits: { plan: null, concurrent: 1, daily: null }, waitOnClock: true })
    await create(h, 'running')
    const pending = await create(h, 'waiting')
    for (const operation of [
      () => h.manager.sendMessage(pending.id, 'hello'),
      () => h.manager.approvePlan(pending.id),
      () => h.manager.resumeTask(pending.id),
    ]) {
      await assert.rejects(operation(), (error: unknown) => {
        assert.ok(error instanceof InvalidStateError)
        assert.match(error.message, /is pending/)
        return true
      })
    }
    const waited = await h.manager.waitForTask(pending.id, { timeoutMs: 30_000, pollIntervalMs: 10_000 })
    assert.equal(waited.outcome, 'timed_out')
    assert.equal(waited.task.state, 'pending')
    for (const operation of [() => h.manager.archiveTask(pending.id), () => h.manager.getTaskPatch(pending.id)]) {
      await assert.rejects(operation(), (error: unknown) => {
        assert.ok(error instanceof InvalidStateError)
        assert.match(error.message, /is pending: .*no session to (archive|pull) yet/)
        return true
      })
    }
    const sessions = (await h.jules.listSessions({})).sessions.length
    const deleted = await h.manager.deleteTask(pending.id, { remote: true })
    assert.equal(deleted.deleted, true)
    assert.equal((await h.jules.listSessions({})).sessions.length, sessions, 'Jules was not asked to delete anything')
    assert.deepEqual(await pendingTitles(h), [])
  })

  it('queues and starts a task on no repository like any other', async () => {
    const h = await open({ limits: { plan: null, concurrent: 1, daily: null }, runSeconds: 20 })
    await create(h, 'running')
    const repoless = await h.manager.createTask({ prompt: 'Sketch a CLI for the weather', priority: 1 })
    assert.equal(repoless.state, 'pending')
    assert.equal(repoless.repository, '')
    h.clock.advance(25_000)
    const report = await h.monitor.syncOnce({ force: true })
    assert.deepEqual(
      report.started?.map((started) => started.taskId),
      [repoless.id],
    )
    assert.match((await h.manager.getTask(repoless.id)).sessionName, /^sessions\//)
  })

  it('replays a queued create under its key without asking Jules, and gives the task as it stands', async () => {
    const asked: string[] = []
    const h = await open({
      limits: { plan: null, concurrent: 1, daily: null },
      runSeconds: 20,
      jules: (sim) =>
        new Proxy(sim, {
          get(target, name, receiver) {
            const value = Reflect.get(target, name, receiver)
            if (typeof value !== 'function') return value
            return (...args: unknown[]) => {
              asked.push(String(name))
              return value.apply(target, args)
            }
          },
        }),
    })
    await create(h, 'running')
    const input = { prompt: 'Queued under a key', repository: 'acme/api', priority: 2 }
    const first = await h.manager.createTaskWithOutcome(input, { idempotencyKey: 'queued-1' })
    assert.equal(first.task.state, 'pending')
    asked.length = 0
    const replay = await h.manager.createTaskWithOutcome(input, { idempotencyKey: 'queued-1' })
    assert.deepEqual(replay, { task: first.task, outcome: 'replayed' })
    assert.deepEqual(asked, [], 'a replay asks Jules nothing')
    h.clock.advance(25_000)
    await h.monitor.syncOnce({ force: true })
    const later = await h.manager.createTaskWithOutcome(input, { idempotencyKey: 'queued-1' })
    assert.equal(later.outcome, 'replayed')
    assert.equal(later.task.id, first.task.id)
    assert.match(later.task.sessionName, /^sessions\//, 'the replay shows the task started since')
  })

  it('never starts a second session for a pending task whose start lost Jules’ answer: the next start adopts it', async () => {
    let loseNextAnswer = true
    const h = await open({
      limits: { plan: null, concurrent: 1, daily: null },
      jules: (sim) =>
        new Proxy(sim, {
          get(target, name, receiver) {
            if (name !== 'createSession') return Reflect.get(target, name, receiver)
            return async (...args: Parameters<JulesClient['createSession']>) => {
              const session = await target.createSession(...args)
              if (session.prompt?.startsWith('second') && loseNextAnswer) {
                loseNextAnswer = false
                throw new JulesConnectionError('Jules did not answer in time.')
              }
              return session
            }
          },
        }),
      runSeconds: 20,
    })
    await create(h, 'first')
    const second = await create(h, 'second')
    h.clock.advance(25_000)
    const lost = await h.monitor.syncOnce({ force: true })
    assert.equal(lost.started, undefined, 'the answer was lost: the task stays pending')
    assert.equal((await h.manager.getTask(second.id)).state, 'pending')
    // The key stays locked for the Jules timeout and the grace period; then the next pass looks first.
    h.clock.advance(91_000)
    const adopted = await h.monitor.syncOnce({ force: true })
    assert.deepEqual(
      adopted.started?.map((started) => started.taskId),
      [second.id],
    )
    const sessions = (await h.jules.listSessions({})).sessions.filter((session) => session.prompt?.startsWith('second'))
    assert.equal(sessions.length, 1, 'one session for the task, not two')
    assert.equal((await h.manager.getTask(second.id)).sessionName, sessions[0]?.name)
  })
})

describe('queuePositionOf', () => {
  it('numbers the queue from 1 and says a free slot is for the next pass', () => {
    const usage = { running: 1, startedAt: ['2026-11-25T10:00:00.000Z'] }
    assert.equal(queuePositionOf(0, usage, free).reason, 'next_pass')
    assert.equal(queuePositionOf(2, usage, free).reason, 'concurrent_limit')
  })
})
