import { setTimeout as sleep } from 'node:timers/promises'
import { type JjmError, markJulesDidNotAct, OperationFailedError } from '../core/errors.js'
import type {
  CreateSessionRequest,
  JulesClient,
  ListActivitiesRequest,
  ListActivitiesResponse,
  ListSessionsRequest,
  ListSessionsResponse,
  ListSourcesRequest,
  ListSourcesResponse,
  Session,
  Source,
} from '../core/jules/client.js'
import { errorFromGoogle, googleStatusByHttp } from '../core/jules/google-errors.js'
import { type Logger, silentLogger } from '../core/ports.js'
import { SimApiError, type SimMethod, type Simulator } from './engine.js'

export interface SimClientOptions {
  logger?: Logger
}

/**
 * The `sim` JulesClient: calls the simulator in-process, no network. Errors
 * and injected faults come out as the same JjmErrors the `rest` adapter gives
 * for the same answers from Jules, so code tested against `sim` behaves the
 * same against Jules.
 */
export function createSimClient(simulator: Simulator, options: SimClientOptions = {}): JulesClient {
  const logger = (options.logger ?? silentLogger).child({ jules: 'sim' })

  async function call<T>(method: SimMethod, resource: string | undefined, work: () => Promise<T>): Promise<T> {
    const fault = simulator.takeFault(method)
    if (fault) {
      logger.debug('simulated fault', { method, resource, ...fault })
      if (fault.delayMs !== undefined && fault.delayMs > 0) await sleep(fault.delayMs)
      if (fault.status >= 400) {
        const error = errorFromGoogle({
          httpStatus: fault.status,
          status: googleStatusByHttp[fault.status],
          message: 'Simulated fault',
          retryAfterSeconds: fault.retryAfterSeconds,
          operation: method,
          resource,
        })
        // As the rest adapter says of Jules: a 429 or a 503 is a refusal before acting.
        throw fault.status === 429 || fault.status === 503 ? markJulesDidNotAct(error) : error
      }
    }
    let result: T
    try {
      result = await work()
    } catch (error) {
      throw toJjmError(error, method, resource)
    }
    if (fault?.malformed) {
      throw new OperationFailedError(
        `Jules answered ${method} with a body that is not valid JSON (simulated fault).`,
        { context: { operation: method, resource } },
        'JJM_JULES_PROTOCOL',
      )
    }
    logger.debug('sim call', { method, resource })
    return result
  }

  return {
    kind: 'sim',
    listSources: (request?: ListSourcesRequest): Promise<ListSourcesResponse> =>
      call('sources.list', undefined, () => simulator.listSources(request)),
    getSource: (name: string): Promise<Source> => call('sources.get', name, () => simulator.getSource(name)),
    createSession: (request: CreateSessionRequest): Promise<Session> =>
      call('sessions.create', request.sourceContext?.source, () => simulator.createSession(request)),
    getSession: (name: string): Promise<Session> => call('sessions.get', name, () => simulator.getSession(name)),
    listSessions: (request?: ListSessionsRequest): Promise<ListSessionsResponse> =>
      call('sessions.list', undefined, () => simulator.listSessions(request)),
    listActivities: (session: string, request?: ListActivitiesRequest): Promise<ListActivitiesResponse> =>
      call('sessions.activities.list', session, () => simulator.listActivities(session, request)),
    sendMessage: (session: string, prompt: string): Promise<void> =>
      call('sessions.sendMessage', session, () => simulator.sendMessage(session, prompt)),
    approvePlan: (session: string): Promise<void> =>
      call('sessions.approvePlan', session, () => simulator.approvePlan(session)),
    archiveSession: (session: string): Promise<void> =>
      call('sessions.archive', session, () => simulator.archiveSession(session)),
    unarchiveSession: (session: string): Promise<void> =>
      call('sessions.unarchive', session, () => simulator.unarchiveSession(session)),
    // As the rest adapter does: a session already gone is what a delete asks for.
    deleteSession: async (session: string): Promise<void> => {
      try {
        await call('sessions.delete', session, () => simulator.deleteSession(session))
      } catch (error) {
        if (error instanceof OperationFailedError && error.code === 'JJM_JULES_NOT_FOUND') return
        throw error
      }
    },
  }
}

function toJjmError(error: unknown, operation: string, resource: string | undefined): JjmError | unknown {
  if (!(error instanceof SimApiError)) return error
  return errorFromGoogle({
    httpStatus: error.httpStatus,
    status: error.status,
    message: error.message,
    operation,
    resource,
  })
}
