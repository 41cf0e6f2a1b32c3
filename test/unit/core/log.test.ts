import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it, mock } from 'node:test'
import { JjmError } from '../../../src/core/errors.js'
import { createLogger } from '../../../src/core/log.js'

/** A stream that keeps what is written to it. */
function capture(): Writable & { text(): string; lines(): Record<string, unknown>[] } {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString())
      callback()
    },
  })
  return Object.assign(stream, {
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  })
}

let root: string

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'jjm-log-'))
})

after(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('createLogger', () => {
  it('writes one JSON object per line with time, level, msg and the context', () => {
    const stream = capture()
    const logger = createLogger({ format: 'json', stream })
    logger.info('task created', { taskId: 'tsk_1', attempt: 2 })
    const [entry] = stream.lines()
    assert.ok(entry !== undefined)
    assert.deepEqual(Object.keys(entry), ['time', 'level', 'msg', 'taskId', 'attempt'])
    assert.equal(entry.level, 'info')
    assert.equal(entry.msg, 'task created')
    assert.equal(entry.taskId, 'tsk_1')
    assert.equal(entry.attempt, 2)
    assert.match(String(entry.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/)
  })

  it('merges the context of nested children into every entry, the call context last', () => {
    const stream = capture()
    const logger = createLogger({ format: 'json', stream })
    const child = logger.child({ operation: 'sync', taskId: 'tsk_1' }).child({ attempt: 1 })
    child.warn('slow', { attempt: 2, ms: 900 })
    child.error('failed')
    const [warn, error] = stream.lines()
    assert.deepEqual(
      { ...warn, time: undefined },
      {
        time: undefined,
        level: 'warn',
        msg: 'slow',
        operation: 'sync',
        taskId: 'tsk_1',
        attempt: 2,
        ms: 900,
      },
    )
    assert.equal(error?.level, 'error')
    assert.equal(error?.attempt, 1)
  })

  it('keeps its own fields when the context uses their names', () => {
    const stream = capture()
    createLogger({ format: 'json', stream }).info('real', { msg: 'fake', level: 'fake' })
    const [entry] = stream.lines()
    assert.equal(entry?.msg, 'real')
    assert.equal(entry?.level, 'info')
    assert.equal(entry?._msg, 'fake')
  })

  it('drops entries below the configured level', () => {
    const stream = capture()
    const logger = createLogger({ format: 'json', level: 'warn', stream })
    logger.debug('d')
    logger.info('i')
    logger.warn('w')
    logger.error('e')
    assert.deepEqual(
      stream.lines().map((entry) => entry.msg),
      ['w', 'e'],
    )
  })

  it('writes debug entries at debug level and nothing at all when silent', () => {
    const debug = capture()
    createLogger({ format: 'json', level: 'debug', stream: debug }).debug('shown')
    assert.equal(debug.lines()[0]?.level, 'debug')
    const silent = capture()
    const logger = createLogger({ format: 'json', level: 'silent', stream: silent })
    logger.error('hidden')
    logger.child({ a: 1 }).warn('hidden')
    assert.equal(silent.text(), '')
  })

  it('writes identical entries every time instead of folding them', () => {
    const stream = capture()
    const logger = createLogger({ format: 'json', stream })
    for (let i = 0; i < 8; i += 1) logger.info('tick')
    assert.equal(stream.lines().length, 8)
  })

  it('serialises errors in the context as name, message and code, without a stack at info', () => {
    const stream = capture()
    const logger = createLogger({ format: 'json', stream })
    const cause = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })
    logger.error('sync failed', { error: new JjmError('Jules is down', 'JJM_X', 15, 503, { cause }) })
    const [entry] = stream.lines()
    assert.deepEqual(entry?.error, {
      name: 'JjmError',
      message: 'Jules is down',
      code: 'JJM_X',
      context: {},
      cause: { name: 'Error', message: 'socket hang up', code: 'ECONNRESET' },
    })
    assert.ok(!stream.text().includes('stack'))
  })

  it('includes the stack of an error at debug level', () => {
    const stream = capture()
    createLogger({ format: 'json', level: 'debug', stream }).error('boom', { error: new Error('boom') })
    const error = stream.lines()[0]?.error as { stack?: string }
    assert.match(error.stack ?? '', /Error: boom/)
  })

  it('survives context that JSON cannot hold as is', () => {
    const stream = capture()
    const loop: Record<string, unknown> = { name: 'loop' }
    loop.self = loop
    createLogger({ format: 'json', stream }).info('odd', { loop, big: 10n, at: new Date(0), fn: () => 1 })
    const [entry] = stream.lines()
    assert.deepEqual(entry?.loop, { name: 'loop', self: '[Circular]' })
    assert.equal(entry?.big, '10')
    assert.equal(entry?.at, '1970-01-01T00:00:00.000Z')
    assert.equal('fn' in (entry ?? {}), false)
  })

  it('writes human lines with the context when the format is pretty', () => {
    const stream = capture()
    createLogger({ format: 'pretty', stream, isTTY: false }).child({ taskId: 'tsk_1' }).warn('needs a person')
    assert.match(stream.text(), /needs a person/)
    assert.match(stream.text(), /taskId=tsk_1/)
    assert.throws(() => JSON.parse(stream.text()))
  })

  it('chooses human lines on a TTY and JSON lines elsewhere when the format is auto', () => {
    const tty = capture()
    createLogger({ stream: tty, isTTY: true }).info('hello')
    assert.match(tty.text(), /hello/)
    assert.throws(() => JSON.parse(tty.text()))
    const pipe = capture()
    createLogger({ stream: pipe, isTTY: false }).info('hello')
    assert.equal(pipe.lines()[0]?.msg, 'hello')
  })

  it('never writes to stdout, in any format and at any level', (t) => {
    const write = mock.method(process.stdout, 'write', () => true)
    t.after(() => write.mock.restore())
    for (const format of ['json', 'pretty', 'auto'] as const) {
      for (const isTTY of [true, false]) {
        const stream = capture()
        const logger = createLogger({ format, isTTY, level: 'trace', stream })
        logger.debug('d')
        logger.info('i', { a: 1 })
        logger.warn('w')
        logger.error('e', { error: new Error('x') })
        assert.notEqual(stream.text(), '')
      }
    }
    assert.equal(write.mock.callCount(), 0)
  })

  it('writes to stderr when no stream is given', (t) => {
    const stderr = mock.method(process.stderr, 'write', () => true)
    const stdout = mock.method(process.stdout, 'write', () => true)
    t.after(() => {
      stderr.mock.restore()
      stdout.mock.restore()
    })
    createLogger({ format: 'json' }).info('to stderr')
    assert.equal(stdout.mock.callCount(), 0)
    assert.equal(stderr.mock.callCount(), 1)
    assert.match(String(stderr.mock.calls[0]?.arguments[0]), /"msg":"to stderr"/)
  })

  it('appends JSON lines to the log file whatever the console format, at the configured level', async () => {
    const file = join(root, 'logs', 'jjm.log')
    const stream = capture()
    const logger = createLogger({ format: 'pretty', isTTY: true, level: 'info', file, stream })
    logger.child({ taskId: 'tsk_1' }).info('created')
    logger.debug('not at info')
    logger.warn('careful', { ms: 5 })
    await logger.close()
    assert.deepEqual(await readdir(join(root, 'logs')), ['jjm.log'])
    const lines = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    assert.deepEqual(
      lines.map(({ time: _time, ...entry }) => entry),
      [
        { level: 'info', msg: 'created', taskId: 'tsk_1' },
        { level: 'warn', msg: 'careful', ms: 5 },
      ],
    )
    assert.match(stream.text(), /created/)

    const again = createLogger({ format: 'json', file, stream: capture() })
    again.info('appended')
    await again.close()
    assert.equal((await readFile(file, 'utf8')).trim().split('\n').length, 3)
  })

  it('closes cleanly when there is no file, and twice', async () => {
    const logger = createLogger({ format: 'json', stream: capture(), file: join(root, 'twice.log') })
    await logger.close()
    await logger.close()
    await createLogger({ stream: capture() }).close()
  })
})
