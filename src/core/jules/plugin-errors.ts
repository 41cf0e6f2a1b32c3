import { toJjmError } from '../errors.js'
import type { JulesClient } from './client.js'

type SessionAction = 'archiveSession' | 'unarchiveSession' | 'deleteSession'

/**
 * The client with every refusal as a JjmError. A plugin written without a
 * runtime dependency on jjm throws plain errors that carry jjm's `code`
 * (`JJM_JULES_NOT_FOUND`, `JJM_INVALID_STATE`, …); core tells a missing
 * session or a refused approval apart by class and code, so they become the
 * classes those codes stand for. JjmErrors pass through unchanged.
 */
export function withJjmErrors(client: JulesClient): JulesClient {
  const mapped = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call()
    } catch (error) {
      throw toJjmError(error)
    }
  }
  const action = (method: SessionAction) => {
    const call = client[method]?.bind(client)
    return call === undefined ? {} : { [method]: (session: string) => mapped(() => call(session)) }
  }
  const circuit = client.circuit?.bind(client)
  const close = client.close?.bind(client)
  return {
    kind: client.kind,
    listSources: (request) => mapped(() => client.listSources(request)),
    getSource: (name) => mapped(() => client.getSource(name)),
    createSession: (request) => mapped(() => client.createSession(request)),
    getSession: (name) => mapped(() => client.getSession(name)),
    listSessions: (request) => mapped(() => client.listSessions(request)),
    listActivities: (session, request) => mapped(() => client.listActivities(session, request)),
    sendMessage: (session, prompt) => mapped(() => client.sendMessage(session, prompt)),
    approvePlan: (session) => mapped(() => client.approvePlan(session)),
    ...action('archiveSession'),
    ...action('unarchiveSession'),
    ...action('deleteSession'),
    ...(circuit === undefined ? {} : { circuit }),
    ...(close === undefined ? {} : { close }),
  }
}
