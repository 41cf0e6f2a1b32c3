import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Task, TaskPage } from '../../src/core/task.js'
import { jjm, json, root } from '../support/cli.js'

const fixturePlugin = join(root, 'test', 'fixtures', 'jjm-plugin-fixture')

/** Runs the real, built `bin/run.js` as a user would, in its own home, data, config and cache directories. */

describe('a backend plugin linked with `jjm plugins link`', { timeout: 180_000 }, () => {
  let dir: string
  let env: Record<string, string>
  let db: string
  // The tests below are steps of one story: link, use, unlink.
  let created: Task

  before(async () => {
    assert.ok(
      existsSync(join(root, 'dist', 'src', 'commands')),
      'dist/ is missing: run `npm run build` (npm test does)',
    )
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-plugins-'))
    // oclif records linked plugins under the data directory: a private one keeps the user's own plugins out.
    env = {
      HOME: dir,
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CACHE_HOME: join(dir, 'cache'),
      JJM_LOG_LEVEL: 'warn',
    }
    db = join(dir, 'x.sqlite')
  })

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('links the fixture plugin without installing anything and lists it as linked', async () => {
    // --no-install: nothing reaches npm, so the test runs offline (the fixture has no dependencies anyway).
    const linked = await jjm(['plugins', 'link', fixturePlugin, '--no-install'], env)
    assert.equal(linked.code, 0, linked.stderr)

    const listed = await jjm(['plugins'], env)
    assert.equal(listed.code, 0, listed.stderr)
    assert.match(listed.stdout, /^jjm-plugin-fixture \S+ \(link\) .*jjm-plugin-fixture$/m)
  })

  it('creates a task in the backend the plugin provides and lists it back from the plugin’s file', async () => {
    const create = await jjm(
      [
        'tasks',
        'create',
        '--storage',
        'fixture-file',
        '--jules',
        'sim',
        '--db',
        db,
        '--repo',
        'acme/api',
        'x',
        '--json',
      ],
      env,
    )
    assert.equal(create.code, 0, create.stderr)
    created = json<Task>(create)
    assert.equal(created.repository, 'acme/api')
    assert.equal(created.prompt, 'x')

    const list = await jjm(['tasks', 'list', '--storage', 'fixture-file', '--jules', 'sim', '--db', db, '--json'], env)
    assert.equal(list.code, 0, list.stderr)
    assert.deepEqual(json<TaskPage>(list).items, [created])

    // The task lives in the plugin's own file beside --db, and SQLite was never opened.
    const file = JSON.parse(await readFile(`${db}.fixture.json`, 'utf8')) as { tasks: Record<string, Task> }
    assert.deepEqual(Object.keys(file.tasks), [created.id])
    assert.equal(existsSync(db), false)
  })

  it('selects the plugin’s backend through JJM_STORAGE as well as --storage', async () => {
    const list = await jjm(['tasks', 'list', '--db', db, '--json'], { ...env, JJM_STORAGE: 'fixture-file' })
    assert.equal(list.code, 0, list.stderr)
    assert.deepEqual(
      json<TaskPage>(list).items.map((task) => task.id),
      [created.id],
    )
  })

  it('refuses an unknown storage name with exit 10, listing each backend with the plugin that provides it', async () => {
    const run = await jjm(['tasks', 'list', '--storage', 'nope', '--db', db], env)
    assert.equal(run.code, 10, run.stderr)
    assert.match(run.stderr, /Error: No storage backend is named "nope"\./)
    const available = /Available: (.*?)\. Choose one/.exec(run.stderr)?.[1] ?? ''
    // Hooks answer in the order oclif loads plugins, which varies; the list grows as jjm gains backends.
    const entries = available.split(', ')
    assert.ok(entries.includes('sqlite (from jjm)'), available)
    assert.ok(entries.includes('fixture-file (from jjm-plugin-fixture)'), available)
    assert.match(run.stderr, /\[JJM_CONFIGURATION\]/)
    assert.equal(run.stdout, '')
  })

  it('lists the sources of the plugin’s Jules backend, selected by --jules or JJM_JULES', async () => {
    const byFlag = await jjm(['sources', 'list', '--jules', 'fixture-jules', '--db', db, '--json'], env)
    assert.equal(byFlag.code, 0, byFlag.stderr)
    assert.deepEqual(
      json<{ items: Array<{ name: string }> }>(byFlag).items.map((source) => source.name),
      ['sources/github/fixture/toy', 'sources/github/fixture/another-toy'],
    )

    const byEnv = await jjm(['sources', 'list', '--db', db], { ...env, JJM_JULES: 'fixture-jules' })
    assert.equal(byEnv.code, 0, byEnv.stderr)
    assert.match(byEnv.stdout, /^ fixture\/toy +main +no +sources\/github\/fixture\/toy$/m)
  })

  it('creates a task through the plugin’s Jules backend', async () => {
    const create = await jjm(
      ['tasks', 'create', '--jules', 'fixture-jules', '--db', db, '--repo', 'fixture/toy', 'Add a README', '--json'],
      env,
    )
    assert.equal(create.code, 0, create.stderr)
    const task = json<Task>(create)
    assert.equal(task.source, 'sources/github/fixture/toy')
    assert.equal(task.sessionName, 'sessions/1')
    assert.equal(task.state, 'queued')
  })

  it('refuses an unknown Jules backend with exit 10, listing the plugin’s beside the built-in ones', async () => {
    const run = await jjm(['sources', 'list', '--jules', 'nope', '--db', db], env)
    assert.equal(run.code, 10, run.stderr)
    assert.match(run.stderr, /Error: No jules backend is named "nope"\./)
    const entries = (/Available: (.*?)\. Choose one/.exec(run.stderr)?.[1] ?? '').split(', ')
    for (const entry of [
      'rest (from jjm)',
      'mcp (from jjm)',
      'sim (from jjm)',
      'fixture-jules (from jjm-plugin-fixture)',
    ]) {
      assert.ok(entries.includes(entry), `${entry} missing from ${entries.join(', ')}`)
    }
    assert.match(run.stderr, /--jules, JJM_JULES or jules\.backend/)
  })

  it('forgets the backend once the plugin is unlinked', async () => {
    const unlinked = await jjm(['plugins', 'unlink', 'jjm-plugin-fixture'], env)
    assert.equal(unlinked.code, 0, unlinked.stderr)

    const listed = await jjm(['plugins'], env)
    assert.doesNotMatch(listed.stdout, /jjm-plugin-fixture/)

    const run = await jjm(['tasks', 'list', '--storage', 'fixture-file', '--db', db, '--json'], env)
    assert.equal(run.code, 10, run.stderr)
    const { error } = json<{ error: { code: string; message: string } }>(run)
    assert.equal(error.code, 'JJM_CONFIGURATION')
    assert.match(error.message, /No storage backend is named "fixture-file"\. Available: sqlite \(from jjm\)/)
    assert.doesNotMatch(error.message, /jjm-plugin-fixture/)

    const sources = await jjm(['sources', 'list', '--jules', 'fixture-jules', '--db', db], env)
    assert.equal(sources.code, 10, sources.stderr)
    assert.match(sources.stderr, /No jules backend is named "fixture-jules"/)
  })
})
