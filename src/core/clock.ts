import type { Clock } from './ports.js'

export const systemClock: Clock = { now: () => Date.now() }

/** A clock that only moves when a test tells it to. */
export class ManualClock implements Clock {
  private current: number

  constructor(start: number | string = '2026-01-01T00:00:00.000Z') {
    this.current = typeof start === 'number' ? start : Date.parse(start)
  }

  now(): number {
    return this.current
  }

  advance(ms: number): void {
    if (ms < 0) throw new RangeError('a clock cannot go backwards')
    this.current += ms
  }

  set(at: number | string): void {
    this.current = typeof at === 'number' ? at : Date.parse(at)
  }
}

/** A clock that runs `offsetMs` ahead of the system clock; the simulator's HTTP server moves it. */
export class OffsetClock implements Clock {
  offsetMs = 0

  constructor(private readonly base: Clock = systemClock) {}

  now(): number {
    return this.base.now() + this.offsetMs
  }

  advance(ms: number): void {
    if (ms < 0) throw new RangeError('a clock cannot go backwards')
    this.offsetMs += ms
  }
}
