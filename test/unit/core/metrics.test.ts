import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { summariseActiveTasks } from '../../../src/core/active-summary.js'
import { ManualClock, OffsetClock } from '../../../src/core/clock.js'
import { createIdGenerator } from '../../../src/core/ids.js'
import type { JulesClient } from '../../../src/core/jules/client.js'
import { instrumentedJulesClient } from '../../../src/core/jules/instrumented.js'
import { createRestClient } from '../../../src/core/jules/rest.js'
import { JobManager } from '../../../src/core/manager.js'
import { Metrics } from '../../../src/core/metrics.js'
import { Monitor } from '../../../src/core/monitor.js'
import { silentLogger } from '../../../src/core/ports.js'
import { openSqlStore, type SqlStorage } from '../../../src/plugins/storage-sql/sql-store.js'
import { createSimClient } from '../../../src/sim/adapter.js'
import { Simulator } from '../../../src/sim/engine.js'
import { type SimServer, startSimServer } from '../../../src/sim/http.js'
import { MemorySimStateStore } from '../../../src/sim/memory-store.js'

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (Object.entries(labels).every(([label, value]) => line.includes(`${label}="${value}"`))) {
      return Number(line.split(' ').at(-1))
    }
  }
  return undefined
}

async function scrape(metrics: Metrics): Promise<string> {
  return (await metrics.expose()).body
}

