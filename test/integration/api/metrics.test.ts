import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { request } from 'undici'
import { startTestDaemon } from '../../support/api.js'

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const wanted = Object.entries(labels).every(([label, value]) => line.includes(`${label}="${value}"`))
    if (wanted) return Number(line.split('#')[0]?.trim().split(' ').at(-1))
  }
  return undefined
}

describe('the metrics port', { timeout: 60_000 }, () => {
  it('shows a created task and the route template of a 404, never the raw task id', async () => {
    const api = await startTestDaemon({ metrics: true })
    try {
      const created = await api.call('POST', '/api/v1/tasks', { body: { prompt: 'Metrics', repository: 'acme/api' } })
      assert.equal(created.status, 201)
      const missing = await api.call('GET', '/api/v1/tasks/01KMISSINGTASK0000000000000')
      assert.equal(missing.status, 404)
      await api.call('GET', '/nowhere/at/all')

      const { contentType, text } = await api.scrape()
      assert.match(contentType, /^text\/plain; version=0\.0\.4/)
      assert.equal(sample(text, 'jjm_tasks_created_total', { repository: 'acme/api' }), 1)
      assert.ok(
        (sample(text, 'jjm_http_request_duration_seconds_count', {
          method: 'GET',
          route: '/api/v1/tasks/:id',
          status_class: '4xx',
        }) ?? 0) >= 1,
        text,
      )
      assert.equal(
        sample(text, 'jjm_http_requests_total', { method: 'POST', route: '/api/v1/tasks', status_class: '2xx' }),
        1,
      )
      assert.ok(sample(text, 'jjm_http_requests_total', { route: 'unmatched', status_class: '4xx' }))
      assert.ok(sample(text, 'jjm_errors_total', { error_type: 'JJM_TASK_NOT_FOUND', operation: 'http' }))
      assert.equal(sample(text, 'jjm_active_tasks', { state: 'queued' }), 1)
      assert.equal(sample(text, 'jjm_active_tasks', { state: 'paused' }), 0, 'every active state is present')
      assert.equal(sample(text, 'jjm_build_info', { version: 'test' }), 1)
      assert.ok((sample(text, 'jjm_db_connections_in_use') ?? -1) >= 0)
      assert.equal(sample(text, 'jjm_jules_breaker_state'), 0)
      assert.ok(sample(text, 'jjm_jules_requests_total', { method: 'createSession', outcome: 'success' }))
      assert.ok(sample(text, 'jjm_process_resident_memory_bytes') !== undefined, 'process metrics carry the prefix')

      // Label values are bounded: neither the created task's id nor the missing one nor the raw path appears.
      assert.ok(!text.includes(created.body.id), 'no task id in the exposition')
      assert.ok(!text.includes('01KMISSINGTASK'), 'no requested id in the exposition')
      assert.ok(!text.includes('/nowhere'), 'no raw path in the exposition')
    } finally {
      await api.close()
    }
  })

  it('carries the request id as an exemplar when the scrape asks for OpenMetrics, and plain text otherwise', async () => {
    const api = await startTestDaemon({ metrics: true })
    try {
      await api.call('GET', '/api/v1/tasks', { headers: { 'x-request-id': 'trace-me-42' } })
      const open = await api.scrape('application/openmetrics-text; version=1.0.0,text/plain;q=0.5')
      assert.match(open.contentType, /^application\/openmetrics-text/)
      assert.match(open.text, /# TYPE jjm_http_requests counter\n/)
      assert.match(
        open.text,
        /jjm_http_requests_total\{method="GET",route="\/api\/v1\/tasks",status_class="2xx"\} 1 # \{request_id="trace-me-42"\} 1 /,
      )
      assert.match(open.text, /jjm_http_request_duration_seconds_bucket\{[^}]*\} 1 # \{request_id="trace-me-42"\}/)
      assert.ok(open.text.endsWith('# EOF\n'))

      // A later plain scrape still names counters with _total and carries no exemplar.
      const plain = await api.scrape()
      assert.match(plain.text, /# TYPE jjm_http_requests_total counter\n/)
      assert.ok(!plain.text.includes('request_id'))
    } finally {
      await api.close()
    }
  })

  it('counts requests refused by a key’s rate limit and by the failed-authentication limit', async () => {
    const api = await startTestDaemon({ metrics: true })
    try {
      const { key } = await api.core.apiKeys().create({ name: 'slow', scopes: ['read'], rateLimitPerMinute: 1 })
      assert.equal((await api.call('GET', '/api/v1/tasks', { key })).status, 200)
      assert.equal((await api.call('GET', '/api/v1/tasks', { key })).status, 429)
      assert.equal((await api.call('GET', '/api/v1/tasks', { key })).status, 429)
      // An address that keeps failing to authenticate is refused by the other limiter.
      for (let attempt = 0; attempt < 10; attempt++) await api.call('GET', '/api/v1/tasks', { key: 'jjm_bad_key' })
      assert.equal((await api.call('GET', '/api/v1/tasks', { key: 'jjm_bad_key' })).status, 429)
      const { text } = await api.scrape()
      assert.equal(sample(text, 'jjm_rate_limited_requests_total', { limiter: 'api_key' }), 2)
      assert.equal(sample(text, 'jjm_rate_limited_requests_total', { limiter: 'auth_failure' }), 1)
      assert.ok(sample(text, 'jjm_errors_total', { error_type: 'JJM_RATE_LIMITED', operation: 'http' }))
    } finally {
      await api.close()
    }
  })

  it('serves /metrics on the API port too, without a key, when asked to', async () => {
    const api = await startTestDaemon({ metrics: true, metricsOnApiPort: true })
    try {
      const answer = await api.call('GET', '/metrics', { key: null })
      assert.equal(answer.status, 200)
      assert.match(answer.text, /# TYPE jjm_tasks_created_total counter/)
      const elsewhere = await request(`${api.metricsUrl?.replace('/metrics', '/other')}`)
      assert.equal(elsewhere.statusCode, 404, 'the metrics port serves only /metrics')
      await elsewhere.body.dump()
    } finally {
      await api.close()
    }
  })

  it('serves no /metrics on the API port by default', async () => {
    const api = await startTestDaemon({ metrics: true })
    try {
      assert.equal((await api.call('GET', '/metrics', { key: null })).status, 404)
    } finally {
      await api.close()
    }
  })
})

describe('the health figures on the metrics port', { timeout: 60_000 }, () => {
  it('exports each health check and readiness, and readiness drops when the daemon stops', async () => {
    const api = await startTestDaemon({ metrics: true })
    try {
      await api.daemon.health.runOnce()
      const { text } = await api.scrape()
      assert.equal(sample(text, 'jjm_health_check_status', { check: 'database' }), 1)
      assert.equal(sample(text, 'jjm_health_check_status', { check: 'jules' }), 1)
      assert.equal(sample(text, 'jjm_ready'), 1)
      const metrics = api.metrics
      assert.ok(metrics)
      await api.daemon.stop(1_000)
      const after = await metrics.expose()
      assert.equal(sample(after.body, 'jjm_ready'), 0, 'a stopping daemon is not ready')
    } finally {
      await api.close()
    }
  })
})
