import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { InvalidStateError, TaskNotFoundError, ValidationError } from '../../../src/core/errors.js'
import { createIdGenerator } from '../../../src/core/ids.js'
import type { Activity } from '../../../src/core/jules/client.js'
import { JobManager } from '../../../src/core/manager.js'
import { silentLogger, type TaskUpdate } from '../../../src/core/ports.js'
import type { Task, TaskInput } from '../../../src/core/task.js'
import { defaultResumeText } from '../../../src/core/task-operations.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { type Harness, openHarness } from './harness.js'

describe('JobManager task operations', () => {
  let h: Harness
  let manager: JobManager
  let slept: number[]

  beforeEach(async () => {
    h = await openHarness()
    slept = []
    // Waiting moves the test's clock instead of real time.
    manager = new JobManager({
      jules: createSimClient(h.simulator),
      store: h.storage.store,
      clock: h.clock,
      logger: silentLogger,
      newId: createIdGenerator(),
      bus: h.bus,
      sleep: async (ms) => {
        slept.push(ms)
        h.clock.advance(ms)
      },
    })
  })
  afterEach(async () => {
    await h.close()
  })

  const create = (input: Partial<TaskInput> = {}) =>
    manager.createTask({ prompt: 'Add retries to the HTTP client', repository: 'acme/api', ...input })

  async function activities(task: Task): Promise<Activity[]> {
    return (await h.simulator.listActivities(task.sessionName, { pageSize: 100 })).activities
  }

  async function eventTypes(task: Task): Promise<string[]> {
    return (await h.storage.store.getEvents(task.id, { limit: 100 })).items.map((event) => event.type).reverse()
  }

  async function published(work: () => Promise<unknown>): Promise<TaskUpdate[]> {
    const updates: TaskUpdate[] = []
    const unsubscribe = await h.bus.subscribe({}, (update) => updates.push(update))
    await work()
    await unsubscribe()
    return updates
  }

  describe('approvePlan', () => {
    it('approves a plan, records plan_approved by the user and publishes the update', async () => {
      const task = await create({ requirePlanApproval: true })
      h.clock.advance(6_000)
      await h.monitor.syncOnce()
      let result: Awaited<ReturnType<JobManager['approvePlan']>> | undefined
      const updates = await published(async () => {
        result = await manager.approvePlan(task.id.slice(0, 10))
      })
      assert.deepEqual(result, {
        taskId: task.id,
        operation: 'approve',
        state: 'awaiting_plan_approval',
        at: new Date(h.clock.now()).toISOString(),
      })
      const approved = (await activities(task)).find((activity) => activity.planApproved)
      assert.equal(approved?.originator, 'user', 'Jules received the approval')
      const [event] = (await h.storage.store.getEvents(task.id, { types: ['plan_approved'] })).items
      assert.deepEqual(event?.data, { by: 'user' })
      assert.ok(updates.some((update) => update.type === 'plan_approved' && update.taskId === task.id))
    })

    it('refreshes a stale local state from Jules before validating, and records the change as a monitor pass would', async () => {
      const task = await create({ requirePlanApproval: true })
      h.clock.advance(6_000)
      assert.equal((await manager.getTask(task.id)).state, 'queued', 'the local record is stale')
      const result = await manager.approvePlan(task.id)
      assert.equal(result.state, 'awaiting_plan_approval')
      // The one sync path records the plan Jules generated too, not just the state.
      assert.deepEqual(await eventTypes(task), ['created', 'plan_generated', 'state_changed', 'plan_approved'])
      assert.equal((await manager.getTask(task.id)).state, 'awaiting_plan_approval')
    })

    it('refuses to approve a task that is not awaiting plan approval, naming both states, and sends nothing', async () => {
      const task = await create({ requirePlanApproval: true })
      await assert.rejects(manager.approvePlan(task.id), (error) => {
        assert.ok(error instanceof InvalidStateError)
        assert.match(error.message, /is queued/)
        assert.match(error.message, /awaiting_plan_approval/)
        assert.deepEqual(error.context, { taskId: task.id, state: 'queued', wanted: ['awaiting_plan_approval'] })
        return true
      })
      assert.ok(!(await activities(task)).some((activity) => activity.planApproved), 'nothing sent to Jules')
      assert.deepEqual(await eventTypes(task), ['created'])
    })

    it('refuses to approve a completed task and says it has finished', async () => {
      const task = await create()
      h.clock.advance(25_000)
      await h.monitor.syncOnce()
      await assert.rejects(manager.approvePlan(task.id), /is completed.*awaiting_plan_approval.*It has finished/)
    })
  })

  describe('sendMessage', () => {
    it('sends a message, records message_sent and a user chat message, and publishes', async () => {
      const task = await create({ prompt: 'Tidy the docs [sim:feedback]' })
      h.clock.advance(11_000)
      let result: Awaited<ReturnType<JobManager['sendMessage']>> | undefined
      const updates = await published(async () => {
        result = await manager.sendMessage(task.id, '  Only the code, please.  ')
      })
      assert.equal(result?.operation, 'message')
      assert.equal(result?.state, 'awaiting_user_feedback')
      const sent = (await activities(task)).filter((activity) => activity.userMessaged)
      assert.deepEqual(
        sent.map((activity) => activity.userMessaged?.userMessage),
        ['Only the code, please.'],
      )
      const [event] = (await h.storage.store.getEvents(task.id, { types: ['message_sent'] })).items
      assert.deepEqual(event?.data, { text: 'Only the code, please.' })
      const messages = (await h.storage.store.listChatMessages(task.id)).items
      assert.deepEqual(
        messages
          .filter(({ role }) => role === 'user')
          .map(({ role, text, activityId }) => ({ role, text, activityId })),
        [{ role: 'user', text: 'Only the code, please.', activityId: null }],
      )
      assert.ok(
        messages.some(({ role, text }) => role === 'agent' && /Please reply/.test(text)),
        'the question the message answers was recorded by the sync before it',
      )
      assert.ok(updates.some((update) => update.type === 'message_sent'))
      h.clock.advance(1_000)
      assert.equal((await h.simulator.getSession(task.sessionName)).state, 'IN_PROGRESS', 'the agent continued')
    })

    it('sends a message in any active state', async () => {
      const task = await create()
      h.clock.advance(7_000)
      const result = await manager.sendMessage(task.id, 'Also add a changelog entry.')
      assert.equal(result.state, 'in_progress')
    })

    it('refuses to message a finished task, naming its state and the allowed ones, and sends nothing', async () => {
      const task = await create()
      h.clock.advance(25_000)
      await assert.rejects(manager.sendMessage(task.id, 'Hello?'), (error) => {
        assert.ok(error instanceof InvalidStateError)
        assert.match(error.message, /is completed/)
        assert.match(
          error.message,
          /queued, planning, awaiting_plan_approval, awaiting_user_feedback, in_progress, paused/,
        )
        return true
      })
      assert.ok(!(await activities(task)).some((activity) => activity.userMessaged), 'nothing sent to Jules')
      const recorded = await eventTypes(task)
      assert.deepEqual(
        recorded.filter((type) => ['created', 'state_changed', 'completed', 'message_sent'].includes(type)),
        ['created', 'state_changed', 'completed'],
      )
    })

    it('refuses an empty message before asking Jules anything', async () => {
      const task = await create()
      await assert.rejects(manager.sendMessage(task.id, '   '), ValidationError)
      assert.deepEqual(await eventTypes(task), ['created'])
    })
  })

  describe('resumeTask', () => {
    it('resumes a paused task by sending the default text, and records resumed', async () => {
      const task = await create({ prompt: 'Upgrade the build [sim:pause]' })
      h.clock.advance(11_000)
      const result = await manager.resumeTask(task.id)
      assert.equal(result.operation, 'resume')
      assert.equal(result.state, 'paused')
      const sent = (await activities(task)).filter((activity) => activity.userMessaged)
      assert.deepEqual(
        sent.map((activity) => activity.userMessaged?.userMessage),
        [defaultResumeText],
      )
      const [event] = (await h.storage.store.getEvents(task.id, { types: ['resumed'] })).items
      assert.deepEqual(event?.data, { text: defaultResumeText })
      assert.equal((await h.simulator.getSession(task.sessionName)).state, 'IN_PROGRESS')
    })

    it('sends the given text instead of the default one', async () => {
      const task = await create({ prompt: 'Upgrade the build [sim:pause]' })
      h.clock.advance(11_000)
      await manager.resumeTask(task.id, 'Carry on, skip the docs.')
      const sent = (await activities(task)).filter((activity) => activity.userMessaged)
      assert.equal(sent[0]?.userMessaged?.userMessage, 'Carry on, skip the docs.')
    })

    it('refuses to resume a task that is not paused, naming both states, and sends nothing', async () => {
      const task = await create()
      h.clock.advance(7_000)
      await assert.rejects(manager.resumeTask(task.id), (error) => {
        assert.ok(error instanceof InvalidStateError)
        assert.match(error.message, /is in_progress/)
        assert.match(error.message, /paused/)
        return true
      })
      assert.ok(!(await activities(task)).some((activity) => activity.userMessaged), 'nothing sent to Jules')
    })
  })

  describe('updateTask', () => {
    it('changes title, labels and metadata and records one updated event with what changed', async () => {
      const task = await create({ labels: ['backend'], metadata: { team: 'core' } })
      h.clock.advance(1_000)
      const updated = await manager.updateTask(task.id, {
        title: '  Retries for the HTTP client ',
        labels: ['q4', 'urgent', 'q4'],
        metadata: { ticket: 'OPS-12', team: null },
      })
      assert.equal(updated.title, 'Retries for the HTTP client')
      assert.deepEqual(updated.labels, ['q4', 'urgent'])
      assert.deepEqual(updated.metadata, { ticket: 'OPS-12' })
      assert.equal(updated.updatedAt, '2026-11-25T10:00:01.000Z')
      assert.deepEqual(await manager.getTask(task.id), updated)
      const [event] = (await h.storage.store.getEvents(task.id, { types: ['updated'] })).items
      assert.deepEqual(event?.data, {
        title: { from: task.title, to: 'Retries for the HTTP client' },
        labels: { from: ['backend'], to: ['q4', 'urgent'] },
        metadata: { from: { team: 'core' }, to: { ticket: 'OPS-12' } },
      })
      const listed = await manager.listTasks({ label: 'urgent' })
      assert.deepEqual(
        listed.items.map((item) => item.id),
        [task.id],
      )
    })

    it('adds and removes labels without replacing the others', async () => {
      const task = await create({ labels: ['backend', 'later'] })
      const updated = await manager.updateTask(task.id, { addLabels: ['urgent'], removeLabels: ['later'] })
      assert.deepEqual(updated.labels, ['backend', 'urgent'])
    })

    it('records nothing when nothing changes', async () => {
      const task = await create({ labels: ['backend'] })
      const same = await manager.updateTask(task.id, { labels: ['backend'] })
      assert.deepEqual(same, task)
      assert.deepEqual(await eventTypes(task), ['created'])
    })

    it('refuses a bad label, an empty title, no change at all, and replacing and adding labels at once', async () => {
      const task = await create()
      await assert.rejects(manager.updateTask(task.id, { labels: ['no spaces'] }), /Label "no spaces"/)
      await assert.rejects(manager.updateTask(task.id, { title: '  ' }), /title cannot be empty/)
      await assert.rejects(manager.updateTask(task.id, {}), /Nothing to change/)
      await assert.rejects(manager.updateTask(task.id, { labels: ['a'], addLabels: ['b'] }), ValidationError)
      assert.deepEqual(await eventTypes(task), ['created'])
    })
  })

  describe('deleteTask', () => {
    it('hides a deleted task but keeps its history with a deleted event', async () => {
      const task = await create()
      const result = await manager.deleteTask(task.id)
      assert.deepEqual(result, {
        taskId: task.id,
        deleted: true,
        purged: false,
        session: 'kept',
        at: new Date(h.clock.now()).toISOString(),
      })
      await assert.rejects(manager.getTask(task.id), TaskNotFoundError)
      assert.equal((await manager.listTasks()).items.length, 0)
      assert.deepEqual(await eventTypes(task), ['created', 'deleted'])
      const [deleted] = (await h.storage.store.getEvents(task.id, { types: ['deleted'] })).items
      assert.equal(deleted?.at, result.at, "dated by jjm's clock, not the machine's")
    })

    it('removes the history too with purge', async () => {
      const task = await create()
      const result = await manager.deleteTask(task.id, { purge: true })
      assert.equal(result.purged, true)
      await assert.rejects(manager.getTask(task.id), TaskNotFoundError)
      assert.deepEqual(await eventTypes(task), [])
    })

    it('says a task that is gone is not found', async () => {
      const task = await create()
      await manager.deleteTask(task.id)
      await assert.rejects(manager.deleteTask(task.id), TaskNotFoundError)
    })
  })

  describe('waitForTask', () => {
    it('polls until the task completes, recording the changes, and reports each look', async () => {
      const task = await create({ automationMode: 'AUTO_CREATE_PR' })
      const seen: string[] = []
      const result = await manager.waitForTask(task.id, {
        pollIntervalMs: 5_000,
        onProgress: (current) => seen.push(current.state),
      })
      assert.equal(result.outcome, 'reached')
      assert.equal(result.task.state, 'completed')
      assert.ok(result.task.pullRequest?.url, 'the pull request is recorded')
      assert.deepEqual(seen, ['queued', 'planning', 'in_progress', 'in_progress', 'completed'])
      assert.deepEqual(slept, [5_000, 5_000, 5_000, 5_000])
      assert.equal((await manager.getTask(task.id)).state, 'completed')
      assert.ok((await eventTypes(task)).includes('completed'))
    })

    it('reaches any of several states', async () => {
      const task = await create({ requirePlanApproval: true })
      const result = await manager.waitForTask(task.id, {
        until: ['awaiting_plan_approval', 'completed'],
        pollIntervalMs: 1_000,
      })
      assert.equal(result.outcome, 'reached')
      assert.equal(result.task.state, 'awaiting_plan_approval')
    })

    it('says failed when the task fails, with the reason recorded', async () => {
      const task = await create({ prompt: 'Break it [sim:fail]' })
      const result = await manager.waitForTask(task.id, { pollIntervalMs: 5_000 })
      assert.equal(result.outcome, 'failed')
      const [event] = (await h.storage.store.getEvents(task.id, { types: ['failed'] })).items
      assert.match(String(event?.data.reason), /test suite kept failing/)
    })

    it('says needs_person when the task waits for a person it was not waited for', async () => {
      const task = await create({ requirePlanApproval: true })
      const result = await manager.waitForTask(task.id, { pollIntervalMs: 2_000 })
      assert.equal(result.outcome, 'needs_person')
      assert.equal(result.task.state, 'awaiting_plan_approval')
    })

    it('says ended when the task finishes in a state it was not waited for', async () => {
      const task = await create()
      const result = await manager.waitForTask(task.id, { until: ['awaiting_plan_approval'], pollIntervalMs: 5_000 })
      assert.equal(result.outcome, 'ended')
      assert.equal(result.task.state, 'completed')
    })

    it('times out, never sleeping past the deadline', async () => {
      const task = await create({ prompt: 'Take your time [sim:slow]' })
      const result = await manager.waitForTask(task.id, { timeoutMs: 12_000, pollIntervalMs: 5_000 })
      assert.equal(result.outcome, 'timed_out')
      assert.deepEqual(slept, [5_000, 5_000, 2_000])
      assert.ok(!['completed', 'failed'].includes(result.task.state))
    })

    it('answers at once for a task already in the state, without sleeping', async () => {
      const task = await create()
      h.clock.advance(25_000)
      const result = await manager.waitForTask(task.id, { timeoutMs: 0 })
      assert.equal(result.outcome, 'reached')
      assert.deepEqual(slept, [])
    })

    it('keeps waiting through a passing Jules outage', async () => {
      const task = await create()
      h.simulator.injectFault({ status: 503, count: 1, methods: ['sessions.get'] })
      const result = await manager.waitForTask(task.id, { pollIntervalMs: 10_000 })
      assert.equal(result.outcome, 'reached')
    })

    it('refuses an unknown state to wait for', async () => {
      const task = await create()
      await assert.rejects(manager.waitForTask(task.id, { until: ['done'] }), /Unknown state "done"/)
    })
  })

  describe('getTaskDetails', () => {
    it('gives the plan, the latest five messages, the changed files and recent events', async () => {
      const task = await create()
      const { store } = h.storage
      await store.logEvent(task.id, {
        type: 'plan_generated',
        data: { plan: { steps: [{ title: 'Explore', description: 'Read the code' }, { title: 'Change' }] } },
      })
      await store.addChatMessages(
        task.id,
        Array.from({ length: 7 }, (_, index) => ({
          role: index % 2 === 0 ? ('agent' as const) : ('user' as const),
          text: `message ${index}`,
          activityId: `a${index}`,
          at: new Date(h.clock.now() + index * 1000).toISOString(),
        })),
      )
      await store.setSourceFiles(task.id, [{ path: 'src/index.ts', changeType: 'modified' }])
      const details = await manager.getTaskDetails(task.id)
      assert.equal(details.task.id, task.id)
      assert.deepEqual(details.plan?.steps, [
        { title: 'Explore', description: 'Read the code' },
        { title: 'Change', description: '' },
      ])
      assert.deepEqual(
        details.chatMessages.map((message) => message.text),
        ['message 2', 'message 3', 'message 4', 'message 5', 'message 6'],
      )
      assert.deepEqual(details.sourceFiles, [{ taskId: task.id, path: 'src/index.ts', changeType: 'modified' }])
      assert.deepEqual(
        details.events.map((event) => event.type),
        ['plan_generated', 'created'],
      )
    })
  })
})
