import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import { InvalidStateError, OperationFailedError, RateLimitedError } from '../../../src/core/errors.js'
import type { Activity, CreateSessionRequest } from '../../../src/core/jules/client.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { SimApiError, Simulator } from '../../../src/sim/engine.js'
import { MemorySimStateStore } from '../../../src/sim/memory-store.js'

function setup(options: { runSeconds?: number; autoApproveSeconds?: number } = {}) {
  const clock = new ManualClock('2026-01-01T00:00:00.000Z')
  const store = new MemorySimStateStore()
  let next = 0
  const idGenerator = () => `s${++next}`
  const sim = new Simulator({ store, clock, idGenerator, ...options })
  return { clock, store, sim, idGenerator }
}

function request(overrides: Partial<CreateSessionRequest> = {}): CreateSessionRequest {
  return {
    prompt: 'Add a health endpoint',
    sourceContext: { source: 'sources/github/acme/api', githubRepoContext: { startingBranch: 'main' } },
    ...overrides,
  }
}

function kindOf(activity: Activity): string {
  const kinds = [
    'agentMessaged',
    'userMessaged',
    'planGenerated',
    'planApproved',
    'progressUpdated',
    'sessionCompleted',
    'sessionFailed',
  ]
  return kinds.find((kind) => activity[kind] !== undefined) ?? 'unknown'
}

async function kinds(sim: Simulator, name: string): Promise<string[]> {
  return (await sim.listActivities(name)).activities.map(kindOf)
}

async function rejectsWith(promise: Promise<unknown>, httpStatus: number, status: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SimApiError, `expected a SimApiError, got ${String(error)}`)
    assert.equal(error.httpStatus, httpStatus)
    assert.equal(error.status, status)
    return true
  })
}

