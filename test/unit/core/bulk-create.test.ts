import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createMany, parseTaskFile } from '../../../src/core/bulk-create.js'
import { JulesConnectionError, ValidationError } from '../../../src/core/errors.js'
import { createIdGenerator } from '../../../src/core/ids.js'
import type { JulesClient } from '../../../src/core/jules/client.js'
import { createRestClient } from '../../../src/core/jules/rest.js'
import { JobManager } from '../../../src/core/manager.js'
import { silentLogger } from '../../../src/core/ports.js'
import { JulesThrottle } from '../../../src/core/rate-limit.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { startSimServer } from '../../../src/sim/http.js'
import { type Harness, openHarness } from './harness.js'

const fiveWithOneBad = `
# Four good tasks and one on a repository Jules is not installed on.
- prompt: Add retries to the HTTP client
  repo: acme/api
  labels: [backend]
- prompt: Fix the flaky login test
  repository: acme/web
  requirePlanApproval: true
- prompt: Bump Terraform providers
  source: sources/github/acme/infra
  automationMode: AUTO_CREATE_PR
- prompt: Nobody can work here
  repo: nobody/nothing
- prompt: |
    Update the release notes.
    Keep them short.
  repo: acme/mobile
  title: Release notes
`

function managerOver(h: Harness, jules: JulesClient): JobManager {
  return new JobManager({
    jules,
    store: h.storage.store,
    clock: h.clock,
    logger: silentLogger,
    newId: createIdGenerator(),
    bus: h.bus,
  })
}

/** Records every call of `method` that reaches the simulator (over HTTP or in process), faulted or not. */
function countCalls(h: Harness, method: string, onCall?: () => void): string[] {
  const calls: string[] = []
  const takeFault = h.simulator.takeFault.bind(h.simulator)
  h.simulator.takeFault = (called) => {
    if (called === method) {
      calls.push(called)
      onCall?.()
    }
    return takeFault(called)
  }
  return calls
}

async function sessionCount(h: Harness): Promise<number> {
  return (await h.simulator.listSessions({ pageSize: 100 })).sessions.length
}

describe('reading a task file', () => {
  it('reads a YAML list, taking repo for repository and keeping the file order and lines', () => {
    const entries = parseTaskFile(fiveWithOneBad, 'tasks.yaml')
    assert.equal(entries.length, 5)
    assert.deepEqual(entries[0], {
      index: 1,
      line: 3,
      input: { prompt: 'Add retries to the HTTP client', repository: 'acme/api', labels: ['backend'] },
    })
    assert.equal(entries[2]?.input.source, 'sources/github/acme/infra')
    assert.equal(entries[2]?.input.automationMode, 'AUTO_CREATE_PR')
    assert.equal(entries[4]?.input.prompt, 'Update the release notes.\nKeep them short.\n')
  })

  it('reads JSON holding the list under "tasks", with an explicit idempotency key', () => {
    const entries = parseTaskFile(
      JSON.stringify({ tasks: [{ prompt: 'x', repository: 'acme/api', idempotencyKey: 'release-7' }] }),
      'tasks.json',
    )
    assert.equal(entries[0]?.idempotencyKey, 'release-7')
    assert.deepEqual(entries[0]?.input, { prompt: 'x', repository: 'acme/api' })
  })

  it('refuses an unknown field, naming the entry and the field, before anything is created', () => {
    assert.throws(
      () => parseTaskFile('- prompt: x\n  repo: acme/api\n- promt: y\n  repo: acme/web\n', 'tasks.yaml'),
      (error) => {
        assert.ok(error instanceof ValidationError)
        assert.match(error.message, /entry 2 \(line 3\): unknown field "promt"/)
        assert.match(error.message, /nothing was created/)
        return true
      },
    )
  })

  it('refuses a number where a string belongs and asks to quote it', () => {
    assert.throws(
      () => parseTaskFile('- prompt: x\n  repo: acme/api\n  branch: 2024\n', 'tasks.yaml'),
      /"branch" must be a string, got number 2024 \(quote it\)/,
    )
  })

  it('refuses bad YAML with the line and column of the problem', () => {
    assert.throws(
      () => parseTaskFile('- prompt: x\n  repo: acme/api\n - prompt: [unclosed\n', 'tasks.yaml'),
      (error) => {
        assert.ok(error instanceof ValidationError)
        assert.match(error.message, /^tasks\.yaml:\d+:\d+: .*\(line \d+, column \d+\)$/)
        assert.equal(typeof error.context.line, 'number')
        assert.equal(typeof error.context.column, 'number')
        return true
      },
    )
  })

  it('refuses a file that is not a list of tasks, or an empty one', () => {
    assert.throws(() => parseTaskFile('prompt: x\nrepo: acme/api\n', 'tasks.yaml'), /expected a list of tasks/)
    assert.throws(() => parseTaskFile('tasks: []\n', 'tasks.yaml'), /empty/)
    assert.throws(() => parseTaskFile('- just a string\n', 'tasks.yaml'), /entry 1 \(line 1\): expected a mapping/)
  })
})

