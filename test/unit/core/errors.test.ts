import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  AuthenticationError,
  ConfigurationError,
  ExitCode,
  exitCodeHelp,
  InvalidStateError,
  isJjmError,
  JjmError,
  JulesConnectionError,
  MigrationRequiredError,
  NotificationNotFoundError,
  OperationFailedError,
  RateLimitedError,
  StorageError,
  TaskNotFoundError,
  TaskVersionConflictError,
  toJjmError,
  ValidationError,
} from '../../../src/core/errors.js'

describe('JjmError', () => {
  const all = [
    new ConfigurationError('c'),
    new ValidationError('v'),
    new AuthenticationError('a'),
    new TaskNotFoundError('01ABC'),
    new InvalidStateError('i'),
    new JulesConnectionError('j'),
    new RateLimitedError('r'),
    new OperationFailedError('o'),
    new StorageError('s'),
    new MigrationRequiredError('m'),
  ]

  it('gives every class its own exit code, distinct from 0, 1 and 2', () => {
    const codes = all.map((error) => error.exitCode)
    assert.equal(new Set(codes).size, codes.length)
    for (const code of codes) assert.ok(code > 2, `exit code ${code} collides with a process-level code`)
  })

  it('lists every exit code in the help text exactly once', () => {
    const listed = exitCodeHelp.map(([code]) => code)
    assert.equal(new Set(listed).size, listed.length)
    for (const code of Object.values(ExitCode)) assert.ok(listed.includes(code), `exit code ${code} is not documented`)
  })

  it('maps each class to the HTTP status the API answers with', () => {
    assert.equal(new TaskNotFoundError('x').httpStatus, 404)
    assert.equal(new InvalidStateError('x').httpStatus, 409)
    assert.equal(new ValidationError('x').httpStatus, 400)
    assert.equal(new RateLimitedError('x').httpStatus, 429)
    assert.equal(new JulesConnectionError('x').httpStatus, 503)
  })

  it('names the class, the code and the context in toString', () => {
    const error = new TaskNotFoundError('01ABC')
    assert.match(error.toString(), /^TaskNotFoundError \[JJM_TASK_NOT_FOUND\]: No task matches "01ABC"/)
    assert.match(error.toString(), /taskId=01ABC/)
  })

  it('says what to do next in the message', () => {
    assert.match(new TaskNotFoundError('x').message, /jjm tasks list/)
  })

  it('keeps the cause and is recognised by isJjmError', () => {
    const cause = new Error('boom')
    const error = new StorageError('disk full', { cause, context: { path: '/x' } })
    assert.equal(error.cause, cause)
    assert.ok(isJjmError(error))
    assert.ok(error instanceof JjmError)
    assert.ok(!isJjmError(cause))
    assert.deepEqual(error.toJSON(), {
      name: 'StorageError',
      code: 'JJM_STORAGE',
      message: 'disk full',
      context: { path: '/x' },
    })
  })

  it('carries Retry-After on a rate-limit error', () => {
    const error = new RateLimitedError('slow down', { retryAfterSeconds: 7 })
    assert.equal(error.retryAfterSeconds, 7)
    assert.equal(error.context.retryAfterSeconds, 7)
  })
})

describe('jjm --help', () => {
  it('lists every exit code with the words the README uses', async () => {
    const { readFile } = await import('node:fs/promises')
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      oclif: { description: string }
    }
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8')
    for (const [code, meaning] of exitCodeHelp) {
      assert.ok(pkg.oclif.description.includes(`${String(code).padEnd(4)}${meaning}`), `help lacks exit code ${code}`)
      assert.match(readme, new RegExp(`^\\| ${code}\\s+\\|`, 'm'), `README lacks exit code ${code}`)
    }
  })
})

describe('toJjmError', () => {
  it('treats a plugin error carrying a jjm code as that class, keeping message and context', () => {
    const fromPlugin = Object.assign(new Error('bad label'), { code: 'JJM_VALIDATION', context: { label: 'x y' } })
    const mapped = toJjmError(fromPlugin)
    assert.ok(mapped instanceof ValidationError)
    assert.equal(mapped.message, 'bad label')
    assert.deepEqual(mapped.context, { label: 'x y' })
    assert.equal(mapped.exitCode, ExitCode.validation)
  })

  it('treats an unknown notification like an unknown task: exit code 13, HTTP 404, and its own code', () => {
    const error = new NotificationNotFoundError(['01NOPE'])
    assert.deepEqual([error.exitCode, error.httpStatus, error.code], [13, 404, 'JJM_NOTIFICATION_NOT_FOUND'])
    assert.match(error.message, /jjm notifications list/)
    const fromPlugin = Object.assign(new Error('gone'), {
      code: 'JJM_NOTIFICATION_NOT_FOUND',
      context: { notificationIds: ['01NOPE'] },
    })
    const mapped = toJjmError(fromPlugin)
    assert.ok(mapped instanceof NotificationNotFoundError)
    assert.deepEqual(mapped.context.notificationIds, ['01NOPE'])
  })

  it('treats a stale version as a conflict: exit code 14, HTTP 412, with both versions and what to do', () => {
    const error = new TaskVersionConflictError('01ABC', 3, 5)
    assert.deepEqual([error.exitCode, error.httpStatus, error.code], [14, 412, 'JJM_TASK_VERSION_CONFLICT'])
    assert.deepEqual(error.context, { taskId: '01ABC', expectedVersion: 3, actualVersion: 5 })
    assert.match(error.message, /read it again and repeat the change/)
    const fromPlugin = Object.assign(new Error('stale'), { code: 'JJM_TASK_VERSION_CONFLICT', context: error.context })
    const mapped = toJjmError(fromPlugin)
    assert.ok(mapped instanceof TaskVersionConflictError)
    assert.deepEqual(mapped.context, error.context)
  })

  it('maps task-not-found and Jules codes, and leaves other errors alone', () => {
    assert.ok(toJjmError(Object.assign(new Error('gone'), { code: 'JJM_TASK_NOT_FOUND' })) instanceof TaskNotFoundError)
    const notFound = toJjmError(Object.assign(new Error('no session'), { code: 'JJM_JULES_NOT_FOUND' }))
    assert.ok(notFound instanceof OperationFailedError)
    assert.equal(notFound.code, 'JJM_JULES_NOT_FOUND')
    const plain = new Error('boom')
    assert.equal(toJjmError(plain), plain)
    const foreign = Object.assign(new Error('ENOENT'), { code: 'ENOENT' })
    assert.equal(toJjmError(foreign), foreign)
  })
})
