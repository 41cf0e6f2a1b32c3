import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ValidationError } from '../../../../src/core/errors.js'
import {
  parseRepository,
  repositoryOf,
  sessionIdOf,
  sourceNameOf,
  toSessionName,
  toSourceName,
} from '../../../../src/core/jules/names.js'

describe('resource names', () => {
  it('accepts a session as a bare id or a name and emits the documented form', () => {
    assert.equal(toSessionName('123abc'), 'sessions/123abc')
    assert.equal(toSessionName('sessions/123abc'), 'sessions/123abc')
    assert.equal(sessionIdOf('sessions/123abc'), '123abc')
  })

  it('refuses a session name with a path in it', () => {
    assert.throws(() => toSessionName('sessions/a/b'), ValidationError)
    assert.throws(() => toSessionName(''), ValidationError)
  })

  it('accepts both source forms Google uses and emits sources/github/{owner}/{repo}', () => {
    assert.equal(toSourceName('sources/github/acme/api'), 'sources/github/acme/api')
    assert.equal(toSourceName('sources/github-acme-api'), 'sources/github/acme/api')
    assert.equal(toSourceName('github/acme/api'), 'sources/github/acme/api')
    assert.equal(repositoryOf('sources/github/acme/api'), 'acme/api')
    assert.equal(sourceNameOf('acme/api'), 'sources/github/acme/api')
  })

  it('reads owner/repo from a GitHub URL too', () => {
    assert.deepEqual(parseRepository('https://github.com/acme/api.git'), { owner: 'acme', repo: 'api' })
  })

  it('explains how to write a repository when it is malformed', () => {
    assert.throws(() => parseRepository('acme'), /write it as owner\/repo/)
    assert.throws(() => parseRepository('acme/api/extra'), ValidationError)
    assert.throws(() => toSourceName('sources/gitlab/acme/api'), /expected sources\/github/)
  })
})
