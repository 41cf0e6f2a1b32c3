/**
 * A quiet monitor pass at scale (issue 10): 10 000 active tasks whose Jules
 * sessions sit still, on SQLite or PostgreSQL, synced by `monitor.syncOnce({force: true})`
 * through the memory cache. Counts what the pass asks of Jules, what it
 * writes and what it invalidates, and times it against its floor: the same
 * `getSession` reads straight against the in-memory simulator (`MemorySimStateStore`),
 * with no jjm (no store, no ORM, no synchronizer) in between.
 */
import { join } from 'node:path'
import { CachedTaskStore, listGenerationKey } from '../src/core/cached-store.js'
import { ManualClock } from '../src/core/clock.js'
import { createIdGenerator } from '../src/core/ids.js'
import type { JulesClient } from '../src/core/jules/client.js'
import { taskStateOf } from '../src/core/jules/session-view.js'
import { Monitor } from '../src/core/monitor.js'
import { type Cache, silentLogger } from '../src/core/ports.js'
import type { Task } from '../src/core/task.js'
import { KeyvCache } from '../src/plugins/cache-keyv/keyv-cache.js'
import { openSqlStore, type SqlStorage } from '../src/plugins/storage-sql/sql-store.js'
import { createSimClient } from '../src/sim/adapter.js'
import { Simulator } from '../src/sim/engine.js'
import { MemorySimStateStore } from '../src/sim/memory-store.js'
import type { Target } from './target.js'

export interface QuietPassOptions {
  dialect: 'sqlite' | 'postgresql'
  /** SQLite: the directory for the database file. */
  dir: string
  /** PostgreSQL: the fresh database to use. */
  url?: string
  tasks: number
  /** Tasks per batch: the monitor's `concurrency`. */
  concurrency: number
  /** Measured passes after the warm-up pass. */
  passes: number
  log: (line: string) => void
}

/** What one measured pass did. */
export interface PassFigures {
  due: number
  passMs: number
  floorMs: number
  /** CPU time of this process during the floor's reads. */
  floorCpuMs: number
  /** CPU time of this process during the pass (a PostgreSQL server's own CPU is not in it). */
  cpuMs: number
  getSession: number
  otherJulesRequests: number
  /** Statements by kind (see {@link kindOf}). */
  statements: Map<string, number>
  cacheInvalidations: number
  changes: number
  errors: number
}

export interface QuietPassResult {
  dialect: string
  tasks: number
  concurrency: number
  batches: number
  passes: PassFigures[]
  /** Tasks whose version (or updatedAt) differs after the measured passes from before them. */
  taskRowsChanged: number
  listGenerationBefore: number
  listGenerationAfter: number
  /** Cached entries primed before the measured passes, and how many still answered from the cache after them. */
  cachedEntries: number
  cachedEntriesStillHit: number
  targets: Target[]
}

