import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { startTestDaemon } from '../../support/api.js'

describe('the daemon’s monitor loop', () => {
  it('syncs tasks created through the API without being asked, and readiness fails once shutdown begins', async () => {
    const api = await startTestDaemon({ monitor: true })
    try {
      const created = await api.call('POST', '/api/v1/tasks', { body: { prompt: 'Loop me', repository: 'acme/api' } })
      api.clock.advance(60_000)
      const deadline = Date.now() + 10_000
      let state = created.body.state
      while (state !== 'completed' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        state = (await api.call('GET', `/api/v1/tasks/${created.body.id}/status`)).body.state
      }
      assert.equal(state, 'completed')
      assert.ok(api.daemon.lastReport(), 'a pass ran')

      const stopping = api.daemon.stop(2_000)
      assert.equal(api.daemon.api.health.shuttingDown, true)
      await stopping
      await assert.rejects(api.call('GET', '/health/live'), 'no longer accepting connections')
    } finally {
      await api.close()
    }
  })
})
