import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { BulkCreateReport } from '../../src/commands/tasks/create.js'
import { ManualClock } from '../../src/core/clock.js'
import { ExitCode } from '../../src/core/errors.js'
import type { Task } from '../../src/core/task.js'
import type { Simulator } from '../../src/sim/engine.js'
import type { SimServer } from '../../src/sim/http.js'
import { jjm, json, root } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'

/** Runs the real, built `bin/run.js` as a user would, with standard input closed. */

describe('jjm tasks create --from and --idempotency-key, end to end', { timeout: 180_000 }, () => {
  let dir: string
  let env: Record<string, string>
  let simulator: Simulator
  let server: SimServer

  const sessionCount = async () => (await simulator.listSessions({ pageSize: 100 })).sessions.length

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-bulk-'))
    const started = await startE2eSimulator(new ManualClock(Date.now()), { runSeconds: 20 })
    simulator = started.simulator
    server = started.server
    env = e2eEnvironment(dir, server.url)
  })

  after(async () => {
    await server?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('creates every task of a file, and nothing new when the file is run again', async () => {
    const file = join(dir, 'tasks.yaml')
    await writeFile(
      file,
      [
        '- prompt: Add retries to the HTTP client',
        '  repo: acme/api',
        '  labels: [bulk]',
        '- prompt: Fix the flaky login test',
        '  repository: acme/web',
        '- prompt: Bump Terraform providers',
        '  source: sources/github/acme/infra',
        '',
      ].join('\n'),
    )
    const first = await jjm(['tasks', 'create', '--from', file, '--json'], env)
    assert.equal(first.code, 0, first.stderr)
    const report = json<BulkCreateReport>(first)
    assert.deepEqual(
      report.created.map((task) => task.repository),
      ['acme/api', 'acme/web', 'acme/infra'],
    )
    assert.deepEqual(report.replayed, [])
    assert.deepEqual(report.failed, [])
    assert.equal(await sessionCount(), 3)

    const again = await jjm(['tasks', 'create', '--from', file, '--json'], env)
    assert.equal(again.code, 0, again.stderr)
    const replay = json<BulkCreateReport>(again)
    assert.deepEqual(replay.created, [])
    assert.deepEqual(
      replay.replayed.map((task) => task.id),
      report.created.map((task) => task.id),
    )
    assert.equal(await sessionCount(), 3, 'no second session for any entry')

    const human = await jjm(['tasks', 'create', '--from', file], env)
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /ENTRY\s+REPOSITORY\s+RESULT\s+TASK \/ ERROR/)
    assert.match(human.stdout, /0 created, 3 already there, 0 failed\./)
  })

  it('exits non-zero and lists the entry that failed, creating the others', async () => {
    const before = await sessionCount()
    const file = join(dir, 'one-bad.json')
    await writeFile(
      file,
      JSON.stringify({
        tasks: [
          { prompt: 'Write the changelog', repo: 'acme/mobile' },
          { prompt: 'Nobody can work here', repo: 'nobody/nothing', title: 'Nowhere' },
        ],
      }),
    )
    const run = await jjm(['tasks', 'create', '--from', file, '--json'], env)
    assert.equal(run.code, ExitCode.operationFailed, run.stderr)
    const report = json<BulkCreateReport>(run)
    assert.equal(report.created.length, 1)
    assert.deepEqual(
      report.failed.map((failure) => [failure.index, failure.title, failure.code]),
      [[2, 'Nowhere', 'JJM_VALIDATION']],
    )
    assert.match(run.stderr, /1 of 2 entries failed \(entry 2\)/)
    assert.equal(await sessionCount(), before + 1)

    const human = await jjm(['tasks', 'create', '--from', file], env)
    assert.equal(human.code, ExitCode.operationFailed)
    assert.match(human.stdout, /2\s+nobody\/nothing\s+failed\s+Jules cannot work on nobody\/nothing/)
  })

  it('refuses bad YAML with its line and column, and a prompt given beside --from', async () => {
    const file = join(dir, 'bad.yaml')
    await writeFile(file, '- prompt: x\n  repo: acme/api\n - prompt: [unclosed\n')
    const bad = await jjm(['tasks', 'create', '--from', file], env)
    assert.equal(bad.code, ExitCode.validation)
    assert.match(bad.stderr, /bad\.yaml:\d+:\d+: .*line \d+, column \d+/)

    const both = await jjm(['tasks', 'create', '--from', file, 'a prompt too'], env)
    assert.equal(both.code, ExitCode.usage, both.stderr)
    const withRepo = await jjm(['tasks', 'create', '--from', file, '--repo', 'acme/api'], env)
    assert.equal(withRepo.code, ExitCode.usage, withRepo.stderr)
  })

  it('returns the same task for the same --idempotency-key and refuses it for another prompt', async () => {
    const before = await sessionCount()
    const args = [
      'tasks',
      'create',
      '--repo',
      'acme/api',
      '--idempotency-key',
      'e2e-key-1',
      'Rotate the API keys',
      '--json',
    ]
    const first = await jjm(args, env)
    assert.equal(first.code, 0, first.stderr)
    const second = await jjm(args, env)
    assert.equal(second.code, 0, second.stderr)
    assert.equal(json<Task>(second).id, json<Task>(first).id)
    assert.equal(await sessionCount(), before + 1)

    const other = await jjm(
      ['tasks', 'create', '--repo', 'acme/api', '--idempotency-key', 'e2e-key-1', 'Something else', '--json'],
      env,
    )
    assert.equal(other.code, ExitCode.validation)
    assert.match(other.stdout, /already used for another request/)
  })
})
