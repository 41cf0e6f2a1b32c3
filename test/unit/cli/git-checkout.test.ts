import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { applyPatch, repositoryOfRemote } from '../../../src/cli/git-checkout.js'
import { ValidationError } from '../../../src/core/errors.js'

describe('the git checkout a patch is applied to', { timeout: 30_000 }, () => {
  it('reads owner/repo from every way of writing a GitHub remote, and nothing from other hosts', () => {
    for (const url of [
      'https://github.com/acme/api.git',
      'https://github.com/acme/api',
      'https://github.com/Acme/API/',
      'git@github.com:acme/api.git',
      'ssh://git@github.com/acme/api.git',
      'https://token@github.com/acme/api.git',
    ]) {
      assert.equal(repositoryOfRemote(url), 'acme/api', url)
    }
    assert.equal(repositoryOfRemote('https://gitlab.com/acme/api.git'), undefined)
    assert.equal(repositoryOfRemote('/srv/git/api.git'), undefined)
  })

  it('refuses a directory that is not a git checkout, saying what to do', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-not-git-'))
    try {
      await assert.rejects(
        applyPatch(dir, 'acme/api', 'diff --git a/x b/x\n'),
        (error: unknown) =>
          error instanceof ValidationError &&
          /cd into a clone of acme\/api/.test(error.message) &&
          /--output/.test(error.message),
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
