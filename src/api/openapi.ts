/**
 * The OpenAPI 3.1 document, written from the route list and the zod schemas
 * that validate requests and describe responses: one source of truth. Served
 * at /api/v1/openapi.json, with a readable page at /docs.
 */
import { type ZodType, z } from 'zod'
import { sendJson } from './http.js'
import { responseSchemas } from './response-schemas.js'
import type { Route } from './route.js'

type JsonSchema = Record<string, unknown>

export function buildOpenApiDocument(routes: Route[], version: string): JsonSchema {
  const components: Record<string, JsonSchema> = {}
  /** Adds a schema (and every schema with an id inside it) to the components; answers how to refer to it. */
  const register = (schema: ZodType, io: 'input' | 'output' = 'input'): JsonSchema => {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any', io }) as JsonSchema
    const { $schema: _ignored, $defs, ...root } = json
    for (const [id, definition] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) {
      components[id] ??= definition
    }
    return root
  }
  for (const [id, schema] of Object.entries(responseSchemas)) {
    const root = register(schema, 'output')
    if (root.$ref === undefined) components[id] ??= root
  }
  components.Problem = problemSchema
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}')
    const parameters: unknown[] = []
    for (const name of route.path.match(/:([A-Za-z]+)/g) ?? []) {
      parameters.push({ name: name.slice(1), in: 'path', required: true, schema: { type: 'string' } })
    }
    if (route.query !== undefined) {
      // Query parameters are listed one by one, not as a component.
      const json = z.toJSONSchema(route.query, {
        target: 'draft-2020-12',
        unrepresentable: 'any',
        io: 'input',
      }) as JsonSchema
      const defs = (json.$defs ?? {}) as Record<string, JsonSchema>
      const root = typeof json.$ref === 'string' ? defs[json.$ref.split('/').pop() ?? ''] : json
      for (const [name, schema] of Object.entries((root?.properties ?? {}) as Record<string, JsonSchema>)) {
        const { description, ...rest } = schema
        parameters.push({ name, in: 'query', required: false, schema: rest, ...(description ? { description } : {}) })
      }
    }
    for (const header of route.headers ?? []) {
      parameters.push({
        name: header.name,
        in: 'header',
        required: header.required ?? false,
        description: header.description,
        schema: { type: 'string' },
      })
    }
    const responses: Record<string, unknown> = {}
    for (const [status, response] of Object.entries(route.responses)) {
      const mediaType = response.mediaType ?? 'application/json'
      responses[status] = {
        description: response.description,
        ...(response.schema !== undefined
          ? { content: { [mediaType]: { schema: { $ref: `#/components/schemas/${response.schema}` } } } }
          : response.mediaType !== undefined
            ? { content: { [mediaType]: { schema: { type: 'string' } } } }
            : {}),
      }
    }
    for (const status of problemStatuses(route)) {
      responses[status] ??= { $ref: `#/components/responses/Problem${status}` }
    }
    paths[path] ??= {}
    const operation: Record<string, unknown> = {
      operationId: operationId(route),
      summary: route.summary,
      tags: [route.tag],
      ...(route.description ? { description: route.description } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body !== undefined
        ? { requestBody: { required: true, content: { 'application/json': { schema: register(route.body) } } } }
        : {}),
      responses,
      security: route.scope === 'public' ? [] : [{ bearer: [] }, { apiKey: [] }],
      ...(route.scope === 'public' ? {} : { 'x-required-scope': route.scope }),
    }
    paths[path][route.method.toLowerCase()] = operation
  }
  const problemResponses = Object.fromEntries(
    allProblemStatuses.map((status) => [
      `Problem${status}`,
      {
        description: problemDescriptions[status] ?? 'An error.',
        ...(status === 429 || status === 409 || status === 503
          ? { headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait.' } } }
          : {}),
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      },
    ]),
  )
  return {
    openapi: '3.1.0',
    info: {
      title: 'jjm API',
      version,
      description:
        'The REST API of jjm, the Jules Job Manager: tasks (Jules sessions), their operations, history and live updates. Every error is application/problem+json (RFC 9457). Authenticate with an API key (`jjm api-keys create`) in `Authorization: Bearer` or `X-API-Key`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/', description: 'This daemon' }],
    tags: [...new Set(routes.map((route) => route.tag))].map((name) => ({
      name,
      description: tagDescriptions[name] ?? name,
    })),
    paths: rewriteRefs(paths),
    components: {
      // zod writes references as "#/$defs/…"; the components live under #/components/schemas.
      schemas: rewriteRefs(components),
      responses: problemResponses,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key from `jjm api-keys create`.' },
        apiKey: {
          type: 'apiKey',
          in: 'header',
          name: 'X-API-Key',
          description: 'The same key, in a header of its own.',
        },
      },
    },
  }
}

