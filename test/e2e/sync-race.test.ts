/**
 * The headline proof of one session synchronizer with compare-and-set writes:
 * the daemon (its monitor loop and its API), `jjm monitor --watch`, `jjm tasks
 * wait`, `jjm tasks update` and API PATCHes all work on the same 50 tasks at
 * once, in separate processes, while the test moves the simulator's clock so
 * that every session runs queued → … → completed. Afterwards no edit is lost,
 * every transition is one event, and every routed event one notification; on
 * SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict'
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { request } from 'undici'
import { ManualClock } from '../../src/core/clock.js'
import type { Task, TaskEvent } from '../../src/core/task.js'
import type { SimServer } from '../../src/sim/http.js'
import { jjm, json, root, runJs } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'
import { postgres } from '../support/services.js'

const taskCount = 50
/** Simulated seconds from queued to completed. */
const runSeconds = 20
/** Clock steps of one simulated second; the sessions are done after runSeconds of them. */
const clockSteps = 30
/** API PATCHes sent at each clock step, two to each of half as many tasks. */
const patchesPerStep = 10
/** Sequential `jjm tasks update` loops, and the invocations each makes. */
const updateLoops = 2
const updatesPerLoop = 5
/** Tasks a `jjm tasks wait` process waits for. */
const waitedTasks = [0, 17, 33]

interface Delivery {
  id: string
  event: string
  taskId: string
}

interface Running {
  child: ChildProcessWithoutNullStreams
  exited: Promise<number | null>
  stdout(): string
  stderr(): string
}

/** `bin/run.js` with `args`, running in the background. */
function start(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, [runJs, ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  child.stdin.end()
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, exited, stdout: () => stdout, stderr: () => stderr }
}

/** Polls `check` until it holds; the test's own timeout bounds the wait. */
async function eventually(check: () => Promise<boolean> | boolean, what: string, limit = 600): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (await check()) return
    await delay(250)
  }
  assert.fail(`never happened: ${what}`)
}

/** The webhook target: records every delivery (id, routed event, task). */
async function startReceiver(): Promise<{ server: Server; url: string; deliveries: Delivery[] }> {
  const deliveries: Delivery[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString()
    })
    req.on('end', () => {
      const { taskId } = JSON.parse(body) as { taskId: string }
      deliveries.push({ id: String(req.headers['x-jjm-delivery']), event: String(req.headers['x-jjm-event']), taskId })
      res.end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { server, url: `http://127.0.0.1:${port}/hook`, deliveries }
}

/** The name routing gives an event for a `*` route (see situationsOf in src/core/notifications.ts). */
function routedName(event: TaskEvent): string {
  if (event.type === 'state_changed') {
    const to = event.data.to
    if (to === 'awaiting_plan_approval' || to === 'awaiting_user_feedback') return to
  }
  if (event.type === 'completed')
    return typeof event.data.pullRequestUrl === 'string' ? 'completed_with_pr' : 'completed'
  return event.type
}

function count<T>(items: readonly T[]): Map<T, number> {
  const counts = new Map<T, number>()
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1)
  return counts
}

function sorted<T>(counts: Map<T, number>): Array<[T, number]> {
  return [...counts].sort(([a], [b]) => String(a).localeCompare(String(b)))
}

