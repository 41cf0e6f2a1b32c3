/**
 * Reading config/grafana_dashboard.json outside Grafana: its panels, their
 * PromQL, and the PromQL with Grafana's variables replaced by values a plain
 * Prometheus accepts. Used by scripts/render-panels.ts and by the tests that
 * evaluate the dashboard against a real Prometheus.
 */
import { readFile } from 'node:fs/promises'

export const dashboardPath = new URL('../config/grafana_dashboard.json', import.meta.url)

export interface DashboardTarget {
  refId: string
  expr: string
  legendFormat?: string
  instant?: boolean
}

export interface DashboardPanel {
  id: number
  type: string
  title: string
  description?: string
  targets?: DashboardTarget[]
  datasource?: { type: string; uid: string }
  fieldConfig?: { defaults?: { unit?: string; min?: number; max?: number } }
  panels?: DashboardPanel[]
}

export interface Dashboard {
  uid: string
  title: string
  schemaVersion: number
  panels: DashboardPanel[]
  templating: { list: { name: string; type: string; query?: unknown; allValue?: string }[] }
  annotations: { list: { name: string; expr?: string; datasource?: { uid: string }; builtIn?: number }[] }
  time: { from: string; to: string }
}

export async function loadDashboard(path: URL | string = dashboardPath): Promise<Dashboard> {
  return JSON.parse(await readFile(path, 'utf8')) as Dashboard
}

/** The panels that draw data (rows left out, panels inside collapsed rows included). */
export function dataPanels(dashboard: Dashboard): DashboardPanel[] {
  return dashboard.panels.flatMap((panel) => (panel.type === 'row' ? (panel.panels ?? []) : [panel]))
}

export interface DashboardQuery {
  /** Where it comes from, for messages: `panel "API latency" A` or `annotation "Deployments"`. */
  origin: string
  expr: string
}

/** Every PromQL expression of the dashboard: panel targets and annotation queries. */
export function dashboardQueries(dashboard: Dashboard): DashboardQuery[] {
  const fromPanels = dataPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ origin: `panel "${panel.title}" ${target.refId}`, expr: target.expr })),
  )
  const fromAnnotations = dashboard.annotations.list
    .filter((annotation) => annotation.expr !== undefined)
    .map((annotation) => ({ origin: `annotation "${annotation.name}"`, expr: annotation.expr as string }))
  return [...fromPanels, ...fromAnnotations]
}

export interface VariableValues {
  job: string
  /** A regular expression over instance labels; `.*` is "All". */
  instance: string
  /** `$__range`: the dashboard's time range, as a PromQL duration. */
  range: string
  /** `$__rate_interval` and `$__interval`. */
  rateInterval: string
}

/**
 * The expression as Grafana would send it: `$job`, `$instance`, `$__range`,
 * `$__rate_interval`… replaced. An unknown variable is an error, so a new
 * one cannot slip through unevaluated.
 */
export function substituteVariables(expr: string, values: VariableValues): string {
  const known: Record<string, string> = {
    job: values.job,
    instance: values.instance,
    __range: values.range,
    __rate_interval: values.rateInterval,
    __interval: values.rateInterval,
  }
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (_match, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string
    const value = known[name]
    if (value === undefined) throw new Error(`unknown dashboard variable $${name} in ${expr}`)
    return value
  })
}
