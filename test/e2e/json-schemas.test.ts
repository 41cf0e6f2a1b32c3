import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { schemaFileName } from '../../src/cli/output-schemas.js'
import { ManualClock } from '../../src/core/clock.js'
import type { Task } from '../../src/core/task.js'
import type { SimServer } from '../../src/sim/http.js'
import { buildTask } from '../../src/testing/build-task.js'
import { jjm, json, type Run, root } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'

// ajv-formats is CommonJS: its plugin is the default export under tsx, `.default` under tsc's NodeNext types.
const addFormats = addFormatsModule.default ?? addFormatsModule
const ajv = new Ajv2020({ allErrors: true, strict: true })
addFormats(ajv)
const validators = new Map<string, ValidateFunction>()

/** Checks a run's stdout against the committed schemas/<file>: what a script validating jjm's output would do. */
function assertMatches(file: string, run: Run): unknown {
  let validate = validators.get(file)
  if (!validate) {
    validate = ajv.compile(JSON.parse(readFileSync(join(root, 'schemas', file), 'utf8')))
    validators.set(file, validate)
  }
  const output = json<unknown>(run)
  assert.ok(
    validate(output),
    `the --json output does not match schemas/${file}:\n${problems(validate)}\n` +
      `${JSON.stringify(output, null, 2)}\nUpdate src/core/representation.ts (and run \`npm run schemas\`) or fix the command.`,
  )
  return output
}

const topics = new Set(['tasks', 'migrate', 'sources'])

function problems(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .map(
      (error) => `  at ${error.instancePath || '/'}: ${error.message ?? error.keyword} ${JSON.stringify(error.params)}`,
    )
    .join('\n')
}

/** Runs a command with --json and checks its output against that command's committed schema. */
async function runChecked(args: string[], env: Record<string, string>, exitCode = 0): Promise<Run> {
  const run = await jjm([...args, '--json'], env)
  assert.equal(run.code, exitCode, `${args.join(' ')}: ${run.stderr}`)
  const [first = '', second = ''] = args
  assertMatches(schemaFileName(topics.has(first) ? `${first}:${second}` : first), run)
  return run
}

describe('--json output matches the committed schemas, end to end', { timeout: 240_000 }, () => {
  let dir: string
  let env: Record<string, string>
  let server: SimServer
  const clock = new ManualClock(Date.now())

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-schemas-'))
    server = (await startE2eSimulator(clock, { runSeconds: 20 })).server
    env = e2eEnvironment(dir, server.url, {
      JJM_DB: join(dir, 'jjm.sqlite'),
    })
  })

  after(async () => {
    await server?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('prints tasks, pages, operation results and monitor reports as the schemas describe', async () => {
    await runChecked(['sources', 'list'], env)
    const planned = json<Task>(
      await runChecked(
        ['tasks', 'create', '--repo', 'acme/api', '--require-plan-approval', '--label', 'e2e', 'Plan it'],
        env,
      ),
    )
    const paused = json<Task>(await runChecked(['tasks', 'create', '--repo', 'acme/web', 'Upgrade [sim:pause]'], env))

    const file = join(dir, 'tasks.yaml')
    await writeFile(
      file,
      '- prompt: Write the changelog\n  repo: acme/mobile\n- prompt: Nowhere\n  repo: nobody/nothing\n',
    )
    await runChecked(['tasks', 'create', '--from', file], env, 17)

    clock.advance(11_000)
    const report = assertMatches('monitor.json', await jjm(['monitor', '--once', '--json'], env)) as {
      changes: unknown[]
      awaitingPerson: unknown[]
    }
    assert.ok(report.changes.length > 0 && report.awaitingPerson.length > 0, 'a report with content was checked')

    await runChecked(['approve', planned.id], env)
    await runChecked(['message', planned.id, 'Keep the public API'], env)
    await runChecked(['resume', paused.id], env)
    await runChecked(['tasks', 'list', '--limit', '2'], env)
    await runChecked(['tasks', 'show', planned.id], env)
    await runChecked(['tasks', 'update', planned.id, '--metadata', 'ticket=OPS-12', '--add-label', 'checked'], env)
    await runChecked(['tasks', 'wait', planned.id, '--timeout', '0s', '--interval', '1s'], env, 31)
    await runChecked(['tasks', 'delete', paused.id, '--yes'], env)
  })

  it('prints migration and import reports as the schemas describe', async () => {
    await runChecked(['migrate', 'status'], env)
    await runChecked(['migrate', 'up'], env)
    const task = buildTask({ state: 'completed' })
    const legacy = join(dir, 'legacy.json')
    await writeFile(
      legacy,
      JSON.stringify({
        [task.id]: {
          id: task.id,
          session_name: task.sessionName,
          title: task.title,
          prompt: task.prompt,
          repository: task.repository,
          state: 'COMPLETED',
          created_at: task.createdAt,
          updated_at: task.updatedAt,
        },
        broken: { id: 'broken' },
      }),
    )
    await runChecked(['migrate', 'import-json', legacy, '--dry-run'], env, 11)
  })

  it('prints a failure as the error schema describes', async () => {
    const run = await jjm(['tasks', 'show', 'NOSUCHTASK', '--json'], env)
    assert.equal(run.code, 13, run.stderr)
    assertMatches('error.json', run)
  })

  it('prints a usage error as the error schema describes, and exits 2', async () => {
    const run = await jjm(['tasks', 'list', '--no-such-flag', '--json'], env)
    assert.equal(run.code, 2, run.stderr)
    const { error } = assertMatches('error.json', run) as { error: { code: string; message: string } }
    assert.equal(error.code, 'JJM_USAGE')
    assert.match(error.message, /--no-such-flag/)
  })
})
