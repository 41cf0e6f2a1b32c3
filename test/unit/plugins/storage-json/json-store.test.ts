import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { loadConfig } from '../../../../src/core/config.js'
import { StorageError } from '../../../../src/core/errors.js'
import { silentLogger } from '../../../../src/core/ports.js'
import { jsonBackend, jsonStorePath } from '../../../../src/plugins/storage-json/backend.js'
import { openJsonStore } from '../../../../src/plugins/storage-json/json-store.js'
import { buildTask } from '../../../../src/testing/build-task.js'

const tempDirs: string[] = []
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jjm-json-store-'))
  tempDirs.push(dir)
  return dir
}

/** Asserts that `work` fails with a StorageError and leaves the file exactly as it was, with nothing beside it. */
async function assertFileUntouched(path: string, work: () => Promise<unknown>, message: RegExp): Promise<void> {
  const dir = join(path, '..')
  const before = await readFile(path)
  const filesBefore = await readdir(dir)
  const mtimeBefore = (await stat(path)).mtimeMs
  await assert.rejects(work(), (error: unknown) => {
    assert.ok(error instanceof StorageError, String(error))
    assert.match(error.message, message)
    return true
  })
  assert.deepEqual(await readFile(path), before)
  assert.equal((await stat(path)).mtimeMs, mtimeBefore)
  assert.deepEqual(await readdir(dir), filesBefore)
}

