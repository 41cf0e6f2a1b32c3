import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { InvalidStateError, ValidationError } from '../../../src/core/errors.js'
import { createIdGenerator } from '../../../src/core/ids.js'
import type { JulesClient } from '../../../src/core/jules/client.js'
import { JobManager } from '../../../src/core/manager.js'
import { silentLogger } from '../../../src/core/ports.js'
import type { Task, TaskInput } from '../../../src/core/task.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { type Harness, openHarness } from './harness.js'

const dayMs = 86_400_000

describe('JobManager actions for people who run many sessions', { timeout: 60_000 }, () => {
  let h: Harness

  beforeEach(async () => {
    h = await openHarness({ runSeconds: 20 })
  })
  afterEach(async () => {
    await h.close()
  })

  const create = (input: Partial<TaskInput> = {}) =>
    h.manager.createTask({ prompt: 'Add retries to the HTTP client', repository: 'acme/api', ...input })

  /** Runs every session to its end and records it. */
  async function finishAll(): Promise<void> {
    h.clock.advance(30_000)
    await h.monitor.syncOnce()
  }

  async function eventTypes(task: Task): Promise<string[]> {
    return (await h.storage.store.getEvents(task.id, { limit: 100 })).items.map((event) => event.type)
  }

  /** A manager over a Jules client that has no session actions (as a Jules MCP server may). */
  function managerWithout(): JobManager {
    const { archiveSession: _a, unarchiveSession: _u, deleteSession: _d, ...rest } = createSimClient(h.simulator)
    const jules: JulesClient = rest
    return new JobManager({
      jules,
      store: h.storage.store,
      clock: h.clock,
      logger: silentLogger,
      newId: createIdGenerator(),
    })
  }

  describe('archive and unarchive', () => {
    it('archives the session at Jules and the task in jjm, which lists then hide unless asked', async () => {
      const task = await create()
      const result = await h.manager.archiveTask(task.id, 'archive')
      assert.equal(result.outcome, 'done')
      assert.equal(result.task.archived, true)
      assert.equal((await h.simulator.getSession(task.sessionName)).archived, true, 'archived at Jules')
      assert.deepEqual((await h.manager.listTasks()).items, [])
      assert.deepEqual(
        (await h.manager.listTasks({ archived: true })).items.map((item) => item.id),
        [task.id],
      )
      assert.equal((await h.manager.getTask(task.id)).archived, true, 'a lookup still finds it')
      assert.equal((await eventTypes(task))[0], 'archived')

      const again = await h.manager.archiveTask(task.id, 'archive')
      assert.equal(again.outcome, 'unchanged')

      const back = await h.manager.archiveTask(task.id, 'unarchive')
      assert.equal(back.outcome, 'done')
      assert.notEqual((await h.simulator.getSession(task.sessionName)).archived, true)
      assert.deepEqual(
        (await h.manager.listTasks()).items.map((item) => item.id),
        [task.id],
      )
      assert.equal((await eventTypes(task))[0], 'unarchived')
    })

    it('refuses through a Jules backend without archiving, and changes nothing', async () => {
      const task = await create()
      await assert.rejects(managerWithout().archiveTask(task.id, 'archive'), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'JJM_JULES_UNSUPPORTED')
        assert.match(error.message, /archiving a session is unavailable through the sim Jules backend/)
        return true
      })
      assert.equal((await h.manager.getTask(task.id)).archived, false)
    })
  })

  describe('delete --remote', () => {
    it('deletes the session at Jules, then the task, even when Jules no longer has the session', async () => {
      const first = await create()
      const result = await h.manager.deleteTask(first.id, { remote: true })
      assert.equal(result.session, 'deleted')
      await assert.rejects(h.simulator.getSession(first.sessionName), /not found/i)
      await assert.rejects(h.manager.getTask(first.id), { code: 'JJM_TASK_NOT_FOUND' })
      const history = (await h.storage.store.getEvents(first.id, { limit: 10 })).items.map((event) => event.type)
      assert.deepEqual(history.slice(0, 2), ['deleted', 'session_deleted'])

      const second = await create({ prompt: 'Fix the flaky login test' })
      await h.simulator.deleteSession(second.sessionName)
      // The port reads Jules' 404 as "already gone": the task goes all the same.
      const gone = await h.manager.deleteTask(second.id, { remote: true })
      assert.ok(['deleted', 'already_gone'].includes(gone.session))
      await assert.rejects(h.manager.getTask(second.id), { code: 'JJM_TASK_NOT_FOUND' })
    })

    it('deletes nothing when the Jules backend cannot delete sessions', async () => {
      const task = await create()
      await assert.rejects(managerWithout().deleteTask(task.id, { remote: true }), { code: 'JJM_JULES_UNSUPPORTED' })
      assert.equal((await h.manager.getTask(task.id)).id, task.id)
      assert.equal((await h.simulator.getSession(task.sessionName)).id, task.sessionName.split('/')[1])
    })

    it('leaves the session alone without remote', async () => {
      const task = await create()
      assert.equal((await h.manager.deleteTask(task.id)).session, 'kept')
      assert.equal((await h.simulator.getSession(task.sessionName)).name, task.sessionName)
    })
  })

  describe('bulk actions', () => {
    it('counts and names the old completed tasks in a dry run, then archives them, one failure not stopping the rest', async () => {
      const old = [await create({ prompt: 'one' }), await create({ prompt: 'two' }), await create({ prompt: 'three' })]
      await finishAll()
      h.clock.advance(31 * dayMs)
      const recent = await create({ prompt: 'recent' })
      await finishAll()
      const running = await create({ prompt: 'still running' })
      const updatedBefore = new Date(h.clock.now() - 30 * dayMs).toISOString()
      const selection = { states: ['completed'], updatedBefore }

      const dry = await h.manager.runBulkAction({ action: 'archive', selection, dryRun: true })
      assert.equal(dry.count, 3)
      assert.deepEqual(
        dry.results.map((result) => result.taskId),
        old.map((task) => task.id).reverse(),
      )
      assert.ok(dry.results.every((result) => result.status === 'matched'))
      assert.deepEqual((await h.manager.listTasks({ archived: true })).items, [], 'a dry run changes nothing')

      // One session vanished at Jules: its task fails, the others are archived all the same.
      await h.simulator.deleteSession(old[1]!.sessionName)
      const report = await h.manager.runBulkAction({ action: 'archive', selection })
      assert.equal(report.count, 3)
      assert.equal(report.succeeded, 2)
      assert.equal(report.failed, 1)
      const failed = report.results.find((result) => result.status === 'failed')
      assert.equal(failed?.taskId, old[1]!.id)
      assert.equal(failed?.error?.code, 'JJM_JULES_NOT_FOUND')
      const archived = (await h.manager.listTasks({ archived: true })).items.map((task) => task.id)
      assert.deepEqual(archived, [old[2]!.id, old[0]!.id])
      const shown = (await h.manager.listTasks()).items.map((task) => task.id)
      assert.deepEqual(shown, [running.id, recent.id, old[1]!.id])

      const rerun = await h.manager.runBulkAction({ action: 'archive', selection, dryRun: true })
      assert.equal(rerun.count, 1, 'archive matches only tasks not archived yet')
    })

    it('acts on the tasks given by id and reports an unknown id as failed', async () => {
      const task = await create()
      const report = await h.manager.runBulkAction({
        action: 'archive',
        selection: { taskIds: [task.id, '01NOSUCHTASK0000000000000'] },
      })
      assert.deepEqual(
        report.results.map((result) => [result.taskId, result.status, result.error?.code ?? null]),
        [
          [task.id, 'done', null],
          ['01NOSUCHTASK0000000000000', 'failed', 'JJM_TASK_NOT_FOUND'],
        ],
      )
    })

    it('stops at once with JJM_JULES_UNSUPPORTED when the Jules backend cannot archive', async () => {
      await create({ labels: ['sweep'] })
      await create({ labels: ['sweep'] })
      await assert.rejects(managerWithout().runBulkAction({ action: 'archive', selection: { label: 'sweep' } }), {
        code: 'JJM_JULES_UNSUPPORTED',
      })
      assert.deepEqual((await h.manager.listTasks({ archived: true })).items, [])
    })

    it('never acts on every task by default, nor on ids and a filter at once', async () => {
      await assert.rejects(
        h.manager.runBulkAction({ action: 'archive', selection: {} }),
        (error: unknown) => error instanceof ValidationError && /never acts on every task/.test(error.message),
      )
      await assert.rejects(
        h.manager.runBulkAction({ action: 'delete', selection: { taskIds: ['x'], states: ['completed'] } }),
        ValidationError,
      )
    })

    it('deletes by filter at Jules too, archived tasks included', async () => {
      const a = await create({ prompt: 'a', labels: ['sweep'] })
      const b = await create({ prompt: 'b', labels: ['sweep'] })
      await h.manager.archiveTask(b.id, 'archive')
      const report = await h.manager.runBulkAction({
        action: 'delete',
        selection: { label: 'sweep' },
        remote: true,
      })
      assert.equal(report.succeeded, 2)
      for (const task of [a, b]) await assert.rejects(h.simulator.getSession(task.sessionName), /not found/i)
    })
  })

  describe('the change set', () => {
    it('has none before the agent writes one, and says what to do', async () => {
      const task = await create()
      await assert.rejects(
        h.manager.getTaskPatch(task.id),
        (error: unknown) =>
          error instanceof InvalidStateError &&
          /has no change set yet/.test(error.message) &&
          /tasks wait/.test(error.message),
      )
    })

    it('reads the newest changeSet activity while running, and the outputs once completed', async () => {
      const task = await create()
      h.clock.advance(19_000)
      const running = await h.manager.getTaskPatch(task.id)
      assert.equal(running.from, 'activity')
      assert.match(running.patch, /^diff --git a\/README.md b\/README.md/)
      await finishAll()
      const done = await h.manager.getTaskPatch(task.id)
      assert.equal(done.from, 'outputs')
      assert.equal(done.state, 'completed')
      assert.equal(done.repository, 'acme/api')
      assert.match(done.suggestedCommitMessage ?? '', /\[simulated\]/)
    })
  })

  describe('details', () => {
    it("answers the task's own fields with the view's plan, messages, files and events under details", async () => {
      const task = await create()
      await finishAll()
      const shown = await h.manager.getTaskWithDetails(task.id)
      assert.equal(shown.id, task.id)
      assert.equal(shown.state, 'completed')
      assert.ok(shown.details.plan !== null && shown.details.plan.steps.length > 0)
      assert.ok(shown.details.sourceFiles.some((file) => file.path === 'README.md'))
      assert.ok(shown.details.chatMessages.length > 0)
      assert.equal(shown.details.events[0]?.type, 'completed')
    })
  })
})
