import type { HealthRunner } from '../../core/health.js'
import { sendJson } from '../http.js'
import type { Route } from '../route.js'

export interface HealthState {
  version: string
  startedAt: number
  /** True from the first SIGTERM/SIGINT on: readiness fails so balancers drain this daemon. */
  shuttingDown: boolean
}

/**
 * The public health endpoints. They answer from the runner's last results
 * (src/core/health.ts runs the checks in the background), so a probe never
 * does work on the request path and never waits on a dependency; only the
 * very first probes, before the first pass has finished, wait for that pass.
 */
export function healthRoutes(runner: HealthRunner, state: HealthState): Route[] {
  return [
    {
      method: 'GET',
      path: '/health',
      scope: 'public',
      tag: 'health',
      summary: 'Overall health with the last result of each check (checks run in the background).',
      responses: {
        200: { description: 'Healthy or degraded.', schema: 'Health' },
        503: { description: 'Unhealthy: the database or the disk fails.', schema: 'Health' },
      },
      async handler(_req, res) {
        const report = await runner.current()
        sendJson(res, report.status === 'unhealthy' ? 503 : 200, report)
      },
    },
    {
      method: 'GET',
      path: '/health/live',
      scope: 'public',
      tag: 'health',
      summary: 'Whether the process serves requests.',
      responses: { 200: { description: 'Alive.', schema: 'Liveness' } },
      async handler(_req, res) {
        sendJson(res, 200, { status: 'alive' })
      },
    },
    {
      method: 'GET',
      path: '/health/ready',
      scope: 'public',
      tag: 'health',
      summary:
        'Whether the daemon should receive traffic: migrations current, database answering (last check), not shutting down.',
      responses: {
        200: { description: 'Ready.', schema: 'Readiness' },
        503: { description: 'Not ready, with the reason.', schema: 'Readiness' },
      },
      async handler(_req, res) {
        if (state.shuttingDown) {
          sendJson(res, 503, { status: 'not_ready', reason: 'shutting down' })
          return
        }
        const database = (await runner.current()).checks.database
        if (database === undefined) {
          sendJson(res, 503, { status: 'not_ready', reason: 'the database has not been checked yet' })
        } else if (database.status === 'fail') {
          sendJson(res, 503, { status: 'not_ready', reason: database.message })
        } else {
          sendJson(res, 200, { status: 'ready' })
        }
      },
    },
  ]
}