async function race(t: TestContext, storage: Record<string, string>): Promise<void> {
  assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
  const dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-race-'))
  const clock = new ManualClock(Date.now())
  let sim: SimServer | undefined
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined
  const running: Running[] = []
  try {
    sim = (await startE2eSimulator(clock, { runSeconds })).server
    receiver = await startReceiver()
    const env = e2eEnvironment(dir, sim.url, {
      ...storage,
      // Every process syncs as often as it can: the race is the point, not Jules' quota.
      JJM_MONITOR_REQUESTS_PER_MINUTE: '100000',
      JJM_NOTIFIERS: JSON.stringify([{ name: 'race-hook', backend: 'webhook', url: receiver.url, events: ['*'] }]),
    })

    // 50 tasks, every other one opening a pull request.
    const file = join(dir, 'tasks.json')
    await writeFile(
      file,
      JSON.stringify(
        Array.from({ length: taskCount }, (_, i) => ({
          prompt: `Race task ${i}: tidy module ${i}`,
          repository: 'acme/api',
          title: `Race ${i}`,
          labels: ['race'],
          ...(i % 2 === 0 ? { automationMode: 'AUTO_CREATE_PR' } : {}),
        })),
      ),
    )
    const made = await jjm(['tasks', 'create', '--from', file, '--json'], env)
    assert.equal(made.code, 0, made.stderr)
    const created = json<{ created: Task[]; failed: unknown[] }>(made)
    assert.deepEqual(created.failed, [])
    const tasks = created.created.sort((a, b) => a.title.localeCompare(b.title, 'en', { numeric: true }))
    assert.equal(tasks.length, taskCount)
    const autoPr = new Set(tasks.filter((task) => task.automationMode === 'AUTO_CREATE_PR').map((task) => task.id))
    assert.equal(autoPr.size, taskCount / 2)

    const key = json<{ key: string }>(
      await jjm(['api-keys', 'create', '--name', 'race', '--scopes', 'write', '--json'], env),
    ).key
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }

    // What every edit added, per task, and every version a write answered with.
    const addedLabels = new Map<string, Set<string>>()
    const addedKeys = new Map<string, Set<string>>()
    const lastTitle = new Map<string, string>(tasks.map((task) => [task.id, task.title]))
    const edits = new Map<string, number>()
    const versionsSeen = new Map<string, number[]>()
    const loopVersions = new Map<string, number[]>()
    const remember = (task: Task) => {
      versionsSeen.set(task.id, [...(versionsSeen.get(task.id) ?? []), task.version])
      edits.set(task.id, (edits.get(task.id) ?? 0) + 1)
    }

    const daemon = start(['daemon', '--port', '0', '--metrics-port', '0', '--interval', '1'], env)
    running.push(daemon)
    await eventually(() => /listening on http:\/\/\S+/.test(daemon.stderr()), `the daemon listens\n${daemon.stderr()}`)
    const api = /listening on (http:\/\/\S+)/.exec(daemon.stderr())?.[1] ?? ''

    const monitor = start(['monitor', '--watch', '--interval', '1', '--until-done'], env)
    running.push(monitor)
    const waits = waitedTasks.map((i) => {
      const waiting = start(['tasks', 'wait', tasks[i]?.id ?? '', '--interval', '1s', '--json'], env)
      running.push(waiting)
      return waiting
    })

    let updatesDone = 0
    // Each loop is the only one to edit its tasks' titles: the last title it set must stay.
    const loops = Array.from({ length: updateLoops }, async (_, loop) => {
      for (let n = 0; n < updatesPerLoop; n++) {
        // Three tasks each, edited again later in the race: the last title must win.
        const task = tasks[(loop + updateLoops * (n % 3) * 3) % taskCount]
        assert.ok(task)
        const label = `cli-${loop}-${n}`
        const title = `Race ${tasks.indexOf(task)} edited by loop ${loop}, round ${n}`
        const run = await jjm(['tasks', 'update', task.id, '--add-label', label, '--title', title, '--json'], env)
        assert.equal(run.code, 0, `tasks update ${label}: ${run.stderr}`)
        const updated = json<Task>(run)
        assert.ok(updated.labels.includes(label))
        addedLabels.set(task.id, (addedLabels.get(task.id) ?? new Set()).add(label))
        lastTitle.set(task.id, title)
        updatesDone++
        loopVersions.set(task.id, [...(loopVersions.get(task.id) ?? []), updated.version])
        remember(updated)
      }
    })

    // The clock moves on one simulated second at a time; at each step a burst of PATCHes.
    let patchesSent = 0
    const stepping = (async () => {
      for (let step = 0; step < clockSteps; step++) {
        // The sessions' lives span the CLI edits (each a process start): the clock waits for them.
        const paced = Math.floor((step * updateLoops * updatesPerLoop) / clockSteps)
        await eventually(() => updatesDone >= paced, `${paced} CLI updates made`)
        clock.advance(1000)
        await Promise.all(
          Array.from({ length: patchesPerStep }, async (_, k) => {
            // Two at a time to one task: the loser of each compare-and-set is retried by the daemon.
            const task = tasks[(step * 7 + Math.floor(k / 2) * 5) % taskCount]
            assert.ok(task)
            const metadataKey = `api_${step}_${k}`
            const answer = await request(`${api}/api/v1/tasks/${task.id}`, {
              method: 'PATCH',
              headers,
              body: JSON.stringify({ metadata: { [metadataKey]: step } }),
            })
            const body = await answer.body.text()
            assert.equal(answer.statusCode, 200, `PATCH ${metadataKey}: ${body}`)
            const updated = JSON.parse(body) as Task
            assert.equal(updated.metadata[metadataKey], step)
            assert.equal(answer.headers.etag, `"${updated.version}"`)
            addedKeys.set(task.id, (addedKeys.get(task.id) ?? new Set()).add(metadataKey))
            remember(updated)
            patchesSent++
          }),
        )
        await delay(400)
      }
    })()

    const began = performance.now()
    const phase = (what: string) => t.diagnostic(`${what} after ${Math.round((performance.now() - began) / 1000)} s`)
    await Promise.all([stepping, ...loops])
    phase('clock stepped, edits done')
    assert.equal(patchesSent, clockSteps * patchesPerStep)

    // Every session is done at Jules; each waiter sees its task complete, the watch ends.
    for (const [index, waiting] of waits.entries()) {
      assert.equal(await waiting.exited, 0, `tasks wait ${waitedTasks[index]}:\n${waiting.stderr()}`)
    }
    phase('waits ended')
    assert.equal(await monitor.exited, 0, `monitor --watch:\n${monitor.stderr()}`)
    phase('watch ended')

    const getJson = async <T>(path: string): Promise<T> => {
      const answer = await request(`${api}${path}`, { headers })
      const body = await answer.body.text()
      assert.equal(answer.statusCode, 200, `${path}: ${body}`)
      return JSON.parse(body) as T
    }
    const allTasks = async () => (await getJson<{ items: Task[] }>('/api/v1/tasks?limit=100')).items
    await eventually(async () => (await allTasks()).every((task) => task.state === 'completed'), 'every task completed')
    phase('all completed')
    const events = new Map<string, TaskEvent[]>()
    for (const task of tasks) {
      const history: TaskEvent[] = []
      let cursor: string | null = null
      do {
        const page: { items: TaskEvent[]; nextCursor: string | null } = await getJson(
          `/api/v1/tasks/${task.id}/events?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        )
        history.push(...page.items)
        cursor = page.nextCursor
      } while (cursor)
      events.set(task.id, history)
    }
    const routedTotal = [...events.values()].reduce((sum, history) => sum + history.length, 0)
    const { deliveries } = receiver
    await eventually(
      () => new Set(deliveries.map((delivery) => delivery.id)).size >= routedTotal,
      `${routedTotal} notifications delivered (${new Set(deliveries.map((d) => d.id)).size} so far)`,
    )

    phase('all delivered')
    daemon.child.kill('SIGTERM')
    assert.equal(await daemon.exited, 0, daemon.stderr())

    const final = new Map((await allTasksAfter(env)).map((task) => [task.id, task]))
    // The activities' events of one session: the same for every task (but the pull request).
    let script: Array<[string, number]> | undefined
    for (const task of tasks) {
      const stored = final.get(task.id)
      assert.ok(stored, `task ${task.id} is there`)
      const name = `${task.title} (${task.id})`
      assert.equal(stored.state, 'completed', name)

      // No edit lost: every label and key any edit added, the title its one editor set last.
      for (const label of ['race', ...(addedLabels.get(task.id) ?? [])]) {
        assert.ok(stored.labels.includes(label), `${name} lost label ${label}: ${stored.labels}`)
      }
      for (const key of addedKeys.get(task.id) ?? []) {
        assert.ok(key in stored.metadata, `${name} lost metadata ${key}: ${Object.keys(stored.metadata)}`)
      }
      assert.equal(stored.title, lastTitle.get(task.id), `${name}: the last title its editor set`)

      // Versions only went up: no two writes answered with the same version, none above the final one.
      const seen = versionsSeen.get(task.id) ?? []
      assert.equal(new Set(seen).size, seen.length, `${name}: two edits got the same version ${seen}`)
      assert.ok(
        seen.every((version) => version <= stored.version),
        `${name}: versions ${seen}, final ${stored.version}`,
      )
      const ownEdits = loopVersions.get(task.id) ?? []
      assert.ok(
        ownEdits.every((version, i) => i === 0 || version > (ownEdits[i - 1] ?? 0)),
        `${name}: one editor's versions went down: ${ownEdits}`,
      )
      assert.ok(stored.version >= 1 + (edits.get(task.id) ?? 0), `${name}: version ${stored.version}`)

      const history = events.get(task.id) ?? []
      const types = count(history.map((event) => event.type))
      assert.equal(types.get('created'), 1, `${name}: one created event`)
      assert.equal(types.get('completed'), 1, `${name}: one completed event`)
      assert.equal(types.get('pull_request') ?? 0, autoPr.has(task.id) ? 1 : 0, `${name}: pull_request events`)
      assert.equal(types.get('updated') ?? 0, edits.get(task.id) ?? 0, `${name}: one updated event per edit`)
      assert.equal(types.get('sync_error') ?? 0, 0, `${name}: no sync errors`)

      // The state changes: one unbroken chain from queued to completed, no transition twice.
      const changes = history
        .filter((event) => event.type === 'state_changed')
        .map((event) => [String(event.data.from), String(event.data.to)] as const)
      const next = new Map<string, string>()
      for (const [from, to] of changes) {
        assert.ok(!next.has(from), `${name}: two state changes from ${from}: ${JSON.stringify(changes)}`)
        next.set(from, to)
      }
      const chain = ['queued']
      while (next.has(chain.at(-1) ?? '') && chain.length <= changes.length)
        chain.push(next.get(chain.at(-1) ?? '') ?? '')
      assert.equal(chain.length, changes.length + 1, `${name}: a broken chain ${JSON.stringify(changes)}`)
      assert.equal(chain.at(-1), 'completed', `${name}: ${chain.join(' → ')}`)

      // What Jules did is recorded once: the same activities' events for every session.
      const activities = sorted(
        count(
          history
            .filter((event) => !['created', 'updated', 'state_changed', 'pull_request'].includes(event.type))
            .map((event) => event.type),
        ),
      )
      script ??= activities
      assert.deepEqual(activities, script, `${name}: the events of its activities`)

      // One notification per routed event: the same names, each delivered under its own id.
      const delivered = deliveries.filter((delivery) => delivery.taskId === task.id)
      const distinct = new Map(delivered.map((delivery) => [delivery.id, delivery]))
      assert.deepEqual(
        sorted(count([...distinct.values()].map((delivery) => delivery.event))),
        sorted(count(history.map(routedName))),
        `${name}: one notification per event`,
      )
    }
    assert.ok(
      script?.some(([type]) => type === 'progress'),
      `the sessions' activities were recorded: ${script}`,
    )
    const deliveryIds = new Set(deliveries.map((delivery) => delivery.id))
    assert.equal(deliveryIds.size, routedTotal, 'one notification per event, no more')
    assert.equal(deliveries.length, deliveryIds.size, 'no notification was delivered twice')
    t.diagnostic(
      `${taskCount} tasks, ${patchesSent} PATCHes, ${updateLoops * updatesPerLoop} CLI updates, ${routedTotal} events, ${deliveries.length} deliveries (${new Set(deliveries.map((d) => d.id)).size} distinct)`,
    )
  } finally {
    for (const process of running) if (process.child.exitCode === null) process.child.kill('SIGKILL')
    await Promise.all(running.map((process) => process.exited))
    await sim?.close()
    await new Promise<void>((resolve) => (receiver ? receiver.server.close(() => resolve()) : resolve()))
    await rm(dir, { recursive: true, force: true })
  }
}

/** The tasks as the CLI reads them, once the daemon is gone. */
async function allTasksAfter(env: Record<string, string>): Promise<Task[]> {
  const run = await jjm(['tasks', 'list', '--limit', '100', '--json'], env)
  assert.equal(run.code, 0, run.stderr)
  return json<{ items: Task[] }>(run).items
}

describe('the daemon, monitor --watch, tasks update, tasks wait and API PATCHes racing on 50 tasks', {
  timeout: 600_000,
}, () => {
  it('keeps every edit and records each transition and notification once, on SQLite', {
    timeout: 300_000,
  }, async (t) => {
    await race(t, {})
  })

  it('keeps every edit and records each transition and notification once, on PostgreSQL', {
    timeout: 300_000,
  }, async (t) => {
    const service = await postgres(t)
    if (!service) return
    const database = await service.createDatabase()
    try {
      await race(t, { DATABASE_URL: database.url })
    } finally {
      await database.drop()
    }
  })
})
