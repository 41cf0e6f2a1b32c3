import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { startTestDaemon } from '../../support/api.js'

describe('the health endpoints', () => {
  it('serve the last background results: many probes, no check run for them', async () => {
    const api = await startTestDaemon()
    try {
      let passes = 0
      api.daemon.health.onResult(() => passes++)
      const first = await api.call('GET', '/health', { key: null })
      assert.equal(first.status, 200)
      assert.equal(first.body.status, 'healthy')
      assert.equal(first.body.version, 'test')
      assert.deepEqual(Object.keys(first.body.checks).sort(), ['database', 'disk', 'jules'])
      for (let i = 0; i < 5; i++) {
        const again = await api.call('GET', '/health', { key: null })
        assert.deepEqual(again.body.checks, first.body.checks, 'the same results, checked at the same time')
        assert.equal((await api.call('GET', '/health/ready', { key: null })).status, 200)
      }
      assert.equal(passes, 0, 'no pass ran after the first one')
    } finally {
      await api.close()
    }
  })

  it('refresh on their interval (health.intervalSeconds)', async () => {
    const api = await startTestDaemon({ env: { JJM_HEALTH_INTERVAL_SECONDS: '1' } })
    try {
      const first = (await api.call('GET', '/health', { key: null })).body
      await sleep(1_300)
      const later = (await api.call('GET', '/health', { key: null })).body
      assert.ok(
        Date.parse(later.checks.database.checkedAt) > Date.parse(first.checks.database.checkedAt),
        'checked again',
      )
      assert.ok(later.uptime >= 1)
    } finally {
      await api.close()
    }
  })

  it('answer not ready (503) with the reason while a migration is pending, and ready once it is applied', async () => {
    const api = await startTestDaemon()
    try {
      const schema = api.core.storage.schema
      assert.ok(schema)
      // The pass the daemon started with must be over: a later runOnce() would join it and see the old schema.
      await api.daemon.health.runOnce()
      const [reverted] = await schema.down()
      await api.daemon.health.runOnce()
      const ready = await api.call('GET', '/health/ready', { key: null })
      assert.equal(ready.status, 503)
      assert.equal(ready.body.status, 'not_ready')
      assert.equal(ready.body.reason, `1 migration(s) pending (${reverted}): run \`jjm migrate up\`.`)
      const health = await api.call('GET', '/health', { key: null })
      assert.equal(health.status, 503)
      assert.equal(health.body.status, 'unhealthy')
      assert.equal(health.body.checks.database.status, 'fail')

      await schema.up()
      await api.daemon.health.runOnce()
      assert.deepEqual((await api.call('GET', '/health/ready', { key: null })).body, { status: 'ready' })
    } finally {
      await api.close()
    }
  })

  it('answer not ready (503) while shutting down, though the checks pass', async () => {
    const api = await startTestDaemon()
    try {
      assert.equal((await api.call('GET', '/health/ready', { key: null })).status, 200)
      api.daemon.api.health.shuttingDown = true
      const draining = await api.call('GET', '/health/ready', { key: null })
      assert.equal(draining.status, 503)
      assert.deepEqual(draining.body, { status: 'not_ready', reason: 'shutting down' })
      assert.equal((await api.call('GET', '/health', { key: null })).body.status, 'healthy')
      assert.equal((await api.call('GET', '/health/live', { key: null })).status, 200)
    } finally {
      api.daemon.api.health.shuttingDown = false
      await api.close()
    }
  })
})
