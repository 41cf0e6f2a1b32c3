/**
 * A group of tasks made together: the N attempts of one prompt
 * (`jjm tasks create --parallel N`). Each attempt carries the label
 * `group:ID` (so that `tasks list --group ID` is a label filter every store
 * already answers) and `metadata.parallel` = {group, attempt, of}. Every
 * attempt is created under its own idempotency key derived from the run's,
 * so that running the same command again never starts an attempt twice.
 */
import { createHash } from 'node:crypto'
import type { TaskFileEntry } from './bulk-create.js'
import { ValidationError } from './errors.js'
import type { TaskInput } from './task.js'

export const groupLabelPrefix = 'group:'
/** Jules' free plan runs few sessions at once; more attempts than this in one go is most likely a typo. */
export const maxParallelAttempts = 20

export function groupLabel(group: string): string {
  return `${groupLabelPrefix}${group}`
}

/**
 * The group's id: derived from the idempotency key when there is one (a
 * retry then names the same group and the same attempts), else new.
 */
export function groupIdOf(idempotencyKey: string | undefined, newId: () => string): string {
  if (idempotencyKey === undefined) return newId()
  return `k${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 25)}`
}

/** The N entries of a parallel create, each with its group label, metadata and own key. */
export function parallelEntries(
  input: TaskInput,
  attempts: number,
  options: { group: string; idempotencyKey?: string },
): TaskFileEntry[] {
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > maxParallelAttempts) {
    throw new ValidationError(`--parallel takes 1 to ${maxParallelAttempts} attempts; ${attempts} was given.`, {
      context: { parallel: attempts },
    })
  }
  const base = options.idempotencyKey ?? `parallel:${options.group}`
  // An idempotency key is at most 255 characters: a long base is shortened to its digest.
  const keyBase = base.length > 230 ? `sha256:${createHash('sha256').update(base).digest('hex')}` : base
  return Array.from({ length: attempts }, (_, index) => {
    const attempt = index + 1
    return {
      index: attempt,
      input: {
        ...input,
        ...(input.title === undefined ? {} : { title: `${input.title} [${attempt}/${attempts}]` }),
        labels: [...(input.labels ?? []), groupLabel(options.group)],
        metadata: { ...(input.metadata ?? {}), parallel: { group: options.group, attempt, of: attempts } },
      },
      idempotencyKey: `${keyBase}#${attempt}of${attempts}`,
    }
  })
}
