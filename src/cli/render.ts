import Table from 'cli-table3'
import type { NotificationRecord } from '../core/ports.js'
import { awaitingPerson, type QueuePosition, type Task, type TaskEvent } from '../core/task.js'
import type { TaskDetails } from '../core/task-operations.js'

export interface Column<T> {
  header: string
  value: (row: T) => string
}

/** A plain table for people; scripts use --json. `tight` drops the cell padding, for a terminal's width. */
export function renderTable<T>(rows: T[], columns: Array<Column<T>>, options: { tight?: boolean } = {}): string {
  const table = new Table({
    head: columns.map((column) => column.header),
    style: {
      head: [],
      border: [],
      compact: true,
      ...(options.tight ? { 'padding-left': 0, 'padding-right': 0 } : {}),
    },
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
  })
  for (const row of rows) table.push(columns.map((column) => column.value(row)))
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
}

/** "3m ago", "2h ago", "5d ago" relative to now. */
export function age(iso: string | null, now = Date.now()): string {
  if (!iso || Number.isNaN(Date.parse(iso))) return '-'
  return `${shortDuration(now - Date.parse(iso))} ago`
}

/** "45s", "3m", "2h", "5d": the largest whole unit, rounded down; negative spans (clock skew) are 0s. */
export function shortDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-'
  const seconds = Math.max(0, Math.round(ms / 1000))
  if (seconds < 60) return `${seconds}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`
  return `${Math.floor(seconds / 86_400)}d`
}

/** `owner/repo`, or `(no repository)` for a task that runs on none. */
export function repositoryLabel(task: Pick<Task, 'repository'>): string {
  return task.repository === '' ? '(no repository)' : task.repository
}

export function truncate(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text
}

export const taskColumns: Array<Column<Task>> = [
  { header: 'ID', value: (task) => task.id },
  { header: 'STATE', value: (task) => (task.stalledSince ? `${task.state} (stalled)` : task.state) },
  { header: 'REPOSITORY', value: (task) => repositoryLabel(task) },
  { header: 'TITLE', value: (task) => truncate(task.title, 48) },
  { header: 'CREATED', value: (task) => age(task.createdAt) },
  { header: 'PR', value: (task) => task.pullRequest?.url ?? '' },
]

export const notificationColumns: Array<Column<NotificationRecord>> = [
  { header: 'ID', value: (record) => record.id },
  { header: 'TASK', value: (record) => record.taskId },
  { header: 'EVENT', value: (record) => record.eventType },
  { header: 'NOTIFIER', value: (record) => record.notifier },
  { header: 'STATE', value: (record) => record.state },
  { header: 'ATTEMPTS', value: (record) => String(record.attempts) },
  { header: 'LAST ERROR', value: (record) => truncate(record.lastError ?? '', 48) },
  { header: 'WHEN', value: (record) => notificationWhen(record) },
]

/** "next in 4m", "delivered 2h ago", "gave up 3d ago": the exact instants are in --json. */
function notificationWhen(record: NotificationRecord, now = Date.now()): string {
  if (record.state === 'delivered') return `delivered ${age(record.deliveredAt, now)}`
  if (record.state === 'failed') return `gave up ${age(record.failedAt, now)}`
  const wait = record.nextAttemptAt === null ? 0 : Date.parse(record.nextAttemptAt) - now
  return wait <= 0 ? 'next now' : `next in ${age(new Date(now - wait).toISOString(), now).replace(' ago', '')}`
}