/** The kind of one SQL statement, from its text: what the counts in the report are made of. */
export function kindOf(sql: string): string {
  const text = sql.replace(/[`"]/g, '').replace(/\s+/g, ' ').trim().toLowerCase()
  if (/^(begin|start transaction|commit|rollback|savepoint|release savepoint)\b/.test(text)) return 'transaction'
  if (text.startsWith('update task_sync set lease_holder') && text.includes(' returning ')) return 'lease claim'
  if (text.startsWith('update task_sync set lease_holder')) return 'lease release'
  if (text.startsWith('update task_sync set lease_until')) return 'lease renewal'
  if (text.startsWith('update task_sync set cursor')) return 'sync state write'
  if (/^(update|insert into|delete from) task[\s(]/.test(text)) return 'TASK ROW WRITE'
  const write = /^(update|insert into|delete from) ([a-z_]+)/.exec(text)
  if (write) return `other write (${write[2]})`
  if (text.startsWith('select ')) {
    // MikroORM names the main table t0; a raw select names it first.
    const table = / from ([a-z_]+) as t0\b/.exec(text)?.[1] ?? /^select .*? from ([a-z_]+)/.exec(text)?.[1]
    if (table === 'task' && text.includes(' not in ')) return 'read active tasks'
    return `read ${table}`
  }
  return `other (${text.slice(0, 40)})`
}

/** A JulesClient that counts its calls by method. */
function countingJules(inner: JulesClient, counts: Map<string, number>): JulesClient {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        counts.set(String(property), (counts.get(String(property)) ?? 0) + 1)
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
}

/**
 * A Cache that counts the calls that invalidate (counter increments and
 * deletes). Its entries do not expire while the bench runs (a pass at scale
 * outlasts a list page's 60 s), so an entry that misses afterwards was invalidated.
 */
function countingCache(inner: Cache, counts: { invalidations: number }): Cache {
  return {
    get: (key) => inner.get(key),
    set: (key, value) => inner.set(key, value, 24 * 3600_000),
    delete: (keys) => {
      counts.invalidations += keys.length
      return inner.delete(keys)
    },
    increment: (key) => {
      counts.invalidations++
      return inner.increment(key)
    },
    close: () => inner.close(),
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN
const max = (values: number[]) => values.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY)

export async function quietPassBench(options: QuietPassOptions): Promise<QuietPassResult> {
  const { dialect, tasks: size, concurrency, log } = options
  const clock = new ManualClock('2026-11-25T10:00:00.000Z')
  // Sessions that sit still: the clock moves 10 s a pass, the script needs years to take its first step.
  const simulator = new Simulator({
    store: new MemorySimStateStore(),
    clock,
    runSeconds: 10 * 365 * 24 * 3600,
    autoApproveSeconds: 0,
  })
  let recording = false
  const statements: string[] = []
  const debugQueries = (sql: string) => {
    if (recording) statements.push(sql)
  }
  const storage: SqlStorage =
    dialect === 'sqlite'
      ? await openSqlStore({ dialect, path: join(options.dir, 'quiet-pass.sqlite'), debugQueries })
      : await openSqlStore({ dialect, url: options.url ?? '', debugQueries })
  try {
    let started = performance.now()
    const names: string[] = []
    const newId = createIdGenerator()
    const chunk = 50
    for (let start = 0; start < size; start += chunk) {
      const batch: Task[] = []
      for (let i = start; i < Math.min(size, start + chunk); i++) {
        const session = await simulator.createSession({
          prompt: `Refactor module ${i}`,
          title: `Task ${i}`,
          sourceContext: { source: `sources/github/acme/api`, githubRepoContext: { startingBranch: 'main' } },
        })
        names.push(session.name)
        const at = new Date(clock.now()).toISOString()
        batch.push({
          id: newId(),
          sessionName: session.name,
          title: `Task ${i}`,
          prompt: `Refactor module ${i}`,
          repository: 'acme/api',
          source: 'sources/github/acme/api',
          branch: 'main',
          state: taskStateOf(session),
          requirePlanApproval: false,
          automationMode: 'AUTO_CREATE_PR',
          url: session.url ?? null,
          pullRequest: null,
          labels: [`team${i % 4}`],
          metadata: { index: i },
          createdAt: at,
          updatedAt: at,
          completedAt: null,
          lastSyncedAt: null,
          stalledSince: null,
          archived: false,
          version: 1,
          priority: 0,
        })
      }
      // Straight into the store: the bench is about the pass, not about creating through Jules.
      await Promise.all(batch.map((task) => storage.store.createTask(task, [])))
    }
    log(`  ${dialect}: ${size} tasks created in ${((performance.now() - started) / 1000).toFixed(1)} s`)

    const jules = new Map<string, number>()
    const cacheCounts = { invalidations: 0 }
    const cache = await KeyvCache.memory({ maxEntries: 100_000 })
    const cached = new CachedTaskStore(storage.store, countingCache(cache, cacheCounts), { clock })
    const monitor = new Monitor({
      jules: countingJules(createSimClient(simulator), jules),
      store: cached,
      clock,
      logger: silentLogger,
      concurrency,
      // The engine's own cost, not the ceiling on requests to Jules.
      requestsPerMinute: 1_000_000_000,
      leaseHolder: `bench-${dialect}`,
    })

    // Warm-up: the first pass reads every session's activities and records the cursor.
    started = performance.now()
    const warm = await monitor.syncOnce({ force: true })
    if (warm.errors.length > 0) throw new Error(`warm-up pass failed: ${JSON.stringify(warm.errors[0])}`)
    log(`  ${dialect}: warm-up pass in ${((performance.now() - started) / 1000).toFixed(1)} s`)

    // Prime the cache as readers would: a page of the list and 100 tasks.
    const primed = (await cached.listActiveTasks()).slice(0, 100)
    await cached.listTasks({ limit: 50 })
    for (const task of primed) await cached.getTask(task.id)
    const listGenerationBefore = Number((await cache.get<number>(listGenerationKey)) ?? 0)
    const rowsBefore = new Map((await storage.store.listActiveTasks()).map((task) => [task.id, task]))

    const passes: PassFigures[] = []
    for (let pass = 0; pass < options.passes; pass++) {
      clock.advance(10_000)
      // The floor: the same reads straight against the in-memory simulator, no jjm.
      const floorCpu = process.cpuUsage()
      let t0 = performance.now()
      for (const name of names) await simulator.getSession(name)
      const floorMs = performance.now() - t0
      const floorUsed = process.cpuUsage(floorCpu)

      jules.clear()
      cacheCounts.invalidations = 0
      statements.length = 0
      recording = true
      const cpu = process.cpuUsage()
      t0 = performance.now()
      const report = await monitor.syncOnce({ force: true })
      const passMs = performance.now() - t0
      const used = process.cpuUsage(cpu)
      recording = false
      const kinds = new Map<string, number>()
      for (const sql of statements) kinds.set(kindOf(sql), (kinds.get(kindOf(sql)) ?? 0) + 1)
      const getSession = jules.get('getSession') ?? 0
      passes.push({
        due: report.polled ?? report.checked,
        passMs,
        floorMs,
        floorCpuMs: (floorUsed.user + floorUsed.system) / 1000,
        cpuMs: (used.user + used.system) / 1000,
        getSession,
        otherJulesRequests: [...jules.values()].reduce((a, b) => a + b, 0) - getSession,
        statements: kinds,
        cacheInvalidations: cacheCounts.invalidations,
        changes: report.changes.length,
        errors: report.errors.length,
      })
      log(
        `  ${dialect}: pass ${pass + 1}: ${(passMs / 1000).toFixed(2)} s (floor ${floorMs.toFixed(0)} ms), ${statements.length} statements`,
      )
    }

    let taskRowsChanged = 0
    for (const task of await storage.store.listActiveTasks()) {
      const before = rowsBefore.get(task.id)
      if (before === undefined || before.version !== task.version || before.updatedAt !== task.updatedAt)
        taskRowsChanged++
    }
    const listGenerationAfter = Number((await cache.get<number>(listGenerationKey)) ?? 0)
    const hitsBefore = cached.stats().hits
    await cached.listTasks({ limit: 50 })
    for (const task of primed) await cached.getTask(task.id)
    const cachedEntriesStillHit = cached.stats().hits - hitsBefore
    monitor.close()

    const batches = Math.ceil(size / concurrency)
    const sum = (kind: string) => max(passes.map((p) => p.statements.get(kind) ?? 0))
    const taskWrites = max(passes.map((p) => p.statements.get('TASK ROW WRITE') ?? 0))
    const leaseStatements = sum('lease claim') + sum('lease release')
    const perTask = max(
      passes.map((p) => {
        let count = 0
        for (const [kind, n] of p.statements) {
          if (kind !== 'lease claim' && kind !== 'lease release' && kind !== 'read active tasks') count += n
        }
        return count / p.due
      }),
    )
    const ratio = median(passes.map((p) => p.passMs / p.floorMs))
    const cpuPerThousand = median(passes.map((p) => (p.cpuMs / p.due) * 1000))
    const label = dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'
    const n = size.toLocaleString('en')
    const targets: Target[] = [
      {
        name: `${label} quiet pass`,
        ratio,
        means: `${(median(passes.map((p) => p.passMs)) / 1000).toFixed(2)} s vs ${median(passes.map((p) => p.floorMs)).toFixed(0)} ms for ${n} tasks; ${cpuPerThousand.toFixed(0)} ms CPU per 1,000 tasks`,
        max: 350,
        explain: `monitor.syncOnce over ${n} quiet tasks vs. the same getSession calls on the in-memory simulator`,
      },
      {
        name: `${label} quiet pass CPU`,
        ratio: median(passes.map((p) => p.cpuMs / p.floorCpuMs)),
        means: `${cpuPerThousand.toFixed(0)} ms vs ${median(passes.map((p) => (p.floorCpuMs / p.due) * 1000)).toFixed(1)} ms CPU per 1,000 tasks`,
        max: 250,
        explain: "this process's CPU time for the pass vs. for the floor's reads",
      },
      {
        name: `${label} Jules requests/task`,
        ratio: max(passes.map((p) => (p.getSession + p.otherJulesRequests) / p.due)),
        max: 1,
        explain: `requests to Jules per due task (getSession only; activities.list: ${max(passes.map((p) => p.otherJulesRequests))})`,
      },
      {
        name: `${label} task row writes`,
        ratio: Math.max(taskWrites, taskRowsChanged),
        max: 0,
        explain: `UPDATE/INSERT/DELETE on \`task\` in a pass (${taskWrites}); tasks whose version moved (${taskRowsChanged})`,
      },
      {
        name: `${label} cache invalidations`,
        ratio: Math.max(
          max(passes.map((p) => p.cacheInvalidations)),
          listGenerationAfter - listGenerationBefore,
          primed.length + 1 - cachedEntriesStillHit,
        ),
        max: 0,
        explain: `cache increments/deletes in a pass; list generation ${listGenerationBefore} → ${listGenerationAfter}; ${cachedEntriesStillHit} of ${primed.length + 1} primed entries still hit`,
      },
      {
        name: `${label} lease stmts/batch`,
        ratio: leaseStatements / batches,
        max: 2,
        explain: `lease claims + releases per batch of ${concurrency} (${leaseStatements} for ${batches} batches)`,
      },
      {
        name: `${label} other stmts/task`,
        ratio: perTask,
        max: 5,
        explain: 'every other statement per due task: sync state read; BEGIN, task_sync write, task read, COMMIT',
      },
    ]
    return {
      dialect: label,
      tasks: size,
      concurrency,
      batches,
      passes,
      taskRowsChanged,
      listGenerationBefore,
      listGenerationAfter,
      cachedEntries: primed.length + 1,
      cachedEntriesStillHit,
      targets,
    }
  } finally {
    await storage.close()
  }
}

