/**
 * The Jules port's optional session actions, called so that a backend
 * without one gives an error that names the operation and what still works.
 */
import { UnsupportedOperationError } from '../errors.js'
import type { JulesClient } from './client.js'

export type OptionalJulesMethod = 'archiveSession' | 'unarchiveSession' | 'deleteSession'

const optionalMethodWords: Readonly<Record<OptionalJulesMethod, string>> = {
  archiveSession: 'archiving a session',
  unarchiveSession: 'unarchiving a session',
  deleteSession: 'deleting a session at Jules',
}

/**
 * A session action the adapter may lack; when it does, the error names the
 * operation, the backend, and what still works through it.
 */
export function optional(client: JulesClient, method: OptionalJulesMethod): (session: string) => Promise<void> {
  const call = client[method]
  if (call) return call.bind(client)
  return async () => {
    throw new UnsupportedOperationError(
      `${optionalMethodWords[method]} is unavailable through the ${client.kind} Jules backend; create, list, message, approve and monitor still work. Use the rest backend (JULES_API_KEY) for this operation.`,
      { context: { backend: client.kind, operation: method } },
    )
  }
}
