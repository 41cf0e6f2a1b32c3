import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import { OperationFailedError } from '../../../src/core/errors.js'
import type { CreateSessionRequest } from '../../../src/core/jules/client.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { SimApiError, Simulator } from '../../../src/sim/engine.js'
import { MemorySimStateStore } from '../../../src/sim/memory-store.js'

// The parts of the simulator that follow the Jules API of today: sessions on
// no repository, change sets in outputs, archive/unarchive/delete, list
// filters and page sizes, and the ways the live API lags behind itself.

function setup(options: { runSeconds?: number; activitiesNotFoundSeconds?: number } = {}) {
  const clock = new ManualClock('2026-01-01T00:00:00.000Z')
  let next = 0
  const sim = new Simulator({ store: new MemorySimStateStore(), clock, idGenerator: () => `s${++next}`, ...options })
  return { clock, sim }
}

const onApi: CreateSessionRequest = {
  prompt: 'Add a health endpoint',
  sourceContext: { source: 'sources/github/acme/api', githubRepoContext: { startingBranch: 'main' } },
}

async function rejectsWith(promise: Promise<unknown>, httpStatus: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof SimApiError && error.httpStatus === httpStatus)
}

describe('Simulator: the Jules API of today', () => {
  it('runs a session without a repository to a change set and no pull request', async () => {
    const { sim, clock } = setup()
    const created = await sim.createSession({ prompt: 'Write a haiku about queues', automationMode: 'AUTO_CREATE_PR' })
    assert.equal(created.sourceContext, undefined)
    clock.advance(20_000)
    const done = await sim.getSession(created.name)
    assert.equal(done.state, 'COMPLETED')
    assert.equal(done.outputs?.length, 1)
    const changeSet = done.outputs?.[0]?.changeSet
    assert.equal(changeSet?.source, undefined)
    assert.match(changeSet?.gitPatch?.unidiffPatch ?? '', /^diff --git /)
    assert.match(changeSet?.gitPatch?.suggestedCommitMessage ?? '', /haiku/)
    assert.match(changeSet?.gitPatch?.baseCommitId ?? '', /^[0-9a-f]{40}$/)
  })

  it('keeps workingBranch and environmentVariablesEnabled, and names the pull request branches', async () => {
    const { sim, clock } = setup()
    const created = await sim.createSession({
      ...onApi,
      sourceContext: { ...onApi.sourceContext, source: 'sources/github/acme/api', workingBranch: 'feature/health' },
      automationMode: 'AUTO_CREATE_PR',
    })
    assert.equal(created.sourceContext?.workingBranch, 'feature/health')
    clock.advance(20_000)
    const pullRequest = (await sim.getSession(created.name)).outputs?.find((output) => output.pullRequest)?.pullRequest
    assert.equal(pullRequest?.baseRef, 'main')
    assert.equal(pullRequest?.headRef, 'feature/health')
    const withEnv = await sim.createSession({
      ...onApi,
      sourceContext: { source: 'sources/github/acme/api', environmentVariablesEnabled: true },
    })
    assert.equal(withEnv.sourceContext?.environmentVariablesEnabled, true)
  })

  it('hides archived sessions from the list unless the filter asks for them', async () => {
    const { sim, clock } = setup()
    const kept = await sim.createSession(onApi)
    clock.advance(1)
    const archived = await sim.createSession(onApi)
    await sim.archiveSession(archived.name)
    await sim.archiveSession(archived.name)
    assert.deepEqual(
      (await sim.listSessions()).sessions.map((session) => session.id),
      [kept.id],
    )
    const onlyArchived = await sim.listSessions({ filter: 'archived = true' })
    assert.deepEqual(
      onlyArchived.sessions.map((session) => [session.id, session.archived]),
      [[archived.id, true]],
    )
    assert.equal((await sim.getSession(archived.name)).archived, true)
    await sim.unarchiveSession(archived.name)
    assert.equal((await sim.listSessions()).sessions.length, 2)
    await rejectsWith(sim.listSessions({ filter: 'state = COMPLETED' }), 400)
  })

  it('deletes a session: it answers 404 from then on; the sim adapter treats a second delete as done', async () => {
    const { sim } = setup()
    const created = await sim.createSession(onApi)
    await sim.deleteSession(created.name)
    await rejectsWith(sim.getSession(created.name), 404)
    await rejectsWith(sim.listActivities(created.name), 404)
    await rejectsWith(sim.deleteSession(created.name), 404)
    assert.deepEqual((await sim.listSessions()).sessions, [])
    const client = createSimClient(sim)
    await client.deleteSession?.(created.name)
    await assert.rejects(client.getSession(created.name), (error: unknown) => {
      return error instanceof OperationFailedError && error.code === 'JJM_JULES_NOT_FOUND'
    })
  })

  it('filters sources by name, joined by OR, and refuses a filter it cannot read', async () => {
    const { sim } = setup()
    const page = await sim.listSources({ filter: 'name=sources/github/acme/api OR name = "sources/github/acme/web"' })
    assert.deepEqual(
      page.sources.map((source) => source.name),
      ['sources/github/acme/api', 'sources/github/acme/web'],
    )
    await rejectsWith(sim.listSources({ filter: 'owner=acme' }), 400)
  })

  it('pages sessions by 30 and activities by 50 by default, and clips a page size above 100', async () => {
    const { sim, clock } = setup({ runSeconds: 20 })
    for (let index = 0; index < 105; index++) await sim.createSession(onApi)
    assert.equal((await sim.listSessions()).sessions.length, 30)
    const clipped = await sim.listSessions({ pageSize: 500 })
    assert.equal(clipped.sessions.length, 100)
    assert.ok(clipped.nextPageToken)
    await rejectsWith(sim.listSessions({ pageSize: -1 }), 400)
    // Activities: a long conversation gives more than 50.
    const { name } = await sim.createSession({ ...onApi, prompt: '[sim:pause] Upgrade deps' })
    clock.advance(10_000)
    for (let index = 0; index < 30; index++) await sim.sendMessage(name, `note ${index}`)
    const activities = await sim.listActivities(name)
    assert.equal(activities.activities.length, 50)
    assert.ok(activities.nextPageToken)
  })

  it('[sim:late] answers 404 for activities just after the create, then lists them', async () => {
    const { sim, clock } = setup()
    const { name } = await sim.createSession({ ...onApi, prompt: 'Add a health endpoint [sim:late]' })
    await rejectsWith(sim.listActivities(name), 404)
    assert.equal((await sim.getSession(name)).state, 'QUEUED')
    clock.advance(5_000)
    assert.ok((await sim.listActivities(name)).activities.length > 0)
    // The option turns the same window on for every session.
    const everyone = setup({ activitiesNotFoundSeconds: 2 })
    const plain = await everyone.sim.createSession(onApi)
    await rejectsWith(everyone.sim.listActivities(plain.name), 404)
    everyone.clock.advance(2_000)
    assert.deepEqual((await everyone.sim.listActivities(plain.name)).activities, [])
  })

  it('[sim:linger] shows IN_PROGRESS for a while after its sessionCompleted activity', async () => {
    const { sim, clock } = setup({ runSeconds: 20 })
    const { name } = await sim.createSession({ ...onApi, prompt: 'Add a health endpoint [sim:linger]' })
    clock.advance(20_000)
    assert.ok((await sim.listActivities(name)).activities.some((activity) => activity.sessionCompleted))
    const lingering = await sim.getSession(name)
    assert.equal(lingering.state, 'IN_PROGRESS')
    assert.equal(lingering.outputs, undefined)
    clock.advance(2_000)
    const done = await sim.getSession(name)
    assert.equal(done.state, 'COMPLETED')
    assert.ok(done.outputs?.some((output) => output.changeSet))
  })
})
