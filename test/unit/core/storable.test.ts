import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ExitCode, ValidationError } from '../../../src/core/errors.js'
import {
  checkStorableFilter,
  checkStorableMetadata,
  checkStorableTaskChanges,
  checkStorableTaskInput,
  checkStorableText,
  maxMetadataBytes,
  maxMetadataDepth,
  storableText,
} from '../../../src/core/storable.js'

/** Asserts a ValidationError (exit 11, HTTP 400) whose message and context name `field`. */
function refusedNaming(field: string, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`)
    assert.equal(error.exitCode, ExitCode.validation)
    assert.equal(error.httpStatus, 400)
    assert.equal(error.context.field, field)
    assert.ok(error.message.includes(field), `"${error.message}" names ${field}`)
    if (pattern) assert.match(error.message, pattern)
    return true
  }
}

/** `{"k":{"k":…1…}}`, `levels` objects deep, built without recursion. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 }
  for (let level = 1; level < levels; level++) value = { k: value }
  return value
}

describe('storable text', () => {
  it('refuses a NUL character, naming the field and where it is', { timeout: 5_000 }, () => {
    assert.throws(() => checkStorableText('prompt', 'a\u0000b'), refusedNaming('prompt', /NUL character.*position 1/))
  })

  it('refuses an unpaired surrogate, which no database stores unchanged', { timeout: 5_000 }, () => {
    assert.throws(() => checkStorableText('title', 'x\uD800y'), refusedNaming('title', /unpaired surrogate/))
    assert.throws(() => checkStorableText('title', 'x\uDC00'), refusedNaming('title'))
  })

  it('accepts every other character, astral ones and control characters included', { timeout: 5_000 }, () => {
    for (const text of [
      '',
      'plain',
      'emoji 🦀 and 𝄞',
      'tab\tnewline\n\u0001\u007f',
      "quote ' and \\ backslash",
      '\uFFFF',
    ]) {
      checkStorableText('prompt', text)
    }
  })

  it('replaces what it cannot store in text that Jules sent', { timeout: 5_000 }, () => {
    assert.equal(storableText('a\u0000b\uD800c🦀'), 'a\uFFFDb\uFFFDc🦀')
    assert.equal(storableText('fine'), 'fine')
  })
})

describe('storable metadata', () => {
  it('refuses the reserved keys at any depth, as JSON.parse gives them', { timeout: 5_000 }, () => {
    assert.throws(
      () => checkStorableMetadata('metadata', JSON.parse('{"__proto__": {"admin": true}}')),
      refusedNaming('metadata.__proto__', /reserved/),
    )
    assert.throws(() => checkStorableMetadata('metadata', { constructor: 'x' }), refusedNaming('metadata.constructor'))
    assert.throws(
      () => checkStorableMetadata('metadata', { build: { steps: [{ prototype: 1 }] } }),
      refusedNaming('metadata.build.steps[0].prototype'),
    )
  })

  it(`keeps ${maxMetadataDepth} levels and refuses one more, naming where`, { timeout: 5_000 }, () => {
    checkStorableMetadata('metadata', nested(maxMetadataDepth))
    assert.throws(
      () => checkStorableMetadata('metadata', nested(maxMetadataDepth + 1)),
      (error) => {
        assert.ok(error instanceof ValidationError)
        assert.match(error.message, /nested more than 32 levels/)
        assert.match(String(error.context.field), /^metadata(\.k)+$/)
        return true
      },
    )
  })

  it('refuses metadata 5,000 levels deep without overflowing the stack', { timeout: 5_000 }, () => {
    assert.throws(() => checkStorableMetadata('metadata', nested(5_000)), ValidationError)
    const deepList = JSON.parse(`${'['.repeat(5_000)}${']'.repeat(5_000)}`) as unknown
    assert.throws(() => checkStorableMetadata('metadata', { list: deepList }), ValidationError)
  })

  it('refuses metadata of more than 64 KiB as JSON, saying how large it is', { timeout: 5_000 }, () => {
    checkStorableMetadata('metadata', { blob: 'x'.repeat(maxMetadataBytes - 20) })
    assert.throws(
      () => checkStorableMetadata('metadata', { blob: 'é'.repeat(maxMetadataBytes / 2) }),
      refusedNaming('metadata', /65\d{3} bytes as JSON; the limit is 65536/),
    )
  })

  it('refuses a NUL in a key or a value, and what JSON cannot hold', { timeout: 5_000 }, () => {
    assert.throws(() => checkStorableMetadata('metadata', { note: 'a\u0000' }), refusedNaming('metadata.note'))
    assert.throws(() => checkStorableMetadata('metadata', { 'a\u0000': 1 }), ValidationError)
    assert.throws(() => checkStorableMetadata('metadata', { n: Number.NaN }), refusedNaming('metadata.n'))
    assert.throws(() => checkStorableMetadata('metadata', { f: () => 1 }), refusedNaming('metadata.f'))
    assert.throws(() => checkStorableMetadata('metadata', { u: undefined }), refusedNaming('metadata.u'))
    assert.throws(() => checkStorableMetadata('metadata', { d: new Date(0) }), refusedNaming('metadata.d'))
  })

  it('refuses a cycle as too deep instead of looping', { timeout: 5_000 }, () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    assert.throws(() => checkStorableMetadata('metadata', cyclic), ValidationError)
  })
})

describe('storable task input, changes and filters', () => {
  it('names the field of a new task that holds a NUL', { timeout: 5_000 }, () => {
    for (const field of ['prompt', 'title', 'repository', 'source', 'branch'] as const) {
      assert.throws(() => checkStorableTaskInput({ prompt: 'ok', [field]: 'a\u0000b' }), refusedNaming(field))
    }
    assert.throws(() => checkStorableTaskInput({ prompt: 'ok', labels: ['ok', 'b\u0000'] }), refusedNaming('labels[1]'))
  })

  it('names the field of a change that holds a NUL; null metadata values (removals) pass', { timeout: 5_000 }, () => {
    assert.throws(() => checkStorableTaskChanges({ title: 'a\u0000' }), refusedNaming('title'))
    assert.throws(() => checkStorableTaskChanges({ addLabels: ['\u0000'] }), refusedNaming('addLabels[0]'))
    checkStorableTaskChanges({ metadata: { gone: null, kept: 'yes' } })
  })

  it('names the filter that holds a NUL', { timeout: 5_000 }, () => {
    assert.throws(() => checkStorableFilter({ search: 'it\u0000now' }), refusedNaming('search'))
    assert.throws(() => checkStorableFilter({ label: '\u0000' }), refusedNaming('label'))
    assert.throws(() => checkStorableFilter({ repository: 'acme/\u0000' }), refusedNaming('repository'))
    checkStorableFilter({ search: 'plain', states: ['running'] })
  })
})
