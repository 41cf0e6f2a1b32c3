import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import type { ParallelCreateReport } from '../../src/commands/tasks/create.js'
import type { TaskPullResult } from '../../src/commands/tasks/pull.js'
import type { BulkActionReport } from '../../src/core/bulk-actions.js'
import { ManualClock } from '../../src/core/clock.js'
import { ExitCode } from '../../src/core/errors.js'
import type { Task, TaskPage } from '../../src/core/task.js'
import type { DeleteResult, TaskWithDetails } from '../../src/core/task-operations.js'
import type { Simulator } from '../../src/sim/engine.js'
import type { SimServer } from '../../src/sim/http.js'
import { jjm, json, root } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'

const run = promisify(execFile)

describe('jjm tasks archive|unarchive|delete --remote|pull|show --json|create --parallel, end to end', {
  timeout: 300_000,
}, () => {
  let dir: string
  let env: Record<string, string>
  let clock: ManualClock
  let simulator: Simulator
  let server: SimServer

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-actions-'))
    clock = new ManualClock(Date.now())
    const started = await startE2eSimulator(clock, { runSeconds: 20 })
    simulator = started.simulator
    server = started.server
    env = e2eEnvironment(dir, server.url)
  })

  after(async () => {
    await server?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  async function create(args: string[]): Promise<Task> {
    const created = await jjm(['tasks', 'create', '--repo', 'acme/api', ...args, '--json'], env)
    assert.equal(created.code, 0, created.stderr)
    return json<Task>(created)
  }

  /** Runs the sessions to their end and records it. */
  async function finish(): Promise<void> {
    clock.advance(30_000)
    const pass = await jjm(['monitor', '--once', '--json'], env)
    assert.ok([0, 20, 21].includes(pass.code), pass.stderr)
  }

  async function listed(args: string[] = []): Promise<string[]> {
    const page = await jjm(['tasks', 'list', '--limit', '200', ...args, '--json'], env)
    assert.equal(page.code, 0, page.stderr)
    return json<TaskPage>(page).items.map((task) => task.id)
  }

  it('archives tasks by id at Jules and in jjm, hides them from the list, and brings them back', async () => {
    const task = await create(['Archive me when done'])
    const archived = await jjm(['tasks', 'archive', task.id, '--json'], env)
    assert.equal(archived.code, 0, archived.stderr)
    const report = json<BulkActionReport>(archived)
    assert.deepEqual(
      report.results.map((result) => [result.taskId, result.status]),
      [[task.id, 'done']],
    )
    assert.equal((await simulator.getSession(task.sessionName)).archived, true, 'archived at Jules')
    assert.ok(!(await listed()).includes(task.id), 'hidden from tasks list')
    assert.ok((await listed(['--archived'])).includes(task.id), 'shown with --archived')
    const shown = await jjm(['tasks', 'show', task.id], env)
    assert.match(shown.stdout, /archived\s+yes: hidden from tasks list/)

    const human = await jjm(['tasks', 'unarchive', task.id], env)
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /1 unarchived, 0 already so, 0 failed\./)
    assert.ok((await listed()).includes(task.id))
  })

  it('says which tasks failed and exits 17, acting on the others', async () => {
    const task = await create(['One of two'])
    const mixed = await jjm(['tasks', 'archive', task.id, '01NOSUCHTASK0000000000000', '--json'], env)
    assert.equal(mixed.code, ExitCode.operationFailed, mixed.stderr)
    const report = json<BulkActionReport>(mixed)
    assert.equal(report.succeeded, 1)
    assert.equal(report.failed, 1)
    assert.equal(report.results[1]?.error?.code, 'JJM_TASK_NOT_FOUND')
    assert.match(mixed.stderr, /1 of 2 task\(s\) could not be archived/)

    const nothing = await jjm(['tasks', 'archive'], env)
    assert.equal(nothing.code, ExitCode.validation)
    assert.match(nothing.stderr, /give their ids, or a filter/)
  })

  it('counts and names the old completed tasks with --dry-run, then archives them', async () => {
    const done = [await create(['First finished task']), await create(['Second finished task'])]
    await finish()
    const none = await jjm(['tasks', 'archive', '--state', 'completed', '--older-than', '30d', '--dry-run'], env)
    assert.equal(none.code, 0, none.stderr)
    assert.match(none.stdout, /No tasks match: nothing archived\./)

    const dry = await jjm(
      ['tasks', 'archive', '--state', 'completed', '--older-than', '0s', '--dry-run', '--json'],
      env,
    )
    assert.equal(dry.code, 0, dry.stderr)
    const preview = json<BulkActionReport>(dry)
    assert.equal(preview.dryRun, true)
    for (const task of done) assert.ok(preview.results.some((result) => result.taskId === task.id))
    assert.ok((await listed()).includes(done[0]!.id), 'a dry run changes nothing')
    const text = await jjm(['tasks', 'archive', '--state', 'completed', '--older-than', '0s', '--dry-run'], env)
    assert.match(text.stdout, new RegExp(`${preview.count} task\\(s\\) would be archived\\. Run the same command`))

    const acted = await jjm(['tasks', 'archive', '--state', 'completed', '--older-than', '0s', '--json'], env)
    assert.equal(acted.code, 0, acted.stderr)
    assert.equal(json<BulkActionReport>(acted).succeeded, preview.count)
    assert.deepEqual(await listed(['--state', 'completed']), [])
  })

  it('deletes the Jules session too with --remote', async () => {
    const task = await create(['Delete me everywhere'])
    const deleted = await jjm(['tasks', 'delete', task.id, '--remote', '--yes', '--json'], env)
    assert.equal(deleted.code, 0, deleted.stderr)
    assert.equal(json<DeleteResult>(deleted).session, 'deleted')
    await assert.rejects(simulator.getSession(task.sessionName), /not found/i)
    assert.equal((await jjm(['tasks', 'show', task.id], env)).code, ExitCode.taskNotFound)
  })

  it('shows with --json what the human view shows, under details', async () => {
    const task = await create(['Show me in full'])
    await finish()
    const shown = await jjm(['tasks', 'show', task.id, '--json'], env)
    assert.equal(shown.code, 0, shown.stderr)
    const full = json<TaskWithDetails>(shown)
    assert.equal(full.id, task.id)
    assert.equal(full.state, 'completed')
    assert.ok((full.details.plan?.steps.length ?? 0) > 0)
    assert.ok(full.details.sourceFiles.some((file) => file.path === 'README.md'))
    assert.ok(full.details.events.length > 0)
  })

  describe('tasks pull', () => {
    let task: Task
    let patch: string

    before(async () => {
      task = await create(['--title', 'Tidy the README', 'Tidy the README'])
      const early = await jjm(['tasks', 'pull', task.id], env)
      assert.equal(early.code, ExitCode.invalidState)
      assert.match(early.stderr, /has no change set yet\. Wait for the agent/)
      await finish()
      const printed = await jjm(['tasks', 'pull', task.id], env)
      assert.equal(printed.code, 0, printed.stderr)
      patch = printed.stdout
    })

    /** A clone of `repository` holding the files the simulated patch changes, as they were. */
    async function checkout(name: string, repository: string): Promise<string> {
      const repo = join(dir, name)
      await mkdir(join(repo, 'src'), { recursive: true })
      await writeFile(join(repo, 'README.md'), '# Project\n\nJules (simulated) worked on: Tidy the README\n')
      await writeFile(join(repo, 'src', 'index.ts'), "export function main(): void {\n  console.log('hello')\n}\n")
      const git = (...args: string[]) => run('git', args, { cwd: repo })
      await git('init', '-q', '-b', 'main')
      await git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'add', '.')
      await git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', 'start')
      await git('remote', 'add', 'origin', `git@github.com:${repository}.git`)
      return repo
    }

    it('prints the diff, or writes it with --output', async () => {
      assert.match(patch, /^diff --git a\/README.md b\/README.md/)
      const file = join(dir, 'task.patch')
      const written = await jjm(['tasks', 'pull', task.id, '--output', file, '--json'], env)
      assert.equal(written.code, 0, written.stderr)
      assert.equal(json<TaskPullResult>(written).output, file)
      assert.equal(await readFile(file, 'utf8'), patch)
    })

    it('applies the diff to a clean clone of the repository and says which files changed', async () => {
      const repo = await checkout('api', 'acme/api')
      const applied = await jjm(['tasks', 'pull', task.id, '--apply', '--json'], env, undefined, repo)
      assert.equal(applied.code, 0, applied.stderr)
      const result = json<TaskPullResult>(applied)
      assert.deepEqual(result.applied?.files, ['README.md', 'src/index.ts', 'test/index.test.ts'])
      assert.match(await readFile(join(repo, 'README.md'), 'utf8'), /Updated by a simulated Jules session\./)
      assert.match(await readFile(join(repo, 'test', 'index.test.ts'), 'utf8'), /smoke test/)

      const human = await jjm(['tasks', 'pull', task.id, '--apply'], env, undefined, repo)
      assert.equal(human.code, ExitCode.invalidState, 'the checkout now has uncommitted changes')
      assert.match(human.stderr, /uncommitted changes: commit or stash them first/)
    })

    it('refuses a checkout of another repository', async () => {
      const repo = await checkout('web', 'acme/web')
      const refused = await jjm(['tasks', 'pull', task.id, '--apply'], env, undefined, repo)
      assert.equal(refused.code, ExitCode.validation)
      assert.match(refused.stderr, /is not a clone of acme\/api: its remotes are git@github\.com:acme\/web\.git/)
      assert.match(await readFile(join(repo, 'README.md'), 'utf8'), /^# Project/)
    })
  })

  it('creates N attempts of one prompt as a group, and none twice when run again with the same key', async () => {
    const args = ['tasks', 'create', '--repo', 'acme/api', '--parallel', '3', '--idempotency-key', 'flaky-42']
    const first = await jjm([...args, 'Fix the flaky upload test', '--json'], env)
    assert.equal(first.code, 0, first.stderr)
    const report = json<ParallelCreateReport>(first)
    assert.equal(report.created.length, 3)
    assert.ok(report.created.every((task) => task.labels.includes(`group:${report.group}`)))
    assert.deepEqual(
      report.created.map((task) => (task.metadata.parallel as { attempt: number }).attempt).sort(),
      [1, 2, 3],
    )
    const sessions = (await simulator.listSessions({ pageSize: 100 })).sessions.length

    const again = await jjm([...args, 'Fix the flaky upload test', '--json'], env)
    assert.equal(again.code, 0, again.stderr)
    const replay = json<ParallelCreateReport>(again)
    assert.equal(replay.group, report.group)
    assert.deepEqual(replay.created, [])
    assert.equal(replay.replayed.length, 3)
    assert.equal((await simulator.listSessions({ pageSize: 100 })).sessions.length, sessions, 'no session twice')

    assert.deepEqual((await listed(['--group', report.group])).sort(), report.created.map((task) => task.id).sort())
    const human = await jjm([...args, 'Fix the flaky upload test'], env)
    assert.match(human.stdout, new RegExp(`Group ${report.group}: 3 attempt\\(s\\) of one prompt\\.`))
    assert.match(human.stdout, /ATTEMPT\s+REPOSITORY\s+RESULT/)
  })
})
