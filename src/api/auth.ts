/** API-key authentication and scopes: `X-API-Key` or `Authorization: Bearer`. */
import { type ApiKeyScope, type ApiKeyService, ForbiddenError, hasScope, UnauthorizedError } from '../core/api-keys.js'
import type { ApiRequest, ApiResponse } from './http.js'
import type { RateLimits } from './rate-limit.js'

export interface Authenticator {
  /** Authenticates the request, checks the scope and counts it against the key's rate limit. */
  require(req: ApiRequest, res: ApiResponse, scope: ApiKeyScope): Promise<void>
}

export function createAuthenticator(keys: () => ApiKeyService, limits: RateLimits): Authenticator {
  return {
    async require(req, res, scope) {
      const address = req.socket.remoteAddress ?? 'unknown'
      await limits.checkAuthAllowed(address)
      const presented = presentedKey(req)
      if (presented === undefined) {
        await limits.recordAuthFailure(address)
        throw new UnauthorizedError(
          'This endpoint needs an API key: send it as `Authorization: Bearer KEY` or `X-API-Key: KEY`. Create one with `jjm api-keys create --name NAME`.',
        )
      }
      try {
        req.apiKey = await keys().verify(presented)
      } catch (error) {
        if (error instanceof UnauthorizedError) await limits.recordAuthFailure(address)
        throw error
      }
      await limits.consumeRequest(res, req.apiKey.id, req.apiKey.rateLimitPerMinute)
      if (!hasScope(req.apiKey.scopes, scope)) {
        throw new ForbiddenError(
          `The API key ${req.apiKey.prefix} has the scopes ${req.apiKey.scopes.join(', ')}; this endpoint needs ${scope}. Create a key with --scopes ${scope}.`,
          { context: { keyPrefix: req.apiKey.prefix, needed: scope } },
        )
      }
    },
  }
}

function presentedKey(req: ApiRequest): string | undefined {
  const header = req.headers['x-api-key']
  const fromHeader = Array.isArray(header) ? header[0] : header
  if (fromHeader !== undefined && fromHeader.trim() !== '') return fromHeader.trim()
  const authorization = req.headers.authorization
  const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization)
  return match?.[1]
}