describe('Simulator', () => {
  it('creates a QUEUED session shaped like a Jules session, without the input-only fields', async () => {
    const { sim } = setup()
    const session = await sim.createSession(request({ requirePlanApproval: true, automationMode: 'AUTO_CREATE_PR' }))
    assert.deepEqual(session, {
      name: 'sessions/s1',
      id: 's1',
      prompt: 'Add a health endpoint',
      sourceContext: { source: 'sources/github/acme/api', githubRepoContext: { startingBranch: 'main' } },
      title: 'Add a health endpoint',
      state: 'QUEUED',
      url: 'https://jules.simulated.invalid/session/s1',
      createTime: '2026-01-01T00:00:00.000Z',
      updateTime: '2026-01-01T00:00:00.000Z',
    })
    assert.deepEqual(await sim.getSession('s1'), session)
  })

  it('refuses an empty prompt and a malformed source with INVALID_ARGUMENT, an unknown source with NOT_FOUND', async () => {
    const { sim } = setup()
    await rejectsWith(sim.createSession(request({ prompt: '  ' })), 400, 'INVALID_ARGUMENT')
    await rejectsWith(sim.createSession(request({ sourceContext: { source: 'nonsense' } })), 400, 'INVALID_ARGUMENT')
    await rejectsWith(
      sim.createSession(request({ sourceContext: { source: 'sources/github/acme/nope' } })),
      404,
      'NOT_FOUND',
    )
  })

  it('accepts the dash form of a source name and emits the documented form', async () => {
    const { sim } = setup()
    const session = await sim.createSession(request({ sourceContext: { source: 'sources/github-acme-web' } }))
    assert.equal(session.sourceContext?.source, 'sources/github/acme/web')
    assert.equal(session.sourceContext?.githubRepoContext?.startingBranch, 'main')
  })

  it('answers NOT_FOUND for an unknown session', async () => {
    const { sim } = setup()
    await rejectsWith(sim.getSession('sessions/nope'), 404, 'NOT_FOUND')
    await rejectsWith(sim.listActivities('sessions/nope'), 404, 'NOT_FOUND')
  })

  it('takes a default session to COMPLETED in runSeconds, each activity once and in creation order', async () => {
    const { sim, clock } = setup({ runSeconds: 20 })
    const { name } = await sim.createSession(request())
    const seen: Activity[] = []
    const states: string[] = []
    for (let second = 0; second <= 20; second++) {
      const session = await sim.getSession(name)
      if (states.at(-1) !== session.state) states.push(session.state)
      // Read twice: a repeated read must not add anything.
      await sim.listActivities(name)
      const { activities } = await sim.listActivities(name)
      assert.deepEqual(activities.slice(0, seen.length), seen, 'earlier activities never change')
      seen.push(...activities.slice(seen.length))
      clock.advance(1000)
    }
    assert.deepEqual(states, ['QUEUED', 'PLANNING', 'IN_PROGRESS', 'COMPLETED'])
    assert.deepEqual(seen.map(kindOf), [
      'planGenerated',
      'planApproved',
      'agentMessaged',
      'progressUpdated',
      'progressUpdated',
      'progressUpdated',
      'progressUpdated',
      'sessionCompleted',
    ])
    assert.equal(new Set(seen.map((activity) => activity.id)).size, seen.length)
    const times = seen.map((activity) => Date.parse(activity.createTime))
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    )
    assert.equal(seen.at(-1)?.createTime, '2026-01-01T00:00:20.000Z')
    assert.ok(seen.every((activity) => activity.name === `${name}/activities/${activity.id}`))
    const bash = seen.filter((activity) => activity.artifacts?.some((artifact) => artifact.bashOutput))
    assert.ok(bash.length >= 2)
    const change = seen.find((activity) => activity.artifacts?.some((artifact) => artifact.changeSet))
    const patch = change?.artifacts?.[0]?.changeSet?.gitPatch
    assert.match(patch?.unidiffPatch ?? '', /^diff --git a\/README\.md/)
    assert.ok(patch?.baseCommitId)
    assert.ok(patch?.suggestedCommitMessage)
    const message = seen.find((activity) => activity.agentMessaged)
    assert.match(message?.agentMessaged?.agentMessage ?? '', /\[simulated\]/)
    const plan = seen[0]?.planGenerated?.plan
    assert.equal(plan?.steps?.length, 3)
    assert.deepEqual(
      plan?.steps?.map((step) => step.index),
      [0, 1, 2],
    )
    assert.equal(seen[1]?.planApproved?.planId, plan?.id)
  })

  it('stamps activities with the time they were due, even when read much later', async () => {
    const { sim, clock } = setup({ runSeconds: 20 })
    const { name } = await sim.createSession(request())
    clock.advance(3_600_000)
    const session = await sim.getSession(name)
    assert.equal(session.state, 'COMPLETED')
    assert.equal(session.updateTime, '2026-01-01T00:00:20.000Z')
    const { activities } = await sim.listActivities(name)
    assert.equal(activities[0]?.createTime, '2026-01-01T00:00:05.000Z')
  })

  it('waits in AWAITING_PLAN_APPROVAL until approvePlan, then runs the rest from the approval time', async () => {
    const { sim, clock } = setup({ runSeconds: 20 })
    const { name } = await sim.createSession(request({ requirePlanApproval: true }))
    clock.advance(300_000)
    assert.equal((await sim.getSession(name)).state, 'AWAITING_PLAN_APPROVAL')
    assert.deepEqual(await kinds(sim, name), ['planGenerated'])
    await sim.approvePlan(name)
    const approved = (await sim.listActivities(name)).activities[1]
    assert.equal(approved?.planApproved?.planId !== undefined, true)
    assert.equal(approved?.originator, 'user')
    assert.equal(approved?.createTime, '2026-01-01T00:05:00.000Z')
    assert.equal((await sim.getSession(name)).state, 'IN_PROGRESS')
    // 0.28 → 1.0 of 20 s is 14.4 s after the approval.
    clock.advance(14_000)
    assert.equal((await sim.getSession(name)).state, 'IN_PROGRESS')
    clock.advance(400)
    assert.equal((await sim.getSession(name)).state, 'COMPLETED')
  })

  it('approves a waiting plan by itself after autoApproveSeconds', async () => {
    const { sim, clock } = setup({ runSeconds: 20, autoApproveSeconds: 60 })
    const { name } = await sim.createSession(request({ requirePlanApproval: true }))
    clock.advance(5_000 + 59_000)
    assert.equal((await sim.getSession(name)).state, 'AWAITING_PLAN_APPROVAL')
    clock.advance(1_000)
    const session = await sim.getSession(name)
    assert.equal(session.state, 'IN_PROGRESS')
    const approved = (await sim.listActivities(name)).activities.find((activity) => activity.planApproved)
    assert.equal(approved?.originator, 'system')
    assert.equal(approved?.createTime, '2026-01-01T00:01:05.000Z')
  })

  it('never approves by itself when autoApproveSeconds is 0', async () => {
    const { sim, clock } = setup({ autoApproveSeconds: 0 })
    const { name } = await sim.createSession(request({ requirePlanApproval: true }))
    clock.advance(86_400_000)
    assert.equal((await sim.getSession(name)).state, 'AWAITING_PLAN_APPROVAL')
  })

  it('refuses to approve a session that is not awaiting plan approval', async () => {
    const { sim, clock } = setup()
    const { name } = await sim.createSession(request())
    await rejectsWith(sim.approvePlan(name), 400, 'FAILED_PRECONDITION')
    clock.advance(10_000)
    await rejectsWith(sim.approvePlan(name), 400, 'FAILED_PRECONDITION')
  })

  it('refuses a message to a terminal session', async () => {
    const { sim, clock } = setup()
    const { name } = await sim.createSession(request())
    clock.advance(60_000)
    await rejectsWith(sim.sendMessage(name, 'one more thing'), 400, 'FAILED_PRECONDITION')
  })

  it('records a message to a running session and the agent acknowledges it', async () => {
    const { sim, clock } = setup()
    const { name } = await sim.createSession(request())
    clock.advance(9_000)
    await sim.sendMessage(name, 'Use port 8080')
    const { activities } = await sim.listActivities(name)
    const user = activities.find((activity) => activity.userMessaged)
    assert.equal(user?.userMessaged?.userMessage, 'Use port 8080')
    assert.equal(user?.originator, 'user')
    assert.equal(user?.createTime, '2026-01-01T00:00:09.000Z')
    clock.advance(60_000)
    assert.equal((await sim.getSession(name)).state, 'COMPLETED')
  })

  it('[sim:fail] fails after being in progress, with a reason', async () => {
    const { sim, clock } = setup({ runSeconds: 20 })
    const { name } = await sim.createSession(request({ prompt: 'Break things [sim:fail]' }))
    clock.advance(9_000)
    assert.equal((await sim.getSession(name)).state, 'IN_PROGRESS')
    clock.advance(3_000)
    const session = await sim.getSession(name)
    assert.equal(session.state, 'FAILED')
    assert.equal(session.title, 'Break things')
    const { activities } = await sim.listActivities(name)
    assert.match(activities.at(-1)?.sessionFailed?.reason ?? '', /\S/)
    assert.equal(session.outputs, undefined)
  })

  it('[sim:feedback] asks a question, replies to the answer, then completes', async () => {
    const { sim, clock } = setup({ runSeconds: 20 })
    const { name } = await sim.createSession(request({ prompt: 'Refactor [sim:feedback]' }))
    clock.advance(11_000)
    assert.equal((await sim.getSession(name)).state, 'AWAITING_USER_FEEDBACK')
    const question = (await sim.listActivities(name)).activities.at(-1)
    assert.match(question?.agentMessaged?.agentMessage ?? '', /\?/)
    clock.advance(3_600_000)
    assert.equal((await sim.getSession(name)).state, 'AWAITING_USER_FEEDBACK')
    await sim.sendMessage(name, 'Only the code')
    assert.equal((await sim.getSession(name)).state, 'IN_PROGRESS')
    clock.advance(9_000)
    assert.equal((await sim.getSession(name)).state, 'COMPLETED')
    const all = await kinds(sim, name)
    const answered = all.indexOf('userMessaged')
    // The agent answers the person (agentMessaged) before it goes on, as Jules does.
    assert.deepEqual(all.slice(answered - 1, answered + 3), [
      'agentMessaged',
      'userMessaged',
      'agentMessaged',
      'progressUpdated',
    ])
    assert.equal(all.at(-1), 'sessionCompleted')
  })

  it('[sim:pause] pauses until a message, then continues', async () => {
    const { sim, clock } = setup({ runSeconds: 20 })
    const { name } = await sim.createSession(request({ prompt: '[sim:pause] Upgrade deps' }))
    clock.advance(10_000)
    assert.equal((await sim.getSession(name)).state, 'PAUSED')
    clock.advance(600_000)
    assert.equal((await sim.getSession(name)).state, 'PAUSED')
    await sim.sendMessage(name, 'Please continue')
    assert.equal((await sim.getSession(name)).state, 'IN_PROGRESS')
    clock.advance(10_000)
    assert.equal((await sim.getSession(name)).state, 'COMPLETED')
  })

  it('[sim:slow] takes five times longer', async () => {
    const { sim, clock } = setup({ runSeconds: 20 })
    const { name } = await sim.createSession(request({ prompt: 'Slowly [sim:slow]' }))
    clock.advance(99_000)
    assert.equal((await sim.getSession(name)).state, 'IN_PROGRESS')
    clock.advance(1_000)
    assert.equal((await sim.getSession(name)).state, 'COMPLETED')
  })

  it('setScenario switches a running session to another script', async () => {
    const { sim, clock } = setup({ runSeconds: 20 })
    const { name } = await sim.createSession(request())
    clock.advance(9_000)
    await sim.setScenario(name, 'fail')
    clock.advance(10_000)
    assert.equal((await sim.getSession(name)).state, 'FAILED')
    await rejectsWith(sim.setScenario(name, 'default'), 400, 'FAILED_PRECONDITION')
  })

  it('setScenario to fail after the failing point ends the session at once', async () => {
    const { sim, clock } = setup({ runSeconds: 20 })
    const { name } = await sim.createSession(request())
    clock.advance(17_000)
    await sim.setScenario(name, 'fail')
    assert.equal((await sim.getSession(name)).state, 'FAILED')
  })

  it('gives a completed session a changeSet output, and a pullRequest too with AUTO_CREATE_PR', async () => {
    const { sim, clock } = setup()
    const withPr = await sim.createSession(request({ automationMode: 'AUTO_CREATE_PR' }))
    const without = await sim.createSession(request())
    clock.advance(19_000)
    assert.equal((await sim.getSession(withPr.name)).outputs, undefined)
    clock.advance(1_000)
    const done = await sim.getSession(withPr.name)
    const pullRequest = done.outputs?.find((output) => output.pullRequest)?.pullRequest
    assert.match(pullRequest?.url ?? '', /^https:\/\/github\.simulated\.invalid\/acme\/api\/pull\/\d+$/)
    assert.equal(pullRequest?.title, done.title)
    assert.match(pullRequest?.description ?? '', /\[simulated\]/)
    assert.equal(pullRequest?.baseRef, 'main')
    assert.match(pullRequest?.headRef ?? '', /^jules\//)
    const changeSet = done.outputs?.find((output) => output.changeSet)?.changeSet
    assert.equal(changeSet?.source, 'sources/github/acme/api')
    assert.match(changeSet?.gitPatch?.unidiffPatch ?? '', /^diff --git /)
    const plain = await sim.getSession(without.name)
    assert.equal(plain.state, 'COMPLETED')
    assert.equal(plain.outputs?.length, 1)
    assert.equal(plain.outputs?.[0]?.pullRequest, undefined)
    assert.match(plain.outputs?.[0]?.changeSet?.gitPatch?.suggestedCommitMessage ?? '', /\[simulated\]/)
  })

  it('pages sessions newest first, without a nextPageToken on the last page', async () => {
    const { sim, clock } = setup()
    for (let index = 0; index < 5; index++) {
      await sim.createSession(request({ prompt: `task ${index}` }))
      clock.advance(1)
    }
    const first = await sim.listSessions({ pageSize: 2 })
    assert.deepEqual(
      first.sessions.map((session) => session.id),
      ['s5', 's4'],
    )
    assert.ok(first.nextPageToken)
    const second = await sim.listSessions({ pageSize: 2, pageToken: first.nextPageToken })
    const third = await sim.listSessions({ pageSize: 2, pageToken: second.nextPageToken })
    assert.deepEqual(
      third.sessions.map((session) => session.id),
      ['s1'],
    )
    assert.equal(third.nextPageToken, undefined)
    assert.equal('nextPageToken' in third, false)
    const all = await sim.listSessions()
    assert.equal(all.sessions.length, 5)
    assert.equal(all.nextPageToken, undefined)
  })

  it('clamps pageSize to 100 and refuses a bad page token', async () => {
    const { sim: busy, clock: busyClock } = setup()
    const session = await busy.createSession(request({ prompt: 'chatty [sim:pause]' }))
    busyClock.advance(10_000)
    for (let index = 0; index < 60; index++) {
      await busy.sendMessage(session.name, `note ${index}`)
    }
    const page = await busy.listActivities(session.name, { pageSize: 500 })
    assert.equal(page.activities.length, 100)
    assert.ok(page.nextPageToken)
    const rest = await busy.listActivities(session.name, { pageSize: 500, pageToken: page.nextPageToken })
    assert.equal(rest.nextPageToken, undefined)
    const total = page.activities.length + rest.activities.length
    assert.equal(new Set([...page.activities, ...rest.activities].map((activity) => activity.id)).size, total)
    await rejectsWith(busy.listActivities(session.name, { pageToken: 'garbage!' }), 400, 'INVALID_ARGUMENT')
    await rejectsWith(busy.listSessions({ pageToken: 'bm9wZQ' }), 400, 'INVALID_ARGUMENT')
    await rejectsWith(busy.listSessions({ pageSize: -1 }), 400, 'INVALID_ARGUMENT')
  })

  it('lists activities created after a time with the create_time filter', async () => {
    const { sim, clock } = setup({ runSeconds: 20 })
    const { name } = await sim.createSession(request())
    clock.advance(60_000)
    const all = (await sim.listActivities(name)).activities
    const cut = all[2]?.createTime ?? ''
    const after = (await sim.listActivities(name, { filter: `create_time>"${cut}"` })).activities
    assert.deepEqual(
      after.map((activity) => activity.id),
      all.slice(3).map((activity) => activity.id),
    )
    await rejectsWith(sim.listActivities(name, { filter: 'state=DONE' }), 400, 'INVALID_ARGUMENT')
  })

  it('gets one activity by name', async () => {
    const { sim, clock } = setup()
    const { name } = await sim.createSession(request())
    clock.advance(60_000)
    const [first] = (await sim.listActivities(name)).activities
    assert.ok(first)
    assert.deepEqual(await sim.getActivity(first.name), first)
    await rejectsWith(sim.getActivity(`${name}/activities/nope`), 404, 'NOT_FOUND')
  })

  it('shares sessions between two simulators over one store, as two processes would', async () => {
    const { sim, clock, store } = setup({ runSeconds: 20 })
    const other = new Simulator({ store, clock, runSeconds: 20 })
    const { name } = await sim.createSession(request({ requirePlanApproval: true }))
    clock.advance(6_000)
    assert.equal((await other.getSession(name)).state, 'AWAITING_PLAN_APPROVAL')
    await other.approvePlan(name)
    assert.equal((await sim.getSession(name)).state, 'IN_PROGRESS')
    clock.advance(60_000)
    const [mine, theirs] = await Promise.all([sim.listActivities(name), other.listActivities(name)])
    assert.deepEqual(mine, theirs)
    assert.equal((await other.listSessions()).sessions.length, 1)
  })

  it('serves the configured sources, paged, and finds one by either name form', async () => {
    const { sim } = setup()
    const { sources } = await sim.listSources()
    const names = sources.map((source) => source.name)
    for (const repo of ['acme/api', 'acme/web', 'acme/infra']) assert.ok(names.includes(`sources/github/${repo}`))
    const page = await sim.listSources({ pageSize: 1 })
    assert.equal(page.sources.length, 1)
    assert.ok(page.nextPageToken)
    assert.equal((await sim.getSource('sources/github-acme-web')).id, 'github/acme/web')
    await rejectsWith(sim.getSource('sources/github/acme/nope'), 404, 'NOT_FOUND')
  })

  it('hands out injected faults in order, per method, count times', () => {
    const { sim } = setup()
    sim.injectFault({ status: 503, count: 2, methods: ['sessions.create'] })
    sim.injectFault({ status: 429, retryAfterSeconds: 7 })
    assert.deepEqual(sim.takeFault('sessions.get'), { status: 429, retryAfterSeconds: 7 })
    assert.equal(sim.takeFault('sessions.get'), undefined)
    assert.deepEqual(sim.takeFault('sessions.create'), { status: 503 })
    assert.deepEqual(sim.takeFault('sessions.create'), { status: 503 })
    assert.equal(sim.takeFault('sessions.create'), undefined)
    sim.injectFault({ status: 500 })
    sim.clearFaults()
    assert.equal(sim.takeFault('sessions.list'), undefined)
  })
})

