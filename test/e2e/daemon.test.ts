import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { jjm, json, root, runJs } from '../support/cli.js'

function environment(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    JJM_JULES: 'sim',
    JJM_LOG_LEVEL: 'warn',
    ...extra,
  }
}

/** Starts `jjm daemon --port 0 --metrics-port 0` and resolves once it says where it listens. */
function startDaemon(env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, [runJs, 'daemon', '--port', '0', '--metrics-port', '0', ...args], {
    cwd: root,
    env,
  })
  let stderr = ''
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start:\n${stderr}`)), 30_000)
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      const match = /listening on (http:\/\/\S+)/.exec(stderr)
      if (match?.[1]) {
        clearTimeout(timer)
        resolve(match[1])
      }
    })
    void exited.then(() => reject(new Error(`daemon exited before listening:\n${stderr}`)))
  })
  const metricsUrl = url.then(() => /metrics (http:\/\/\S+\/metrics)/.exec(stderr)?.[1] ?? '')
  return { child, url, metricsUrl, exited, stderr: () => stderr }
}

describe('jjm daemon', { timeout: 120_000 }, () => {
  it('serves keys made by `jjm api-keys create` and stops gracefully on SIGTERM with exit 0, ending live streams', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-daemon-'))
    const env = environment(dir)
    try {
      const created = await jjm(['api-keys', 'create', '--name', 'e2e', '--scopes', 'write', '--json'], env)
      assert.equal(created.code, 0, created.stderr)
      const { key, prefix } = json<{ key: string; prefix: string }>(created)
      assert.ok(key.startsWith(`${prefix}_`))

      const daemon = startDaemon(env, ['--interval', '1'])
      const url = await daemon.url
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
      const made = await request(`${url}/api/v1/tasks`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ prompt: 'From the API', repository: 'acme/api' }),
      })
      assert.equal(made.statusCode, 201)
      const task = (await made.body.json()) as { id: string }

      const listed = await jjm(['api-keys', 'list', '--json'], env)
      const entry = json<{ items: Array<{ name: string; lastUsedAt: string | null }> }>(listed).items[0]
      assert.equal(entry?.name, 'e2e')
      assert.ok(entry?.lastUsedAt, 'the daemon recorded the use of the key')

      const stream = await request(`${url}/api/v1/tasks/${task.id}/stream`, { headers })
      assert.equal(stream.statusCode, 200)
      const streamEnded = stream.body.text()

      const started = Date.now()
      daemon.child.kill('SIGTERM')
      const exit = await daemon.exited
      assert.deepEqual(exit, { code: 0, signal: null }, daemon.stderr())
      assert.ok(Date.now() - started < 10_000, 'stopped well within the deadline')
      await streamEnded
      assert.match(daemon.stderr(), /SIGTERM: stopping/)
      assert.match(daemon.stderr(), /jjm daemon stopped/)

      // The same database, from the CLI: the task the API made is there.
      const shown = await jjm(['tasks', 'show', task.id, '--json'], env)
      assert.equal(shown.code, 0, shown.stderr)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('says which port is taken and exits with the configuration code', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-daemon-'))
    const env = environment(dir)
    const first = startDaemon(env, ['--no-monitor'])
    try {
      const port = new URL(await first.url).port
      const second = await jjm(['daemon', '--port', port, '--metrics-port', '0', '--no-monitor'], env)
      assert.equal(second.code, 10)
      assert.match(second.stderr, new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is in use`))

      // The startup line says where the metrics are; a taken metrics port is refused the same way.
      const metricsUrl = await first.metricsUrl
      const scraped = await request(metricsUrl)
      assert.equal(scraped.statusCode, 200)
      assert.match(await scraped.body.text(), /# TYPE jjm_http_request_duration_seconds histogram/)
      const metricsPort = new URL(metricsUrl).port
      const third = await jjm(['daemon', '--port', '0', '--metrics-port', metricsPort, '--no-monitor'], env)
      assert.equal(third.code, 10)
      assert.match(third.stderr, new RegExp(`Port ${metricsPort} .* in use.*--metrics-port`))
    } finally {
      first.child.kill('SIGTERM')
      await first.exited
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses bad api-keys input with clear messages', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-daemon-'))
    const env = environment(dir)
    try {
      const scope = await jjm(['api-keys', 'create', '--name', 'x', '--scopes', 'root'], env)
      assert.equal(scope.code, 11)
      assert.match(scope.stderr, /Unknown scope "root": use read, write, admin/)
      const rate = await jjm(['api-keys', 'create', '--name', 'x', '--rate', 'lots'], env)
      assert.equal(rate.code, 11)
      assert.match(rate.stderr, /--rate "lots" is not a rate/)
      const expires = await jjm(['api-keys', 'create', '--name', 'x', '--expires', 'soon'], env)
      assert.equal(expires.code, 11)
      const unknown = await jjm(['api-keys', 'revoke', 'ghost'], env)
      assert.equal(unknown.code, 13)
      assert.match(unknown.stderr, /No API key matches "ghost"/)
      const json = await jjm(['api-keys', 'create', '--name', 'x', '--storage', 'json'], env)
      assert.equal(json.code, 10)
      assert.match(json.stderr, /legacy file format.*jjm migrate import-json FILE/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
