/**
 * Pictures of the dashboard's main panels for docs/monitoring.md, drawn from a
 * real Prometheus: each panel's queries are run over a time range exactly as
 * Grafana would run them (variables filled in), drawn as SVG line charts and
 * converted to PNG with rsvg-convert.
 *
 *   node --import tsx scripts/render-panels.ts --prometheus http://127.0.0.1:9090 --from=-1h
 *   node --import tsx scripts/render-panels.ts --prometheus URL --expr 'Scrapes=up' --out /tmp/charts
 *
 * --expr "Title=PromQL" (repeatable) draws that query as well; with
 * --only-expr, nothing else. Panels without data are listed and skipped.
 * Exits 1 when no chart could be drawn.
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { type DashboardPanel, dataPanels, loadDashboard, substituteVariables } from './dashboard.js'
import { type ChartSeries, lineChart } from './line-chart.js'

/** The panels the docs show, by title. */
export const mainPanels = [
  'Tasks per minute',
  'API requests per second',
  'Error rate',
  'API latency',
  'Jules latency',
  'Active tasks by state',
  'Awaiting a person',
  'Monitor lag',
  'Database connections in use',
  'Cache hit ratio',
  'CPU',
  'Memory',
]

const usage = `Usage: render-panels --prometheus URL [--from=-1h] [--to now] [--step 15s] [--scrape-interval 15s]
       [--job jjm] [--instance REGEX] [--out docs/images] [--panel TITLE]... [--expr "TITLE=PROMQL"]... [--only-expr]`

function durationSeconds(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text)
  if (!match) throw new Error(`not a duration: ${text} (use e.g. 15s, 5m, 1h)`)
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd']
  return Number(match[1]) * factor
}

/** `now`, `-1h` (before now), Unix seconds or an ISO date. */
function timeOf(text: string, now: number): number {
  if (text === 'now') return now
  if (text.startsWith('-')) return now - durationSeconds(text.slice(1))
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text)
  const parsed = Date.parse(text)
  if (Number.isNaN(parsed)) throw new Error(`not a time: ${text}`)
  return parsed / 1000
}

function legendOf(format: string | undefined, metric: Record<string, string>, fallback: string): string {
  if (format === undefined || format === '' || format === '__auto') {
    const labels = Object.entries(metric).filter(([name]) => name !== '__name__')
    return labels.length === 0 ? fallback : labels.map(([name, value]) => `${name}=${value}`).join(', ')
  }
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, name: string) => metric[name] ?? '')
}

function slug(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
}

interface RangeAnswer {
  status: string
  error?: string
  data?: { result: { metric: Record<string, string>; values: [number, string][] }[] }
}

async function queryRange(prometheus: string, expr: string, start: number, end: number, step: number) {
  const response = await fetch(`${prometheus.replace(/\/$/, '')}/api/v1/query_range`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr, start: String(start), end: String(end), step: String(step) }).toString(),
  })
  const body = (await response.json()) as RangeAnswer
  if (body.status !== 'success') throw new Error(`${body.error ?? response.status} in ${expr}`)
  return body.data?.result ?? []
}

export interface RenderOptions {
  prometheus: string
  start: number
  end: number
  step: number
  scrapeInterval: number
  job: string
  instance: string
  out: string
  panels: string[]
  exprs: { title: string; expr: string }[]
  log?: (line: string) => void
}

export interface RenderResult {
  written: string[]
  empty: string[]
}

