/**
 * The end-to-end check of the issue: a real Prometheus scrapes a running jjm
 * daemon (over the simulator) while traffic goes through it, then every
 * PromQL expression of the dashboard must return series, and every metric an
 * alert or recording rule reads must exist.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { parse } from 'yaml'
import { dashboardQueries, loadDashboard, substituteVariables } from '../../../scripts/dashboard.js'
import { startTestDaemon, type TestDaemon } from '../../support/api.js'
import { startPrometheus } from '../../support/prometheus.js'

const root = new URL('../../../', import.meta.url).pathname

/** Queries that may rightly be empty after a short run, and why. */
const mayBeEmpty: Record<string, string> = {
  'annotation "Restarts"': 'the daemon did not restart during the test',
}

/** Where the test daemon serves its metrics: its own metrics port. */
function metricsUrlOf(api: TestDaemon): URL {
  if (api.metricsUrl === undefined) throw new Error('the test daemon was started without metrics')
  return new URL(api.metricsUrl)
}

/** A webhook receiver that answers 200, for the notifications that succeed. */
async function webhookReceiver(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(200).end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, server }
}

/** Metric names an expression reads (recording rule names expanded to theirs). */
function metricsRead(expr: string, recorded: Map<string, string>): string[] {
  const names = new Set<string>()
  for (const match of expr.matchAll(/\b(jjm:[a-z0-9_:]+|jjm_[a-z0-9_]+|up)\b(?!\s*\()/g)) {
    const name = match[1] as string
    const rule = recorded.get(name)
    if (rule !== undefined) for (const inner of metricsRead(rule, recorded)) names.add(inner)
    else names.add(name)
  }
  return [...names]
}

describe('the dashboard and the alerts against a real Prometheus scraping a running daemon', () => {
  it('finds series for every dashboard query and every metric the rules read, after traffic through the simulator', {
    timeout: 120_000,
  }, async (t) => {
    const good = await webhookReceiver()
    const api = await startTestDaemon({
      monitor: true,
      metrics: true,
      env: {
        JJM_NOTIFIERS: JSON.stringify([
          { name: 'works', backend: 'webhook', url: good.url },
          // Nothing listens on port 9 of loopback: every delivery fails.
          { name: 'broken', backend: 'webhook', url: 'http://127.0.0.1:9/hook' },
        ]),
      },
    })
    let prometheus: Awaited<ReturnType<typeof startPrometheus>>
    let driving = true
    try {
      const metrics = metricsUrlOf(api)
      const probe = await fetch(metrics)
      assert.equal(probe.status, 200, `the daemon serves no metrics at ${metrics}`)

      prometheus = await startPrometheus(t, {
        scrape: [{ job: 'jjm', targets: [metrics.host], metricsPath: metrics.pathname }],
        ruleFiles: [`${root}config/alerts.yml`],
      })
      if (!prometheus) return
      await prometheus.waitForTarget('jjm')

      // Tasks that complete, fail, and wait for a person; a rate-limited key.
      const created: string[] = []
      for (const prompt of ['Add a README', 'Break the build [sim:fail]', 'Ask me something [sim:feedback]']) {
        const answer = await api.call('POST', '/api/v1/tasks', { body: { prompt, repository: 'acme/api' } })
        assert.equal(answer.status, 201, answer.text)
        created.push(answer.body.id)
      }
      await api.call('POST', '/api/v1/tasks', {
        body: { prompt: 'Plan first', repository: 'acme/web', requirePlanApproval: true },
      })
      const limited = await api.core.apiKeys().create({ name: 'limited', scopes: ['read'], rateLimitPerMinute: 1 })
      for (let i = 0; i < 3; i++) await api.call('GET', '/api/v1/tasks', { key: limited.key })

      // Steady traffic while Prometheus scrapes: reads, a miss, and the clock moving the sessions on.
      const traffic = (async () => {
        while (driving) {
          await api.call('GET', '/api/v1/tasks?limit=5')
          for (const id of created) await api.call('GET', `/api/v1/tasks/${id}`)
          await api.call('GET', '/api/v1/tasks/no-such-task')
          api.clock.advance(2_000)
          await sleep(100)
        }
      })()
      await sleep(8_000)

      const dashboard = await loadDashboard()
      const variables = { job: 'jjm', instance: '.*', range: '2m', rateInterval: '5s' }
      const empty: string[] = []
      for (const query of dashboardQueries(dashboard)) {
        const answer = await prometheus.query(substituteVariables(query.expr, variables))
        assert.equal(answer.status, 'success', `${query.origin}: ${answer.error}`)
        if (answer.result.length === 0 && !(query.origin in mayBeEmpty)) empty.push(`${query.origin}: ${query.expr}`)
      }
      driving = false
      await traffic

      const rules = parse(await readFile(`${root}config/alerts.yml`, 'utf8')) as {
        groups: { rules: { alert?: string; record?: string; expr: string }[] }[]
      }
      const all = rules.groups.flatMap((group) => group.rules)
      const recorded = new Map(all.filter((rule) => rule.record).map((rule) => [rule.record as string, rule.expr]))
      const present = new Set(
        (await prometheus.query('group by (__name__) ({__name__=~"jjm_.+|up"})')).result.map(
          (sample) => sample.metric.__name__,
        ),
      )
      const missing = new Set<string>()
      for (const rule of all) {
        for (const name of metricsRead(rule.expr, recorded))
          if (!present.has(name)) missing.add(`${name} (${rule.alert ?? rule.record})`)
      }

      assert.deepEqual(
        { emptyDashboardQueries: empty, metricsMissingForRules: [...missing] },
        {
          emptyDashboardQueries: [],
          metricsMissingForRules: [],
        },
      )
    } finally {
      driving = false
      await prometheus?.stop()
      await api.close()
      good.server.close()
    }
  })
})
