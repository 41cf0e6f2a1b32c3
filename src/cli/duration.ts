import { durationMs } from '../core/duration.js'
import { ValidationError } from '../core/errors.js'

/**
 * Milliseconds in a duration written for people: `90s`, `10m`, `2h`, `1h30m`;
 * a bare number is seconds.
 */
export function parseDuration(text: string, flag: string): number {
  const ms = durationMs(text)
  if (ms === undefined) {
    throw new ValidationError(`${flag} "${text}" is not a duration; write e.g. 30s, 10m, 2h or 1h30m.`, {
      context: { [flag.replace(/^-+/, '')]: text },
    })
  }
  return ms
}
