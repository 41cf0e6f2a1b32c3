/**
 * The live table of `jjm monitor --watch` on a terminal: one frame per pass,
 * redrawn in place by the command. A pure function of the pass and the time,
 * so that tests render it with a fixed clock.
 */
import type { MonitorPass } from '../core/monitor.js'
import { awaitingPerson, type Task } from '../core/task.js'
import { type Column, renderTable, repositoryLabel, shortDuration, truncate } from './render.js'

export interface MonitorViewOptions {
  /** The terminal's width in columns: the title column gives way first, then lines are cut. */
  width?: number
  /** The terminal's height in lines: rows that do not fit are counted instead of shown. */
  height?: number
  /** Seconds between passes, for the footer. */
  intervalSeconds?: number
  /** Recent log lines, shown under the table (on a live terminal they cannot be written beside it). */
  log?: string[]
}

/** Titles are cut to this many characters when the terminal has room, and never below `minTitleWidth`. */
const maxTitleWidth = 48
const minTitleWidth = 12
/** Ids are shown as their shortest prefix that tells the rows apart, and never shorter than this. */
const minIdLength = 8

export function renderMonitorView(pass: MonitorPass, now: number, options: MonitorViewOptions = {}): string {
  const { report } = pass
  const tasks = newestFirst(pass.tasks)
  const ids = shortIds(tasks.map((task) => task.id))
  const header = [
    `Pass at ${report.finishedAt.slice(11, 19)} UTC: ${report.checked} checked, ${report.changes.length} changed, ` +
      `${report.awaitingPerson.length} waiting for a person, ${report.errors.length} sync error(s)`,
    '',
  ]
  const footer: string[] = []
  if (report.errors.length > 0) {
    footer.push('')
    for (const failure of report.errors) {
      footer.push(`sync failed  ${ids.get(failure.taskId) ?? failure.taskId}  ${failure.message} [${failure.code}]`)
    }
  }
  if (report.rateLimited) {
    footer.push('', `Jules is rate limiting: syncs wait until ${report.rateLimited.until.slice(11, 19)} UTC.`)
  }
  if (options.log && options.log.length > 0) footer.push('', ...options.log)
  if (options.intervalSeconds !== undefined) {
    footer.push('', `A pass every ${options.intervalSeconds}s. Ctrl-C to stop.`)
  }
  let table: string[]
  if (tasks.length === 0) {
    table = ['No active tasks.']
  } else {
    // A frame taller than the terminal loses its top lines: drop rows instead, and say how many.
    const room = options.height === undefined ? tasks.length : options.height - header.length - footer.length - 2
    const shown = tasks.length <= room ? tasks : tasks.slice(0, Math.max(1, room - 1))
    table = fitTable(shown, ids, now, options.width)
    if (shown.length < tasks.length) table.push(`… and ${tasks.length - shown.length} more`)
  }
  return [...header, ...table, ...footer].map((line) => clip(line, options.width)).join('\n')
}

/** The table, with titles as wide as the terminal allows. */
function fitTable(tasks: Task[], ids: Map<string, string>, now: number, width: number | undefined): string[] {
  let titleWidth = maxTitleWidth
  for (;;) {
    const lines = renderTable(tasks, columns(ids, now, titleWidth), { tight: true }).split('\n')
    const widest = Math.max(...lines.map((line) => line.length))
    if (width === undefined || widest <= width || titleWidth === minTitleWidth) return lines
    titleWidth = Math.max(minTitleWidth, titleWidth - (widest - width))
  }
}

function columns(ids: Map<string, string>, now: number, titleWidth: number): Array<Column<Task>> {
  return [
    { header: 'ID', value: (task) => ids.get(task.id) ?? task.id },
    { header: 'TITLE', value: (task) => truncate(task.title, titleWidth) },
    { header: 'REPOSITORY', value: (task) => repositoryLabel(task) },
    { header: 'STATE', value: (task) => task.state },
    { header: 'AGE', value: (task) => shortDuration(now - Date.parse(task.createdAt)) },
    { header: 'WAITING FOR', value: (task) => awaitingPerson(task.state, 'brief') ?? '' },
    {
      header: 'SYNCED',
      value: (task) => (task.lastSyncedAt ? `${shortDuration(now - Date.parse(task.lastSyncedAt))} ago` : 'never'),
    },
  ]
}

/** Newest first, as `jjm tasks list` shows them; a stable order, so that rows do not jump between passes. */
function newestFirst(tasks: Task[]): Task[] {
  return [...tasks].sort((a, b) => (a.createdAt === b.createdAt ? cmp(b.id, a.id) : cmp(b.createdAt, a.createdAt)))
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Each id's shortest prefix that no other shown id shares, at least
 * {@link minIdLength} long: jjm accepts a unique prefix wherever it takes an id.
 */
export function shortIds(ids: string[]): Map<string, string> {
  const short = new Map<string, string>()
  for (const id of ids) {
    let length = Math.min(minIdLength, id.length)
    while (length < id.length && ids.some((other) => other !== id && other.startsWith(id.slice(0, length)))) length++
    short.set(id, id.slice(0, length))
  }
  return short
}

/** A line no wider than the terminal, so that the terminal does not wrap it and break the redraw. */
function clip(line: string, width: number | undefined): string {
  return width !== undefined && line.length > width ? truncate(line, Math.max(1, width)) : line
}
