import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import {
  ExitCode,
  IdempotencyConflictError,
  IdempotencyKeyReusedError,
  JulesConnectionError,
  markJulesDidNotAct,
  RateLimitedError,
  ValidationError,
} from '../../../src/core/errors.js'
import { createIdGenerator } from '../../../src/core/ids.js'
import type { CreateSessionRequest, JulesClient } from '../../../src/core/jules/client.js'
import { creationLeaseMs, JobManager } from '../../../src/core/manager.js'
import { silentLogger, type TaskStore } from '../../../src/core/ports.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { type Harness, openHarness } from './harness.js'

/** The Jules timeout of these tests; with the grace period, a key stays locked 62 s after an uncertain create. */
const julesTimeoutMs = 2_000
const createGraceMs = 60_000
const lockSeconds = 62

/** A JobManager on the harness' simulator and store, through a Jules client and store the test may wrap. */
function managerOver(h: Harness, jules: JulesClient, store: TaskStore = h.storage.store): JobManager {
  return new JobManager({
    jules,
    store,
    clock: h.clock,
    logger: silentLogger,
    newId: createIdGenerator(),
    bus: h.bus,
    julesTimeoutMs,
    createGraceMs,
  })
}

/**
 * A Jules whose sessions.create takes longer than jjm waits: the caller gets
 * a timeout at once, and Jules makes the session only when the test calls
 * `finish()` (after moving the clock on, as Jules would take its time).
 */
function slowCreates(h: Harness): JulesClient & { finish(): Promise<void>; waiting(): number } {
  const inner = createSimClient(h.simulator)
  const late: CreateSessionRequest[] = []
  return {
    ...inner,
    createSession: async (request) => {
      late.push(request)
      throw new JulesConnectionError(
        `Jules at jules.googleapis.com did not answer sessions.create within ${julesTimeoutMs} ms.`,
        { context: { operation: 'sessions.create', timedOut: true } },
      )
    },
    finish: async () => {
      for (const request of late.splice(0)) await inner.createSession(request)
    },
    waiting: () => late.length,
  }
}

/** A Jules client whose createSession loses its answer: Jules starts the session (or not) and the caller sees a timeout. */
function losingAnswers(h: Harness, options: { reachesJules: boolean; times: number }): JulesClient {
  const inner = createSimClient(h.simulator)
  let left = options.times
  return {
    ...inner,
    createSession: async (request) => {
      if (left <= 0) return inner.createSession(request)
      left -= 1
      if (options.reachesJules) await inner.createSession(request)
      throw new JulesConnectionError('Jules did not answer sessions.create within 30 s.')
    },
  }
}

async function sessionCount(h: Harness): Promise<number> {
  return (await h.simulator.listSessions({ pageSize: 100 })).sessions.length
}

const input = { prompt: 'Add retries to the HTTP client', repository: 'acme/api', labels: ['backend'] }