export async function renderPanels(options: RenderOptions): Promise<RenderResult> {
  const log = options.log ?? ((line: string) => console.error(line))
  const dashboard = await loadDashboard()
  const byTitle = new Map(dataPanels(dashboard).map((panel) => [panel.title, panel]))
  const charts: DashboardPanel[] = options.panels.map((title) => {
    const panel = byTitle.get(title)
    if (!panel) throw new Error(`the dashboard has no panel titled "${title}"`)
    return panel
  })
  options.exprs.forEach(({ title, expr }, index) => {
    charts.push({
      id: -1 - index,
      type: 'timeseries',
      title,
      targets: [{ refId: 'A', expr, legendFormat: '' }],
      fieldConfig: { defaults: { unit: 'short' } },
    })
  })
  // Grafana's $__rate_interval: at least four scrapes, and at least one step plus a scrape.
  const rateSeconds = Math.max(4 * options.scrapeInterval, options.step + options.scrapeInterval)
  const variables = {
    job: options.job,
    instance: options.instance,
    range: `${Math.max(1, Math.round(options.end - options.start))}s`,
    rateInterval: `${Math.round(rateSeconds)}s`,
  }
  await mkdir(options.out, { recursive: true })
  const work = await mkdtemp(join(tmpdir(), 'jjm-panels-'))
  const result: RenderResult = { written: [], empty: [] }
  try {
    for (const panel of charts) {
      const series: ChartSeries[] = []
      for (const target of panel.targets ?? []) {
        const expr = substituteVariables(target.expr, variables)
        for (const sample of await queryRange(options.prometheus, expr, options.start, options.end, options.step)) {
          const points = sample.values
            .map(([t, v]) => [t, Number(v)] as [number, number])
            .filter(([, v]) => Number.isFinite(v))
          if (points.length > 0)
            series.push({ name: legendOf(target.legendFormat, sample.metric, target.refId), points })
        }
      }
      if (series.length === 0) {
        result.empty.push(panel.title)
        log(`no data: ${panel.title}`)
        continue
      }
      const defaults = panel.fieldConfig?.defaults ?? {}
      const svg = lineChart(series, {
        title: panel.title,
        ...(defaults.unit === undefined ? {} : { unit: defaults.unit }),
        ...(defaults.min === undefined ? {} : { min: defaults.min }),
        ...(defaults.max === undefined ? {} : { max: defaults.max }),
        start: options.start,
        end: options.end,
        step: options.step,
      })
      const name = `panel-${slug(panel.title)}`
      const svgPath = join(work, `${name}.svg`)
      const pngPath = join(options.out, `${name}.png`)
      await writeFile(svgPath, svg)
      await promisify(execFile)('rsvg-convert', ['--format=png', `--output=${pngPath}`, svgPath])
      result.written.push(pngPath)
      log(`wrote ${pngPath} (${series.length} series)`)
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  return result
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      prometheus: { type: 'string' },
      from: { type: 'string', default: '-1h' },
      to: { type: 'string', default: 'now' },
      step: { type: 'string' },
      'scrape-interval': { type: 'string', default: '15s' },
      job: { type: 'string', default: 'jjm' },
      instance: { type: 'string', default: '.*' },
      out: { type: 'string', default: 'docs/images' },
      panel: { type: 'string', multiple: true },
      expr: { type: 'string', multiple: true },
      'only-expr': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help || !values.prometheus) {
    console.error(usage)
    return values.help ? 0 : 2
  }
  const now = Date.now() / 1000
  const start = timeOf(values.from, now)
  const end = timeOf(values.to, now)
  if (!(end > start)) throw new Error(`--from (${values.from}) must be before --to (${values.to})`)
  // About 200 points a line, and never finer than one second.
  const step = values.step ? durationSeconds(values.step) : Math.max(1, Math.round((end - start) / 200))
  const exprs = (values.expr ?? []).map((text) => {
    const at = text.indexOf('=')
    if (at <= 0) throw new Error(`--expr wants "Title=PromQL", got ${text}`)
    return { title: text.slice(0, at), expr: text.slice(at + 1) }
  })
  const result = await renderPanels({
    prometheus: values.prometheus,
    start,
    end,
    step,
    scrapeInterval: durationSeconds(values['scrape-interval']),
    job: values.job,
    instance: values.instance,
    out: resolve(values.out),
    panels: values['only-expr'] ? [] : (values.panel ?? mainPanels),
    exprs,
  })
  if (result.written.length === 0) {
    console.error('No chart drawn: none of the queries returned data in that time range.')
    return 1
  }
  return 0
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error))
      process.exit(1)
    },
  )
}
