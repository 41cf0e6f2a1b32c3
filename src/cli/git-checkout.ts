/**
 * Applying a task's patch to the git checkout jjm runs in (`jjm tasks pull
 * --apply`): the checkout must be a clone of the task's repository and have
 * no uncommitted changes to tracked files; the patch goes in with a 3-way
 * merge (`git apply --3way`), which leaves conflict markers where it cannot.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { InvalidStateError, OperationFailedError, ValidationError } from '../core/errors.js'

const run = promisify(execFile)

/** What `--apply` did. */
export interface AppliedPatch {
  /** The top of the checkout the patch went into. */
  checkout: string
  /** The paths the patch touches, as git names them. */
  files: string[]
}

async function git(cwd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run('git', args, { cwd, maxBuffer: 64 * 1024 * 1024 })
    return stdout
  } catch (error) {
    const failure = error as { code?: unknown; stderr?: unknown }
    if (failure.code === 'ENOENT') {
      throw new OperationFailedError('git is not installed (or not on PATH): install it, or use --output FILE.')
    }
    const stderr = typeof failure.stderr === 'string' ? failure.stderr.trim() : String(error)
    throw new OperationFailedError(`git ${args[0]} failed: ${stderr}`, { context: { cwd, command: args[0] } })
  }
}

/** `owner/repo` of a GitHub remote URL (https, ssh, or scp-like), lower-case; undefined for other hosts. */
export function repositoryOfRemote(url: string): string | undefined {
  const match = /github\.com[:/]+([^/\s]+)\/([^/\s]+?)(?:\.git)?\/?$/i.exec(url.trim())
  return match ? `${match[1]}/${match[2]}`.toLowerCase() : undefined
}

/** Checks the checkout at `cwd` and applies `patch` to it. */
export async function applyPatch(cwd: string, repository: string, patch: string): Promise<AppliedPatch> {
  let checkout: string
  try {
    checkout = (await git(cwd, ['rev-parse', '--show-toplevel'])).trim()
  } catch {
    const where = repository === '' ? 'a git checkout' : `a clone of ${repository}`
    throw new ValidationError(
      `${cwd} is not in a git checkout: cd into ${where} to apply the patch, or write it with --output FILE.`,
      { context: { cwd, repository } },
    )
  }
  // A task on no repository (a repoless session) applies to whatever checkout the person chose.
  if (repository !== '') await checkRemotes(checkout, repository)
  const dirty = (await git(checkout, ['status', '--porcelain', '--untracked-files=no'])).trim()
  if (dirty !== '') {
    throw new InvalidStateError(
      `The checkout ${checkout} has uncommitted changes: commit or stash them first (git stash), then pull again.`,
      { context: { checkout, changed: dirty.split('\n').map((line) => line.slice(3)) } },
    )
  }
  const directory = await mkdtemp(join(tmpdir(), 'jjm-pull-'))
  try {
    const file = join(directory, 'task.patch')
    await writeFile(file, patch.endsWith('\n') ? patch : `${patch}\n`)
    const files = (await git(checkout, ['apply', '--numstat', file]))
      .split('\n')
      .map((line) => line.split('\t')[2] ?? '')
      .filter((path) => path !== '')
    try {
      await git(checkout, ['apply', '--3way', file])
    } catch (error) {
      throw new OperationFailedError(
        `The patch did not apply cleanly to ${checkout}; files with conflicts have conflict markers (see git status). ${error instanceof Error ? error.message : String(error)}`,
        { context: { checkout, files } },
      )
    }
    return { checkout, files }
  } finally {
    await rm(directory, { recursive: true, force: true })
  }
}

async function checkRemotes(checkout: string, repository: string): Promise<void> {
  const remotes = (await git(checkout, ['remote', '-v']))
    .split('\n')
    .map((line) => line.split(/\s+/)[1] ?? '')
    .filter((url) => url !== '')
  const wanted = repository.toLowerCase()
  if (!remotes.some((url) => repositoryOfRemote(url) === wanted)) {
    const seen = [...new Set(remotes)].join(', ') || 'none'
    throw new ValidationError(
      `This checkout (${checkout}) is not a clone of ${repository}: its remotes are ${seen}. cd into a clone of ${repository}, or write the patch with --output FILE.`,
      { context: { checkout, repository, remotes: [...new Set(remotes)] } },
    )
  }
}
