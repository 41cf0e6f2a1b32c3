import assert from 'node:assert/strict'
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { StorageError } from '../../../../src/core/errors.js'
import {
  type LegacyFileContents,
  parseLegacyFile,
  readLegacyFile,
} from '../../../../src/plugins/storage-json/format.js'
import { buildTask } from '../../../../src/testing/build-task.js'

const tempDirs: string[] = []
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

async function tempFile(name = 'tasks.json'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-json-format-'))
  tempDirs.push(dir)
  return join(dir, name)
}

const fileTime = '2025-06-01T12:00:00.000Z'
let counter = 0
const parse = (document: unknown): LegacyFileContents =>
  parseLegacyFile(JSON.stringify(document), '/data/tasks.json', {
    defaultTime: fileTime,
    newId: () => `GEN${++counter}`,
  })

/** A legacy record with every required field and nothing else. */
function minimalRecord(id: string): Record<string, unknown> {
  return { id, sessionName: `sessions/${id}-session`, prompt: 'Fix the flaky upload test', repository: 'acme/api' }
}

describe('the legacy JSON file format', () => {
  it('reads the versioned form with each task’s events, chat messages and source files, ignoring simulated sessions and notifications', () => {
    const task = buildTask({ pullRequest: { url: 'https://github.com/acme/api/pull/1', title: 'T', description: 'D' } })
    const contents = parse({
      version: 1,
      tasks: {
        [task.id]: {
          ...task,
          events: [{ id: 'E1', type: 'created', data: { by: 'cli' }, at: task.createdAt }],
          chatMessages: [{ id: 'M1', role: 'agent', text: 'Plan ready', activityId: 'act-1', at: task.createdAt }],
          sourceFiles: [{ path: 'src/upload.ts', changeType: 'modified' }],
        },
      },
      // What jjm's former json backend wrote beside the tasks: neither is history to import.
      simSessions: { s1: { id: 's1', createdAt: task.createdAt, state: { phase: 'planning' } } },
      notificationOutbox: [{ id: 'N1', taskId: task.id, eventType: 'failed' }],
    })
    assert.equal(contents.shape, 'versioned')
    assert.deepEqual(contents.invalid, [])
    const [stored] = contents.tasks
    assert.deepEqual(stored?.task, task)
    assert.deepEqual(stored?.events, [
      { id: 'E1', taskId: task.id, type: 'created', data: { by: 'cli' }, at: task.createdAt },
    ])
    assert.deepEqual(stored?.chatMessages, [
      { id: 'M1', taskId: task.id, role: 'agent', text: 'Plan ready', activityId: 'act-1', at: task.createdAt },
    ])
    assert.deepEqual(stored?.sourceFiles, [{ taskId: task.id, path: 'src/upload.ts', changeType: 'modified' }])
    assert.deepEqual(Object.keys(contents).sort(), ['creationIntents', 'invalid', 'shape', 'tasks'])
  })

  it('reads the older bare shape, a document of tasks keyed by id without a version', () => {
    const first = buildTask()
    const second = buildTask()
    const contents = parse({ [first.id]: first, [second.id]: second })
    assert.equal(contents.shape, 'bare')
    assert.deepEqual(
      contents.tasks.map((stored) => stored.task),
      [first, second],
    )
    assert.deepEqual(contents.tasks[0]?.events, [])
  })

  it('reads snake_case field names, upper-case states and the timestamps legacy files hold', () => {
    const contents = parse({
      T1: {
        id: 'T1',
        session_name: 'sessions/42',
        prompt: 'Add retries',
        repository: 'acme/api',
        state: 'IN_PROGRESS',
        require_plan_approval: true,
        automation_mode: 'AUTO_CREATE_PR',
        pull_request: { url: 'https://github.com/acme/api/pull/3', title: 'Retries' },
        // A date-time without a zone, as Python's isoformat() writes it, is UTC.
        created_at: '2025-01-02T03:04:05.123456',
        // Unix seconds.
        updated_at: 1735787045,
        last_synced_at: null,
        events: [{ id: 7, type: 'state_changed', data: { to: 'in_progress' }, at: '2025-01-02 03:05:00' }],
        chat_messages: [{ role: 'user', text: 'Go', activity_id: 'a1', at: '2025-01-02T03:06:00Z' }],
        source_files: [{ path: 'src/http.ts', change_type: 'added' }, 'README.md'],
      },
    })
    assert.deepEqual(contents.invalid, [])
    const stored = contents.tasks[0]
    assert.ok(stored)
    assert.equal(stored.task.sessionName, 'sessions/42')
    assert.equal(stored.task.state, 'in_progress')
    assert.equal(stored.task.requirePlanApproval, true)
    assert.equal(stored.task.automationMode, 'AUTO_CREATE_PR')
    assert.deepEqual(stored.task.pullRequest, {
      url: 'https://github.com/acme/api/pull/3',
      title: 'Retries',
      description: '',
    })
    assert.equal(stored.task.createdAt, '2025-01-02T03:04:05.123Z')
    assert.equal(stored.task.updatedAt, '2025-01-02T03:04:05.000Z')
    assert.deepEqual(stored.events, [
      { id: '7', taskId: 'T1', type: 'state_changed', data: { to: 'in_progress' }, at: '2025-01-02T03:05:00.000Z' },
    ])
    assert.deepEqual(
      stored.chatMessages.map(({ role, text, activityId }) => ({ role, text, activityId })),
      [{ role: 'user', text: 'Go', activityId: 'a1' }],
    )
    assert.deepEqual(stored.sourceFiles, [
      { taskId: 'T1', path: 'src/http.ts', changeType: 'added' },
      { taskId: 'T1', path: 'README.md', changeType: 'modified' },
    ])
  })

  it('gives missing optional fields their defaults', () => {
    const contents = parse({
      T1: { session_name: '42', prompt: 'Speed up the build\nIt takes 20 minutes.', source: 'sources/github/acme/web' },
    })
    assert.deepEqual(contents.invalid, [])
    assert.deepEqual(contents.tasks[0]?.task, {
      id: 'T1',
      sessionName: 'sessions/42',
      title: 'Speed up the build',
      prompt: 'Speed up the build\nIt takes 20 minutes.',
      repository: 'acme/web',
      source: 'sources/github/acme/web',
      branch: 'main',
      state: 'queued',
      requirePlanApproval: false,
      automationMode: 'AUTOMATION_MODE_UNSPECIFIED',
      url: null,
      pullRequest: null,
      labels: [],
      metadata: {},
      createdAt: fileTime,
      updatedAt: fileTime,
      completedAt: null,
      lastSyncedAt: null,
      stalledSince: null,
      archived: false,
      version: 1,
      priority: 0,
    })
  })

  it('reports each invalid record with its id and the field at fault, and keeps the valid ones', () => {
    const contents = parse({
      version: 1,
      tasks: {
        GOOD: minimalRecord('GOOD'),
        NOPROMPT: { ...minimalRecord('NOPROMPT'), prompt: undefined },
        NOSESSION: { id: 'NOSESSION', prompt: 'x', repository: 'acme/api' },
        NOREPO: { id: 'NOREPO', session_name: 'sessions/9', prompt: 'x' },
        BADREPO: { ...minimalRecord('BADREPO'), repository: 'not a repository' },
        NOTOBJECT: 'just a string',
        MISFILED: minimalRecord('OTHER'),
        BADEVENT: { ...minimalRecord('BADEVENT'), events: [{ type: 'created' }, { data: {} }] },
        BADLABELS: { ...minimalRecord('BADLABELS'), labels: 'ci' },
        TWIN: { ...minimalRecord('TWIN'), sessionName: 'sessions/GOOD-session' },
      },
    })
    assert.deepEqual(
      contents.tasks.map((stored) => stored.task.id),
      ['GOOD'],
    )
    const fields = Object.fromEntries(contents.invalid.map((record) => [record.id, record.field]))
    assert.deepEqual(fields, {
      NOPROMPT: 'prompt',
      NOSESSION: 'sessionName',
      NOREPO: 'repository',
      BADREPO: 'repository',
      NOTOBJECT: '',
      MISFILED: 'id',
      BADEVENT: 'events[1].type',
      BADLABELS: 'labels',
      TWIN: 'sessionName',
    })
    for (const record of contents.invalid) assert.ok(record.reason.length > 0, record.id)
  })

  it('refuses text that is not JSON, naming the file, the line and column, and what to do', () => {
    const text = '{\n  "T1": {\n    "prompt": "x",\n  }\n}\n'
    assert.throws(
      () => parseLegacyFile(text, '/data/tasks.json', { defaultTime: fileTime }),
      (error: unknown) => {
        assert.ok(error instanceof StorageError)
        assert.match(error.message, /\/data\/tasks\.json/)
        assert.match(error.message, /line 4, column 3/)
        assert.match(error.message, /jjm only reads it and left it untouched: correct it, or restore it from a backup/)
        assert.equal(error.context.line, 4)
        assert.equal(error.context.column, 3)
        return true
      },
    )
  })

  it('refuses a document that is not shaped like a task file', () => {
    const shapes: Array<[unknown, RegExp]> = [
      [[], /a list where a JSON object of tasks was expected/],
      [{ version: 2, tasks: {} }, /newer jjm/],
      [{ version: 'one', tasks: {} }, /"version"/],
      [{ version: 1, tasks: [] }, /"tasks" object/],
      [{ version: 1, tasks: {}, creationIntents: [] }, /"creationIntents" object/],
      [{ version: 1, tasks: {}, creationIntents: { k: { key: 'k', state: 'lost' } } }, /creation intent "k"/],
    ]
    for (const [document, message] of shapes) {
      assert.throws(
        () => parse(document),
        (error: unknown) => error instanceof StorageError && message.test(error.message),
      )
    }
  })

  it('reads a missing file as none, an empty one as no tasks, and dates undated records by the file’s time', async () => {
    assert.equal(await readLegacyFile(await tempFile()), undefined)

    const empty = await tempFile()
    await writeFile(empty, '')
    assert.deepEqual(await readLegacyFile(empty), { shape: 'empty', tasks: [], invalid: [], creationIntents: [] })

    const undated = await tempFile()
    await writeFile(undated, JSON.stringify({ T1: minimalRecord('T1') }))
    await utimes(undated, new Date(fileTime), new Date(fileTime))
    assert.equal((await readLegacyFile(undated))?.tasks[0]?.task.createdAt, fileTime)
  })

  it('keeps the fields it does not know beside the task, for the import to carry', () => {
    const contents = parse({ T1: { ...minimalRecord('T1'), owner_team: 'platform', cost: 3 } })
    assert.deepEqual(contents.tasks[0]?.extra, { owner_team: 'platform', cost: 3 })
  })

  it('reads sync cursors and creation intents, and files without them as having none', () => {
    const task = buildTask()
    const cursor = {
      sessionUpdateTime: fileTime,
      lastActivityTime: fileTime,
      lastActivityNames: ['sessions/1/activities/a'],
    }
    const intent = {
      key: 'nightly-42',
      requestHash: 'a'.repeat(64),
      state: 'done',
      sessionName: task.sessionName,
      taskId: task.id,
      error: null,
      createdAt: fileTime,
      updatedAt: fileTime,
      leaseHolder: 'attempt-1',
      leaseExpiresAt: fileTime,
    }
    const contents = parse({
      version: 1,
      tasks: { [task.id]: { ...task, syncCursor: cursor } },
      creationIntents: { [intent.key]: intent },
    })
    assert.deepEqual(contents.tasks[0]?.syncCursor, cursor)
    assert.deepEqual(contents.tasks[0]?.extra, {}, 'the cursor is a known field, not an unknown one')
    assert.deepEqual(contents.creationIntents, [intent])

    const { leaseHolder: _holder, leaseExpiresAt: _expiry, ...beforeLeases } = intent
    const unleased = parse({ version: 1, tasks: { [task.id]: task }, creationIntents: { [intent.key]: beforeLeases } })
    assert.deepEqual(unleased.creationIntents, [{ ...beforeLeases, leaseHolder: null, leaseExpiresAt: null }])

    const older = parse({ version: 1, tasks: { [task.id]: task } })
    assert.equal(older.tasks[0]?.syncCursor, null)
    assert.deepEqual(older.creationIntents, [])

    const handEdited = parse({ version: 1, tasks: { [task.id]: { ...task, syncCursor: { lastActivityNames: 3 } } } })
    assert.equal(handEdited.tasks[0]?.syncCursor, null, 'a damaged cursor counts as none; the task stays readable')
  })
})
