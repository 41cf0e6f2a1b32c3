/**
 * What jjm can store, checked in one place before anything is sent to Jules
 * or written: a task's prompt, title, labels and metadata on create and
 * update, the text of a message or resume, and the strings of a list filter.
 * A value that passes is stored and read back unchanged by every backend
 * (SQLite, PostgreSQL, and any plugin that passes the contract suite).
 *
 * Refused, with a ValidationError (exit 11, HTTP 400) that names the field:
 * - a NUL character (U+0000) in any text: PostgreSQL's `text` and `jsonb`
 *   cannot hold one, so it is refused on every backend, for the same answer
 *   whichever database a team runs;
 * - an unpaired UTF-16 surrogate: not Unicode text, and no database stores it
 *   unchanged;
 * - metadata nested deeper than {@link maxMetadataDepth} levels or longer
 *   than {@link maxMetadataBytes} bytes as JSON;
 * - the metadata keys `__proto__`, `constructor` and `prototype`, at any
 *   depth: JavaScript objects treat them specially (one is silently dropped,
 *   another breaks code that reads the object);
 * - anything in metadata that is not JSON (a function, `undefined`, NaN…).
 *
 * Metadata is walked with an explicit stack, so no input, however deep,
 * overflows the call stack.
 */
import { ValidationError } from './errors.js'

/** Deepest nesting of metadata: `{"a":{"b":1}}` is 2 levels. */
export const maxMetadataDepth = 32
/** Largest metadata, as UTF-8 JSON (64 KiB). */
export const maxMetadataBytes = 64 * 1024
/** Keys that are never stored in metadata, at any depth. */
export const reservedMetadataKeys: readonly string[] = ['__proto__', 'constructor', 'prototype']

const reserved = new Set(reservedMetadataKeys)
/** A NUL, or a surrogate not part of a pair (with the `u` flag, a pair is one code point and never matches). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the NUL is exactly what this refuses.
const unstorable = /\u0000|\p{Cs}/u
const everyUnstorable = new RegExp(unstorable.source, 'gu')

/**
 * Where in `text` jjm cannot store it, or undefined when it can.
 */
function unstorableAt(text: string): { index: number; what: string } | undefined {
  const found = unstorable.exec(text)
  if (found === null) return undefined
  return {
    index: found.index,
    what: found[0] === '\u0000' ? 'a NUL character (\\u0000)' : 'an unpaired surrogate, which is not Unicode text',
  }
}

/** True when every backend stores `text` unchanged. */
export function isStorableText(text: string): boolean {
  return !unstorable.test(text)
}

/**
 * Refuses text that jjm cannot store. `field` names it the way the user gave
 * it: `prompt`, `title`, `labels[2]`, `message`, `search`.
 *
 * @throws ValidationError naming the field and the position.
 */
export function checkStorableText(field: string, text: string): void {
  const problem = unstorableAt(text)
  if (problem === undefined) return
  throw new ValidationError(
    `The ${field} contains ${problem.what} at position ${problem.index}, which jjm cannot store. Remove it and try again.`,
    { context: { field, position: problem.index } },
  )
}

/** `text` with every character jjm cannot store replaced by U+FFFD, for text that comes from Jules rather than a person. */
export function storableText(text: string): string {
  return isStorableText(text) ? text : text.replace(everyUnstorable, '\uFFFD')
}

/**
 * A JSON value from Jules made storable rather than refused (Jules is not a
 * person who can fix the input): unstorable characters in strings and keys
 * become U+FFFD, a reserved key (`constructor`, …) gets a leading `_`, and
 * anything deeper than {@link maxMetadataDepth} is cut to the string
 * `"[too deep]"`. Values that are already storable come back as they are.
 */
export function storableValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return storableText(value)
  if (value === null || typeof value !== 'object') return value
  if (depth >= maxMetadataDepth) return '[too deep]'
  if (Array.isArray(value)) return value.map((item) => storableValue(item, depth + 1))
  const result: Record<string, unknown> = Object.create(null)
  for (const [key, item] of Object.entries(value)) {
    const name = storableText(key)
    result[reservedMetadataKeys.includes(name) ? `_${name}` : name] = storableValue(item, depth + 1)
  }
  // A plain object again (prototype and all), as the rest of jjm expects.
  return { ...result }
}

/**
 * Refuses metadata that jjm cannot store unchanged: see the module comment.
 * `field` is where it came from (`metadata`); a problem inside names the
 * path, `metadata.build.steps[3]`.
 *
 * @throws ValidationError naming the path of the first problem found.
 */
