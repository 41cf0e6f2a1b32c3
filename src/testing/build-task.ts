import { monotonicFactory } from 'ulidx'
import type { Task } from '../core/task.js'

const newId = monotonicFactory()
let sequence = 0

/**
 * A complete task whose every field differs from its defaults; override what
 * the test is about. Each call gets a fresh ULID, a fresh session name and a
 * creation time one second after the previous call's, so that tasks built in
 * order list newest-last.
 */
export function buildTask(overrides: Partial<Task> = {}): Task {
  sequence += 1
  const createdAt = new Date(Date.UTC(2026, 0, 1, 0, 0, sequence)).toISOString()
  const session = 1_000_000 + sequence
  return {
    id: overrides.id ?? newId(),
    sessionName: `sessions/${session}`,
    title: `Fix the flaky test number ${sequence}`,
    prompt: 'Find why test_upload fails one run in ten\nand fix it.',
    repository: 'acme/api',
    source: 'sources/github/acme/api',
    branch: 'main',
    state: 'queued',
    requirePlanApproval: true,
    automationMode: 'AUTO_CREATE_PR',
    url: `https://jules.google.com/session/${session}`,
    pullRequest: null,
    labels: ['flaky'],
    metadata: { requestedBy: 'ops', attempt: 1 },
    createdAt,
    updatedAt: createdAt,
    completedAt: null,
    lastSyncedAt: null,
    stalledSince: null,
    archived: false,
    version: 1,
    priority: 0,
    ...overrides,
  }
}
