/**
 * The behaviour every Jules backend has, whatever it talks to: jjm's own
 * (rest, mcp, sim) and every third-party Jules plugin run this same suite
 * against themselves. It covers what core relies on: the shapes of sources,
 * sessions and activities, activity order and paging, plan approval and
 * messages, and the JjmError each refusal maps to.
 *
 * The suite needs to move sessions along, as Jules would over minutes: the
 * opener hands it a driver. Against jjm's simulator, the driver moves the
 * simulator's clock (see `simServerDriver` and `simClockDriver`).
 *
 * ```ts
 * import { describeJulesClientContract, simServerDriver } from 'jjm/testing'
 * describeJulesClientContract('my backend', async () => {
 *   // `JJM_SIM_AUTO_APPROVE_SECONDS=0 jjm sim serve --port 8100` runs beside the tests
 *   const client = await openMyClient({ url: 'http://127.0.0.1:8100' })
 *   return { client, driver: simServerDriver('http://127.0.0.1:8100'), close: () => client.close?.() ?? Promise.resolve() }
 * })
 * ```
 */
import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import {
  InvalidStateError,
  OperationFailedError,
  toJjmError,
  UnsupportedOperationError,
  ValidationError,
} from '../core/errors.js'
import type { Activity, JulesClient, Session } from '../core/jules/client.js'
import { optional } from '../core/jules/optional.js'
import type { ContractOptions } from './contract/support.js'

/** How the suite moves a session along, as time passing at Jules would. */
export interface JulesContractDriver {
  /**
   * Lets Jules take `session` as far as it goes on its own: until it waits
   * for a person (a plan to approve) or ends. Sessions that need no approval
   * must have completed afterwards.
   */
  settle(session: string): Promise<void>
}

/** A client opened for one test, the driver of the Jules behind it, and how to dispose of both. */
export interface OpenedJulesClient {
  client: JulesClient
  driver: JulesContractDriver
  close(): Promise<void>
}

/**
 * Opens a client on a Jules of its own (or at least sessions of its own) for
 * one test. A backend that needs a service which is not running calls
 * `t.skip(reason)` and returns undefined.
 */
export type OpenJulesClient = (t: TestContext) => Promise<OpenedJulesClient | undefined>

export interface JulesClientContractOptions extends ContractOptions {
  /** The source sessions are created on; default: the first one `listSources` returns. */
  source?: string
  /**
   * A session name this Jules has never had, for the not-found tests;
   * default `sessions/1000000000000000001`.
   */
  unknownSession?: string
}

/** The states a session may be in, as Jules names them. */
export const julesSessionStates = [
  'QUEUED',
  'PLANNING',
  'AWAITING_PLAN_APPROVAL',
  'AWAITING_USER_FEEDBACK',
  'IN_PROGRESS',
  'PAUSED',
  'FAILED',
  'COMPLETED',
] as const

/** A driver for a simulator in this process: `advance` moves its clock (e.g. a ManualClock's advance). */
export function simClockDriver(advance: (ms: number) => void | Promise<void>): JulesContractDriver {
  return {
    // A day: past every step of every script, even a slow one; a plan left waiting stays waiting
    // when the simulator runs with autoApproveSeconds 0.
    settle: async () => advance(24 * 3600 * 1000),
  }
}

/**
 * A driver for jjm's simulator behind an HTTP server (`jjm sim serve`, or
 * startSimServer with a clock): it moves the clock through the server's
 * `POST /_sim/clock:advance` control route. `url` is the server's base URL.
 */
export function simServerDriver(url: string): JulesContractDriver {
  return simClockDriver(async (ms) => {
    const response = await fetch(new URL('/_sim/clock:advance', url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seconds: ms / 1000 }),
    })
    if (!response.ok) throw new Error(`The simulator at ${url} refused to move its clock: ${await response.text()}`)
  })
}

/** Checks a refusal by the jjm error it stands for, and its code when given. */
function refusedAs(expected: abstract new (...args: never[]) => Error, code?: string): (error: unknown) => boolean {
  return (error) => {
    const mapped = toJjmError(error)
    assert.ok(mapped instanceof expected, `expected a ${expected.name}, got ${String(error)}`)
    if (code !== undefined) assert.equal((mapped as { code?: unknown }).code, code)
    return true
  }
}

const notFound = () => refusedAs(OperationFailedError, 'JJM_JULES_NOT_FOUND')

async function allActivities(client: JulesClient, session: string, pageSize?: number): Promise<Activity[]> {
  const activities: Activity[] = []
  let pageToken: string | undefined
  for (let pages = 0; pages < 500; pages++) {
    const page = await client.listActivities(session, {
      ...(pageSize === undefined ? {} : { pageSize }),
      ...(pageToken === undefined ? {} : { pageToken }),
    })
    activities.push(...page.activities)
    if (!page.nextPageToken) return activities
    pageToken = page.nextPageToken
  }
  return assert.fail(`${session}'s activities never ended: still a nextPageToken after 500 pages`)
}

