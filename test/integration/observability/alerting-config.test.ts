import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { parse } from 'yaml'
import { runTool, tools } from '../../support/prometheus.js'

const root = new URL('../../../', import.meta.url).pathname
const alertsPath = `${root}config/alerts.yml`
const alertsTestPath = `${root}config/alerts.test.yml`
const alertmanagerPath = `${root}config/alertmanager.yml`

interface Rule {
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

async function alertRules(): Promise<Rule[]> {
  const file = parse(await readFile(alertsPath, 'utf8')) as { groups: { rules: Rule[] }[] }
  return file.groups.flatMap((group) => group.rules).filter((rule) => rule.alert !== undefined)
}

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces as dashes. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-')
}

describe('the Prometheus alert rules (config/alerts.yml)', () => {
  it('pass promtool check rules', async (t) => {
    const found = await tools(t, ['promtool'])
    if (!found) return
    const run = await runTool(found.promtool, ['check', 'rules', alertsPath])
    assert.equal(run.code, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /SUCCESS/)
  })

  it('fire and resolve as their promtool unit tests expect', async (t) => {
    const found = await tools(t, ['promtool'])
    if (!found) return
    const run = await runTool(found.promtool, ['test', 'rules', alertsTestPath])
    assert.equal(run.code, 0, run.stdout + run.stderr)
  })

  it('each have a unit test that sees them firing and, later, resolved', async () => {
    const tests = parse(await readFile(alertsTestPath, 'utf8')) as {
      tests: { alert_rule_test?: { eval_time: string; alertname: string; exp_alerts?: unknown[] }[] }[]
    }
    const minutes = (duration: string) => Number.parseInt(duration, 10) * (duration.endsWith('h') ? 60 : 1)
    for (const name of new Set((await alertRules()).map((rule) => rule.alert as string))) {
      const cases = tests.tests
        .flatMap((test) => test.alert_rule_test ?? [])
        .filter((check) => check.alertname === name)
        .sort((a, b) => minutes(a.eval_time) - minutes(b.eval_time))
      const firing = cases.findIndex((check) => (check.exp_alerts ?? []).length > 0)
      assert.ok(firing >= 0, `${name}: no test expects it to fire`)
      assert.ok(
        cases.slice(0, firing).some((check) => (check.exp_alerts ?? []).length === 0),
        `${name}: no test shows it silent before it fires (before its for:)`,
      )
      assert.ok(
        cases.slice(firing + 1).some((check) => (check.exp_alerts ?? []).length === 0),
        `${name}: no test shows it resolved after firing`,
      )
    }
  })

  it('each carry a warning or critical severity, a summary, a description and a runbook section in docs/alerting.md', async () => {
    const docs = await readFile(`${root}docs/alerting.md`, 'utf8')
    const anchors = new Set([...docs.matchAll(/^#{2,3} (.+)$/gm)].map((match) => anchorOf(match[1] as string)))
    const rules = await alertRules()
    assert.ok(rules.length >= 8, 'the alerts are there')
    for (const rule of rules) {
      assert.match(rule.labels?.severity ?? '', /^(warning|critical)$/, `${rule.alert}: severity`)
      assert.ok(rule.annotations?.summary, `${rule.alert}: summary`)
      assert.ok(rule.annotations?.description, `${rule.alert}: description`)
      const runbook = rule.annotations?.runbook_url ?? ''
      assert.equal(runbook, `docs/alerting.md#${(rule.alert as string).toLowerCase()}`, `${rule.alert}: runbook_url`)
      assert.ok(anchors.has(runbook.split('#')[1] as string), `docs/alerting.md has no section for ${rule.alert}`)
    }
  })

  it('cover every condition the issue asks to page or warn on', async () => {
    const exprs = (await alertRules()).map((rule) => rule.expr).join('\n')
    const rules = parse(await readFile(alertsPath, 'utf8')) as { groups: { rules: Rule[] }[] }
    const recorded = rules.groups.flatMap((group) => group.rules).filter((rule) => rule.record)
    const everything = exprs + recorded.map((rule) => rule.expr).join('\n')
    for (const needed of [
      'up{job="jjm"}',
      'jjm_ready',
      'jjm_monitor_lag_seconds',
      'jjm_jules_breaker_state',
      'jjm_notifications_failed_total',
      'jjm_tasks_failed_total',
      'status_class="5xx"',
      'jjm_http_request_duration_seconds_bucket',
    ]) {
      assert.ok(everything.includes(needed), `no alert looks at ${needed}`)
    }
  })
})

describe('the example Alertmanager configuration (config/alertmanager.yml)', () => {
  it('passes amtool check-config', async (t) => {
    const found = await tools(t, ['amtool'])
    if (!found) return
    const run = await runTool(found.amtool, ['check-config', alertmanagerPath])
    assert.equal(run.code, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /SUCCESS/)
  })

  it('pages PagerDuty and Slack on critical alerts, and tells Slack and email of warnings', async (t) => {
    const found = await tools(t, ['amtool'])
    if (!found) return
    for (const [labels, receivers] of [
      [['severity=critical', 'alertname=JjmDown'], 'pagerduty-and-slack'],
      [['severity=warning', 'alertname=JjmHighErrorRate'], 'slack-and-email'],
    ] as const) {
      const run = await runTool(found.amtool, [
        'config',
        'routes',
        'test',
        `--config.file=${alertmanagerPath}`,
        `--verify.receivers=${receivers}`,
        ...labels,
      ])
      assert.equal(run.code, 0, `${labels.join(' ')} → ${run.stdout}${run.stderr}`)
    }
    const config = parse(await readFile(alertmanagerPath, 'utf8')) as {
      receivers: { name: string; pagerduty_configs?: unknown[]; slack_configs?: unknown[]; email_configs?: unknown[] }[]
    }
    const byName = new Map(config.receivers.map((receiver) => [receiver.name, receiver]))
    assert.ok(byName.get('pagerduty-and-slack')?.pagerduty_configs?.length)
    assert.ok(byName.get('pagerduty-and-slack')?.slack_configs?.length)
    assert.ok(byName.get('slack-and-email')?.slack_configs?.length)
    assert.ok(byName.get('slack-and-email')?.email_configs?.length)
  })

  it('mutes a warning while the critical alert of the same name fires on the same daemon', async () => {
    const config = parse(await readFile(alertmanagerPath, 'utf8')) as {
      inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[]
    }
    assert.ok(
      config.inhibit_rules.some(
        (rule) =>
          rule.source_matchers.includes('severity="critical"') &&
          rule.target_matchers.includes('severity="warning"') &&
          ['alertname', 'instance'].every((label) => rule.equal.includes(label)),
      ),
    )
  })

  it('reads every secret from a file, so none is written in it', async () => {
    const text = await readFile(alertmanagerPath, 'utf8')
    for (const secret of [
      'api_url',
      'routing_key',
      'service_key',
      'auth_password',
      'smtp_auth_password',
      'slack_api_url',
    ]) {
      assert.doesNotMatch(
        text,
        new RegExp(`^\\s*-?\\s*${secret}:`, 'm'),
        `${secret} is written inline; use ${secret}_file`,
      )
    }
    assert.match(text, /routing_key_file:/)
    assert.match(text, /slack_api_url_file:/)
    assert.match(text, /smtp_auth_password_file:/)
  })
})
