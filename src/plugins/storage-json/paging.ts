/**
 * Page sizes, cursors and time bounds of the JSON store, with the same rules
 * and error messages as the SQL store, so that a client cannot tell which
 * backend answers.
 */
import { ValidationError } from '../../core/errors.js'

export const defaultPageSize = 50
export const maxPageSize = 200

/** An oversized limit is clamped; a zero, negative or fractional one is refused. */
export function pageSize(limit: number | undefined): number {
  if (limit === undefined) return defaultPageSize
  if (!Number.isInteger(limit) || limit <= 0) {
    throw new ValidationError(`The page size must be a positive whole number, not ${limit}.`, { context: { limit } })
  }
  return Math.min(limit, maxPageSize)
}

/** Where the previous page ended: the sort time and the id of its last item. */
export interface Cursor {
  at: string
  atMs: number
  id: string
}

/** Opaque to clients: base64url of the last item's sort key, so that the next page starts right after it. */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify({ createdAt: at, id }), 'utf8').toString('base64url')
}

export function decodeCursor(cursor: string | undefined): Cursor | undefined {
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
  const atMs = Date.parse(createdAt as string)
  if (Number.isNaN(atMs)) return refuse()
  return { at: createdAt as string, atMs, id: id as string }
}

/** A time bound of a filter as milliseconds, or undefined when absent. */
export function parseBound(value: string | undefined, field: string): number | undefined {
  if (value === undefined || value === '') return undefined
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) {
    throw new ValidationError(`"${value}" is not a date and time; use RFC 3339, e.g. 2026-01-31T12:00:00Z.`, {
      context: { [field]: value },
    })
  }
  return ms
}

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
