import { monotonicFactory } from 'ulidx'

/**
 * jjm's ids are ULIDs: 26 characters, sortable by creation time, so that
 * "newest first" is an index scan and a prefix is a usable short id.
 */
export type IdGenerator = (at?: number) => string

export function createIdGenerator(): IdGenerator {
  const next = monotonicFactory()
  return (at?: number) => next(at)
}
