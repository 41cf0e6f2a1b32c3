import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { root, runJs } from '../support/cli.js'

// `jjm sim serve --activities-404-seconds N` answers activities.list with 404
// for N seconds after a create, as the live Jules API does.

describe('jjm sim serve --activities-404-seconds', { timeout: 60_000 }, () => {
  let dir: string
  let child: ChildProcess
  let url: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jjm-sim-lag-'))
    child = spawn(
      process.execPath,
      [runJs, 'sim', 'serve', '--port', '0', '--activities-404-seconds', '600', '--json'],
      { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: dir, JJM_LOG_LEVEL: 'warn' }, stdio: 'pipe' },
    )
    let text = ''
    url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`jjm sim serve exited with ${code}`)))
      child.stdout?.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8')
        try {
          resolve((JSON.parse(text) as { url: string }).url)
        } catch {
          // not the whole object yet
        }
      })
    })
  })

  after(async () => {
    child?.kill('SIGTERM')
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('answers 404 NOT_FOUND for the activities of a session it has just created, and the session itself', async () => {
    const headers = { 'X-Goog-Api-Key': 'sim-key', 'Content-Type': 'application/json' }
    const created = await fetch(`${url}/v1alpha/sessions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ prompt: 'Add a health endpoint' }),
    })
    const { name } = (await created.json()) as { name: string }
    const activities = await fetch(`${url}/v1alpha/${name}/activities`, { headers })
    assert.equal(activities.status, 404)
    assert.equal(((await activities.json()) as { error: { status: string } }).error.status, 'NOT_FOUND')
    assert.equal((await fetch(`${url}/v1alpha/${name}`, { headers })).status, 200)
  })
})