/** The block `jjm tasks show` prints; `details` adds the plan, the latest messages and the changed files. */
export function renderTask(task: Task, events: TaskEvent[], details?: Omit<TaskDetails, 'events'>): string {
  const waiting = awaitingPerson(task.state)
  const lines = [
    `${task.title}`,
    `  id          ${task.id}`,
    `  session     ${task.sessionName === '' ? '(none yet: waits in the local queue)' : task.sessionName}`,
    `  state       ${task.state}${waiting ? `  (waiting for ${waiting})` : ''}`,
    ...(task.queue === undefined ? [] : [`  queue       ${describeQueue(task.queue)}`]),
    task.repository === ''
      ? '  repository  (no repository)'
      : `  repository  ${task.repository} (branch ${task.branch})`,
    `  created     ${task.createdAt} (${age(task.createdAt)})`,
    `  updated     ${task.updatedAt}`,
    `  synced      ${task.lastSyncedAt ?? 'never'}`,
  ]
  if (task.stalledSince) {
    lines.push(
      `  stalled     since ${task.stalledSince} (${age(task.stalledSince)}): no activity from Jules; nudge it with jjm message ${task.id} "…"`,
    )
  }
  if (task.completedAt) lines.push(`  completed   ${task.completedAt}`)
  if (task.archived)
    lines.push(`  archived    yes: hidden from tasks list; jjm tasks unarchive ${task.id} brings it back`)
  if (task.url) lines.push(`  jules       ${task.url}`)
  if (task.pullRequest) lines.push(`  pull req.   ${task.pullRequest.url}  ${task.pullRequest.title}`)
  else if (task.state === 'completed') {
    // Jules' result without a pull request (always so on no repository): a change set in the session's outputs.
    lines.push(`  result      a change set (no pull request); apply it with: jjm tasks pull ${task.id}`)
  }
  if (task.labels.length > 0) lines.push(`  labels      ${task.labels.join(', ')}`)
  if (Object.keys(task.metadata).length > 0) lines.push(`  metadata    ${JSON.stringify(task.metadata)}`)
  lines.push('', 'Prompt:', ...task.prompt.split('\n').map((line) => `  ${line}`))
  if (details?.plan && details.plan.steps.length > 0) {
    lines.push('', `Plan (${details.plan.at}):`)
    details.plan.steps.forEach((step, index) => {
      lines.push(`  ${index + 1}. ${step.title}${step.description ? ` — ${step.description}` : ''}`)
    })
  }
  if (details && details.chatMessages.length > 0) {
    lines.push('', 'Latest messages:')
    for (const message of details.chatMessages) {
      const [first = '', ...rest] = message.text.split('\n')
      lines.push(
        `  ${message.at}  ${message.role.padEnd(5)}  ${first}`,
        ...rest.map((line) => `  ${' '.repeat(31)}${line}`),
      )
    }
  }
  if (details && details.sourceFiles.length > 0) {
    lines.push('', 'Changed files:')
    for (const file of details.sourceFiles) lines.push(`  ${file.changeType.padEnd(9)} ${file.path}`)
  }
  if (events.length > 0) {
    lines.push('', 'Recent events (newest first):')
    for (const event of events) lines.push(`  ${event.at}  ${event.type.padEnd(14)} ${describeEvent(event)}`)
  }
  return lines.join('\n')
}

/**
 * Where a pending task stands, for people: "3rd in the queue; waits for a
 * free slot (3 of 3 running)", "waits for the daily quota: next slot at 14:05 UTC".
 */
export function describeQueue(queue: QueuePosition, now = Date.now()): string {
  const place = `${ordinal(queue.position)} in the queue`
  switch (queue.reason) {
    case 'concurrent_limit':
      return `${place}; waits for a free slot (${queue.running} of ${queue.concurrentLimit ?? '?'} running)`
    case 'daily_limit': {
      // The time alone when it is today (UTC), the date too when not.
      const sameDay = queue.nextSlotAt?.slice(0, 10) === new Date(now).toISOString().slice(0, 10)
      const at =
        queue.nextSlotAt === null
          ? 'later'
          : `at ${sameDay ? '' : `${queue.nextSlotAt.slice(0, 10)} `}${queue.nextSlotAt.slice(11, 16)} UTC`
      return `${place}; waits for the daily quota (${queue.startedToday} of ${queue.dailyLimit ?? '?'} started in 24 h): next slot ${at}`
    }
    default:
      return `${place}; a slot is free: the monitor's next pass starts it`
  }
}

function ordinal(n: number): string {
  const tens = n % 100
  const suffix =
    tens >= 11 && tens <= 13 ? 'th' : (({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th')
  return `${n}${suffix}`
}

export function describeEvent(event: TaskEvent): string {
  const data = event.data
  switch (event.type) {
    case 'state_changed':
      return `${String(data.from)} → ${String(data.to)}`
    case 'pull_request':
      return String(data.url ?? '')
    case 'failed':
      return data.reason ? String(data.reason) : ''
    case 'sync_error':
      return String(data.message ?? '')
    case 'created':
    case 'started':
      return `${String(data.sessionName ?? '')} (${String(data.state ?? '')})`
    case 'queued_locally':
      return `waits in the local queue (priority ${String(data.priority ?? 0)})`
    default:
      return Object.keys(data).length > 0 ? JSON.stringify(data) : ''
  }
}
