/** The fleet the benchmarks seed: tasks over 20 repositories, one in five completed. */
import type { Task } from '../src/core/task.js'

export function benchTask(index: number, newId: () => string): Task {
  const at = new Date(Date.UTC(2026, 0, 1) + index * 60_000).toISOString()
  return {
    id: newId(),
    sessionName: `sessions/bench${index}`,
    title: `Task ${index}: tidy module ${index % 37}`,
    prompt: `Refactor module ${index}`,
    repository: `acme/repo${index % 20}`,
    source: `sources/github/acme/repo${index % 20}`,
    branch: 'main',
    state: index % 5 === 0 ? 'completed' : 'in_progress',
    requirePlanApproval: false,
    automationMode: 'AUTO_CREATE_PR',
    url: null,
    pullRequest: null,
    labels: [`team${index % 4}`],
    metadata: { index },
    createdAt: at,
    updatedAt: at,
    completedAt: null,
    lastSyncedAt: null,
    stalledSince: null,
    archived: false,
    version: 1,
    priority: 0,
  }
}
