/**
 * How a session's activities become jjm's history: which activities are new
 * since the task's sync cursor, what each one records (events, chat messages,
 * changed files), and where the cursor moves to. Pure, apart from
 * {@link listNewActivities}, which pages through Jules.
 */
import { isJjmError, ValidationError } from './errors.js'
import type { Activity, ListActivitiesRequest, ListActivitiesResponse } from './jules/client.js'
import type { MessageBinding, NewChatMessage, NewTaskEvent, SyncCursor } from './ports.js'
import type { ChatMessage, SourceFile } from './task.js'

export type ChangedFile = Omit<SourceFile, 'taskId'>

/** What a run of new activities records. */
export interface ActivityDigest {
  /** In creation order, each stamped with its activity's createTime. */
  events: NewTaskEvent[]
  chatMessages: NewChatMessage[]
  /** The files of every change set among the activities, later ones overriding earlier ones; empty when none had one. */
  changedFiles: ChangedFile[]
  /** The reason of a sessionFailed activity, if one was among them. */
  failureReason: string | null
}

/** Fields every activity has; anything else that holds an object names its kind. */
const activityBaseFields: ReadonlySet<string> = new Set([
  'name',
  'id',
  'description',
  'createTime',
  'originator',
  'artifacts',
])

/**
 * A sortable key for an RFC 3339 UTC time: fractions padded to nanoseconds,
 * because Jules writes 0, 3, 6 or 9 fraction digits and two activities of one
 * millisecond must still compare correctly.
 */
export function timeKey(time: string): string {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/i.exec(time)
  if (match) return `${match[1]}.${(match[2] ?? '').padEnd(9, '0')}Z`
  const ms = Date.parse(time)
  // An unreadable time sorts first, so that it can never hide later activities behind it.
  if (Number.isNaN(ms)) return ''
  return `${new Date(ms).toISOString().slice(0, 23)}000000Z`
}

/** Whether an activity is past the cursor: later than the last one recorded, or of the same instant and not yet recorded. */
export function isNewActivity(activity: Activity, cursor: SyncCursor | undefined): boolean {
  if (!cursor?.lastActivityTime) return true
  const at = timeKey(activity.createTime)
  const last = timeKey(cursor.lastActivityTime)
  if (at > last) return true
  return at === last && !cursor.lastActivityNames.includes(activity.name)
}

/** The cursor after recording `activities` (creation order) and seeing `sessionUpdateTime`. */
export function advanceCursor(
  cursor: SyncCursor | undefined,
  activities: readonly Activity[],
  sessionUpdateTime: string | null,
): SyncCursor {
  let lastActivityTime = cursor?.lastActivityTime ?? null
  let lastActivityNames = [...(cursor?.lastActivityNames ?? [])]
  for (const activity of activities) {
    const at = timeKey(activity.createTime)
    const last = lastActivityTime === null ? null : timeKey(lastActivityTime)
    if (last === null || at > last) {
      lastActivityTime = activity.createTime
      lastActivityNames = [activity.name]
    } else if (at === last && !lastActivityNames.includes(activity.name)) {
      lastActivityNames.push(activity.name)
    }
  }
  return { sessionUpdateTime, lastActivityTime, lastActivityNames }
}

/**
 * The activities.list filter for what follows the cursor. It asks from one
 * millisecond before the last recorded activity, so that an activity sharing
 * that instant is not lost; {@link isNewActivity} drops the ones already recorded.
 */
export function activityFilterOf(cursor: SyncCursor | undefined): string | undefined {
  if (!cursor?.lastActivityTime) return undefined
  const ms = Date.parse(cursor.lastActivityTime)
  if (Number.isNaN(ms)) return undefined
  return `create_time>"${new Date(ms - 1).toISOString()}"`
}

export interface NewActivities {
  activities: Activity[]
  /** Jules answered 404: it does so for a while after a session is created, so nothing is known yet. */
  notFound: boolean
}

/**
 * Pages through the activities after the cursor, in creation order. A 404 is
 * "no activities yet", not an error; a filter Jules refuses (400) is dropped
 * and the cursor does the filtering instead, since the filter is optional at Jules.
 */
