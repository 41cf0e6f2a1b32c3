import type { Core } from '../../core/core.js'
import { sendJson } from '../http.js'
import type { Route } from '../route.js'

export interface HealthState {
  version: string
  startedAt: number
  /** True from the first SIGTERM/SIGINT on: readiness fails so balancers drain this daemon. */
  shuttingDown: boolean
}

interface Check {
  status: 'pass' | 'fail'
  latencyMs: number
  message: string
}

/**
 * The public health endpoints. The observability issue (6) adds Jules, Redis
 * and disk checks run in the background; until then the database is checked
 * on each request to /health and /health/ready.
 */
export function healthRoutes(core: Core, state: HealthState): Route[] {
  const database = async (): Promise<Check> => {
    const started = performance.now()
    try {
      await core.store.listTasks({ limit: 1 })
      const pending = core.storage.schema ? (await core.storage.schema.status()).pending : []
      const latencyMs = Math.round(performance.now() - started)
      if (pending.length > 0) {
        return { status: 'fail', latencyMs, message: `${pending.length} migration(s) pending: run \`jjm migrate up\`.` }
      }
      return { status: 'pass', latencyMs, message: 'the database answers and its schema is current' }
    } catch (error) {
      return {
        status: 'fail',
        latencyMs: Math.round(performance.now() - started),
        message: error instanceof Error ? error.message : String(error),
      }
    }
  }
  return [
    {
      method: 'GET',
      path: '/health',
      scope: 'public',
      tag: 'health',
      summary: 'Overall health with each check.',
      responses: {
        200: { description: 'Healthy or degraded.', schema: 'Health' },
        503: { description: 'Unhealthy.', schema: 'Health' },
      },
      async handler(_req, res) {
        const checks = { database: await database() }
        const failing = Object.values(checks).some((check) => check.status === 'fail')
        const degraded = core.storage.degraded !== undefined || !core.bus.healthy
        const status = failing ? 'unhealthy' : degraded ? 'degraded' : 'healthy'
        sendJson(res, failing ? 503 : 200, {
          status,
          version: state.version,
          uptime: Math.round((Date.now() - state.startedAt) / 1000),
          checks,
        })
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
      summary: 'Whether the daemon should receive traffic: migrations current, database answering, not shutting down.',
      responses: {
        200: { description: 'Ready.', schema: 'Readiness' },
        503: { description: 'Not ready, with the reason.', schema: 'Readiness' },
      },
      async handler(_req, res) {
        if (state.shuttingDown) {
          sendJson(res, 503, { status: 'not_ready', reason: 'shutting down' })
          return
        }
        const check = await database()
        if (check.status === 'fail') sendJson(res, 503, { status: 'not_ready', reason: check.message })
        else sendJson(res, 200, { status: 'ready' })
      },
    },
  ]
}
