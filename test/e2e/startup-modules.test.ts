import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { type Run, root, runJs } from '../support/cli.js'

// Which packages a command loads decides most of what it costs to start (see
// docs/performance.md, "Starting a command"). These tests run the built CLI
// with a preload that records every module file it loads, and assert on the
// packages, never on time.

const hook = join(root, 'test', 'support', 'record-loaded-modules.mjs')
/** Each only for the commands that use it: MCP for `--jules mcp` and `jjm mcp serve`, HTTP and metrics for the daemon, the migrator for migrating. */
const heavy = ['@modelcontextprotocol/sdk', 'prom-client', 'polka', 'umzug', '@mikro-orm/migrations']
const orm = ['@mikro-orm/core', 'knex', 'better-sqlite3']

interface Loaded {
  code: number
  stderr: string
  packages: Set<string>
}

describe('what a command loads', { timeout: 180_000 }, () => {
  let dir: string
  let env: Record<string, string>

  /** Runs `node nodeArgs` as a user would (only this environment, empty standard input). */
  function run(nodeArgs: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
    return new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        nodeArgs,
        { cwd: root, env: { PATH: process.env.PATH ?? '', ...env, ...extraEnv }, timeout: 60_000 },
        (error, stdout, stderr) =>
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
      )
      child.stdin?.end()
    })
  }

  /** Runs `jjm args` and returns the packages (under node_modules) it loaded. */
  async function loads(args: string[]): Promise<Loaded> {
    const record = join(dir, `loaded-${Math.random().toString(36).slice(2)}.txt`)
    const { code, stderr } = await run(['--import', hook, runJs, ...args], { JJM_TEST_LOADED_MODULES: record })
    const packages = new Set<string>()
    for (const line of (await readFile(record, 'utf8')).split('\n')) {
      // MikroORM reads every @mikro-orm package's package.json to compare versions; that loads no code.
      if (line.endsWith('/package.json')) continue
      const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(line)
      if (match?.[1] !== undefined) packages.add(match[1])
    }
    return { code, stderr, packages }
  }

  function assertNone(loaded: Loaded, names: string[], what: string): void {
    const found = names.filter((name) => loaded.packages.has(name))
    assert.deepEqual(found, [], `${what} loaded ${found.join(', ')}`)
  }

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    dir = await mkdtemp(join(tmpdir(), 'jjm-startup-e2e-'))
    env = {
      HOME: dir,
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CACHE_HOME: join(dir, 'cache'),
      JJM_DB: join(dir, 'jjm.db'),
      JJM_LOG_LEVEL: 'warn',
    }
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('prints the help without the ORM, MCP, HTTP, metrics or migrator packages', async () => {
    const loaded = await loads(['--help'])
    assert.equal(loaded.code, 0, loaded.stderr)
    assertNone(loaded, [...heavy, ...orm], 'jjm --help')
    assert.ok(loaded.packages.has('@oclif/core'), 'the recorder sees what the command loads')
  })

  it('prints the version line oclif prints, without loading oclif or anything heavy', async () => {
    const loaded = await loads(['--version'])
    assert.equal(loaded.code, 0, loaded.stderr)
    assertNone(loaded, ['@oclif/core', ...heavy, ...orm], 'jjm --version')

    const direct = await run([runJs, '--version'])
    assert.equal(direct.code, 0, direct.stderr)
    const oclif = await run([
      '--input-type=module',
      '-e',
      `import { execute } from '@oclif/core'; await execute({ dir: ${JSON.stringify(pathToFileURL(runJs).href)}, args: ['--version'] })`,
    ])
    assert.equal(oclif.code, 0, oclif.stderr)
    assert.match(oclif.stdout, /^jjm\/\S+ \S+-\S+ node-v\S+\n$/)
    assert.equal(direct.stdout, oclif.stdout)
  })

  it('loads the migrator to set up a new database, and not again once the schema is current', async () => {
    const first = await loads(['tasks', 'list', '--jules', 'sim'])
    assert.equal(first.code, 0, first.stderr)
    assert.ok(first.packages.has('umzug'), 'a new database is set up by the migrator')

    const list = await loads(['tasks', 'list', '--jules', 'sim'])
    assert.equal(list.code, 0, list.stderr)
    assert.ok(
      list.packages.has('@mikro-orm/core') && list.packages.has('better-sqlite3'),
      'the list reads the database',
    )
    assertNone(list, [...heavy, 'pg', '@mikro-orm/postgresql'], 'jjm tasks list on SQLite')
  })

  it('reports the migration status without loading the migrator', async () => {
    const status = await loads(['migrate', 'status'])
    assert.equal(status.code, 0, status.stderr)
    assertNone(status, heavy, 'jjm migrate status')
  })
})