export async function listNewActivities(
  list: (request: ListActivitiesRequest) => Promise<ListActivitiesResponse>,
  cursor: SyncCursor | undefined,
): Promise<NewActivities> {
  let filter = activityFilterOf(cursor)
  const seen: Activity[] = []
  let pageToken: string | undefined
  do {
    let page: ListActivitiesResponse
    try {
      page = await list({
        pageSize: 100,
        ...(filter === undefined ? {} : { filter }),
        ...(pageToken === undefined ? {} : { pageToken }),
      })
    } catch (error) {
      if (isJjmError(error) && error.code === 'JJM_JULES_NOT_FOUND') return { activities: [], notFound: true }
      if (error instanceof ValidationError && filter !== undefined && pageToken === undefined) {
        filter = undefined
        continue
      }
      throw error
    }
    seen.push(...(page.activities ?? []))
    pageToken = page.nextPageToken || undefined
  } while (pageToken)
  return { activities: seen.filter((activity) => isNewActivity(activity, cursor)), notFound: false }
}

/** What a run of new activities records; see {@link ActivityDigest}. */
export function digestActivities(activities: readonly Activity[]): ActivityDigest {
  const events: NewTaskEvent[] = []
  const chatMessages: NewChatMessage[] = []
  const files = new Map<string, string>()
  let failureReason: string | null = null

  for (const activity of activities) {
    const at = activity.createTime
    const base = { activityId: activity.name }
    const originator = typeof activity.originator === 'string' ? activity.originator.toLowerCase() : null

    for (const artifact of activity.artifacts ?? []) {
      const patch = artifact.changeSet?.gitPatch?.unidiffPatch
      if (typeof patch !== 'string') continue
      for (const file of changedFilesOf(patch)) files.set(file.path, file.changeType)
    }

    const kind = activityKindOf(activity)
    switch (kind) {
      case 'planGenerated': {
        const plan = activity.planGenerated?.plan
        const steps = [...(plan?.steps ?? [])]
          .sort((a, b) => (a.index ?? 0) - (b.index ?? 0))
          .map((step) => ({ title: step.title ?? '', description: step.description ?? '' }))
        events.push({ type: 'plan_generated', data: { ...base, planId: plan?.id ?? null, steps }, at })
        break
      }
      case 'planApproved':
        events.push({
          type: 'plan_approved',
          data: { ...base, planId: activity.planApproved?.planId ?? null, by: originator },
          at,
        })
        break
      case 'agentMessaged': {
        const text = activity.agentMessaged?.agentMessage ?? ''
        events.push({ type: 'agent_message', data: { ...base, text }, at })
        chatMessages.push({ role: 'agent', text, activityId: activity.name, at })
        break
      }
      case 'userMessaged':
        // No event: jjm's own message_sent already records what jjm sent, and
        // a message sent elsewhere shows in the conversation.
        chatMessages.push({
          role: 'user',
          text: activity.userMessaged?.userMessage ?? '',
          activityId: activity.name,
          at,
        })
        break
      case 'progressUpdated':
        events.push({
          type: 'progress',
          data: {
            ...base,
            title: activity.progressUpdated?.title ?? '',
            description: activity.progressUpdated?.description ?? '',
          },
          at,
        })
        break
      case 'sessionCompleted':
        // Completion is recorded once, from the session's state, with the pull request.
        break
      case 'sessionFailed':
        // Likewise; the reason is handed to the state transition's `failed` event.
        failureReason = activity.sessionFailed?.reason ?? failureReason
        break
      case undefined:
        // An activity that only carries artifacts (e.g. a change set) records what they hold, above.
        if ((activity.artifacts ?? []).length === 0) {
          events.push({ type: 'activity', data: { ...base, kind: null, description: activity.description ?? '' }, at })
        }
        break
      default:
        // The API is an alpha: a kind this jjm does not know is kept raw, never an error.
        events.push({
          type: 'activity',
          data: { ...base, kind, originator, description: activity.description ?? '', detail: activity[kind] },
          at,
        })
    }
  }
  return {
    events,
    chatMessages,
    changedFiles: [...files].map(([path, changeType]) => ({ path, changeType })),
    failureReason,
  }
}

/**
 * Which new user messages are ones jjm sent and recorded already. `jjm
 * message` records the message at once, without an activity (Jules answers
 * sendMessage with nothing to name it by); the sync later reads the
 * userMessaged activity Jules made of it. Each such activity is paired with
 * the oldest recorded, unbound user message of the same text, and becomes a
 * binding instead of a second copy; the others stay new messages.
 *
 * `recorded` is every message the task has, oldest first. An activity that
 * is recorded already is left to the store's by-activity deduplication.
 */
