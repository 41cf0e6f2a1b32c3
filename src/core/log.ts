/**
 * The Logger port on consola: human lines on a terminal, JSON lines
 * everywhere else, always on stderr (stdout belongs to command output and
 * `--json`), optionally also to a daily-rotated JSON-lines file.
 *
 * Only consola's small core is imported up front; its terminal reporters and
 * rotating-file-stream are loaded when a logger needs them, so that
 * `jjm --help` stays fast.
 */
import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, dirname, extname, resolve } from 'node:path'
import type { ConsolaReporter, LogObject } from 'consola/core'
import { createConsola } from 'consola/core'
import type { JjmConfig } from './config.js'
import type { LogContext, Logger } from './ports.js'

/** How {@link createLogger} writes. */
export interface LogOptions {
  /** Default `info`; `silent` writes nothing anywhere. */
  level?: JjmConfig['log']['level']
  /** `auto` (default) is human lines on a TTY and JSON lines otherwise. */
  format?: 'auto' | 'pretty' | 'json'
  /** A JSON-lines file, rotated daily, 30 files kept. */
  file?: string
  /** Where console output goes; default `process.stderr`. */
  stream?: NodeJS.WritableStream
  /** Overrides the stream's own `isTTY`. */
  isTTY?: boolean
}

/** A {@link Logger} that owns a log file; `close()` flushes and closes it. */
export type RootLogger = Logger & { close(): Promise<void> }

type Method = 'debug' | 'info' | 'warn' | 'error'

const consolaLevels: Record<NonNullable<LogOptions['level']>, number> = {
  trace: 5,
  debug: 4,
  info: 3,
  warn: 1,
  error: 0,
  silent: Number.NEGATIVE_INFINITY,
}

/** The entry's own fields; context keys with these names are written with a leading underscore. */
const reservedKeys = new Set(['time', 'level', 'msg'])

const contextField = 'jjmContext'

const requireModule = createRequire(import.meta.url)

/**
 * Creates the root logger. Every entry carries the context of the logger it
 * was written through (see `child`) merged with the context of the call.
 */
export function createLogger(options: LogOptions = {}): RootLogger {
  const level = options.level ?? 'info'
  const stream = options.stream ?? process.stderr
  const isTTY = options.isTTY ?? (stream as { isTTY?: boolean }).isTTY === true
  const format = options.format ?? 'auto'
  // A stack is for someone debugging; at info it is noise, and it can carry paths and data.
  const includeStack = level === 'debug' || level === 'trace'

  const reporters: ConsolaReporter[] = []
  if (level !== 'silent') {
    const pretty = format === 'pretty' || (format === 'auto' && isTTY)
    reporters.push(pretty ? humanReporter(stream, isTTY) : jsonReporter((line) => stream.write(line), includeStack))
  }
  const file = level !== 'silent' && options.file !== undefined ? openLogFile(options.file, stream) : undefined
  if (file !== undefined) reporters.push(jsonReporter(file.write, includeStack))

  const consola = createConsola({
    level: consolaLevels[level],
    reporters,
    // Throttling would fold identical entries into "(repeated n times)", losing their context.
    throttle: 0,
    stdout: stream as NodeJS.WriteStream,
    stderr: stream as NodeJS.WriteStream,
  })

  const write = (method: Method, message: string, context: LogContext): void => {
    consola[method]({ args: [message], [contextField]: context })
  }

  const make = (bound: LogContext): Logger => ({
    debug: (message, context) => write('debug', message, { ...bound, ...context }),
    info: (message, context) => write('info', message, { ...bound, ...context }),
    warn: (message, context) => write('warn', message, { ...bound, ...context }),
    error: (message, context) => write('error', message, { ...bound, ...context }),
    child: (context) => make({ ...bound, ...context }),
  })

  return {
    ...make({}),
    close: async () => {
      await file?.close()
    },
  }
}

function entryContext(logObj: LogObject): LogContext {
  const context = logObj[contextField]
  return typeof context === 'object' && context !== null ? (context as LogContext) : {}
}

function entryMessage(logObj: LogObject): string {
  const first: unknown = logObj.args[0]
  return typeof first === 'string' ? first : String(first ?? '')
}

function jsonReporter(write: (line: string) => void, includeStack: boolean): ConsolaReporter {
  return {
    log: (logObj) => {
      const entry: Record<string, unknown> = {
        time: logObj.date.toISOString(),
        level: logObj.type,
        msg: entryMessage(logObj),
      }
      for (const [key, value] of Object.entries(entryContext(logObj))) {
        const serialised = serialise(value, includeStack, new WeakSet(), 0)
        if (serialised !== undefined) entry[reservedKeys.has(key) ? `_${key}` : key] = serialised
      }
      write(`${JSON.stringify(entry)}\n`)
    },
  }
}

