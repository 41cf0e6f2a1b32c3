import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ValidationError } from '../../../src/core/errors.js'
import { decodeCursor, encodeCursor, pageSize, parseTimeBound } from '../../../src/core/page-cursor.js'

describe('page cursors', () => {
  it('still decodes a cursor that an earlier jjm gave out', () => {
    // Copied from a page of `jjm tasks list --json` before the SQL and JSON stores shared this code.
    const given = 'eyJjcmVhdGVkQXQiOiIyMDI2LTA0LTAxVDAwOjA1OjAwLjAwMFoiLCJpZCI6IjAxSlEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwIn0'
    assert.deepEqual(decodeCursor(given), {
      at: '2026-04-01T00:05:00.000Z',
      atMs: Date.parse('2026-04-01T00:05:00.000Z'),
      id: '01JQ0000000000000000000000',
    })
    assert.equal(encodeCursor('2026-04-01T00:05:00.000Z', '01JQ0000000000000000000000'), given)
  })

  it('starts from the first page without a cursor, and refuses one jjm did not give out', () => {
    assert.equal(decodeCursor(undefined), undefined)
    assert.equal(decodeCursor(''), undefined)
    for (const bad of ['not a cursor', Buffer.from('[1]').toString('base64url'), encodeCursor('yesterday', 'x')]) {
      assert.throws(
        () => decodeCursor(bad),
        (error) => error instanceof ValidationError && /--cursor/.test(error.message),
      )
    }
  })

  it('clamps an oversized page and refuses a negative one', () => {
    assert.equal(pageSize(undefined), 50)
    assert.equal(pageSize(10_000), 200)
    assert.throws(() => pageSize(-1), ValidationError)
  })

  it('reads a time bound as milliseconds and refuses what is not a date', () => {
    assert.equal(parseTimeBound('2026-01-31T12:00:00Z', 'since'), Date.parse('2026-01-31T12:00:00Z'))
    assert.equal(parseTimeBound(undefined, 'since'), undefined)
    assert.throws(() => parseTimeBound('last week', 'since'), /RFC 3339/)
  })
})