export function openApiRoutes(routes: Route[], version: string): Route[] {
  let document: JsonSchema | undefined
  const all = (): Route[] => [...routes, ...own]
  const own: Route[] = [
    {
      method: 'GET',
      path: '/api/v1/openapi.json',
      scope: 'public',
      tag: 'meta',
      summary: 'This document.',
      responses: { 200: { description: 'The OpenAPI 3.1 description of the API.', mediaType: 'application/json' } },
      async handler(_req, res) {
        document ??= buildOpenApiDocument(all(), version)
        sendJson(res, 200, document)
      },
    },
    {
      method: 'GET',
      path: '/docs',
      scope: 'public',
      tag: 'meta',
      summary: 'A readable page of the API.',
      responses: { 200: { description: 'HTML.', mediaType: 'text/html' } },
      async handler(_req, res) {
        const html = docsPage(all(), version)
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(html) })
        res.end(html)
      },
    },
  ]
  return own
}

function operationId(route: Route): string {
  const words = route.path
    .replace('/api/v1/', '')
    .split('/')
    .filter((part) => part !== '')
    .map((part) =>
      part.startsWith(':') ? 'ById' : part.replace(/[^A-Za-z0-9]+(.)/g, (_m, c: string) => c.toUpperCase()),
    )
  const base = words.map((word, index) => (index === 0 ? word : word.charAt(0).toUpperCase() + word.slice(1))).join('')
  return `${route.method.toLowerCase()}${base.charAt(0).toUpperCase()}${base.slice(1)}`
}

function problemStatuses(route: Route): number[] {
  const statuses = [500]
  if (route.scope !== 'public') statuses.push(401, 403, 429)
  if (route.query !== undefined || route.body !== undefined) statuses.push(400)
  if (route.body !== undefined) statuses.push(413, 415)
  if (route.path.includes(':id')) statuses.push(404)
  if (route.method !== 'GET' && route.path.startsWith('/api/v1/tasks')) statuses.push(409, 503)
  if (route.method === 'POST' && route.path === '/api/v1/tasks') statuses.push(422)
  return statuses
}

const allProblemStatuses = [400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503]
const problemDescriptions: Record<number, string> = {
  400: 'The request is not valid; `errors` lists the fields at fault.',
  401: 'No API key, or one that is unknown, revoked or expired.',
  403: 'The API key lacks the scope this endpoint needs.',
  404: 'No such task (or key).',
  409: 'The task is not in a state that allows this, or a request with the same Idempotency-Key is still running or could not tell whether Jules started the session (retry after Retry-After seconds).',
  413: 'The body is larger than the server accepts.',
  415: 'The body is not JSON.',
  422: 'The Idempotency-Key was used before with another body.',
  429: 'Too many requests; wait for Retry-After seconds.',
  500: 'jjm failed unexpectedly; the log has the request id.',
  503: 'A dependency (Jules, the database) is unavailable. After a create that may have reached Jules, Retry-After says when to retry with the same Idempotency-Key.',
}

