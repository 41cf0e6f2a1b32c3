import type { PullRequest, TaskState } from '../task.js'
import type { Session } from './client.js'

/**
 * How jjm reads a Jules session: its state in jjm's lower-case spelling (an
 * unknown state is kept as it came, lower-cased, never an error) and the pull
 * request from its outputs.
 */
export function taskStateOf(session: Pick<Session, 'state'>): TaskState {
  const raw = typeof session.state === 'string' && session.state !== '' ? session.state : 'STATE_UNSPECIFIED'
  return raw.toLowerCase()
}

export function pullRequestOf(session: Pick<Session, 'outputs'>): PullRequest | null {
  for (const output of session.outputs ?? []) {
    const pr = output.pullRequest
    if (pr?.url) return { url: pr.url, title: pr.title ?? '', description: pr.description ?? '' }
  }
  return null
}
