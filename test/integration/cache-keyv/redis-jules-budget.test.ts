import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import type { Logger } from '../../../src/core/ports.js'
import { silentLogger } from '../../../src/core/ports.js'
import { JulesThrottle, type Sleep } from '../../../src/core/rate-limit.js'
import { KeyvCache } from '../../../src/plugins/cache-keyv/keyv-cache.js'
import { openRedisJulesBudget } from '../../../src/plugins/cache-keyv/redis-jules-budget.js'
import { redis } from '../../support/services.js'
import { deleteKeys, listKeys, TcpProxy } from './redis-keys.js'

/** A sleep that refuses to wait: acquire() then rejects instead of granting, so grants are counted, not timed. */
class WouldWait extends Error {}
const neverWait: Sleep = async () => {
  throw new WouldWait()
}

interface Process {
  budget: JulesThrottle
  close(): Promise<void>
}

/** One jjm process's budget: its own Redis connection (the cache's), the shared store, the throttle over it. */
async function openProcess(
  url: string,
  prefix: string,
  options: { perMinute: number; burst: number; clock?: ManualClock; sleep?: Sleep; logger?: Logger },
): Promise<Process> {
  const cache = await KeyvCache.redis({ url, prefix: `${prefix}cache:`, logger: silentLogger })
  const client = cache.redisClient
  assert.ok(client)
  const shared = await openRedisJulesBudget({
    client,
    prefix: `${prefix}budget:`,
    account: 'rest-test',
    perMinute: options.perMinute,
    burst: options.burst,
  })
  const budget = new JulesThrottle({
    perMinute: options.perMinute,
    burst: options.burst,
    clock: options.clock ?? new ManualClock(),
    sleep: options.sleep ?? neverWait,
    shared,
    ...(options.logger ? { logger: options.logger } : {}),
  })
  return {
    budget,
    async close() {
      await budget.close()
      await cache.close()
    },
  }
}

async function granted(budget: JulesThrottle): Promise<boolean> {
  try {
    await budget.acquire()
    return true
  } catch (error) {
    if (error instanceof WouldWait) return false
    throw error
  }
}

async function withRedis(t: TestContext): Promise<{ url: string; prefix: string } | undefined> {
  const service = await redis(t)
  if (service === undefined) return undefined
  t.after(() => deleteKeys(service.url, service.prefix))
  return service
}

describe('the Jules budget shared through Redis', () => {
  it('grants two processes together at most the ceiling in its window, not the ceiling each', async (t) => {
    const service = await withRedis(t)
    if (!service) return
    // 6 a minute, all 6 at once: one window of 60 s, longer than this test.
    const a = await openProcess(service.url, service.prefix, { perMinute: 6, burst: 6 })
    const b = await openProcess(service.url, service.prefix, { perMinute: 6, burst: 6 })
    try {
      const outcomes: boolean[] = []
      for (let round = 0; round < 6; round++) {
        outcomes.push(await granted(a.budget), await granted(b.budget))
      }
      assert.equal(outcomes.filter(Boolean).length, 6, 'the 12 requests of two processes got 6 grants')
      assert.deepEqual(outcomes.slice(0, 6), [true, true, true, true, true, true], 'first come, first served')
    } finally {
      await a.close()
      await b.close()
    }
    const keys = await listKeys(service.url, `${service.prefix}budget:`)
    assert.ok(
      keys.every((key) => key.startsWith(`${service.prefix}budget:rest-test:`)),
      `keys under the account: ${keys}`,
    )
  })

  it('makes a 429 that one process got pause the other until the instant Jules said', async (t) => {
    const service = await withRedis(t)
    if (!service) return
    const clock = new ManualClock('2026-12-07T10:00:00.000Z')
    const slept: number[] = []
    const seen: Array<string | undefined> = []
    const a = await openProcess(service.url, service.prefix, { perMinute: 600, burst: 100, clock })
    const b = await openProcess(service.url, service.prefix, {
      perMinute: 600,
      burst: 100,
      clock,
      sleep: async (ms) => {
        slept.push(ms)
        seen.push(b.budget.currentPause()?.until)
        clock.advance(ms)
      },
    })
    try {
      const pause = a.budget.rateLimited(30)
      await a.budget.flush()
      assert.equal(pause.until, '2026-12-07T10:00:30.000Z')
      await b.budget.acquire()
      assert.deepEqual(slept, [30_000], 'b waited out a’s pause, to the millisecond')
      assert.deepEqual(seen, [pause.until], 'and reported it as its own pause meanwhile')
      assert.equal(b.budget.currentPause(), null)
      assert.deepEqual(
        b.budget.pausedSince(Date.parse('2026-12-07T10:00:00.000Z')),
        pause,
        'what b reports for the pass that waited',
      )
      assert.equal(b.budget.pausedSince(clock.now()), null)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('keeps the longer pause when two processes get a 429 at once', async (t) => {
    const service = await withRedis(t)
    if (!service) return
    const clock = new ManualClock('2026-12-07T10:00:00.000Z')
    const slept: number[] = []
    const a = await openProcess(service.url, service.prefix, { perMinute: 600, burst: 100, clock })
    const b = await openProcess(service.url, service.prefix, { perMinute: 600, burst: 100, clock })
    const c = await openProcess(service.url, service.prefix, {
      perMinute: 600,
      burst: 100,
      clock,
      sleep: async (ms) => {
        slept.push(ms)
        clock.advance(ms)
      },
    })
    try {
      a.budget.rateLimited(120)
      await a.budget.flush()
      b.budget.rateLimited(10)
      await b.budget.flush()
      await c.budget.acquire()
      assert.deepEqual(slept, [120_000])
    } finally {
      await Promise.all([a.close(), b.close(), c.close()])
    }
  })

  it('counts in the process while Redis is unreachable: neither blocks every request nor lets them all through', async (t) => {
    const service = await withRedis(t)
    if (!service) return
    const proxy = await TcpProxy.start(service.url)
    const warnings: string[] = []
    const logger: Logger = { ...silentLogger, warn: (message) => warnings.push(message), child: () => logger }
    const a = await openProcess(proxy.url, service.prefix, { perMinute: 3, burst: 3, logger })
    try {
      assert.equal(await granted(a.budget), true)
      await proxy.cut()
      const outcomes: boolean[] = []
      for (let request = 0; request < 4; request++) outcomes.push(await granted(a.budget))
      assert.deepEqual(outcomes, [true, true, true, false], 'counted in the process: 3 in the window, no more')
      a.budget.rateLimited(5)
      await a.budget.flush()
      assert.ok(a.budget.currentPause(), 'a 429 still pauses this process')
      assert.equal(warnings.length, 1, `one warning for the outage, not one per request: ${warnings}`)
    } finally {
      await a.close()
      await proxy.close()
    }
  })
})
