/**
 * How every store pages a list: the page size, the cursor that says where
 * the previous page ended, and the time bounds of a filter. Shared by the
 * SQL and JSON stores, so that the rules and error messages are the same
 * whichever backend answers, and a cursor stays valid across them.
 */
import { ValidationError } from './errors.js'

export const defaultPageSize = 50
export const maxPageSize = 200

/** The page size asked for, clamped to {@link maxPageSize}; a zero, negative or fractional one is refused. */
export function pageSize(limit: number | undefined): number {
  if (limit === undefined) return defaultPageSize
  if (!Number.isInteger(limit) || limit <= 0) {
    throw new ValidationError(`The page size must be a positive whole number, not ${limit}.`, { context: { limit } })
  }
  return Math.min(limit, maxPageSize)
}

/** Where the previous page ended: the sort time and the id of its last item (keyset pagination). */
export interface PageCursor {
  at: string
  /** `at` in milliseconds, for stores that compare in memory. */
  atMs: number
  id: string
}

/**
 * Opaque to clients: base64url of the last item's sort key, so that the next
 * page starts right after it however many items were added since. The key is
 * named `createdAt` whatever the sort time is: cursors already given out keep
 * decoding.
 */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify({ createdAt: at, id }), 'utf8').toString('base64url')
}

/** The cursor's sort key, or undefined for the first page; a cursor jjm did not give out is refused. */
export function decodeCursor(cursor: string | undefined): PageCursor | undefined {
  if (cursor === undefined || cursor === '') return undefined
  const refuse = (): never => {
    throw new ValidationError(
      'The cursor is not one that jjm gave out. Drop --cursor (or the cursor parameter) to start from the first page.',
      { context: { cursor } },
    )
  }
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return refuse()
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    return refuse()
  }
  if (typeof value !== 'object' || value === null) return refuse()
  const { createdAt, id } = value as Record<string, unknown>
  if (typeof createdAt !== 'string' || typeof id !== 'string' || id === '') return refuse()
  const atMs = Date.parse(createdAt)
  if (Number.isNaN(atMs)) return refuse()
  return { at: createdAt, atMs, id }
}

/** A time bound of a filter (`since`, `until`, …) in milliseconds, or undefined when absent; anything but a date is refused. */
export function parseTimeBound(value: string | undefined, field: string): number | undefined {
  if (value === undefined || value === '') return undefined
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) {
    throw new ValidationError(`"${value}" is not a date and time; use RFC 3339, e.g. 2026-01-31T12:00:00Z.`, {
      context: { [field]: value },
    })
  }
  return ms
}
