import assert from 'node:assert/strict'
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { StorageError } from '../../../../src/core/errors.js'
import {
  type JsonStoreContents,
  parseJsonStore,
  readJsonStoreFile,
  serialiseJsonStore,
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
const parse = (document: unknown): JsonStoreContents =>
  parseJsonStore(JSON.stringify(document), '/data/tasks.json', {
    defaultTime: fileTime,
    newId: () => `GEN${++counter}`,
  })

/** A legacy record with every required field and nothing else. */
function minimalRecord(id: string): Record<string, unknown> {
  return { id, sessionName: `sessions/${id}-session`, prompt: 'Fix the flaky upload test', repository: 'acme/api' }
}

describe('the JSON store format', () => {
  it('reads the versioned form with each task’s events, chat messages and source files', () => {
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
      simSessions: { s1: { id: 's1', createdAt: task.createdAt, state: { phase: 'planning' } } },
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
    assert.deepEqual(contents.simSessions, [{ id: 's1', createdAt: task.createdAt, state: { phase: 'planning' } }])
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
    assert.equal(contents.invalidRaw.get('NOTOBJECT'), 'just a string')
  })

  it('refuses text that is not JSON, naming the file, the line and column, and what to do', () => {
    const text = '{\n  "T1": {\n    "prompt": "x",\n  }\n}\n'
    assert.throws(
      () => parseJsonStore(text, '/data/tasks.json', { defaultTime: fileTime }),
      (error: unknown) => {
        assert.ok(error instanceof StorageError)
        assert.match(error.message, /\/data\/tasks\.json/)
        assert.match(error.message, /line 4, column 3/)
        assert.match(error.message, /restore it from a backup, or move it away/)
        assert.equal(error.context.line, 4)
        assert.equal(error.context.column, 3)
        return true
      },
    )
  })

  it('refuses a document that is not shaped like a store', () => {
    const shapes: Array<[unknown, RegExp]> = [
      [[], /a list where a JSON object of tasks was expected/],
      [{ version: 2, tasks: {} }, /newer jjm/],
      [{ version: 'one', tasks: {} }, /"version"/],
      [{ version: 1, tasks: [] }, /"tasks" object/],
      [{ version: 1, tasks: {}, simSessions: { s: { id: 's' } } }, /simulated session "s"/],
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

  it('reads a missing or empty file as an empty store, and dates undated records by the file’s time', async () => {
    const missing = await readJsonStoreFile(await tempFile())
    assert.equal(missing.shape, 'missing')
    assert.deepEqual(missing.tasks, [])
    assert.equal(missing.signature, undefined)

    const empty = await tempFile()
    await writeFile(empty, '')
    assert.deepEqual((await readJsonStoreFile(empty)).tasks, [])

    const undated = await tempFile()
    await writeFile(undated, JSON.stringify({ T1: minimalRecord('T1') }))
    await utimes(undated, new Date(fileTime), new Date(fileTime))
    assert.equal((await readJsonStoreFile(undated)).tasks[0]?.task.createdAt, fileTime)
  })

  it('writes the versioned form that it reads back unchanged, keeping unknown fields and invalid records', () => {
    const contents = parse({
      T1: { ...minimalRecord('T1'), owner_team: 'platform', events: [{ id: 'E1', type: 'created', at: fileTime }] },
      BAD: { id: 'BAD', prompt: 42 },
    })
    const text = serialiseJsonStore(contents)
    const document = JSON.parse(text) as { version: number; tasks: Record<string, Record<string, unknown>> }
    assert.equal(document.version, 1)
    assert.equal(document.tasks.T1?.owner_team, 'platform')
    assert.equal(document.tasks.T1?.sessionName, 'sessions/T1-session')
    assert.deepEqual(document.tasks.BAD, { id: 'BAD', prompt: 42 })

    const again = parseJsonStore(text, '/data/tasks.json', { defaultTime: '2000-01-01T00:00:00.000Z' })
    assert.deepEqual(again.tasks, contents.tasks)
    assert.deepEqual(again.invalid, contents.invalid)
    assert.equal(serialiseJsonStore(again), text)
  })

  it('keeps sync cursors and creation intents, and reads files without them as having none', () => {
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
    const text = serialiseJsonStore(contents)
    const document = JSON.parse(text) as { tasks: Record<string, Record<string, unknown>>; creationIntents: unknown }
    assert.deepEqual(document.tasks[task.id]?.syncCursor, cursor)
    assert.deepEqual(document.creationIntents, { [intent.key]: intent })

    const { leaseHolder: _holder, leaseExpiresAt: _expiry, ...beforeLeases } = intent
    const unleased = parse({ version: 1, tasks: { [task.id]: task }, creationIntents: { [intent.key]: beforeLeases } })
    assert.deepEqual(unleased.creationIntents, [{ ...beforeLeases, leaseHolder: null, leaseExpiresAt: null }])

    const older = parse({ version: 1, tasks: { [task.id]: task } })
    assert.equal(older.tasks[0]?.syncCursor, null)
    assert.deepEqual(older.creationIntents, [])
    const plain = JSON.parse(serialiseJsonStore(older)) as { tasks: Record<string, Record<string, unknown>> }
    assert.equal('creationIntents' in plain, false, 'nothing is added to a file that has no intents')
    assert.equal('syncCursor' in (plain.tasks[task.id] ?? {}), false)

    const handEdited = parse({ version: 1, tasks: { [task.id]: { ...task, syncCursor: { lastActivityNames: 3 } } } })
    assert.equal(handEdited.tasks[0]?.syncCursor, null, 'a damaged cursor counts as none; the task stays readable')
  })
})