describe('creating a task under an idempotency key', () => {
  let h: Harness
  beforeEach(async () => {
    h = await openHarness()
  })
  afterEach(async () => {
    await h.close()
  })

  it('returns the first task for the same key and starts one session at Jules', async () => {
    const first = await h.manager.createTaskWithOutcome(input, { idempotencyKey: 'deploy-1' })
    h.clock.advance(5_000)
    const again = await h.manager.createTaskWithOutcome(
      { repository: 'acme/api', labels: ['backend'], prompt: '  Add retries to the HTTP client ' },
      { idempotencyKey: 'deploy-1' },
    )
    assert.equal(first.outcome, 'created')
    assert.equal(again.outcome, 'replayed')
    assert.deepEqual(again.task, first.task)
    assert.equal(await sessionCount(h), 1)
    assert.equal((await h.manager.listTasks()).items.length, 1)
  })

  it('refuses the same key with another request as 422, naming the key', async () => {
    await h.manager.createTask(input, { idempotencyKey: 'deploy-2' })
    await assert.rejects(
      h.manager.createTask({ ...input, prompt: 'Something else' }, { idempotencyKey: 'deploy-2' }),
      (error) => {
        assert.ok(error instanceof IdempotencyKeyReusedError)
        assert.equal(error.code, 'JJM_IDEMPOTENCY_KEY_REUSED')
        assert.equal(error.httpStatus, 422)
        assert.equal(error.exitCode, ExitCode.validation)
        assert.match(error.message, /"deploy-2" was already used for another request/)
        return true
      },
    )
    assert.equal(await sessionCount(h), 1)
  })

  it('starts one session when two calls race with one key, and tells the loser to retry later', async () => {
    const inner = createSimClient(h.simulator)
    let openGate = (): void => {}
    const gate = new Promise<void>((resolve) => {
      openGate = resolve
    })
    // The winner waits inside Jules until the loser has been answered: the two calls truly overlap.
    const manager = managerOver(h, {
      ...inner,
      createSession: async (request) => {
        await gate
        return inner.createSession(request)
      },
    })
    const settled = [1, 2].map(() =>
      manager.createTaskWithOutcome(input, { idempotencyKey: 'deploy-race' }).then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      ),
    )
    const first = await Promise.race(settled)
    openGate()
    const both = await Promise.all(settled)

    assert.ok('error' in first, 'the loser is answered while the winner is still at Jules')
    assert.ok(first.error instanceof IdempotencyConflictError)
    assert.equal(first.error.code, 'JJM_IDEMPOTENCY_CONFLICT')
    assert.equal(first.error.httpStatus, 409)
    assert.match(first.error.message, /"deploy-race" is in progress/)
    assert.match(first.error.message, /Retry with the same key after \d+ s/)
    const winners = both.flatMap((outcome) => ('result' in outcome ? [outcome.result] : []))
    assert.equal(winners.length, 1)
    assert.equal(winners[0]?.outcome, 'created')
    assert.equal(await sessionCount(h), 1)

    const retried = await manager.createTaskWithOutcome(input, { idempotencyKey: 'deploy-race' })
    assert.equal(retried.outcome, 'replayed', 'once the winner is done, a retry gets its task')
    assert.equal(retried.task.id, winners[0]?.task.id)
  })

  it('takes over from an attempt that died holding the key once its lease ran out, adopting its session', async () => {
    const inner = createSimClient(h.simulator)
    let reachedJules = (): void => {}
    const reached = new Promise<void>((resolve) => {
      reachedJules = resolve
    })
    // The dying attempt gets its session started, then never answers nor releases the key (a killed process).
    const dying = managerOver(h, {
      ...inner,
      createSession: async (request) => {
        await inner.createSession(request)
        reachedJules()
        return new Promise<never>(() => {})
      },
    })
    void dying.createTask(input, { idempotencyKey: 'deploy-dead' })
    await reached

    h.clock.advance(creationLeaseMs - 1_000)
    await assert.rejects(h.manager.createTask(input, { idempotencyKey: 'deploy-dead' }), IdempotencyConflictError)
    h.clock.advance(1_000)
    const retried = await h.manager.createTaskWithOutcome(input, { idempotencyKey: 'deploy-dead' })
    assert.equal(retried.outcome, 'adopted')
    assert.equal(await sessionCount(h), 1)
    assert.equal(retried.task.sessionName, (await h.simulator.listSessions()).sessions[0]?.name)
  })

  it('adopts the session Jules started when the first answer was lost, so one session exists in all', async () => {
    const flaky = managerOver(h, losingAnswers(h, { reachesJules: true, times: 1 }))
    await assert.rejects(flaky.createTask(input, { idempotencyKey: 'deploy-3' }), (error) => {
      assert.ok(error instanceof JulesConnectionError)
      assert.match(error.message, /Retry with the same idempotency key \("deploy-3"\) after 62 s/)
      return true
    })
    assert.equal(await sessionCount(h), 1, 'Jules started the session although the caller saw a timeout')
    assert.equal((await h.manager.listTasks()).items.length, 0)

    h.clock.advance(lockSeconds * 1000)
    const retried = await flaky.createTaskWithOutcome(input, { idempotencyKey: 'deploy-3' })
    assert.equal(retried.outcome, 'adopted')
    const [session] = (await h.simulator.listSessions()).sessions
    assert.equal(retried.task.sessionName, session?.name)
    assert.equal(await sessionCount(h), 1)

    const replay = await flaky.createTaskWithOutcome(input, { idempotencyKey: 'deploy-3' })
    assert.equal(replay.outcome, 'replayed')
    assert.equal(replay.task.id, retried.task.id)
  })

  it('creates the session on retry when the lost attempt never reached Jules', async () => {
    const flaky = managerOver(h, losingAnswers(h, { reachesJules: false, times: 1 }))
    await assert.rejects(flaky.createTask(input, { idempotencyKey: 'deploy-4' }), JulesConnectionError)
    assert.equal(await sessionCount(h), 0)
    h.clock.advance(lockSeconds * 1000)
    const retried = await flaky.createTaskWithOutcome(input, { idempotencyKey: 'deploy-4' })
    assert.equal(retried.outcome, 'created')
    assert.equal(await sessionCount(h), 1)
  })

  it('never adopts a session that is already another task, even with the same prompt', async () => {
    const other = await h.manager.createTask(input)
    const flaky = managerOver(h, losingAnswers(h, { reachesJules: false, times: 1 }))
    await assert.rejects(flaky.createTask(input, { idempotencyKey: 'deploy-5' }), JulesConnectionError)
    h.clock.advance(lockSeconds * 1000)
    const retried = await flaky.createTaskWithOutcome(input, { idempotencyKey: 'deploy-5' })
    assert.equal(retried.outcome, 'created')
    assert.notEqual(retried.task.sessionName, other.sessionName)
    assert.equal(await sessionCount(h), 2)
  })

  it('never adopts a matching session started well before the first attempt', async () => {
    await h.simulator.createSession({ prompt: input.prompt, sourceContext: { source: 'sources/github/acme/api' } })
    h.clock.advance(2 * 60_000)
    const flaky = managerOver(h, losingAnswers(h, { reachesJules: false, times: 1 }))
    await assert.rejects(flaky.createTask(input, { idempotencyKey: 'deploy-6' }), JulesConnectionError)
    h.clock.advance(lockSeconds * 1000)
    const retried = await flaky.createTaskWithOutcome(input, { idempotencyKey: 'deploy-6' })
    assert.equal(retried.outcome, 'created')
    assert.equal(await sessionCount(h), 2)
  })

  it('records the session of an attempt whose recording failed, without asking Jules for another', async () => {
    let failures = 1
    const store = h.storage.store
    const failingOnce = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'createTask' && failures > 0) {
          return async () => {
            failures -= 1
            throw new Error('database is locked')
          }
        }
        const value = Reflect.get(target, property, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const manager = managerOver(h, createSimClient(h.simulator), failingOnce)
    await assert.rejects(
      manager.createTask(input, { idempotencyKey: 'deploy-7' }),
      /retry with the same idempotency key/,
    )
    const retried = await manager.createTaskWithOutcome(input, { idempotencyKey: 'deploy-7' })
    assert.equal(retried.outcome, 'adopted')
    assert.equal(await sessionCount(h), 1)
    assert.equal((await h.manager.listTasks()).items.length, 1)
  })

  it('keeps the key locked after a create that timed out, answers 409 until Jules can show the session, then adopts it', async () => {
    // Two daemons on one database; Jules takes 4 s to create, jjm waits 2 s.
    const jules = slowCreates(h)
    const first = managerOver(h, jules)
    const second = managerOver(h, createSimClient(h.simulator))

    await assert.rejects(first.createTask(input, { idempotencyKey: 'slow-1' }), (error) => {
      assert.ok(error instanceof JulesConnectionError)
      assert.equal(error.httpStatus, 503)
      assert.match(error.message, /jjm could not tell whether Jules started the session/)
      assert.match(error.message, /Retry with the same idempotency key \("slow-1"\) after 62 s/)
      assert.equal(error.context.retryAfterSeconds, lockSeconds)
      return true
    })
    assert.equal(await sessionCount(h), 0, 'Jules is still making the session')

    await assert.rejects(second.createTask(input, { idempotencyKey: 'slow-1' }), (error) => {
      assert.ok(error instanceof IdempotencyConflictError)
      assert.equal(error.httpStatus, 409)
      assert.equal(error.exitCode, ExitCode.invalidState)
      assert.equal(error.context.retryAfterSeconds, lockSeconds)
      assert.match(error.message, /after 62 s/)
      return true
    })

    h.clock.advance(4_000)
    await jules.finish()
    await assert.rejects(second.createTask(input, { idempotencyKey: 'slow-1' }), (error) => {
      assert.ok(error instanceof IdempotencyConflictError)
      assert.equal(error.context.retryAfterSeconds, lockSeconds - 4, 'the wait counts down')
      return true
    })

    h.clock.advance((lockSeconds - 4) * 1000)
    const retried = await second.createTaskWithOutcome(input, { idempotencyKey: 'slow-1' })
    assert.equal(retried.outcome, 'adopted')
    const sessions = (await h.simulator.listSessions()).sessions
    assert.equal(sessions.length, 1, 'exactly one session at Jules')
    assert.equal(retried.task.sessionName, sessions[0]?.name)
    assert.deepEqual(
      (await h.manager.listTasks()).items.map((task) => task.sessionName),
      [sessions[0]?.name],
    )
  })

  it('looks again before creating when the retry after the lock fails before reaching Jules', async () => {
    const jules = slowCreates(h)
    const first = managerOver(h, jules)
    await assert.rejects(first.createTask(input, { idempotencyKey: 'slow-2' }), JulesConnectionError)
    h.clock.advance(lockSeconds * 1000)

    // Jules still shows nothing, and the retry fails looking up the default branch.
    h.simulator.injectFault({ status: 500, methods: ['sources.get'] })
    const second = managerOver(h, createSimClient(h.simulator))
    await assert.rejects(second.createTask(input, { idempotencyKey: 'slow-2' }), JulesConnectionError)

    await jules.finish()
    const third = await second.createTaskWithOutcome(input, { idempotencyKey: 'slow-2' })
    assert.equal(third.outcome, 'adopted', 'the intent stayed pending, so this retry looked again')
    assert.equal(await sessionCount(h), 1)
  })

  it('adopts the late session even when Jules lists sessions without their prompt', async () => {
    const jules = slowCreates(h)
    await assert.rejects(managerOver(h, jules).createTask(input, { idempotencyKey: 'terse-1' }), JulesConnectionError)
    // An unrelated session on the same repository, made after the attempt began, with another prompt.
    await h.simulator.createSession({ prompt: 'Something else', sourceContext: { source: 'sources/github/acme/api' } })
    h.clock.advance(4_000)
    await jules.finish()
    h.clock.advance((lockSeconds - 4) * 1000)

    const inner = createSimClient(h.simulator)
    const terse: JulesClient = {
      ...inner,
      listSessions: async (request) => {
        const page = await inner.listSessions(request)
        return { ...page, sessions: page.sessions.map((session) => ({ ...session, prompt: '' })) }
      },
    }
    const retried = await managerOver(h, terse).createTaskWithOutcome(input, { idempotencyKey: 'terse-1' })
    assert.equal(retried.outcome, 'adopted')
    const ours = (await h.simulator.listSessions()).sessions.find((session) => session.prompt === input.prompt)
    assert.equal(retried.task.sessionName, ours?.name)
    assert.equal(await sessionCount(h), 2, 'nothing new started')
  })

  it('lets an immediate retry create after Jules refused the create with 400', async () => {
    h.simulator.injectFault({ status: 400, methods: ['sessions.create'] })
    const manager = managerOver(h, createSimClient(h.simulator))
    await assert.rejects(manager.createTask(input, { idempotencyKey: 'refused-1' }), ValidationError)
    const retried = await manager.createTaskWithOutcome(input, { idempotencyKey: 'refused-1' })
    assert.equal(retried.outcome, 'created')
    assert.equal(await sessionCount(h), 1)
  })

  it('lets an immediate retry create after a create that never went out (a connection reset before sending)', async () => {
    const inner = createSimClient(h.simulator)
    let failures = 1
    const manager = managerOver(h, {
      ...inner,
      createSession: async (request) => {
        if (failures-- > 0) {
          throw markJulesDidNotAct(
            new JulesConnectionError('Could not reach Jules at jules.googleapis.com (ECONNRESET).'),
          )
        }
        return inner.createSession(request)
      },
    })
    await assert.rejects(manager.createTask(input, { idempotencyKey: 'unsent-1' }), (error) => {
      assert.ok(error instanceof JulesConnectionError)
      assert.doesNotMatch(error.message, /could not tell/)
      return true
    })
    const retried = await manager.createTaskWithOutcome(input, { idempotencyKey: 'unsent-1' })
    assert.equal(retried.outcome, 'created')
    assert.equal(await sessionCount(h), 1)
  })

  it('keeps the key locked after a 500 from Jules, which may have acted on the create', async () => {
    h.simulator.injectFault({ status: 500, methods: ['sessions.create'] })
    const manager = managerOver(h, createSimClient(h.simulator))
    await assert.rejects(manager.createTask(input, { idempotencyKey: 'five-hundred' }), /could not tell/)
    await assert.rejects(manager.createTask(input, { idempotencyKey: 'five-hundred' }), IdempotencyConflictError)
    h.clock.advance(lockSeconds * 1000)
    assert.equal((await manager.createTaskWithOutcome(input, { idempotencyKey: 'five-hundred' })).outcome, 'created')
    assert.equal(await sessionCount(h), 1)
  })

  it('lets the same key try again after Jules refused it with 429', async () => {
    h.simulator.injectFault({ status: 429, retryAfterSeconds: 0, methods: ['sessions.create'] })
    await assert.rejects(h.manager.createTask(input, { idempotencyKey: 'deploy-8' }), RateLimitedError)
    const retried = await h.manager.createTaskWithOutcome(input, { idempotencyKey: 'deploy-8' })
    assert.equal(retried.outcome, 'created')
    assert.equal(await sessionCount(h), 1)
  })

  it('refuses a key with spaces or of more than 255 characters before calling Jules', async () => {
    await assert.rejects(h.manager.createTask(input, { idempotencyKey: 'two words' }), ValidationError)
    await assert.rejects(h.manager.createTask(input, { idempotencyKey: 'k'.repeat(256) }), ValidationError)
    assert.equal(await sessionCount(h), 0)
  })

  it('creates a task per call without a key, as before', async () => {
    await h.manager.createTask(input)
    await h.manager.createTask(input)
    assert.equal(await sessionCount(h), 2)
  })
})