/** consola's own terminal reporter, with the context appended as `key=value` pairs. */
function humanReporter(stream: NodeJS.WritableStream, isTTY: boolean): ConsolaReporter {
  const consolaWithReporters = requireModule('consola') as typeof import('consola')
  const inner = consolaWithReporters.createConsola({
    fancy: isTTY,
    stdout: stream as NodeJS.WriteStream,
    stderr: stream as NodeJS.WriteStream,
  }).options.reporters[0]
  if (inner === undefined) throw new Error('consola created no reporter')
  return {
    log: (logObj, ctx) => {
      const pairs = Object.entries(entryContext(logObj))
        .map(([key, value]) => `${key}=${humanValue(serialise(value, false, new WeakSet(), 0))}`)
        .filter((pair) => !pair.endsWith('=undefined'))
      const args = pairs.length > 0 ? [entryMessage(logObj), pairs.join(' ')] : [entryMessage(logObj)]
      inner.log({ ...logObj, args }, ctx)
    },
  }
}

function humanValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)
  if (value === undefined) return 'undefined'
  if (isErrorShape(value)) return JSON.stringify(`${value.name}: ${value.message}`)
  return JSON.stringify(value)
}

function isErrorShape(value: unknown): value is { name: string; message: string } {
  return typeof value === 'object' && value !== null && 'name' in value && 'message' in value && 'errorShape' in value
}

const maxDepth = 8

/** Turns a context value into something JSON can hold without losing what a reader needs. */
function serialise(value: unknown, includeStack: boolean, seen: WeakSet<object>, depth: number): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return value
  }
  if (typeof value === 'bigint') return value.toString()
  if (typeof value !== 'object') return undefined
  if (seen.has(value)) return '[Circular]'
  if (depth >= maxDepth) return '[Truncated]'
  seen.add(value)
  try {
    if (value instanceof Error) return serialiseError(value, includeStack, seen, depth)
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
    if (value instanceof Map) return serialise(Object.fromEntries(value), includeStack, seen, depth + 1)
    if (value instanceof Set) return serialise([...value], includeStack, seen, depth + 1)
    if (Array.isArray(value)) return value.map((item) => serialise(item, includeStack, seen, depth + 1) ?? null)
    const toJSON = (value as { toJSON?: unknown }).toJSON
    if (typeof toJSON === 'function') return serialise(toJSON.call(value), includeStack, seen, depth + 1)
    const out: Record<string, unknown> = {}
    for (const [key, child] of Object.entries(value)) {
      const serialised = serialise(child, includeStack, seen, depth + 1)
      if (serialised !== undefined) out[key] = serialised
    }
    return out
  } finally {
    seen.delete(value)
  }
}

function serialiseError(
  error: Error,
  includeStack: boolean,
  seen: WeakSet<object>,
  depth: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: error.message }
  const { code, context } = error as { code?: unknown; context?: unknown }
  if (typeof code === 'string' || typeof code === 'number') out.code = code
  if (typeof context === 'object' && context !== null) out.context = serialise(context, includeStack, seen, depth + 1)
  if (error.cause !== undefined) out.cause = serialise(error.cause, includeStack, seen, depth + 1)
  if (includeStack && error.stack !== undefined) out.stack = error.stack
  // Not written out (JSON.stringify skips non-enumerable keys); lets the human reporter tell errors apart.
  Object.defineProperty(out, 'errorShape', { value: true, enumerable: false })
  return out
}

interface LogFile {
  write: (line: string) => void
  close: () => Promise<void>
}

/** Opens `path` for appending through rotating-file-stream: one file a day, the last 30 kept. */
function openLogFile(path: string, console: NodeJS.WritableStream): LogFile {
  const absolute = resolve(path)
  const directory = dirname(absolute)
  const name = basename(absolute)
  const extension = extname(name)
  const stem = extension === '' ? name : name.slice(0, -extension.length)
  mkdirSync(directory, { recursive: true })

  const rfs = requireModule('rotating-file-stream') as typeof import('rotating-file-stream')
  // The live file keeps its configured name; rotated ones get the day they cover (jjm-20260101.log).
  const fileName = (time: number | Date | null, index?: number): string => {
    if (time === null) return name
    const day = new Date(time).toISOString().slice(0, 10).replaceAll('-', '')
    const suffix = index !== undefined && index > 1 ? `-${index}` : ''
    return `${stem}-${day}${suffix}${extension}`
  }
  const stream = rfs.createStream(fileName as (time: number | Date, index?: number) => string, {
    interval: '1d',
    maxFiles: 30,
    path: directory,
  })

  let failed = false
  let closed = false
  stream.on('error', (error: Error) => {
    // A broken log file must not take the command down; say so once on the console and carry on.
    if (failed) return
    failed = true
    console.write(`jjm: cannot write log file ${absolute}: ${error.message}\n`)
  })

  return {
    write: (line) => {
      if (!failed && !closed) stream.write(line)
    },
    close: () =>
      new Promise<void>((resolveClose) => {
        if (closed) return resolveClose()
        closed = true
        stream.end(() => resolveClose())
      }),
  }
}
