import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { after, describe, it, type TestContext } from 'node:test'
import { parse } from 'yaml'
import {
  dashboardQueries,
  dataPanels,
  loadDashboard,
  substituteVariables,
  type VariableValues,
} from '../../../scripts/dashboard.js'
import { type RunningPrometheus, startPrometheus } from '../../support/prometheus.js'

const root = new URL('../../../', import.meta.url).pathname
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JavaScript template
const datasourceUid = '${datasource}'
const variables: VariableValues = { job: 'jjm', instance: '.*', range: '1h', rateInterval: '1m' }

describe('the Grafana dashboard (config/grafana_dashboard.json)', () => {
  it('gives every panel PromQL queries on the datasource variable', async () => {
    const dashboard = await loadDashboard()
    const panels = dataPanels(dashboard)
    assert.ok(panels.length >= 20, `only ${panels.length} panels`)
    for (const panel of panels) {
      assert.equal(panel.datasource?.uid, datasourceUid, `panel "${panel.title}" datasource`)
      assert.ok((panel.targets ?? []).length > 0, `panel "${panel.title}" has no query`)
      for (const target of panel.targets ?? []) {
        assert.ok(target.expr.trim() !== '', `panel "${panel.title}" ${target.refId} has an empty query`)
      }
      assert.ok(panel.description, `panel "${panel.title}" says what it shows`)
    }
    assert.equal(new Set(panels.map((panel) => panel.id)).size, panels.length, 'panel ids are unique')
  })

  it('shows throughput, errors, latency percentiles, tasks, connections, cache, CPU and memory', async () => {
    const exprs = dashboardQueries(await loadDashboard())
      .map((query) => query.expr)
      .join('\n')
    for (const metric of [
      'jjm_tasks_created_total',
      'jjm_tasks_completed_total',
      'jjm_tasks_failed_total',
      'jjm_http_requests_total',
      'jjm_errors_total',
      'histogram_quantile(0.5, sum by (le) (rate(jjm_http_request_duration_seconds_bucket',
      'histogram_quantile(0.99, sum by (le) (rate(jjm_jules_request_duration_seconds_bucket',
      'jjm_active_tasks',
      'jjm_tasks_awaiting_person',
      'jjm_tasks_stalled',
      'jjm_db_connections_in_use',
      'jjm_cache_requests_total',
      'jjm_process_cpu_seconds_total',
      'jjm_process_resident_memory_bytes',
      'jjm_nodejs_heap_size_used_bytes',
    ]) {
      assert.ok(exprs.includes(metric), `no panel shows ${metric}`)
    }
  })

  it('states the target of each SLO panel in its title', async () => {
    const titles = dataPanels(await loadDashboard()).map((panel) => panel.title)
    for (const slo of [
      /^Availability \(SLO 99\.9 %\)$/,
      /^Latency SLO.*target 99 %/,
      /^Error-rate SLO.*target < 1 %/,
    ]) {
      assert.ok(
        titles.some((title) => slo.test(title)),
        `no panel titled ${slo}`,
      )
    }
  })

  it('offers datasource, job and instance variables, a time range, and deployment and restart annotations', async () => {
    const dashboard = await loadDashboard()
    assert.ok(dashboard.schemaVersion >= 39)
    const names = dashboard.templating.list.map((variable) => variable.name)
    assert.deepEqual(names, ['datasource', 'job', 'instance'])
    const instance = dashboard.templating.list.find((variable) => variable.name === 'instance')
    assert.equal(instance?.allValue, '.*')
    assert.ok(dashboard.time.from.startsWith('now-'))
    const annotations = dashboard.annotations.list.filter((annotation) => annotation.expr)
    assert.deepEqual(
      annotations.map((annotation) => annotation.name),
      ['Deployments', 'Restarts'],
    )
    for (const annotation of annotations) assert.equal(annotation.datasource?.uid, datasourceUid)
  })

  it('uses only variables that the checks below know how to fill in', async () => {
    for (const query of dashboardQueries(await loadDashboard())) {
      assert.doesNotThrow(() => substituteVariables(query.expr, variables), query.origin)
    }
  })
})

describe('the PromQL of the dashboard and of the rules, in a real Prometheus', () => {
  let prometheus: RunningPrometheus | undefined
  const shared = async (t: TestContext) => {
    prometheus ??= await startPrometheus(t)
    return prometheus
  }
  after(async () => {
    await prometheus?.stop()
  })

  it('refuses an expression that does not parse, so the checks below can fail', async (t) => {
    const prom = await shared(t)
    if (!prom) return
    const answer = await prom.query('sum(rate(jjm_tasks_created_total[5m])')
    assert.equal(answer.httpStatus, 400)
    assert.equal(answer.errorType, 'bad_data')
  })

  it('parses every dashboard expression, with its variables filled in', async (t) => {
    const prom = await shared(t)
    if (!prom) return
    const queries = dashboardQueries(await loadDashboard())
    const failures: string[] = []
    for (const query of queries) {
      const answer = await prom.query(substituteVariables(query.expr, variables))
      if (answer.status !== 'success') failures.push(`${query.origin}: ${answer.httpStatus} ${answer.error}`)
    }
    assert.deepEqual(failures, [])
  })

  it('parses every alert and recording rule expression', async (t) => {
    const prom = await shared(t)
    if (!prom) return
    const rules = parse(await readFile(`${root}config/alerts.yml`, 'utf8')) as {
      groups: { rules: { alert?: string; record?: string; expr: string }[] }[]
    }
    const failures: string[] = []
    for (const rule of rules.groups.flatMap((group) => group.rules)) {
      const answer = await prom.query(rule.expr)
      if (answer.status !== 'success') failures.push(`${rule.alert ?? rule.record}: ${answer.error}`)
    }
    assert.deepEqual(failures, [])
  })
})
