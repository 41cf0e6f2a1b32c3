/**
 * Test doubles for the cache tests: a store that counts (and can hold back)
 * the calls that reach it, a cache that can be switched off, a logger that
 * records what it is told.
 */
import type { Cache, LogContext, Logger, TaskStore } from '../../../../src/core/ports.js'

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
  context?: LogContext
}

export class RecordingLogger implements Logger {
  constructor(readonly entries: LogEntry[] = []) {}

  debug(message: string, context?: LogContext): void {
    this.entries.push({ level: 'debug', message, context })
  }
  info(message: string, context?: LogContext): void {
    this.entries.push({ level: 'info', message, context })
  }
  warn(message: string, context?: LogContext): void {
    this.entries.push({ level: 'warn', message, context })
  }
  error(message: string, context?: LogContext): void {
    this.entries.push({ level: 'error', message, context })
  }
  child(): Logger {
    return this
  }

  at(level: LogEntry['level']): LogEntry[] {
    return this.entries.filter((entry) => entry.level === level)
  }
}

/** A Cache that fails (`down`) or never answers (`hang`) on demand, over a working one. */
export class SwitchableCache implements Cache {
  mode: 'up' | 'down' | 'hang' = 'up'

  constructor(private readonly inner: Cache) {}

  get<T>(key: string): Promise<T | undefined> {
    return this.pass(() => this.inner.get<T>(key))
  }
  set(key: string, value: unknown, ttlMs: number): Promise<void> {
    return this.pass(() => this.inner.set(key, value, ttlMs))
  }
  delete(keys: string[]): Promise<void> {
    return this.pass(() => this.inner.delete(keys))
  }
  increment(key: string): Promise<number> {
    return this.pass(() => this.inner.increment(key))
  }
  close(): Promise<void> {
    return this.inner.close()
  }

  private async pass<T>(call: () => Promise<T>): Promise<T> {
    if (this.mode === 'down') throw new Error('connect ECONNREFUSED 127.0.0.1:6390')
    if (this.mode === 'hang') return new Promise<T>(() => {})
    return call()
  }
}

type Method = keyof TaskStore

/**
 * A store that counts the calls reaching it, and can hold one method's
 * answers back until the test releases them (to stage races).
 */
export class ObservedStore {
  readonly calls = new Map<Method, number>()
  readonly store: TaskStore
  /** When set, close() stops here: the test closes the real store itself. */
  keepOpen = false
  private held: { method: Method; release: Promise<void> } | undefined

  constructor(inner: TaskStore) {
    this.store = new Proxy(inner, {
      get: (target, property, receiver) => {
        const value: unknown = Reflect.get(target, property, receiver)
        if (typeof value !== 'function') return value
        const method = property as Method
        return async (...args: unknown[]) => {
          if (method === 'close' && this.keepOpen) return undefined
          this.calls.set(method, (this.calls.get(method) ?? 0) + 1)
          const result: unknown = await value.apply(target, args)
          const held = this.held
          if (held !== undefined && held.method === method) await held.release
          return result
        }
      },
    })
  }

  count(method: Method): number {
    return this.calls.get(method) ?? 0
  }

  /** The next answers of `method` are computed at once but returned only after `release()`. */
  hold(method: Method): () => void {
    let release!: () => void
    this.held = { method, release: new Promise<void>((resolve) => (release = resolve)) }
    return () => {
      this.held = undefined
      release()
    }
  }
}
