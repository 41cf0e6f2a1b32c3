import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Task, TaskPage } from '../../src/core/task.js'
import { jjm, json, root, runJs } from '../support/cli.js'

/** Runs the real, built `bin/run.js` as a user would, in its own data and config directories. */

describe('jjm end to end, through the mcp adapter against `jjm mcp serve`', { timeout: 180_000 }, () => {
  let dir: string
  let env: Record<string, string>

  before(async () => {
    assert.ok(
      existsSync(join(root, 'dist', 'src', 'commands', 'mcp', 'serve.js')),
      'dist/ is missing or stale: run `npm run build` (npm test does)',
    )
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-mcp-'))
    env = {
      HOME: dir,
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CACHE_HOME: join(dir, 'cache'),
      JJM_LOG_LEVEL: 'warn',
    }
  })

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('creates a task and lists sources with the MCP server named in the config file', async () => {
    await mkdir(join(dir, 'config', 'jjm'), { recursive: true })
    await writeFile(
      join(dir, 'config', 'jjm', 'config.json'),
      JSON.stringify({ jules: { backend: 'mcp', mcp: { command: process.execPath, args: [runJs, 'mcp', 'serve'] } } }),
    )
    try {
      const created = await jjm(['tasks', 'create', '--repo', 'acme/api', 'x', '--json'], env)
      assert.equal(created.code, 0, created.stderr)
      const task = json<Task>(created)
      assert.match(task.sessionName, /^sessions\/[A-Za-z0-9_-]+$/)
      assert.equal(task.repository, 'acme/api')
      assert.equal(task.state, 'queued')

      const listed = json<TaskPage>(await jjm(['tasks', 'list', '--json'], env))
      assert.deepEqual(
        listed.items.map((item) => item.id),
        [task.id],
      )

      const sources = await jjm(['sources', 'list', '--json'], env)
      assert.equal(sources.code, 0, sources.stderr)
      const names = json<{ items: Array<{ name: string }> }>(sources).items.map((source) => source.name)
      assert.ok(names.includes('sources/github/acme/api'), names.join(', '))
    } finally {
      await rm(join(dir, 'config', 'jjm', 'config.json'), { force: true })
    }
  })

  it('takes the server command from JJM_JULES_MCP_COMMAND and its arguments from JJM_JULES_MCP_ARGS', async () => {
    const sources = await jjm(['sources', 'list', '--json'], {
      ...env,
      JJM_JULES: 'mcp',
      JJM_JULES_MCP_COMMAND: process.execPath,
      JJM_JULES_MCP_ARGS: JSON.stringify([runJs, 'mcp', 'serve']),
    })
    assert.equal(sources.code, 0, sources.stderr)
    assert.ok(json<{ items: unknown[] }>(sources).items.length > 0)
  })

  it('says how to name the server when the mcp backend has no command', async () => {
    const run = await jjm(['sources', 'list'], { ...env, JJM_JULES: 'mcp' })
    assert.equal(run.code, 10, run.stderr)
    assert.match(run.stderr, /JJM_JULES_MCP_COMMAND/)
    assert.match(run.stderr, /mcp serve/)
  })

  it('keeps simulated sessions across server runs with `mcp serve --db`, and forgets them without it', async () => {
    const simDb = join(dir, 'mcp-sim.sqlite')
    const serverArgs = (extra: string[]) => JSON.stringify([runJs, 'mcp', 'serve', '--run-seconds', '600', ...extra])
    const withServer = (extra: string[]) => ({
      ...env,
      JJM_JULES: 'mcp',
      JJM_JULES_MCP_COMMAND: process.execPath,
      JJM_JULES_MCP_ARGS: serverArgs(extra),
      JJM_DB: join(dir, `client-${extra.length}.sqlite`),
    })

    // Each jjm command starts its own server: the message is the second run, and needs the session.
    const stored = withServer(['--db', simDb])
    const created = await jjm(['tasks', 'create', '--repo', 'acme/api', 'Keep me', '--json'], stored)
    assert.equal(created.code, 0, created.stderr)
    const task = json<Task>(created)
    assert.ok(existsSync(simDb), 'mcp serve --db did not create its file')
    const sent = await jjm(['message', task.id, 'Still there?', '--json'], stored)
    assert.equal(sent.code, 0, sent.stderr)

    const inMemory = withServer([])
    const forgotten = json<Task>(await jjm(['tasks', 'create', '--repo', 'acme/api', 'Forget me', '--json'], inMemory))
    const lost = await jjm(['message', forgotten.id, 'Still there?'], inMemory)
    assert.equal(lost.code, 17, lost.stderr)
    assert.match(lost.stderr, /Jules has no sessions\//)
  })

  it('writes nothing but protocol messages on stdout and ends when its client hangs up', async () => {
    const child = spawn(process.execPath, [runJs, 'mcp', 'serve'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...env, JJM_LOG_LEVEL: 'debug' },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '0' } },
    }
    child.stdin.write(`${JSON.stringify(initialize)}\n`)
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`)
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' })}\n`)
    // Hang up once both answers are in.
    const deadline = Date.now() + 30_000
    while (stdout.split('\n').filter(Boolean).length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    child.stdin.end()
    assert.equal(await exited, 0, stderr)

    const messages = stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { jsonrpc: string; id?: number; result?: { tools?: Array<{ name: string }> } })
    assert.ok(
      messages.every((message) => message.jsonrpc === '2.0'),
      stdout,
    )
    const tools = messages.find((message) => message.id === 2)?.result?.tools?.map((tool) => tool.name) ?? []
    assert.deepEqual(tools.sort(), [
      'approve_plan',
      'archive_session',
      'create_session',
      'delete_session',
      'get_session',
      'get_source',
      'list_activities',
      'list_sessions',
      'list_sources',
      'send_message',
      'unarchive_session',
    ])
    assert.match(stderr, /serving MCP on stdio/)
  })
})