describe('Metrics', () => {
  it('exposes every named metric with the jjm_ prefix and its TYPE line', async () => {
    const text = await scrape(new Metrics({ version: '1.2.3' }))
    const expected: Record<string, string> = {
      jjm_tasks_created_total: 'counter',
      jjm_tasks_completed_total: 'counter',
      jjm_tasks_failed_total: 'counter',
      jjm_jules_requests_total: 'counter',
      jjm_errors_total: 'counter',
      jjm_notifications_sent_total: 'counter',
      jjm_notifications_failed_total: 'counter',
      jjm_cache_requests_total: 'counter',
      jjm_rate_limited_requests_total: 'counter',
      jjm_http_requests_total: 'counter',
      jjm_task_duration_seconds: 'histogram',
      jjm_http_request_duration_seconds: 'histogram',
      jjm_jules_request_duration_seconds: 'histogram',
      jjm_sync_cycle_duration_seconds: 'histogram',
      jjm_active_tasks: 'gauge',
      jjm_tasks_awaiting_person: 'gauge',
      jjm_db_connections_in_use: 'gauge',
      jjm_monitor_lag_seconds: 'gauge',
      jjm_jules_breaker_state: 'gauge',
      jjm_build_info: 'gauge',
      jjm_process_cpu_seconds_total: 'counter',
      jjm_process_resident_memory_bytes: 'gauge',
      jjm_nodejs_eventloop_lag_seconds: 'gauge',
    }
    for (const [name, type] of Object.entries(expected)) {
      assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `${name} is exposed as a ${type}`)
    }
    for (const line of text.split('\n').filter((l) => l.startsWith('# TYPE'))) {
      assert.match(line, /^# TYPE jjm_/, 'every metric carries the prefix')
    }
    assert.equal(sample(text, 'jjm_build_info', { version: '1.2.3' }), 1)
  })

  it('pushes no process metrics when asked not to (a Pushgateway run)', async () => {
    const text = await scrape(new Metrics({ version: 'x', processMetrics: false }))
    assert.ok(!text.includes('jjm_process_cpu_seconds_total'))
    assert.match(text, /# TYPE jjm_sync_cycle_duration_seconds histogram/)
  })

  it('keeps label values bounded: an odd HTTP method, an unknown route, a foreign error', async () => {
    const metrics = new Metrics({ version: 'x', processMetrics: false })
    metrics.httpRequest({ method: 'BREW', route: undefined, status: 418, seconds: 0.001 })
    metrics.error(new Error('boom at /api/v1/tasks/01K'), 'http')
    metrics.error({ code: 'not a jjm code with spaces' }, 'http')
    const text = await scrape(metrics)
    assert.equal(
      sample(text, 'jjm_http_requests_total', { method: 'other', route: 'unmatched', status_class: '4xx' }),
      1,
    )
    assert.equal(sample(text, 'jjm_errors_total', { error_type: 'JJM_INTERNAL', operation: 'http' }), 2)
    assert.ok(!text.includes('BREW') && !text.includes('boom'))
  })

  it('reads the store once for all its gauges within the cache time, and shows every active state', async () => {
    const metrics = new Metrics({ version: 'x', processMetrics: false, figuresTtlMs: 60_000 })
    const clock = new ManualClock('2026-11-25T10:00:00.000Z')
    let reads = 0
    metrics.attach({
      clock,
      activeTasks: async () => {
        reads++
        return summariseActiveTasks([
          {
            state: 'awaiting_plan_approval',
            lastSyncedAt: '2026-11-25T09:59:30.000Z',
            createdAt: '2026-11-25T09:00:00Z',
          },
          { state: 'in_progress', lastSyncedAt: null, createdAt: '2026-11-25T09:58:00.000Z' },
        ])
      },
      breakerState: () => 'half_open',
      connectionsInUse: () => 3,
    })
    const text = await scrape(metrics)
    await scrape(metrics)
    assert.equal(reads, 1, 'one query serves every gauge and the next scrape')
    assert.equal(sample(text, 'jjm_active_tasks', { state: 'awaiting_plan_approval' }), 1)
    assert.equal(sample(text, 'jjm_active_tasks', { state: 'queued' }), 0)
    assert.equal(sample(text, 'jjm_tasks_awaiting_person'), 1)
    assert.equal(sample(text, 'jjm_monitor_lag_seconds'), 120, 'the never-synced task counts from its creation')
    assert.equal(sample(text, 'jjm_jules_breaker_state'), 1)
    assert.equal(sample(text, 'jjm_db_connections_in_use'), 3)
  })

  it('still answers a scrape while the store fails, counting the error', async () => {
    const metrics = new Metrics({ version: 'x', processMetrics: false, figuresTtlMs: 0 })
    metrics.attach({
      activeTasks: async () => {
        throw Object.assign(new Error('database is down'), { code: 'JJM_STORAGE' })
      },
    })
    await scrape(metrics)
    const text = await scrape(metrics)
    assert.equal(
      sample(text, 'jjm_errors_total', { error_type: 'JJM_STORAGE', operation: 'metrics' }),
      2,
      'one failed read per scrape, shared by the gauges',
    )
  })
})

describe('Metrics recorded by the manager and the monitor', () => {
  let clock: ManualClock
  let storage: SqlStorage
  let metrics: Metrics
  let manager: JobManager
  let monitor: Monitor

  beforeEach(async () => {
    clock = new ManualClock('2026-11-25T10:00:00.000Z')
    storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
    const simulator = new Simulator({ store: storage.sim, clock, runSeconds: 20 })
    metrics = new Metrics({ version: 'x', processMetrics: false })
    const jules = instrumentedJulesClient(createSimClient(simulator), metrics)
    const deps = { jules, store: storage.store, clock, logger: silentLogger, metrics }
    manager = new JobManager({ ...deps, newId: createIdGenerator() })
    monitor = new Monitor({ ...deps, concurrency: 2, sleep: async (ms) => clock.advance(ms) })
  })
  afterEach(async () => {
    await storage.close()
  })

  it('counts a task the monitor sees complete and observes its duration from creation', async () => {
    await manager.createTask({ prompt: 'x', repository: 'acme/api' })
    clock.advance(90_000)
    const report = await monitor.syncOnce()
    assert.equal(report.changes[0]?.to, 'completed')
    const text = await scrape(metrics)
    assert.equal(sample(text, 'jjm_tasks_created_total', { repository: 'acme/api' }), 1)
    assert.equal(sample(text, 'jjm_tasks_completed_total', { repository: 'acme/api' }), 1)
    assert.equal(sample(text, 'jjm_tasks_failed_total', { repository: 'acme/api' }), undefined)
    assert.equal(sample(text, 'jjm_task_duration_seconds_count'), 1)
    const seconds = sample(text, 'jjm_task_duration_seconds_sum') ?? 0
    assert.ok(seconds > 0 && seconds <= 90, `the duration is the session's run time on the test's clock (${seconds})`)
    assert.equal(sample(text, 'jjm_task_duration_seconds_bucket', { le: '60' }), 1)
    assert.equal(sample(text, 'jjm_sync_cycle_duration_seconds_count'), 1)
    assert.equal(sample(text, 'jjm_monitor_last_pass_timestamp_seconds'), clock.now() / 1000)
    assert.ok(sample(text, 'jjm_jules_requests_total', { method: 'getSession', outcome: 'success' }))

    await monitor.syncOnce()
    assert.equal(
      sample(await scrape(metrics), 'jjm_tasks_completed_total', { repository: 'acme/api' }),
      1,
      'a finished task is counted once',
    )
  })

  it('counts a failed creation under create_task with its error code', async () => {
    await assert.rejects(manager.createTask({ prompt: '', repository: 'acme/api' }))
    const text = await scrape(metrics)
    assert.equal(sample(text, 'jjm_errors_total', { error_type: 'JJM_VALIDATION', operation: 'create_task' }), 1)
    assert.equal(sample(text, 'jjm_tasks_created_total'), undefined)
  })
})

describe('Jules request outcomes (rest adapter against the HTTP simulator)', () => {
  let server: SimServer
  let simulator: Simulator
  let metrics: Metrics
  let jules: JulesClient

  beforeEach(async () => {
    const clock = new OffsetClock(new ManualClock('2026-01-01T00:00:00.000Z'))
    simulator = new Simulator({ store: new MemorySimStateStore(), clock, runSeconds: 20 })
    server = await startSimServer({ simulator, clock })
    metrics = new Metrics({ version: 'x', processMetrics: false })
    const rest = createRestClient({
      baseUrl: server.url,
      apiKey: 'sim-key',
      // One attempt per call, so that each fault is one outcome; the breaker opens after two outages.
      maxAttempts: 1,
      breaker: { failureThreshold: 2, cooldownMs: 60_000 },
    })
    jules = instrumentedJulesClient(rest, metrics)
  })
  afterEach(async () => {
    await jules.close?.()
    await server.close()
  })

  it('classifies success, 429, 404, 503 and an open circuit, and reports the breaker state', async () => {
    await jules.listSources()
    simulator.injectFault({ status: 429, retryAfterSeconds: 1 })
    await assert.rejects(jules.listSources())
    await assert.rejects(jules.getSession('sessions/does-not-exist'))
    simulator.injectFault({ status: 503, count: 2 })
    await assert.rejects(jules.listSources())
    await assert.rejects(jules.listSources())
    await assert.rejects(jules.listSources(), /stopped calling it/)

    metrics.attach({ breakerState: () => jules.circuit?.().state })
    const text = await scrape(metrics)
    const count = (method: string, outcome: string) => sample(text, 'jjm_jules_requests_total', { method, outcome })
    assert.equal(count('listSources', 'success'), 1)
    assert.equal(count('listSources', 'rate_limited'), 1)
    assert.equal(count('getSession', 'client_error'), 1)
    assert.equal(count('listSources', 'server_error'), 2)
    assert.equal(count('listSources', 'circuit_open'), 1)
    assert.equal(sample(text, 'jjm_jules_request_duration_seconds_count', { method: 'listSources' }), 5)
    assert.equal(sample(text, 'jjm_jules_breaker_state'), 2, 'the breaker is open')
  })

  it('classifies a call that outlives its deadline as a timeout and a refused connection as unavailable', async () => {
    const slow = instrumentedJulesClient(
      createRestClient({ baseUrl: server.url, apiKey: 'sim-key', maxAttempts: 1, timeoutMs: 100 }),
      metrics,
    )
    const down = instrumentedJulesClient(
      createRestClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'sim-key', maxAttempts: 1 }),
      metrics,
    )
    try {
      simulator.injectFault({ status: 200, delayMs: 1_000 })
      await assert.rejects(slow.listSources())
      await assert.rejects(down.listSources())
      const text = await scrape(metrics)
      assert.equal(sample(text, 'jjm_jules_requests_total', { method: 'listSources', outcome: 'timeout' }), 1)
      assert.equal(sample(text, 'jjm_jules_requests_total', { method: 'listSources', outcome: 'unavailable' }), 1)
    } finally {
      await slow.close?.()
      await down.close?.()
    }
  })
})