/** Every problem code the API answers with, for the /docs page. */
const problemCatalogue: ReadonlyArray<readonly [number, string, string]> = [
  [400, 'JJM_VALIDATION', 'The request is not valid; `errors` lists each field at fault.'],
  [401, 'JJM_UNAUTHORIZED', 'No API key, or one that is unknown, revoked or expired.'],
  [403, 'JJM_FORBIDDEN', 'The key lacks the scope the endpoint needs (read, write, admin).'],
  [404, 'JJM_TASK_NOT_FOUND', 'No task matches the id, session name or prefix.'],
  [404, 'JJM_API_KEY_NOT_FOUND', 'No API key matches the id, name or prefix.'],
  [404, 'JJM_NOT_FOUND', 'Nothing at this path.'],
  [405, 'JJM_METHOD_NOT_ALLOWED', 'The path exists; `Allow` lists its methods.'],
  [409, 'JJM_INVALID_STATE', 'The task is not in the state the operation needs.'],
  [
    409,
    'JJM_IDEMPOTENCY_CONFLICT',
    'A request with the same Idempotency-Key is still running, or could not tell whether Jules started the session; retry after Retry-After seconds.',
  ],
  [
    412,
    'JJM_TASK_VERSION_CONFLICT',
    'The task changed since it was read (If-Match is stale); read it again and repeat.',
  ],
  [413, 'JJM_PAYLOAD_TOO_LARGE', 'The body is over api.bodyLimitBytes.'],
  [415, 'JJM_UNSUPPORTED_MEDIA_TYPE', 'The body is not application/json.'],
  [422, 'JJM_IDEMPOTENCY_KEY_REUSED', 'The Idempotency-Key was used before with another body.'],
  [429, 'JJM_RATE_LIMITED', 'Over the key’s rate limit, or too many failed authentications; see Retry-After.'],
  [500, 'JJM_INTERNAL', 'jjm failed unexpectedly; the server log has the request id.'],
  [502, 'JJM_OPERATION_FAILED', 'Jules refused or failed the operation.'],
  [503, 'JJM_JULES_UNAVAILABLE', 'Jules is unreachable or failing.'],
  [503, 'JJM_STORAGE', 'The database is unavailable.'],
]

const tagDescriptions: Record<string, string> = {
  tasks: 'Tasks: jjm records of Jules sessions.',
  operations: 'What a person does for a task: answer, approve, resume.',
  monitoring: 'Status, history and live updates.',
  'api-keys': 'Keys to this API (admin scope).',
  health: 'Liveness, readiness and checks (no key needed).',
  meta: 'This description of the API.',
}

const problemSchema: JsonSchema = {
  type: 'object',
  description: 'An RFC 9457 problem document.',
  required: ['type', 'title', 'status', 'detail', 'instance', 'code', 'requestId'],
  properties: {
    type: {
      type: 'string',
      format: 'uri-reference',
      description: 'Where this kind of problem is explained: /docs#problem-…',
    },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string', description: 'jjm’s stable error code, e.g. JJM_TASK_NOT_FOUND.' },
    requestId: { type: 'string' },
    retryAfterSeconds: { type: 'number' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['field', 'message'],
        properties: { field: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
}

function rewriteRefs<T>(node: T): T {
  if (Array.isArray(node)) {
    for (const item of node) rewriteRefs(item)
    return node
  }
  if (node === null || typeof node !== 'object') return node
  const record = node as Record<string, unknown>
  if (typeof record.$ref === 'string' && record.$ref.startsWith('#/$defs/')) {
    record.$ref = `#/components/schemas/${record.$ref.slice('#/$defs/'.length)}`
  }
  for (const value of Object.values(record)) rewriteRefs(value)
  return node
}

function docsPage(routes: Route[], version: string): string {
  const html = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)
  const rows = routes
    .map(
      (route) =>
        `<tr><td><code>${route.method}</code></td><td><code>${html(route.path.replace(/:([A-Za-z]+)/g, '{$1}'))}</code></td><td>${route.scope}</td><td>${html(route.summary)}${route.description ? `<br><small>${html(route.description)}</small>` : ''}</td></tr>`,
    )
    .join('\n')
  const problemRows = problemCatalogue
    .map(
      ([status, code, meaning]) =>
        `<tr id="problem-${code.replace(/^JJM_/, '').toLowerCase().replaceAll('_', '-')}"><td>${status}</td><td><code>${code}</code></td><td>${html(meaning)}</td></tr>`,
    )
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>jjm API ${html(version)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}code{white-space:nowrap}</style>
</head><body>
<h1>jjm API <small>${html(version)}</small></h1>
<p>The machine-readable description: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI 3.1; load it into any OpenAPI viewer or client generator).
Authenticate with <code>Authorization: Bearer KEY</code> or <code>X-API-Key: KEY</code> (create keys with <code>jjm api-keys create</code>). Errors are <code>application/problem+json</code>.</p>
<table><thead><tr><th>Method</th><th>Path</th><th>Scope</th><th>What it does</th></tr></thead><tbody>
${rows}
</tbody></table>
<h2 id="problems">Problems</h2>
<p>Every error is an RFC 9457 problem document; its <code>type</code> points at one of these, and <code>code</code> is stable for scripts.</p>
<table><thead><tr><th>Status</th><th>code</th><th>Meaning</th></tr></thead><tbody>
${problemRows}
</tbody></table></body></html>
`
}