describe('the JSON store on disk', () => {
  it('refuses to open a corrupt file, says where and what to do, and leaves it byte for byte untouched', async () => {
    const path = join(await tempDir(), 'tasks.json')
    await writeFile(path, '{\n  "01J": { "prompt": "half written"\n')
    await assertFileUntouched(
      path,
      () => openJsonStore({ path }),
      /tasks\.json is not valid JSON.*restore it from a backup, or move it away/s,
    )
  })

  it('refuses to write over a file that another process corrupted after the store opened', async () => {
    const path = join(await tempDir(), 'tasks.json')
    const storage = await openJsonStore({ path })
    await storage.store.createTask(buildTask(), [])
    await writeFile(path, '[1, 2,')
    await assertFileUntouched(path, () => storage.store.createTask(buildTask(), []), /is not valid JSON/)
    await storage.close()
  })

  it('treats a missing file as an empty store and creates it, with its directory, on the first write', async () => {
    const path = join(await tempDir(), 'team', 'jjm', 'tasks.json')
    const storage = await openJsonStore({ path })
    assert.deepEqual((await storage.store.listTasks({})).items, [])
    await assert.rejects(stat(path), { code: 'ENOENT' })

    const task = buildTask()
    await storage.store.createTask(task, [{ type: 'created', data: {} }])
    const document = JSON.parse(await readFile(path, 'utf8')) as { version: number; tasks: Record<string, unknown> }
    assert.equal(document.version, 1)
    assert.deepEqual(Object.keys(document.tasks), [task.id])
    await storage.close()
  })

  it('leaves no temporary file behind after its writes', async () => {
    const dir = await tempDir()
    const path = join(dir, 'tasks.json')
    const storage = await openJsonStore({ path })
    const tasks = Array.from({ length: 5 }, () => buildTask())
    await Promise.all(tasks.map((task) => storage.store.createTask(task, [{ type: 'created', data: {} }])))
    await storage.store.addChatMessages(tasks[0]?.id ?? '', [
      { role: 'user', text: 'hi', activityId: 'a1', at: tasks[0]?.createdAt ?? '' },
    ])
    await storage.store.deleteTask(tasks[1]?.id ?? '', { purge: true })
    assert.deepEqual(await readdir(dir), ['tasks.json'])
    await storage.close()
  })

  it('keeps the file and the store as they were when the data cannot be written as JSON', async () => {
    const dir = await tempDir()
    const path = join(dir, 'tasks.json')
    const storage = await openJsonStore({ path })
    const kept = buildTask()
    await storage.store.createTask(kept, [])

    const unwritable = buildTask({ metadata: { size: 10n } })
    await assertFileUntouched(path, () => storage.store.createTask(unwritable, []), /cannot be written as JSON/)
    assert.equal(await storage.store.getTask(unwritable.id), undefined)
    assert.deepEqual(await storage.store.getTask(kept.id), kept)

    await assertFileUntouched(
      path,
      () =>
        storage.store.updateTask({ ...kept, metadata: { size: 10n } }, [{ type: 'progress', data: {} }], {
          expectedVersion: kept.version,
        }),
      /cannot be written as JSON/,
    )
    assert.deepEqual(await storage.store.getTask(kept.id), kept)
    assert.deepEqual((await storage.store.getEvents(kept.id)).items, [])
    await storage.close()
  })

  it('rewrites a legacy file in the versioned form, keeping unknown fields and invalid records as they were', async () => {
    const path = join(await tempDir(), 'tasks.json')
    const legacy = {
      T1: {
        id: 'T1',
        session_name: 'sessions/41',
        prompt: 'Add retries',
        repository: 'acme/api',
        created_at: '2025-01-01T00:00:00Z',
        owner_team: 'platform',
      },
      BROKEN: { id: 'BROKEN', prompt: 'no session, no repository' },
    }
    await writeFile(path, JSON.stringify(legacy))
    const storage = await openJsonStore({ path })
    const task = await storage.store.findTask('sessions/41')
    assert.equal(task?.id, 'T1')
    assert.ok(task)
    await storage.store.updateTask({ ...task, state: 'in_progress' }, [], { expectedVersion: task.version })
    await storage.close()

    const document = JSON.parse(await readFile(path, 'utf8')) as {
      version: number
      tasks: Record<string, Record<string, unknown>>
    }
    assert.equal(document.version, 1)
    assert.equal(document.tasks.T1?.sessionName, 'sessions/41')
    assert.equal(document.tasks.T1?.state, 'in_progress')
    assert.equal(document.tasks.T1?.owner_team, 'platform')
    assert.equal(document.tasks.T1?.session_name, undefined)
    assert.deepEqual(document.tasks.BROKEN, legacy.BROKEN)
  })

  it('sees what another process wrote to the same file', async () => {
    const path = join(await tempDir(), 'tasks.json')
    const first = await openJsonStore({ path })
    const second = await openJsonStore({ path })
    const task = buildTask()
    await first.store.createTask(task, [])
    assert.deepEqual(await second.store.getTask(task.id), task)
    await second.store.deleteTask(task.id)
    assert.equal(await first.store.getTask(task.id), undefined)
    await first.close()
    await second.close()
  })

  it('keeps the simulator’s sessions in the same file, beside the tasks', async () => {
    const path = join(await tempDir(), 'tasks.json')
    const storage = await openJsonStore({ path })
    await storage.sim.put({ id: 'b', createdAt: '2026-01-02T00:00:00.000Z', state: { phase: 'planning' } })
    await storage.sim.put({ id: 'a', createdAt: '2026-01-01T00:00:00.000Z', state: { phase: 'queued' } })
    await storage.sim.put({ id: 'b', createdAt: '2026-01-02T00:00:00.000Z', state: { phase: 'done' } })
    await storage.close()

    const reopened = await openJsonStore({ path })
    assert.deepEqual(
      (await reopened.sim.list()).map((session) => [session.id, session.state.phase]),
      [
        ['a', 'queued'],
        ['b', 'done'],
      ],
    )
    assert.deepEqual((await reopened.sim.get('b'))?.state, { phase: 'done' })
    assert.equal(await reopened.sim.get('c'), undefined)
    const document = JSON.parse(await readFile(path, 'utf8')) as { simSessions: Record<string, unknown> }
    assert.deepEqual(Object.keys(document.simSessions), ['b', 'a'])
    await reopened.close()
  })

  it('refuses every call once closed', async () => {
    const storage = await openJsonStore({ path: ':memory:' })
    await storage.close()
    await assert.rejects(storage.store.listTasks({}), /closed/)
  })
})

describe('the json storage backend', () => {
  it('uses --db as given, and jjm.json in the data directory when no file is named', async () => {
    const dataDir = await tempDir()
    const byDefault = await loadConfig({ configDir: dataDir, dataDir, env: {}, flags: { storage: 'json' } })
    assert.equal(jsonStorePath(byDefault), join(dataDir, 'jjm.json'))
    const named = await loadConfig({
      configDir: dataDir,
      dataDir,
      env: {},
      flags: { storage: 'json', db: join(dataDir, 'team.json') },
    })
    assert.equal(jsonStorePath(named), join(dataDir, 'team.json'))
  })

  it('opens a store with a simulator store and no schema to migrate', async () => {
    const dataDir = await tempDir()
    const config = await loadConfig({ configDir: dataDir, dataDir, env: {}, flags: { storage: 'json' } })
    const handle = await jsonBackend.open({ config, logger: silentLogger, migrate: 'auto' })
    assert.equal(handle.schema, undefined)
    assert.ok(handle.sim)
    const task = buildTask()
    await handle.store.createTask(task, [])
    await handle.close()
    assert.ok((await readFile(join(dataDir, 'jjm.json'), 'utf8')).includes(task.id))
  })
})
