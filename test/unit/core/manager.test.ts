import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { TaskNotFoundError, ValidationError } from '../../../src/core/errors.js'
import { type Harness, openHarness } from './harness.js'

describe('JobManager', () => {
  let h: Harness
  beforeEach(async () => {
    h = await openHarness()
  })
  afterEach(async () => {
    await h.close()
  })

  it('creates a Jules session and records the task with a created event', async () => {
    const task = await h.manager.createTask({
      prompt: '  Add retries to the HTTP client  ',
      repository: 'acme/api',
      labels: ['backend', 'backend', ' q4 '],
      requirePlanApproval: true,
      automationMode: 'AUTO_CREATE_PR',
    })
    assert.equal(task.prompt, 'Add retries to the HTTP client')
    assert.equal(task.source, 'sources/github/acme/api')
    assert.equal(task.state, 'queued')
    assert.equal(task.requirePlanApproval, true)
    assert.equal(task.automationMode, 'AUTO_CREATE_PR')
    assert.deepEqual(task.labels, ['backend', 'q4'])
    assert.equal(task.createdAt, '2026-11-25T10:00:00.000Z')
    const session = await h.simulator.getSession(task.sessionName)
    assert.equal(session.prompt, 'Add retries to the HTTP client')
    assert.deepEqual(await h.manager.getTask(task.id), task)
    const events = await h.manager.getEvents(task.id)
    assert.deepEqual(
      events.items.map((event) => event.type),
      ['created'],
    )
  })

  it('starts from the repository default branch unless told otherwise', async () => {
    const onDefault = await h.manager.createTask({ prompt: 'x', repository: 'acme/api' })
    const source = await h.simulator.getSource('sources/github/acme/api')
    assert.equal(onDefault.branch, source.githubRepo?.defaultBranch?.displayName)
    const onBranch = await h.manager.createTask({ prompt: 'x', repository: 'acme/api', branch: 'release/2' })
    assert.equal(onBranch.branch, 'release/2')
  })

  it('refuses a repository Jules cannot work on, pointing at jjm sources list', async () => {
    await assert.rejects(h.manager.createTask({ prompt: 'x', repository: 'nobody/nothing' }), (error) => {
      assert.ok(error instanceof ValidationError)
      assert.match(error.message, /jjm sources list/)
      return true
    })
    assert.equal((await h.manager.listTasks()).items.length, 0, 'nothing recorded')
  })

  it('refuses an empty prompt, a branch without a repository and a bad label before calling Jules', async () => {
    await assert.rejects(h.manager.createTask({ prompt: '  ', repository: 'acme/api' }), /needs a prompt/)
    await assert.rejects(h.manager.createTask({ prompt: 'x', branch: 'develop' }), /--repo owner\/repo/)
    await assert.rejects(h.manager.createTask({ prompt: 'x', repository: 'acme/api', labels: ['no spaces'] }), /Label/)
    assert.equal((await h.simulator.listSessions()).sessions.length, 0, 'no session launched')
  })

  it('creates a task on no repository: no sourceContext at Jules, empty repository, source and branch', async () => {
    const task = await h.manager.createTask({ prompt: 'Write a haiku about queues' })
    assert.deepEqual([task.repository, task.source, task.branch], ['', '', ''])
    assert.equal((await h.simulator.getSession(task.sessionName)).sourceContext, undefined)
  })

  it('finds a task by id, session name, bare session id and unique prefix', async () => {
    const task = await h.manager.createTask({ prompt: 'x', repository: 'acme/api' })
    const sessionId = task.sessionName.slice('sessions/'.length)
    for (const ref of [
      task.id,
      task.sessionName,
      sessionId,
      task.id.slice(0, 10),
      task.id.slice(0, 10).toLowerCase(),
    ]) {
      assert.equal((await h.manager.getTask(ref)).id, task.id, `ref ${ref}`)
    }
    await assert.rejects(h.manager.getTask('ZZZZZZZZZZ'), TaskNotFoundError)
    await assert.rejects(h.manager.getTask(task.id.slice(0, 2)), /at least 4 characters/)
  })

  it('lists with filters and refuses an unknown state by naming the valid ones', async () => {
    await h.manager.createTask({ prompt: 'api work', repository: 'acme/api', labels: ['a'] })
    h.clock.advance(1000)
    await h.manager.createTask({ prompt: 'web work', repository: 'acme/web', labels: ['b'] })
    assert.deepEqual(
      (await h.manager.listTasks()).items.map((task) => task.repository),
      ['acme/web', 'acme/api'],
    )
    assert.equal((await h.manager.listTasks({ repository: 'acme/api' })).items.length, 1)
    assert.equal((await h.manager.listTasks({ label: 'b' })).items[0]?.repository, 'acme/web')
    await assert.rejects(h.manager.listTasks({ states: ['done'] }), /Use one of: queued, planning/)
  })

  it('lists the sources Jules offers', async () => {
    const page = await h.manager.listSources()
    assert.ok(page.items.some((source) => source.repository === 'acme/api'))
  })
})
