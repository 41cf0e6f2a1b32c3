import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ManualClock } from '../../../src/core/clock.js'
import { JulesThrottle, TokenBucket } from '../../../src/core/rate-limit.js'

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
