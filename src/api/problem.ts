/**
 * Every error the API answers is `application/problem+json` (RFC 9457):
 * `type`, `title`, `status`, `detail`, `instance`, plus jjm's stable `code`
 * and, for validation, the fields at fault. Never a stack trace.
 */
import { STATUS_CODES } from 'node:http'
import {
  type ErrorContext,
  isJjmError,
  JjmError,
  type JjmErrorOptions,
  MigrationRequiredError,
  StorageError,
  toJjmError,
} from '../core/errors.js'
import type { ApiRequest, ApiResponse } from './http.js'

export interface FieldError {
  /** Where, as a JSON pointer-like path: `body.prompt`, `query.limit`. */
  field: string
  message: string
}

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  instance: string
  code: string
  requestId: string
  errors?: FieldError[]
  retryAfterSeconds?: number
}

/** Problem types are relative URIs to the daemon's own documentation page, where each code is explained. */
export const problemTypeBase = '/docs#problem-'

/** An error that exists only on the HTTP face (413, 415, 405…); the CLI never sees one. */
export class HttpError extends JjmError {
  constructor(
    status: number,
    code: string,
    message: string,
    options?: JjmErrorOptions & { headers?: Record<string, string> },
  ) {
    super(message, code, 11, status, options)
    this.headers = options?.headers ?? {}
  }
  readonly headers: Record<string, string>
}

/** A request that failed validation, with every field at fault. */
export class RequestValidationError extends JjmError {
  constructor(
    message: string,
    readonly fieldErrors: FieldError[],
    options?: JjmErrorOptions,
  ) {
    super(message, 'JJM_VALIDATION', 11, 400, options)
  }
}

/** The problem document for an error; unknown errors say nothing of their insides. */
export function toProblem(error: unknown, req: Pick<ApiRequest, 'id' | 'originalUrl' | 'url'>): Problem {
  const known = toJjmError(error)
  const instance = (req.originalUrl ?? req.url ?? '/').split('?')[0] ?? '/'
  if (!isJjmError(known)) {
    return {
      type: `${problemTypeBase}internal`,
      title: 'Internal Server Error',
      status: 500,
      detail: `jjm failed unexpectedly while answering this request. The server log has the details under request id ${req.id}.`,
      instance,
      code: 'JJM_INTERNAL',
      requestId: req.id,
    }
  }
  const status = known.httpStatus
  const problem: Problem = {
    type: `${problemTypeBase}${known.code.replace(/^JJM_/, '').toLowerCase().replaceAll('_', '-')}`,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail: detailOf(known, req.id),
    instance,
    code: known.code,
    requestId: req.id,
  }
  if (known instanceof RequestValidationError) problem.errors = known.fieldErrors
  const retryAfter = retryAfterOf(known.context)
  if (retryAfter !== undefined) problem.retryAfterSeconds = retryAfter
  return problem
}

/**
 * What a caller may read of an error. A storage error's own message names
 * the database file or server, which is the operator's business, not an API
 * client's: the client is told what to do, the server log keeps the rest.
 */
function detailOf(error: JjmError, requestId: string): string {
  if (error instanceof MigrationRequiredError) {
    return "The daemon's database schema is behind this version of jjm; an operator runs `jjm migrate up`, then the request can be retried."
  }
  if (error instanceof StorageError) {
    return `The daemon's database could not complete this request; retry later. The server log has the details under request id ${requestId}.`
  }
  return error.message
}

export function sendProblem(res: ApiResponse, problem: Problem, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end()
    return
  }
  const text = JSON.stringify(problem)
  const extra: Record<string, string> = { ...headers }
  if (problem.retryAfterSeconds !== undefined)
    extra['Retry-After'] = String(Math.max(1, Math.ceil(problem.retryAfterSeconds)))
  res.writeHead(problem.status, {
    'Content-Type': 'application/problem+json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...extra,
  })
  res.end(text)
}

export function headersOf(error: unknown): Record<string, string> {
  return error instanceof HttpError ? error.headers : {}
}

function retryAfterOf(context: ErrorContext): number | undefined {
  const value = context.retryAfterSeconds
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}
