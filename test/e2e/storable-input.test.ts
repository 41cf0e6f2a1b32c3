import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ManualClock } from '../../src/core/clock.js'
import type { Simulator } from '../../src/sim/engine.js'
import type { SimServer } from '../../src/sim/http.js'
import { jjm, type Run, root } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'

// Issue 10: a prompt jjm cannot store (a NUL) is refused with exit 11 naming
// the field, whichever way it came in, and Jules never starts a session.

describe('jjm tasks create with a prompt jjm cannot store', { timeout: 180_000 }, () => {
  let dir: string
  let env: Record<string, string>
  let server: SimServer
  let simulator: Simulator

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-storable-'))
    ;({ server, simulator } = await startE2eSimulator(new ManualClock(Date.now())))
    env = e2eEnvironment(dir, server.url)
  })

  after(async () => {
    await server?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const sessions = async (): Promise<number> => (await simulator.listSessions({ pageSize: 100 })).sessions.length

  function assertRefused(run: Run, pattern: RegExp): void {
    assert.equal(run.code, 11, `exit 11 (validation): ${run.stderr}`)
    assert.match(run.stderr, pattern)
  }

  it('refuses it from --prompt-file, standard input and --from, with exit 11, and starts no session', async () => {
    const promptFile = join(dir, 'prompt.md')
    await writeFile(promptFile, 'Fix it\u0000now\n')
    assertRefused(
      await jjm(['tasks', 'create', '--repo', 'acme/api', '--prompt-file', promptFile], env),
      /prompt contains a NUL character/,
    )
    assertRefused(
      await jjm(['tasks', 'create', '--repo', 'acme/api'], env, 'Fix it\u0000now\n'),
      /prompt contains a NUL character/,
    )
    const tasksFile = join(dir, 'tasks.json')
    await writeFile(
      tasksFile,
      JSON.stringify([
        { prompt: 'Fine', repository: 'acme/api' },
        { prompt: 'Fix it\u0000now', repository: 'acme/api' },
      ]),
    )
    assertRefused(await jjm(['tasks', 'create', '--from', tasksFile], env), /entry 2.*prompt contains a NUL/)
    assert.equal(await sessions(), 0)
  })
})