export function checkStorableMetadata(field: string, metadata: unknown): void {
  if (!isPlainObject(metadata)) {
    throw new ValidationError(`The ${field} must be an object of key-value pairs.`, { context: { field } })
  }
  const pending: Array<{ value: unknown; path: string; depth: number }> = [{ value: metadata, path: field, depth: 1 }]
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const { value, path, depth } = item
    if (typeof value === 'string') {
      checkStorableText(path, value)
      continue
    }
    if (value === null || typeof value === 'boolean') continue
    if (typeof value === 'number') {
      if (!Number.isFinite(value))
        refuse(path, `${path} is ${value}, which JSON cannot hold. Use a finite number or a string.`)
      continue
    }
    const container = Array.isArray(value) || isPlainObject(value)
    if (!container) {
      refuse(
        path,
        `${path} is not a JSON value (${describe(value)}). Metadata holds strings, numbers, booleans, null, lists and objects.`,
      )
    }
    if (depth > maxMetadataDepth) {
      refuse(
        path,
        `The ${field} is nested more than ${maxMetadataDepth} levels deep (at ${path}). Flatten it: jjm stores at most ${maxMetadataDepth} levels.`,
        { limit: maxMetadataDepth },
      )
    }
    if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index--) {
        pending.push({ value: value[index], path: `${path}[${index}]`, depth: depth + 1 })
      }
      continue
    }
    const keys = Object.keys(value as object)
    for (let index = keys.length - 1; index >= 0; index--) {
      const key = keys[index] as string
      const keyPath = `${path}.${key}`
      if (reserved.has(key)) {
        refuse(
          keyPath,
          `The metadata key "${key}" (at ${keyPath}) is reserved: jjm never stores ${reservedMetadataKeys.map((name) => `"${name}"`).join(', ')}. Rename it.`,
        )
      }
      const problem = unstorableAt(key)
      if (problem !== undefined) {
        refuse(
          keyPath,
          `A metadata key in ${path} contains ${problem.what} at position ${problem.index}, which jjm cannot store. Rename it.`,
          {
            position: problem.index,
          },
        )
      }
      pending.push({ value: (value as Record<string, unknown>)[key], path: keyPath, depth: depth + 1 })
    }
  }
  // Safe now: at most maxMetadataDepth levels, so serialising cannot overflow the stack.
  const bytes = Buffer.byteLength(JSON.stringify(metadata), 'utf8')
  if (bytes > maxMetadataBytes) {
    refuse(
      field,
      `The ${field} is ${bytes} bytes as JSON; the limit is ${maxMetadataBytes} (64 KiB). Keep large data elsewhere and store a link to it.`,
      { bytes, limit: maxMetadataBytes },
    )
  }
}

/**
 * A new task's input, as a person or a file gave it (before trimming):
 * prompt, title, repository, source, branch and metadata.
 *
 * @throws ValidationError naming the first field jjm cannot store.
 */
export function checkStorableTaskInput(input: {
  prompt?: unknown
  title?: unknown
  repository?: unknown
  source?: unknown
  branch?: unknown
  labels?: unknown
  metadata?: unknown
}): void {
  for (const field of ['prompt', 'title', 'repository', 'source', 'branch'] as const) {
    const value = input[field]
    if (typeof value === 'string') checkStorableText(field, value)
  }
  checkStorableLabels('labels', input.labels)
  if (input.metadata !== undefined) checkStorableMetadata('metadata', input.metadata)
}

/**
 * The changes of `tasks update` or PATCH/PUT: title, labels and metadata
 * (whose null values remove keys).
 *
 * @throws ValidationError naming the first field jjm cannot store.
 */
export function checkStorableTaskChanges(changes: {
  title?: unknown
  labels?: unknown
  addLabels?: unknown
  removeLabels?: unknown
  metadata?: unknown
}): void {
  if (typeof changes.title === 'string') checkStorableText('title', changes.title)
  checkStorableLabels('labels', changes.labels)
  checkStorableLabels('addLabels', changes.addLabels)
  checkStorableLabels('removeLabels', changes.removeLabels)
  if (changes.metadata !== undefined && changes.metadata !== null) checkStorableMetadata('metadata', changes.metadata)
}

function checkStorableLabels(field: string, labels: unknown): void {
  if (!Array.isArray(labels)) return
  labels.forEach((label: unknown, index) => {
    if (typeof label === 'string') checkStorableText(`${field}[${index}]`, label)
  })
}

/** The string fields of a task or event list filter, checked like any other text. */
export function checkStorableFilter(filter: {
  states?: readonly string[]
  types?: readonly string[]
  repository?: string
  label?: string
  search?: string
  cursor?: string
}): void {
  for (const field of ['repository', 'label', 'search', 'cursor'] as const) {
    const value = filter[field]
    if (typeof value === 'string') checkStorableText(field, value)
  }
  for (const field of ['states', 'types'] as const) {
    filter[field]?.forEach((value, index) => {
      checkStorableText(`${field}[${index}]`, value)
    })
  }
}

function refuse(field: string, message: string, extra: Record<string, unknown> = {}): never {
  throw new ValidationError(message, { context: { field, ...extra } })
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const prototype: unknown = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object'
  return typeof value
}
