/**
 * What the JSON store adds to the shared paging rules (src/core/page-cursor.ts):
 * it stores instants as text, so it normalises them before comparing.
 */
import { ValidationError } from '../../core/errors.js'

/** The instant as jjm stores it (RFC 3339 in UTC, milliseconds), refusing what is not a date. */
export function normaliseInstant(value: string, field: string): string {
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) {
    throw new ValidationError(`${field} "${value}" is not a date and time; use RFC 3339, e.g. 2026-01-31T12:00:00Z.`, {
      context: { [field]: value },
    })
  }
  return new Date(ms).toISOString()
}
