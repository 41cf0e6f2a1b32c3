/**
 * A JulesClient that counts and times every call of the one it wraps, for
 * `jjm_jules_requests_total{method,outcome}` and
 * `jjm_jules_request_duration_seconds{method}`. Applied by `openCore` when
 * the process has a Metrics object; the adapters know nothing of metrics.
 */
import type { JulesOutcome, Metrics } from '../metrics.js'
import type { JulesClient } from './client.js'

type Method = Exclude<keyof JulesClient, 'kind' | 'close' | 'circuit'>

const methods: readonly Method[] = [
  'listSources',
  'getSource',
  'createSession',
  'getSession',
  'listSessions',
  'listActivities',
  'sendMessage',
  'approvePlan',
  'archiveSession',
  'unarchiveSession',
  'deleteSession',
]

/**
 * What a failed call to Jules means, in the few words the metric allows,
 * from the JjmError the adapters throw (see the port's contract).
 */
export function julesOutcome(error: unknown): JulesOutcome {
  const { code, context } = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown
    context?: Record<string, unknown>
  }
  if (code === 'JJM_RATE_LIMITED') return 'rate_limited'
  if (code === 'JJM_JULES_UNAVAILABLE') {
    if (context?.breaker === 'open') return 'circuit_open'
    if (context?.timedOut === true) return 'timeout'
    const status = context?.httpStatus
    return typeof status === 'number' && status >= 500 ? 'server_error' : 'unavailable'
  }
  // An answer jjm cannot read is Jules' fault; anything not a JjmError is unexpected, and not the caller's.
  if (code === 'JJM_JULES_PROTOCOL' || typeof code !== 'string' || !code.startsWith('JJM_')) return 'server_error'
  return 'client_error'
}

export function instrumentedJulesClient(client: JulesClient, metrics: Metrics): JulesClient {
  const instrumented: Record<string, unknown> = {
    kind: client.kind,
    circuit: () => client.circuit?.() ?? { state: 'closed' },
    close: async () => client.close?.(),
  }
  for (const method of methods) {
    const call = client[method] as ((...args: unknown[]) => Promise<unknown>) | undefined
    // An optional method the adapter lacks stays absent, so core can say so.
    if (call === undefined) continue
    instrumented[method] = async (...args: unknown[]) => {
      const started = performance.now()
      try {
        const result = await call.apply(client, args)
        metrics.julesRequest(method, 'success', (performance.now() - started) / 1000)
        return result
      } catch (error) {
        metrics.julesRequest(method, julesOutcome(error), (performance.now() - started) / 1000)
        throw error
      }
    }
  }
  return instrumented as unknown as JulesClient
}
