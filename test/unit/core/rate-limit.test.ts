import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import type { JjmConfig } from '../../../src/core/config.js'
import { silentLogger } from '../../../src/core/ports.js'
import { type JulesBudgetStore, JulesThrottle, julesAccountKey, TokenBucket } from '../../../src/core/rate-limit.js'
import { budgetWindow } from '../../../src/plugins/cache-keyv/redis-jules-budget.js'

describe('TokenBucket', () => {
  it('lets a burst through, then one request per refill interval', () => {
    const clock = new ManualClock()
    const bucket = new TokenBucket({ perMinute: 60, burst: 2, clock })
    assert.equal(bucket.tryTake(), 0)
    assert.equal(bucket.tryTake(), 0)
    assert.equal(bucket.tryTake(), 1_000, 'empty: the next token is a second away')
    clock.advance(999)
    assert.ok(bucket.tryTake() > 0)
    clock.advance(1)
    assert.equal(bucket.tryTake(), 0)
    clock.advance(60_000)
    assert.equal(bucket.tryTake(), 0)
    assert.equal(bucket.tryTake(), 0)
    assert.ok(bucket.tryTake() > 0, 'a quiet spell fills the bucket to its burst, no further')
  })
})

describe('JulesThrottle', () => {
  it('waits out a 429 for Retry-After, and backs off doubling when Jules gave none', async () => {
    const clock = new ManualClock()
    const slept: number[] = []
    const throttle = new JulesThrottle({
      perMinute: 600,
      clock,
      sleep: async (ms) => {
        slept.push(ms)
        clock.advance(ms)
      },
    })
    const pause = throttle.rateLimited(30)
    assert.equal(pause.until, new Date(clock.now() + 30_000).toISOString())
    await throttle.acquire()
    assert.deepEqual(slept, [30_000])
    assert.equal(throttle.currentPause(), null)
    slept.length = 0
    throttle.rateLimited(undefined)
    await throttle.acquire()
    throttle.rateLimited(undefined)
    await throttle.acquire()
    assert.deepEqual(slept, [20_000, 40_000], 'the third 429 in a row without Retry-After waits 40 s')
    throttle.succeeded()
    slept.length = 0
    throttle.rateLimited(undefined)
    await throttle.acquire()
    assert.deepEqual(slept, [10_000], 'a success resets the backoff')
  })

  it('does not wait forever on a clock that stands still', async () => {
    const clock = new ManualClock()
    const throttle = new JulesThrottle({ perMinute: 60_000, burst: 1, clock, sleep: async () => {} })
    await throttle.acquire()
    await throttle.acquire()
  })
})

describe('JulesThrottle over a shared store', () => {
  it('counts in the process, with one warning, while the shared store fails', async () => {
    const clock = new ManualClock()
    const warnings: string[] = []
    const broken: JulesBudgetStore = {
      take: () => Promise.reject(new Error('connection refused')),
      pause: () => Promise.reject(new Error('connection refused')),
      pauseUntil: () => Promise.reject(new Error('connection refused')),
    }
    const slept: number[] = []
    const throttle = new JulesThrottle({
      perMinute: 60,
      burst: 2,
      clock,
      sleep: async (ms) => {
        slept.push(ms)
        clock.advance(ms)
      },
      shared: broken,
      logger: { ...silentLogger, warn: (message) => warnings.push(message) },
    })
    await throttle.acquire()
    await throttle.acquire()
    await throttle.acquire()
    assert.deepEqual(slept, [1_000], 'the third request waited for the in-process bucket')
    throttle.rateLimited(20)
    await throttle.flush()
    await throttle.acquire()
    assert.deepEqual(slept, [1_000, 20_000], 'a 429 still pauses this process')
    assert.equal(warnings.length, 1)
  })
})

describe('the Jules account a budget is keyed by', () => {
  const jules = (overrides: Partial<JjmConfig['jules']>) => ({
    backend: 'rest' as const,
    apiUrl: 'https://jules.googleapis.com',
    apiKey: 'AQ.secret-key-1',
    ...overrides,
  })

  it('names one account per API key and URL without ever containing the key', () => {
    const key = julesAccountKey(jules({}))
    assert.doesNotMatch(key, /secret/)
    assert.equal(key, julesAccountKey(jules({})), 'stable across processes')
    assert.notEqual(key, julesAccountKey(jules({ apiKey: 'AQ.secret-key-2' })))
    assert.notEqual(key, julesAccountKey(jules({ apiUrl: 'http://127.0.0.1:8787' })))
    assert.equal(julesAccountKey(jules({ backend: 'sim' })), 'sim')
    assert.match(julesAccountKey(jules({ backend: 'mcp', mcp: { command: 'jjm', args: ['mcp', 'serve'] } })), /^mcp-/)
  })
})

describe('the shared budget’s window', () => {
  it('never grants more than the requests per minute in the long run, nor less than one at a time', () => {
    for (let perMinute = 1; perMinute <= 3_000; perMinute++) {
      const burst = Math.max(1, Math.ceil(perMinute / 6))
      const { points, durationSeconds } = budgetWindow(perMinute, burst)
      assert.ok(Number.isInteger(durationSeconds) && durationSeconds >= 1, `${perMinute}: whole seconds`)
      assert.ok(points >= 1 && points <= burst, `${perMinute}: ${points} points`)
      assert.ok((points * 60) / durationSeconds <= perMinute, `${perMinute}: ${points} per ${durationSeconds} s`)
    }
  })
})
