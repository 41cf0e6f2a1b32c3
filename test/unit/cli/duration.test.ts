import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseDuration } from '../../../src/cli/duration.js'
import { ValidationError } from '../../../src/core/errors.js'

describe('parseDuration', () => {
  it('reads seconds, minutes, hours and combinations, and a bare number as seconds', () => {
    assert.equal(parseDuration('30s', '--timeout'), 30_000)
    assert.equal(parseDuration('10m', '--timeout'), 600_000)
    assert.equal(parseDuration('2h', '--timeout'), 7_200_000)
    assert.equal(parseDuration('1h30m', '--timeout'), 5_400_000)
    assert.equal(parseDuration('1.5s', '--timeout'), 1_500)
    assert.equal(parseDuration('45', '--timeout'), 45_000)
  })

  it('refuses text that is not a duration, naming the flag and an example', () => {
    for (const text of ['', 'soon', '2 hours', '5x', 'h2']) {
      assert.throws(
        () => parseDuration(text, '--timeout'),
        (error) => error instanceof ValidationError && /--timeout .* 2h/.test(error.message),
      )
    }
  })
})