export function bindSentMessages(
  incoming: readonly NewChatMessage[],
  recorded: readonly ChatMessage[],
): { chatMessages: NewChatMessage[]; boundMessages: MessageBinding[] } {
  const known = new Set(recorded.map((message) => message.activityId).filter((id) => id !== null))
  const unbound = recorded.filter((message) => message.role === 'user' && message.activityId === null)
  const chatMessages: NewChatMessage[] = []
  const boundMessages: MessageBinding[] = []
  for (const message of incoming) {
    const activityId = message.activityId
    const index =
      message.role === 'user' && activityId !== null && !known.has(activityId)
        ? unbound.findIndex((sent) => sent.text.trim() === message.text.trim())
        : -1
    const sent = unbound[index]
    if (activityId === null || sent === undefined) {
      chatMessages.push(message)
      continue
    }
    unbound.splice(index, 1)
    known.add(activityId)
    boundMessages.push({ messageId: sent.id, activityId, at: message.at })
  }
  return { chatMessages, boundMessages }
}

/** The activity's kind field (`planGenerated`, `agentMessaged`, …, or one this jjm does not know). */
function activityKindOf(activity: Activity): string | undefined {
  for (const [key, value] of Object.entries(activity)) {
    if (activityBaseFields.has(key)) continue
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return key
  }
  return undefined
}

/**
 * The paths a unified diff touches and how: `added`, `deleted`, `renamed` or
 * `modified`. Reads git's extended headers when present and plain `---`/`+++`
 * pairs otherwise.
 */
export function changedFilesOf(patch: string): ChangedFile[] {
  const files: ChangedFile[] = []
  type FileHeader = {
    git: boolean
    oldPath: string | null
    newPath: string | null
    changeType: string
    sawNew: boolean
  }
  let current: FileHeader | undefined
  // Lines still due in the current hunk: inside one, `--- x` is a removed line, not a header.
  let oldLeft = 0
  let newLeft = 0
  const flush = () => {
    if (!current) return
    const path = current.changeType === 'deleted' ? (current.oldPath ?? current.newPath) : current.newPath
    if (path) files.push({ path, changeType: current.changeType })
    current = undefined
  }

  for (const line of patch.split(/\r?\n/)) {
    if (oldLeft > 0 || newLeft > 0) {
      if (line.startsWith('-')) oldLeft--
      else if (line.startsWith('+')) newLeft--
      else if (!line.startsWith('\\')) {
        oldLeft--
        newLeft--
      }
      continue
    }
    const hunk = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(line)
    if (hunk) {
      oldLeft = Number(hunk[1] ?? 1)
      newLeft = Number(hunk[2] ?? 1)
      continue
    }
    const git = /^diff --git ("[^"]*"|\S+) ("[^"]*"|\S+)$/.exec(line)
    if (git) {
      flush()
      current = {
        git: true,
        oldPath: stripPrefix(git[1]),
        newPath: stripPrefix(git[2]),
        changeType: 'modified',
        sawNew: false,
      }
      continue
    }
    if (line.startsWith('--- ')) {
      // Without git's header, a file starts at its `---` line.
      if (!current?.git || current.sawNew) {
        flush()
        current = { git: false, oldPath: null, newPath: null, changeType: 'modified', sawNew: false }
      }
      const path = stripPrefix(line.slice(4))
      if (path === null) current.changeType = 'added'
      else current.oldPath = path
      continue
    }
    if (!current) continue
    if (line.startsWith('+++ ')) {
      current.sawNew = true
      const path = stripPrefix(line.slice(4))
      if (path === null) current.changeType = 'deleted'
      else current.newPath = path
    } else if (line.startsWith('new file mode')) current.changeType = 'added'
    else if (line.startsWith('deleted file mode')) current.changeType = 'deleted'
    else if (line.startsWith('rename from ')) {
      current.oldPath = line.slice('rename from '.length)
      current.changeType = 'renamed'
    } else if (line.startsWith('rename to ')) {
      current.newPath = line.slice('rename to '.length)
      current.changeType = 'renamed'
    }
  }
  flush()
  return files
}

/** `a/src/x.ts` → `src/x.ts`; `/dev/null` → null; a timestamp after a tab is dropped. */
function stripPrefix(raw: string | undefined): string | null {
  if (raw === undefined) return null
  let path = raw.split('\t')[0]?.trim() ?? ''
  if (path.startsWith('"') && path.endsWith('"') && path.length >= 2) path = path.slice(1, -1)
  if (path === '/dev/null' || path === '') return null
  return path.replace(/^[ab]\//, '')
}
