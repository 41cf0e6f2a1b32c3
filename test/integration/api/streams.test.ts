import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import WebSocket from 'ws'
import type { Task } from '../../../src/core/task.js'
import { startTestDaemon, type TestDaemon } from '../../support/api.js'

interface StreamedUpdate {
  id: string
  taskId: string
  type: string
  task?: Task
  at: string
}

/** Reads SSE messages from a live response until `enough` says stop. */
async function readSse(
  url: string,
  headers: Record<string, string>,
  enough: (updates: StreamedUpdate[], comments: string[]) => boolean,
  whenOpen: () => Promise<void> = async () => {},
): Promise<{ updates: StreamedUpdate[]; comments: string[]; contentType: string }> {
  const controller = new AbortController()
  const response = await request(url, { headers, signal: controller.signal })
  assert.equal(response.statusCode, 200)
  const updates: StreamedUpdate[] = []
  const comments: string[] = []
  let buffer = ''
  const opened = whenOpen()
  const timeout = setTimeout(() => controller.abort(), 10_000)
  try {
    for await (const chunk of response.body) {
      buffer += chunk.toString()
      let end = buffer.indexOf('\n\n')
      while (end >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const lines = block.split('\n')
        const data = lines.find((line) => line.startsWith('data: '))
        const id = lines.find((line) => line.startsWith('id: '))
        comments.push(...lines.filter((line) => line.startsWith(':')))
        if (data) updates.push({ ...JSON.parse(data.slice(6)), id: id?.slice(4) })
        end = buffer.indexOf('\n\n')
      }
      if (enough(updates, comments)) break
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error
  } finally {
    clearTimeout(timeout)
    controller.abort()
  }
  await opened
  return { updates, comments, contentType: String(response.headers['content-type']) }
}

describe('the REST API: live updates', () => {
  let api: TestDaemon
  before(async () => {
    api = await startTestDaemon({ heartbeatMs: 100 })
  })
  after(async () => {
    await api.close()
  })

  const createTask = async (): Promise<Task> =>
    (await api.call('POST', '/api/v1/tasks', { body: { prompt: 'Stream me', repository: 'acme/api' } })).body as Task

  it('streams a task changed by the simulator over SSE, with heartbeats', async () => {
    const task = await createTask()
    const { updates, comments, contentType } = await readSse(
      `${api.url}/api/v1/tasks/${task.id}/stream`,
      { authorization: `Bearer ${api.keys.read}` },
      (seen, notes) =>
        seen.some((update) => update.task?.state !== 'queued') && notes.some((note) => note.includes('heartbeat')),
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 150))
        api.clock.advance(3_000)
        await api.core.monitor.syncOnce({ force: true })
      },
    )
    assert.match(contentType, /^text\/event-stream/)
    const moved = updates.find((update) => update.task?.state !== 'queued')
    assert.ok(moved, `an update with the new state, got ${JSON.stringify(updates)}`)
    assert.equal(moved.taskId, task.id)
    assert.equal(moved.id, moved.at, 'the event id is the instant to resume from')
    assert.ok(comments.some((note) => note.includes('heartbeat')))
  })

  it('resumes from Last-Event-ID with the tasks that changed since', async () => {
    const before = await createTask()
    api.clock.advance(1_000)
    // Resuming repeats updates at the mark itself (at least once), so the mark is after \`before\`.
    const mark = new Date(api.clock.now()).toISOString()
    api.clock.advance(1_000)
    const later = await createTask()
    const { updates } = await readSse(
      `${api.url}/api/v1/stream`,
      { authorization: `Bearer ${api.keys.read}`, 'last-event-id': mark },
      (seen) => seen.some((update) => update.taskId === later.id),
    )
    assert.ok(updates.some((update) => update.taskId === later.id))
    assert.ok(!updates.some((update) => update.taskId === before.id), 'nothing from before the mark')
  })

  it('refuses a stream without a key, and a resume point that is not an instant', async () => {
    assert.equal((await api.call('GET', '/api/v1/stream', { key: null })).status, 401)
    const bad = await api.call('GET', '/api/v1/stream', { headers: { 'last-event-id': 'yesterday' } })
    assert.equal(bad.status, 400)
  })

  it('delivers the same updates over WebSocket, for all tasks: the creation and the change the simulator made', async () => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/api/v1/ws`, {
      headers: { authorization: `Bearer ${api.keys.read}` },
    })
    const messages: Array<{ event: string; data?: StreamedUpdate }> = []
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    ws.on('message', (raw) => messages.push(JSON.parse(raw.toString())))
    const task = await createTask()
    // The simulator moves the session on; the monitor's sync publishes the new state.
    api.clock.advance(3_000)
    await api.core.monitor.syncOnce({ force: true })
    const moved = (message: { data?: StreamedUpdate }) =>
      message.data?.taskId === task.id && message.data.task?.state !== undefined && message.data.task.state !== 'queued'
    const deadline = Date.now() + 5_000
    while (!messages.some(moved) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    ws.close()
    const update = messages.find(moved)
    assert.equal(update?.event, 'task', JSON.stringify(messages))
    assert.equal(update?.data?.task?.id, task.id)
    assert.ok(messages.some((message) => message.data?.taskId === task.id && message.data.type === 'created'))
  })

  it('refuses a WebSocket without a valid key with a problem answer', async () => {
    const ws = new WebSocket(`${api.url.replace('http', 'ws')}/api/v1/ws`, {
      headers: { authorization: 'Bearer nope' },
    })
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.once('open', () => resolve(101))
      ws.once('error', () => {})
    })
    assert.equal(status, 401)
    const byToken = new WebSocket(`${api.url.replace('http', 'ws')}/api/v1/ws?access_token=${api.keys.read}`)
    await new Promise<void>((resolve, reject) => {
      byToken.once('open', () => resolve())
      byToken.once('error', reject)
    })
    byToken.close()
  })
})