async function listedSessionNames(client: JulesClient, wanted: string): Promise<string[]> {
  const names: string[] = []
  let pageToken: string | undefined
  for (let pages = 0; pages < 50; pages++) {
    const page = await client.listSessions({ pageSize: 50, ...(pageToken === undefined ? {} : { pageToken }) })
    names.push(...page.sessions.map((session) => session.name))
    if (names.includes(wanted) || !page.nextPageToken) return names
    pageToken = page.nextPageToken
  }
  return names
}

/**
 * Declares, with node:test, the suite every Jules backend must pass. Each
 * test opens its own client through `open` and closes it, pass or fail.
 */
export function describeJulesClientContract(
  name: string,
  open: OpenJulesClient,
  options: JulesClientContractOptions = {},
): void {
  const unknownSession = options.unknownSession ?? 'sessions/1000000000000000001'

  interface Context extends OpenedJulesClient {
    source: string
    /** A new session on the suite's source, with a prompt that says which test made it. */
    create(title: string, requirePlanApproval?: boolean): Promise<Session>
  }

  function julesTest(title: string, body: (context: Context, t: TestContext) => Promise<void>): void {
    it(title, async (t) => {
      const opened = await open(t)
      if (opened === undefined) return
      try {
        const source = options.source ?? (await opened.client.listSources()).sources[0]?.name
        assert.ok(source, 'listSources returned no source to create sessions on; give one with options.source')
        const create = (prompt: string, requirePlanApproval = false) =>
          opened.client.createSession({ prompt, sourceContext: { source }, requirePlanApproval })
        await body({ ...opened, source, create }, t)
      } finally {
        await opened.close()
      }
    })
  }

  describe(`JulesClient contract: ${name}`, options.skip === undefined ? {} : { skip: options.skip }, () => {
    julesTest('names itself by a non-empty kind', async ({ client }) => {
      assert.equal(typeof client.kind, 'string')
      assert.notEqual(client.kind, '')
    })

    julesTest('lists sources named sources/… with an id, one page at a time', async ({ client }) => {
      const all = await client.listSources()
      assert.ok(all.sources.length > 0, 'listSources returned no source')
      for (const source of all.sources) {
        assert.match(source.name, /^sources\/\S+$/)
        assert.equal(typeof source.id, 'string')
        assert.notEqual(source.id, '')
      }
      const first = await client.listSources({ pageSize: 1 })
      assert.equal(first.sources.length, 1)
      if (first.nextPageToken) {
        const second = await client.listSources({ pageSize: 1, pageToken: first.nextPageToken })
        assert.equal(second.sources.length, 1)
        assert.notEqual(second.sources[0]?.name, first.sources[0]?.name)
      }
    })

    julesTest('gets a listed source by its name', async ({ client, source }) => {
      assert.equal((await client.getSource(source)).name, source)
    })

    julesTest('refuses an unknown source as not found (JJM_JULES_NOT_FOUND)', async ({ client }) => {
      await assert.rejects(client.getSource('sources/github/jjm-contract/no-such-repository'), notFound())
    })

    julesTest(
      'creates a session named sessions/{id}, with its state, prompt and source',
      async ({ create, source }) => {
        const session = await create('Contract: create a session')
        assert.equal(typeof session.id, 'string')
        assert.notEqual(session.id, '')
        assert.equal(session.name, `sessions/${session.id}`)
        assert.ok((julesSessionStates as readonly string[]).includes(session.state), `unknown state ${session.state}`)
        assert.equal(session.prompt, 'Contract: create a session')
        assert.equal(session.sourceContext?.source, source)
        assert.ok(!Number.isNaN(Date.parse(session.createTime)), `createTime ${session.createTime} is not a time`)
      },
    )

    julesTest('refuses a session with an empty prompt as invalid (ValidationError)', async ({ client, source }) => {
      await assert.rejects(client.createSession({ prompt: '', sourceContext: { source } }), refusedAs(ValidationError))
    })

    julesTest('gets a created session by its name', async ({ client, create }) => {
      const created = await create('Contract: get a session')
      const session = await client.getSession(created.name)
      assert.equal(session.name, created.name)
      assert.equal(session.id, created.id)
      assert.equal(session.prompt, created.prompt)
    })

    julesTest('refuses an unknown session as not found (JJM_JULES_NOT_FOUND)', async ({ client }) => {
      await assert.rejects(client.getSession(unknownSession), notFound())
      await assert.rejects(client.listActivities(unknownSession), notFound())
    })

    julesTest('lists a created session among the sessions', async ({ client, create }) => {
      const created = await create('Contract: list sessions')
      assert.ok((await listedSessionNames(client, created.name)).includes(created.name))
    })

    julesTest(
      'lists a settled session’s activities in creation order, named under the session, the same each time',
      async ({ client, driver, create }) => {
        const created = await create('Contract: activities in order')
        await driver.settle(created.name)
        assert.equal((await client.getSession(created.name)).state, 'COMPLETED')
        const activities = await allActivities(client, created.name)
        assert.ok(activities.length >= 2, `only ${activities.length} activities`)
        for (const activity of activities) {
          assert.equal(activity.name, `${created.name}/activities/${activity.id}`)
          assert.ok(!Number.isNaN(Date.parse(activity.createTime)), `createTime ${activity.createTime} is not a time`)
        }
        const times = activities.map((activity) => Date.parse(activity.createTime))
        assert.deepEqual(
          times,
          [...times].sort((a, b) => a - b),
          'activities are not in creation order',
        )
        assert.equal(new Set(activities.map((activity) => activity.id)).size, activities.length, 'ids repeat')
        assert.ok(activities.at(-1)?.sessionCompleted, 'the last activity of a completed session is sessionCompleted')
        const again = await allActivities(client, created.name)
        assert.deepEqual(
          again.map((activity) => activity.name),
          activities.map((activity) => activity.name),
        )
      },
    )

    julesTest('pages through activities with pageToken, ending with no token', async ({ client, driver, create }) => {
      const created = await create('Contract: activity pages')
      await driver.settle(created.name)
      const whole = await allActivities(client, created.name)
      const first = await client.listActivities(created.name, { pageSize: 2 })
      assert.ok(first.activities.length <= 2)
      assert.ok(first.nextPageToken, 'no nextPageToken on the first page of more than two activities')
      const paged = await allActivities(client, created.name, 2)
      assert.deepEqual(
        paged.map((activity) => activity.id),
        whole.map((activity) => activity.id),
      )
    })

    julesTest(
      'waits for plan approval when asked, with the plan among the activities, and goes on once approved',
      async ({ client, driver, create }) => {
        const created = await create('Contract: approve the plan', true)
        await driver.settle(created.name)
        assert.equal((await client.getSession(created.name)).state, 'AWAITING_PLAN_APPROVAL')
        assert.ok(
          (await allActivities(client, created.name)).some((activity) => activity.planGenerated?.plan),
          'no planGenerated activity with a plan',
        )
        await client.approvePlan(created.name)
        await driver.settle(created.name)
        assert.equal((await client.getSession(created.name)).state, 'COMPLETED')
        assert.ok(
          (await allActivities(client, created.name)).some((activity) => activity.planApproved),
          'no planApproved activity',
        )
      },
    )

    julesTest(
      'refuses to approve the plan of a session that is not awaiting approval (InvalidStateError)',
      async ({ client, driver, create }) => {
        const created = await create('Contract: nothing to approve')
        await driver.settle(created.name)
        await assert.rejects(client.approvePlan(created.name), refusedAs(InvalidStateError))
      },
    )

    julesTest(
      'takes a message to a session waiting for a person, as a userMessaged activity',
      async ({ client, driver, create }) => {
        const created = await create('Contract: send a message', true)
        await driver.settle(created.name)
        await client.sendMessage(created.name, 'Contract: also update the changelog')
        const messages = (await allActivities(client, created.name)).filter((activity) => activity.userMessaged)
        assert.deepEqual(
          messages.map((activity) => activity.userMessaged?.userMessage),
          ['Contract: also update the changelog'],
        )
      },
    )

    julesTest(
      'archives a session, hiding it from the list until it is unarchived, or names archiving as unavailable',
      async ({ client, create }) => {
        if (!client.archiveSession || !client.unarchiveSession) {
          // A backend without the action: core says so, naming it and what still works, and touches nothing.
          const created = await create('Contract: archive unavailable')
          await assert.rejects(optional(client, 'archiveSession')(created.name), unsupported('archiving'))
          await assert.rejects(optional(client, 'unarchiveSession')(created.name), unsupported('unarchiving'))
          assert.ok(!(await client.getSession(created.name)).archived)
          return
        }
        const created = await create('Contract: archive')
        await client.archiveSession(created.name)
        assert.equal((await client.getSession(created.name)).archived, true)
        assert.ok(!(await listedSessionNames(client, created.name)).includes(created.name))
        await client.unarchiveSession(created.name)
        assert.ok(!(await client.getSession(created.name)).archived)
        assert.ok((await listedSessionNames(client, created.name)).includes(created.name))
      },
    )

    julesTest(
      'deletes a session, after which it is not found, and a second delete is no error, or names deleting as unavailable',
      async ({ client, create }) => {
        if (!client.deleteSession) {
          const created = await create('Contract: delete unavailable')
          await assert.rejects(optional(client, 'deleteSession')(created.name), unsupported('deleting'))
          assert.equal((await client.getSession(created.name)).name, created.name)
          return
        }
        const created = await create('Contract: delete')
        await client.deleteSession(created.name)
        await assert.rejects(client.getSession(created.name), notFound())
        await client.deleteSession(created.name)
      },
    )
  })
}

/** core's error for an action the backend lacks: JJM_JULES_UNSUPPORTED, naming the action and what still works. */
function unsupported(action: string): (error: unknown) => boolean {
  return (error) => {
    const jjm = toJjmError(error)
    assert.ok(jjm instanceof UnsupportedOperationError, `expected JJM_JULES_UNSUPPORTED, got ${String(error)}`)
    assert.equal(jjm.code, 'JJM_JULES_UNSUPPORTED', jjm.message)
    assert.match(jjm.message, new RegExp(action))
    assert.match(jjm.message, /still work/)
    return true
  }
}
