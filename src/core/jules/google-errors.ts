import {
  AuthenticationError,
  InvalidStateError,
  type JjmError,
  JulesConnectionError,
  OperationFailedError,
  RateLimitedError,
  ValidationError,
} from '../errors.js'

/** The Google JSON error body: `{"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}`. */
export interface GoogleErrorBody {
  /** `details`: typed objects such as `google.rpc.BadRequest` (`{"@type": …, fieldViolations: […]}`). */
  error: { code: number; message: string; status: string; details?: Array<Record<string, unknown>> }
}

export const googleStatusByHttp: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
}

export function googleErrorBody(
  httpStatus: number,
  message: string,
  status?: string,
  details?: Array<Record<string, unknown>>,
): GoogleErrorBody {
  return {
    error: {
      code: httpStatus,
      message,
      status: status ?? googleStatusByHttp[httpStatus] ?? 'UNKNOWN',
      ...(details === undefined ? {} : { details }),
    },
  }
}

/** HTTP statuses worth retrying: the request may succeed if sent again. */
export const transientHttpStatuses: ReadonlySet<number> = new Set([429, 500, 502, 503, 504])

export interface GoogleErrorDetails {
  httpStatus: number
  status?: string
  message?: string
  retryAfterSeconds?: number
  operation: string
  /** The resource the request was about, for the error's context. */
  resource?: string
}

/**
 * Maps an error answer from Jules (or the simulator) to the JjmError a user
 * sees. Messages say what to do next.
 */
export function errorFromGoogle(details: GoogleErrorDetails): JjmError {
  const { httpStatus, status, operation, resource } = details
  const said = details.message ? `: ${details.message}` : ''
  const context = { operation, resource, httpStatus, status }
  switch (true) {
    case httpStatus === 401:
      return new AuthenticationError(
        `Jules refused the API key${said}. Check JULES_API_KEY (create a key at https://jules.google.com/settings#api).`,
        { context },
      )
    case httpStatus === 403:
      return new AuthenticationError(
        `The API key may not do ${operation}${said}. Check the key and that the Jules GitHub app is installed on the repository.`,
        { context },
      )
    case httpStatus === 404:
      return new OperationFailedError(
        `Jules has no ${resource ?? 'such resource'}${said}.`,
        { context },
        'JJM_JULES_NOT_FOUND',
      )
    case httpStatus === 400 && status === 'FAILED_PRECONDITION':
      return new InvalidStateError(`Jules refused ${operation} in the session's current state${said}.`, { context })
    case httpStatus === 429:
      return new RateLimitedError(
        `Jules is rate limiting requests${said}.${details.retryAfterSeconds !== undefined ? ` Retry after ${details.retryAfterSeconds} s.` : ' Retry later, or lower the request rate.'}`,
        { context, retryAfterSeconds: details.retryAfterSeconds },
      )
    case httpStatus >= 400 && httpStatus < 500:
      return new ValidationError(`Jules rejected ${operation}${said}.`, { context })
    default:
      return new JulesConnectionError(
        `Jules answered ${httpStatus} to ${operation}${said}. This is usually temporary; try again shortly.`,
        { context },
      )
  }
}

/** Parses a `Retry-After` header: delta seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined | null, now = Date.now()): number | undefined {
  if (value === undefined || value === null || value.trim() === '') return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const at = Date.parse(trimmed)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, Math.ceil((at - now) / 1000))
}
