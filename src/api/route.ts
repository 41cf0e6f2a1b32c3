/**
 * A route as data: method, path, who may call it, the schemas of what it takes
 * and gives, and its handler. The server mounts these and the OpenAPI document
 * is written from the same list, so the two cannot drift apart.
 */
import type { ZodType } from 'zod'
import type { ApiKeyScope } from '../core/api-keys.js'
import type { RouteHandler } from './http.js'

export interface RouteResponse {
  description: string
  /** The component id of the body's schema (see openapi.ts), or none for an empty body. */
  schema?: string
  /** A media type other than JSON (text/event-stream, text/html). */
  mediaType?: string
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** Polka pattern: `/api/v1/tasks/:id`. */
  path: string
  /** `public` routes need no key. */
  scope: ApiKeyScope | 'public'
  summary: string
  description?: string
  tag: string
  query?: ZodType
  body?: ZodType
  /** Request headers the route reads, for the document. */
  headers?: Array<{ name: string; description: string; required?: boolean }>
  responses: Record<number, RouteResponse>
  handler: RouteHandler
}