describe('createSimClient', () => {
  it('maps simulator errors to the JjmErrors the rest adapter gives', async () => {
    const { sim, clock } = setup()
    const client = createSimClient(sim)
    assert.equal(client.kind, 'sim')
    await assert.rejects(client.getSession('sessions/nope'), (error: unknown) => {
      assert.ok(error instanceof OperationFailedError)
      assert.equal(error.code, 'JJM_JULES_NOT_FOUND')
      return true
    })
    const session = await client.createSession(request())
    await assert.rejects(client.approvePlan(session.name), InvalidStateError)
    clock.advance(60_000)
    assert.equal((await client.getSession(session.name)).state, 'COMPLETED')
  })

  it('applies injected faults: 503 twice then success, 429 with retryAfterSeconds, malformed answers', async () => {
    const { sim } = setup()
    const client = createSimClient(sim)
    sim.injectFault({ status: 503, count: 2 })
    await assert.rejects(client.listSources(), { code: 'JJM_JULES_UNAVAILABLE' })
    await assert.rejects(client.listSources(), { code: 'JJM_JULES_UNAVAILABLE' })
    assert.ok((await client.listSources()).sources.length > 0)
    sim.injectFault({ status: 429, retryAfterSeconds: 3, methods: ['sessions.create'] })
    await assert.rejects(client.createSession(request()), (error: unknown) => {
      assert.ok(error instanceof RateLimitedError)
      assert.equal(error.retryAfterSeconds, 3)
      return true
    })
    sim.injectFault({ status: 200, malformed: true, delayMs: 5 })
    await assert.rejects(client.listSessions(), { code: 'JJM_JULES_PROTOCOL' })
    assert.equal((await client.listSessions()).sessions.length, 0)
  })
})
