import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { systemClock } from '../../src/core/clock.js'
import { ExitCode } from '../../src/core/errors.js'
import type { Task, TaskPage } from '../../src/core/task.js'
import { jjm, json, type Run, root } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'
import { postgres } from '../support/services.js'

interface CliError {
  error: { code: string; message: string; context: { retryAfterSeconds?: number } }
}

describe('a create that times out, retried from another process on one PostgreSQL', { timeout: 120_000 }, () => {
  it('starts one Jules session: the retry waits out the lock it is told about, then adopts the session', async (t) => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    const pg = await postgres(t)
    if (!pg) return
    const database = await pg.createDatabase()
    const dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-ambiguous-'))
    const { simulator, server } = await startE2eSimulator(systemClock)
    try {
      // jjm waits 2 s for Jules; Jules takes 4 s to create (and does create, after jjm gave up).
      simulator.injectFault({ status: 200, delayMs: 4_000, methods: ['sessions.create'] })
      const env = e2eEnvironment(dir, server.url, {
        DATABASE_URL: database.url,
        JJM_JULES_TIMEOUT_MS: '2000',
        JJM_JULES_CREATE_GRACE_MS: '13000',
      })
      const create = (): Promise<Run> =>
        jjm(['tasks', 'create', '--repo', 'acme/api', '--idempotency-key', 'deploy-42', 'Made slowly', '--json'], env)

      const first = await create()
      assert.equal(first.code, ExitCode.julesConnection, first.stdout + first.stderr)
      const uncertain = json<CliError>(first).error
      assert.match(uncertain.message, /jjm could not tell whether Jules started the session/)
      assert.match(uncertain.message, /Retry with the same idempotency key \("deploy-42"\) after 15 s/)

      // Another process, right away (well within the 15 s lock, even on a busy machine): told to wait, and when.
      const second = await create()
      assert.equal(second.code, ExitCode.invalidState, second.stdout + second.stderr)
      const conflict = json<CliError>(second).error
      assert.equal(conflict.code, 'JJM_IDEMPOTENCY_CONFLICT')
      const wait = conflict.context.retryAfterSeconds
      assert.ok(typeof wait === 'number' && wait >= 1 && wait <= 15, `retryAfterSeconds: ${wait}`)
      assert.match(conflict.message, new RegExp(`after ${wait} s`))

      // Across processes on the real clock, waiting as told is what a user does.
      await sleep(wait * 1000)
      const third = await create()
      assert.equal(third.code, 0, third.stdout + third.stderr)
      const task = json<Task>(third)

      const sessions = (await simulator.listSessions({ pageSize: 100 })).sessions
      assert.equal(sessions.length, 1, 'exactly one session at Jules')
      assert.equal(task.sessionName, sessions[0]?.name)
      const listed = await jjm(['tasks', 'list', '--json'], env)
      assert.deepEqual(
        json<TaskPage>(listed).items.map((item) => item.sessionName),
        [sessions[0]?.name],
      )
    } finally {
      await server.close()
      await rm(dir, { recursive: true, force: true })
      await database.drop()
    }
  })
})
