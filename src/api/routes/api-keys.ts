import { readJsonBody } from '../body.js'
import { sendJson, sendPage } from '../http.js'
import type { Route } from '../route.js'
import { createApiKeyBody } from '../schemas.js'
import { validate } from '../validation.js'
import type { RouteContext } from './tasks.js'

export function apiKeyRoutes({ core, bodyLimitBytes }: RouteContext): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/v1/api-keys',
      scope: 'admin',
      tag: 'api-keys',
      summary: 'List API keys (never the keys themselves).',
      responses: { 200: { description: 'Every key, newest first.', schema: 'ApiKeyPage' } },
      async handler(_req, res) {
        sendPage(res, { items: await core.apiKeys().list() })
      },
    },
    {
      method: 'POST',
      path: '/api/v1/api-keys',
      scope: 'admin',
      tag: 'api-keys',
      summary: 'Create an API key; the `key` field is shown this once.',
      body: createApiKeyBody,
      responses: { 201: { description: 'Created.', schema: 'CreatedApiKey' } },
      async handler(req, res) {
        const body = validate(createApiKeyBody, await readJsonBody(req, bodyLimitBytes), 'body')
        const { apiKey, key } = await core.apiKeys().create({
          name: body.name,
          ...(body.scopes === undefined ? {} : { scopes: body.scopes }),
          ...(body.rateLimitPerMinute === undefined ? {} : { rateLimitPerMinute: body.rateLimitPerMinute }),
          ...(body.expiresInSeconds === undefined ? {} : { expiresInMs: body.expiresInSeconds * 1000 }),
        })
        sendJson(res, 201, { ...apiKey, key }, { Location: `/api/v1/api-keys/${apiKey.id}` })
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/api-keys/:id',
      scope: 'admin',
      tag: 'api-keys',
      summary: 'Revoke an API key (by id, name or prefix); every daemon refuses it from the next request.',
      responses: { 200: { description: 'The revoked key.', schema: 'ApiKey' } },
      async handler(req, res) {
        sendJson(res, 200, await core.apiKeys().revoke(req.params.id ?? ''))
      },
    },
  ]
}
