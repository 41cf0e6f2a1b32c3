/**
 * Keyset pagination: a cursor is the sort key of the last row of a page, so a
 * page starts right after it however many rows were added since.
 */
import { ValidationError } from '../../core/errors.js'

export const defaultPageSize = 50
export const maxPageSize = 200

export interface Cursor {
  at: string
  id: string
}

/** The page size asked for, clamped to {@link maxPageSize}; a zero, negative or fractional one is refused. */
export function pageSize(limit: number | undefined): number {
  if (limit === undefined) return defaultPageSize
  if (!Number.isInteger(limit) || limit <= 0) {
    throw new ValidationError(`The page size must be a positive whole number, not ${limit}.`, { context: { limit } })
  }
  return Math.min(limit, maxPageSize)
}

/** Opaque to clients: base64url of the last row's sort key. */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify({ createdAt: at, id }), 'utf8').toString('base64url')
}

/** The cursor's sort key, or undefined for the first page; a cursor jjm did not give out is refused. */
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
  if (Number.isNaN(Date.parse(createdAt))) return refuse()
  return { at: createdAt, id }
}

/** An RFC 3339 instant from a filter, or undefined when absent; anything else is refused. */
export function parseInstant(value: string | undefined, field: string): Date | undefined {
  if (value === undefined || value === '') return undefined
  const date = new Date(value)
  if (Number.isNaN(date.getTime())) {
    throw new ValidationError(`"${value}" is not a date and time; use RFC 3339, e.g. 2026-01-31T12:00:00Z.`, {
      context: { [field]: value },
    })
  }
  return date
}
