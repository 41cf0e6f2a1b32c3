import { ValidationError } from '../errors.js'

/**
 * Google's own examples write resource names in more than one form
 * (`sessions/{id}` and a bare id; `sources/github/{o}/{r}` and
 * `sources/github-{o}-{r}`). jjm accepts all of them and emits the documented one.
 */

const sessionIdPattern = /^[A-Za-z0-9_-]+$/
const ownerPattern = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/
const repoPattern = /^[A-Za-z0-9._-]{1,100}$/

/** `abc` or `sessions/abc` → `sessions/abc` */
export function toSessionName(ref: string): string {
  const id = ref.startsWith('sessions/') ? ref.slice('sessions/'.length) : ref
  if (!sessionIdPattern.test(id)) {
    throw new ValidationError(`"${ref}" is not a Jules session name; expected sessions/{id} or a bare id.`, {
      context: { session: ref },
    })
  }
  return `sessions/${id}`
}

/** `sessions/abc` → `abc` */
export function sessionIdOf(name: string): string {
  return toSessionName(name).slice('sessions/'.length)
}

export interface RepositoryRef {
  owner: string
  repo: string
}

/** Parses `owner/repo` (also accepts a GitHub URL or a trailing `.git`). */
export function parseRepository(input: string): RepositoryRef {
  const trimmed = input
    .trim()
    .replace(/^https?:\/\/github\.com\//, '')
    .replace(/\.git$/, '')
    .replace(/\/$/, '')
  const parts = trimmed.split('/')
  const [owner, repo] = parts
  if (parts.length !== 2 || !owner || !repo || !ownerPattern.test(owner) || !repoPattern.test(repo)) {
    throw new ValidationError(`"${input}" is not a GitHub repository; write it as owner/repo, e.g. acme/api.`, {
      context: { repository: input },
    })
  }
  return { owner, repo }
}

/**
 * `sources/github/o/r`, `sources/github-o-r`, `github/o/r` → `sources/github/o/r`.
 * The dash form is ambiguous when owner or repo contain dashes; the first dash
 * after `github-` is taken as the separator only when the slash form is absent.
 */
export function toSourceName(ref: string): string {
  const body = ref.startsWith('sources/') ? ref.slice('sources/'.length) : ref
  if (body.startsWith('github/')) {
    const { owner, repo } = parseRepository(body.slice('github/'.length))
    return `sources/github/${owner}/${repo}`
  }
  if (body.startsWith('github-')) {
    const rest = body.slice('github-'.length)
    const dash = rest.indexOf('-')
    if (dash > 0) {
      const { owner, repo } = parseRepository(`${rest.slice(0, dash)}/${rest.slice(dash + 1)}`)
      return `sources/github/${owner}/${repo}`
    }
  }
  throw new ValidationError(`"${ref}" is not a Jules source name; expected sources/github/{owner}/{repo}.`, {
    context: { source: ref },
  })
}

export function sourceNameOf(repository: string): string {
  const { owner, repo } = parseRepository(repository)
  return `sources/github/${owner}/${repo}`
}

export function repositoryOf(sourceName: string): string {
  return toSourceName(sourceName).slice('sources/github/'.length)
}