/** Where the PostgreSQL half runs: a fresh database on this server, dropped afterwards. */
export const postgresAdminUrl = process.env.JJM_TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

/**
 * Runs `work` on a fresh PostgreSQL database and drops it afterwards; answers
 * the reason instead when the server cannot be reached.
 */
export async function withFreshPostgres<T>(
  work: (url: string) => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false; reason: string }> {
  const { default: pg } = await import('pg')
  const admin = new pg.Client({ connectionString: postgresAdminUrl, connectionTimeoutMillis: 3000 })
  const name = `jjm_bench_${Date.now().toString(36)}_${process.pid}`
  try {
    await admin.connect()
    await admin.query(`create database "${name}"`)
  } catch (error) {
    await admin.end().catch(() => {})
    return { ran: false, reason: error instanceof Error ? error.message : String(error) }
  }
  try {
    const url = new URL(postgresAdminUrl)
    url.pathname = `/${name}`
    return { ran: true, value: await work(url.toString()) }
  } finally {
    await admin.query(`drop database if exists "${name}" with (force)`).catch(() => {})
    await admin.end().catch(() => {})
  }
}

/** The per-pass detail printed above the table: what the counts are made of. */
export function describe(result: QuietPassResult): string[] {
  const lines = [
    `${result.dialect}: ${result.tasks} active tasks, batches of ${result.concurrency} (${result.batches} per pass)`,
  ]
  result.passes.forEach((pass, index) => {
    const cpuPerThousand = (pass.cpuMs / pass.due) * 1000
    lines.push(
      `  pass ${index + 1}: due ${pass.due}, ${(pass.passMs / 1000).toFixed(2)} s (floor ${pass.floorMs.toFixed(0)} ms, ${(pass.passMs / pass.floorMs).toFixed(1)}×), CPU ${(pass.cpuMs / 1000).toFixed(2)} s = ${cpuPerThousand.toFixed(0)} ms per 1,000 tasks; Jules: ${pass.getSession} getSession + ${pass.otherJulesRequests} other; changes ${pass.changes}, errors ${pass.errors}; cache invalidations ${pass.cacheInvalidations}`,
    )
    const kinds = [...pass.statements].sort((a, b) => b[1] - a[1])
    lines.push(`    statements: ${kinds.map(([kind, count]) => `${kind} ${count}`).join(', ')}`)
  })
  return lines
}
