import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ManualClock } from '../../src/core/clock.js'
import type { Task } from '../../src/core/task.js'
import type { Simulator } from '../../src/sim/engine.js'
import type { SimServer } from '../../src/sim/http.js'
import { jjm, json, root } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'

// A task on no repository, from `jjm tasks create "prompt"` to its change set,
// through the rest adapter with JULES_API_URL written as Google writes it.

describe('jjm tasks on no repository, end to end', { timeout: 180_000 }, () => {
  let dir: string
  let env: Record<string, string>
  let server: SimServer
  let simulator: Simulator
  const clock = new ManualClock(Date.now())

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-repoless-'))
    ;({ server, simulator } = await startE2eSimulator(clock, { runSeconds: 20 }))
    // The SDK's spelling of the base URL, version and trailing slash included.
    env = e2eEnvironment(dir, `${server.url}/v1alpha/`)
  })

  after(async () => {
    await server?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('creates a task without --repo, shows "(no repository)", and records a change set as its result', async () => {
    const created = await jjm(['tasks', 'create', 'Write a haiku about queues', '--json'], env)
    assert.equal(created.code, 0, created.stderr)
    const task = json<Task>(created)
    assert.equal(task.repository, '')
    assert.equal(task.source, '')
    assert.equal(task.branch, '')
    const session = await simulator.getSession(task.sessionName)
    assert.equal(session.sourceContext, undefined)

    const listed = await jjm(['tasks', 'list'], env)
    assert.equal(listed.code, 0, listed.stderr)
    assert.match(listed.stdout, /\(no repository\)/)

    clock.advance(25_000)
    const monitored = await jjm(['monitor', '--once'], env)
    assert.ok([0, 20].includes(monitored.code), monitored.stderr)
    const shown = await jjm(['tasks', 'show', task.id], env)
    assert.equal(shown.code, 0, shown.stderr)
    assert.match(shown.stdout, /state\s+completed/)
    assert.match(shown.stdout, /repository\s+\(no repository\)/)
    assert.match(shown.stdout, /result\s+a change set \(no pull request\); apply it with: jjm tasks pull/)
    const done = json<Task>(await jjm(['tasks', 'show', task.id, '--json'], env))
    assert.equal(done.pullRequest, null)
    // The change set itself is in the session's outputs, reachable through the Jules port.
    const outputs = (await simulator.getSession(task.sessionName)).outputs ?? []
    assert.match(outputs[0]?.changeSet?.gitPatch?.unidiffPatch ?? '', /^diff --git /)
  })

  it('refuses --branch without a repository, saying what to do', async () => {
    const refused = await jjm(['tasks', 'create', '--branch', 'develop', 'Write a haiku'], env)
    assert.notEqual(refused.code, 0)
    assert.match(refused.stderr, /needs a repository: pass --repo owner\/repo too/)
  })

  it('creates repoless entries from a file', async () => {
    const file = join(dir, 'tasks.yaml')
    await import('node:fs/promises').then(({ writeFile }) =>
      writeFile(file, '- prompt: Summarise RFC 9457\n- prompt: Add a README badge\n  repo: acme/web\n'),
    )
    const run = await jjm(['tasks', 'create', '--from', file, '--json'], env)
    assert.equal(run.code, 0, run.stderr)
    const report = json<{ created: Task[] }>(run)
    assert.deepEqual(report.created.map((created) => created.repository).sort(), ['', 'acme/web'])
  })
})