describe('creating the tasks of a file', () => {
  let h: Harness
  beforeEach(async () => {
    h = await openHarness()
  })
  afterEach(async () => {
    await h.close()
  })

  it('creates the good entries, lists the bad one, and creates nothing twice when run again', async () => {
    const entries = parseTaskFile(fiveWithOneBad, 'tasks.yaml')
    const progress: number[] = []
    const first = await createMany(h.manager, entries, {
      sourceName: '/work/tasks.yaml',
      onProgress: ({ done }) => progress.push(done),
    })
    assert.equal(first.created.length, 4)
    assert.equal(first.replayed.length, 0)
    assert.deepEqual(
      first.failed.map((failure) => [failure.index, failure.line, failure.repository, failure.code]),
      [[4, 12, 'nobody/nothing', 'JJM_VALIDATION']],
    )
    assert.match(first.failed[0]?.message ?? '', /jjm sources list/)
    assert.deepEqual(
      first.created.map((task) => task.repository),
      ['acme/api', 'acme/web', 'acme/infra', 'acme/mobile'],
    )
    assert.deepEqual(progress, [1, 2, 3, 4, 5])
    assert.equal(await sessionCount(h), 4)

    h.clock.advance(60_000)
    const again = await createMany(h.manager, parseTaskFile(fiveWithOneBad, 'tasks.yaml'), {
      sourceName: '/work/tasks.yaml',
    })
    assert.equal(again.created.length, 0)
    assert.deepEqual(
      again.replayed.map((task) => task.id),
      first.created.map((task) => task.id),
    )
    assert.deepEqual(
      again.failed.map((failure) => failure.index),
      [4],
    )
    assert.equal(await sessionCount(h), 4)
  })

  it('creates only the new entry when one is added to the file', async () => {
    const before = '- prompt: one\n  repo: acme/api\n- prompt: two\n  repo: acme/web\n'
    await createMany(h.manager, parseTaskFile(before, 'tasks.yaml'), { sourceName: '/work/tasks.yaml' })
    const after = `- prompt: zero\n  repo: acme/infra\n${before}`
    const result = await createMany(h.manager, parseTaskFile(after, 'tasks.yaml'), { sourceName: '/work/tasks.yaml' })
    assert.deepEqual(
      result.outcomes.map((outcome) => outcome.status),
      ['created', 'replayed', 'replayed'],
    )
    assert.equal(await sessionCount(h), 3)
  })

  it('says what an entry lacks in the file’s own terms, and takes an entry without a repository as repoless', async () => {
    const result = await createMany(
      h.manager,
      parseTaskFile('- repo: acme/api\n- prompt: no repository here\n', 'tasks.yaml'),
      { sourceName: '/work/tasks.yaml' },
    )
    assert.match(result.failed[0]?.message ?? '', /Entry 1 \(line 1\) has no prompt/)
    assert.equal(result.failed.length, 1)
    assert.equal(result.created[0]?.repository, '')
    assert.equal(await sessionCount(h), 1)
  })

  it('fails a repeated entry instead of merging it silently with the first', async () => {
    const text = '- prompt: same\n  repo: acme/api\n- prompt: same\n  repo: acme/api\n'
    const result = await createMany(h.manager, parseTaskFile(text, 'tasks.yaml'), { sourceName: '/work/tasks.yaml' })
    assert.equal(result.created.length, 1)
    assert.match(result.failed[0]?.message ?? '', /Entry 2 repeats entry 1/)
    assert.equal(await sessionCount(h), 1)
  })

  it('calls createSession no more often than the client’s own attempts for an entry Jules keeps refusing', async () => {
    // The REST client's retries are the only ones: bulk create adds none on top (it used to: 5 × 3 = 15 calls).
    const server = await startSimServer({ simulator: h.simulator, apiKeys: ['test-key'] })
    try {
      const rest = createRestClient({
        baseUrl: server.url,
        apiKey: 'test-key',
        maxAttempts: 3,
        backoff: { initialDelayMs: 1, maxDelayMs: 5 },
        breaker: { failureThreshold: 100 },
        logger: silentLogger,
      })
      const creates = countCalls(h, 'sessions.create')
      for (const status of [429, 503]) {
        creates.length = 0
        h.simulator.injectFault({
          status,
          ...(status === 429 ? { retryAfterSeconds: 0 } : {}),
          count: 100,
          methods: ['sessions.create'],
        })
        const result = await createMany(
          managerOver(h, rest),
          parseTaskFile(`- prompt: refused ${status}\n  repo: acme/api\n`, 'tasks.yaml'),
          { sourceName: '/work/tasks.yaml' },
        )
        assert.deepEqual(
          result.failed.map((failure) => failure.code),
          [status === 429 ? 'JJM_RATE_LIMITED' : 'JJM_JULES_UNAVAILABLE'],
        )
        assert.equal(creates.length, 3, `${status}: the client's 3 attempts, nothing more`)
        h.simulator.clearFaults()
      }
      await rest.close?.()
    } finally {
      await server.close()
    }
    assert.equal(await sessionCount(h), 0)
  })

  it('holds the entries not yet sent until the Retry-After of a 429, then creates them', async () => {
    h.simulator.injectFault({ status: 429, retryAfterSeconds: 30, count: 1, methods: ['sessions.create'] })
    const text = ['acme/api', 'acme/web', 'acme/infra']
      .map((repo, index) => `- prompt: task ${index}\n  repo: ${repo}\n`)
      .join('')
    const sentAt: number[] = []
    const creates = countCalls(h, 'sessions.create', () => sentAt.push(h.clock.now()))
    const started = h.clock.now()
    const result = await createMany(h.manager, parseTaskFile(text, 'tasks.yaml'), {
      sourceName: '/work/tasks.yaml',
      concurrency: 1,
      now: () => h.clock.now(),
      sleep: async (ms) => h.clock.advance(ms),
    })
    assert.deepEqual(
      result.outcomes.map((outcome) => outcome.status),
      ['failed', 'created', 'created'],
      'the refused entry is not retried on top of the client; the others wait, then go',
    )
    assert.equal(creates.length, 3)
    assert.deepEqual(
      sentAt.map((at) => at - started),
      [0, 30_000, 30_000],
    )
    const again = await createMany(h.manager, parseTaskFile(text, 'tasks.yaml'), { sourceName: '/work/tasks.yaml' })
    assert.deepEqual(
      again.outcomes.map((outcome) => outcome.status),
      ['created', 'replayed', 'replayed'],
      'running the file again creates the refused entry',
    )
  })

  it('waits in the budget it is given, which a 429 elsewhere has paused', async () => {
    const slept: number[] = []
    const budget = new JulesThrottle({
      perMinute: 600,
      clock: h.clock,
      sleep: async (ms) => {
        slept.push(ms)
        h.clock.advance(ms)
      },
    })
    budget.rateLimited(45)
    const result = await createMany(h.manager, parseTaskFile('- prompt: x\n  repo: acme/api\n', 'tasks.yaml'), {
      sourceName: '/work/tasks.yaml',
      budget,
    })
    assert.equal(result.created.length, 1)
    assert.deepEqual(slept, [45_000])
  })

  it('looks again at an entry whose answer was lost once its key’s lock ends, and adopts its session', async () => {
    const inner = createSimClient(h.simulator)
    let lose = 2
    const flaky: JulesClient = {
      ...inner,
      createSession: async (request) => {
        const session = await inner.createSession(request)
        if (lose > 0) {
          lose -= 1
          throw new JulesConnectionError('Jules did not answer sessions.create within 30 s.')
        }
        return session
      },
    }
    const text =
      '- prompt: one\n  repo: acme/api\n- prompt: two\n  repo: acme/web\n- prompt: three\n  repo: acme/infra\n'
    const waits: number[] = []
    const result = await createMany(managerOver(h, flaky), parseTaskFile(text, 'tasks.yaml'), {
      sourceName: '/work/tasks.yaml',
      // The lost entries' keys stay locked until Jules can show their sessions: the run waits that out.
      sleep: async (ms) => {
        waits.push(ms)
        h.clock.advance(ms)
      },
      now: () => h.clock.now(),
    })
    assert.equal(result.created.length, 3)
    assert.equal(await sessionCount(h), 3)
    assert.deepEqual(waits, [90_000, 90_000], 'the Jules timeout (30 s) and the grace period (60 s)')
  })

  it('never has more createSession calls in flight than the concurrency allows', async () => {
    const inner = createSimClient(h.simulator)
    let inFlight = 0
    let most = 0
    const counting: JulesClient = {
      ...inner,
      createSession: async (request) => {
        inFlight += 1
        most = Math.max(most, inFlight)
        try {
          await sleep(5)
          return await inner.createSession(request)
        } finally {
          inFlight -= 1
        }
      },
    }
    const text = Array.from({ length: 8 }, (_, index) => `- prompt: task ${index}\n  repo: acme/api\n`).join('')
    const result = await createMany(managerOver(h, counting), parseTaskFile(text, 'tasks.yaml'), {
      sourceName: '/work/tasks.yaml',
      concurrency: 2,
    })
    assert.equal(result.created.length, 8)
    assert.equal(most, 2)
  })

  it('refuses a concurrency below 1', async () => {
    await assert.rejects(createMany(h.manager, [], { sourceName: 'x', concurrency: 0 }), ValidationError)
  })
})
