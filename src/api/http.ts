/** The request and response as jjm's HTTP layer sees them (Polka's, plus what jjm's middleware adds). */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ApiKey } from '../core/api-keys.js'

export interface ApiRequest extends IncomingMessage {
  /** Path without the query string (Polka). */
  path: string
  params: Record<string, string>
  query: Record<string, string | string[] | undefined>
  originalUrl: string
  /** From `X-Request-Id`, or generated; echoed in the response and in every log line. */
  id: string
  startedAt: number
  /** The authenticated key, on routes that need one. */
  apiKey?: ApiKey
  /** The route template the request matched (`/api/v1/tasks/:id`), for logs and metrics. */
  route?: string
}

export type ApiResponse = ServerResponse
export type Next = (error?: unknown) => void
export type Middleware = (req: ApiRequest, res: ApiResponse, next: Next) => void
export type RouteHandler = (req: ApiRequest, res: ApiResponse) => Promise<void>

export function sendJson(res: ApiResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  })
  res.end(text)
}

/** A page as the API answers it: `{items, nextCursor}`, with an empty `nextCursor` at the end. */
export function sendPage<T>(res: ApiResponse, page: { items: T[]; nextCursor?: string | null }): void {
  sendJson(res, 200, { items: page.items, nextCursor: page.nextCursor ?? '' })
}

export function sendEmpty(res: ApiResponse, status = 204): void {
  res.writeHead(status)
  res.end()
}

/** One query parameter as a single string: the last one wins when repeated. */
export function queryValue(req: ApiRequest, name: string): string | undefined {
  const value = req.query[name]
  return Array.isArray(value) ? value.at(-1) : value
}

/** A repeatable query parameter (`state=a&state=b` or `state=a,b`). */
export function queryValues(req: ApiRequest, name: string): string[] | undefined {
  const value = req.query[name]
  if (value === undefined) return undefined
  return (Array.isArray(value) ? value : [value]).flatMap((item) => item.split(',')).filter((item) => item !== '')
}
