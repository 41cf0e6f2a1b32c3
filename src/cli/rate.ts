import { ValidationError } from '../core/errors.js'

const perMinute: Record<string, number> = {
  s: 60,
  sec: 60,
  second: 60,
  m: 1,
  min: 1,
  minute: 1,
  h: 1 / 60,
  hour: 1 / 60,
}

/** Requests per minute in a rate written for people: `600/min`, `10/s`, `3600/h`; a bare number is per minute. */
export function parseRate(text: string, flag: string): number {
  const match = /^\s*(\d+)\s*(?:\/\s*([a-z]+))?\s*$/i.exec(text)
  const factor = match === null ? undefined : match[2] === undefined ? 1 : perMinute[match[2].toLowerCase()]
  const rate = match === null || factor === undefined ? Number.NaN : Number(match[1]) * factor
  if (!Number.isInteger(rate) || rate < 1) {
    throw new ValidationError(
      `${flag} "${text}" is not a rate; write e.g. 600/min, 10/s or 3600/h (at least 1 a minute).`,
      {
        context: { [flag.replace(/^-+/, '')]: text },
      },
    )
  }
  return rate
}
