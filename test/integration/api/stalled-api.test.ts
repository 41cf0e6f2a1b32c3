import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Task, TaskEvent } from '../../../src/core/task.js'
import { startTestDaemon } from '../../support/api.js'

const minute = 60_000

function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

describe('the REST API and /metrics: stalled tasks', { timeout: 60_000 }, () => {
  it('shows stalledSince on a task, filters the list by ?stalled=, lists the stalled event and counts jjm_tasks_stalled', async () => {
    // A ten-hour simulated run: the task stays queued for an hour.
    const api = await startTestDaemon({ metrics: true, env: { JJM_SIM_RUN_SECONDS: '36000' } })
    try {
      const created = await api.call('POST', '/api/v1/tasks', {
        key: api.keys.write,
        body: { prompt: 'Add retries', repository: 'acme/api' },
      })
      assert.equal(created.status, 201, created.text)
      const task = created.body as Task
      assert.equal(task.stalledSince, null)
      const other = (await api.call('POST', '/api/v1/tasks', { body: { prompt: 'Other', repository: 'acme/web' } }))
        .body as Task

      // Queued for 10 minutes (the default for queued) with nothing from Jules.
      api.clock.advance(10 * minute)
      await api.core.monitor.syncOnce({ force: true })

      const fetched = await api.call('GET', `/api/v1/tasks/${task.id}`)
      assert.equal(fetched.body.stalledSince, '2026-11-25T10:10:00.000Z')
      const stalled = await api.call('GET', '/api/v1/tasks?stalled=true')
      assert.deepEqual(stalled.body.items.map((item: Task) => item.id).sort(), [task.id, other.id].sort())
      api.clock.advance(minute)
      const fresh = (await api.call('POST', '/api/v1/tasks', { body: { prompt: 'Fresh', repository: 'acme/api' } }))
        .body as Task
      const notStalled = await api.call('GET', '/api/v1/tasks?stalled=false')
      assert.deepEqual(
        notStalled.body.items.map((item: Task) => item.id),
        [fresh.id],
      )
      const bad = await api.call('GET', '/api/v1/tasks?stalled=maybe')
      assert.equal(bad.status, 400)
      assert.equal(bad.body.errors[0].field, 'query.stalled')

      const events = await api.call('GET', `/api/v1/tasks/${task.id}/events?type=stalled`)
      assert.deepEqual(
        events.body.items.map((event: TaskEvent) => [event.type, event.data.state, event.data.quietSeconds]),
        [['stalled', 'queued', 600]],
      )

      const scraped = await api.scrape()
      assert.equal(sample(scraped.text, 'jjm_tasks_stalled'), 2)
    } finally {
      await api.close()
    }
  })

  it('describes the stalled filter and field in the OpenAPI document', async () => {
    const api = await startTestDaemon()
    try {
      const document = (await api.call('GET', '/api/v1/openapi.json', { key: null })).body
      const text = JSON.stringify(document)
      assert.match(text, /"name":"stalled","in":"query"/)
      assert.match(text, /"stalledSince"/)
    } finally {
      await api.close()
    }
  })
})
