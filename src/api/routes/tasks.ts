import type { Core } from '../../core/core.js'
import { checkStorableMetadata } from '../../core/storable.js'
import type { TaskInput } from '../../core/task.js'
import type { TaskChanges } from '../../core/task-operations.js'
import { readJsonBody } from '../body.js'
import { type ApiRequest, sendEmpty, sendJson, sendPage } from '../http.js'
import { HttpError } from '../problem.js'
import type { Route } from '../route.js'
import { createTaskBody, patchTaskBody, putTaskBody, taskListQuery } from '../schemas.js'
import { validate } from '../validation.js'

export interface RouteContext {
  core: Core
  bodyLimitBytes: number
}

const idempotencyKeyPattern = /^[\x21-\x7e]{1,255}$/

export function taskRoutes({ core, bodyLimitBytes }: RouteContext): Route[] {
  const { manager } = core
  return [
    {
      method: 'GET',
      path: '/api/v1/tasks',
      scope: 'read',
      tag: 'tasks',
      summary: 'List tasks, newest first.',
      description: 'Cursor-paginated: pass `nextCursor` back as `cursor` until it is empty.',
      query: taskListQuery,
      responses: { 200: { description: 'One page of tasks.', schema: 'TaskPage' } },
      async handler(req, res) {
        sendPage(res, await manager.listTasks(validate(taskListQuery, req.query, 'query')))
      },
    },
    {
      method: 'POST',
      path: '/api/v1/tasks',
      scope: 'write',
      tag: 'tasks',
      summary: 'Create a task: start a Jules session.',
      description:
        'With `Idempotency-Key`, the same key and body return the first result (200 when replayed) and never start a second session; the same key with another body is 422; a retry while the first request is still running is 409. Keys are kept as long as their task.',
      body: createTaskBody,
      headers: [
        { name: 'Idempotency-Key', description: 'Up to 255 visible ASCII characters, unique per intended task.' },
      ],
      responses: {
        201: { description: 'Created; `Location` names the new task.', schema: 'Task' },
        200: {
          description: 'Replayed: the task an earlier request with this Idempotency-Key created.',
          schema: 'Task',
        },
      },
      async handler(req, res) {
        const input = validate(
          createTaskBody,
          metadataChecked(await readJsonBody(req, bodyLimitBytes)),
          'body',
        ) as TaskInput
        const key = idempotencyKey(req)
        const { task, outcome } = await manager.createTaskWithOutcome(
          input,
          key === undefined ? {} : { idempotencyKey: key },
        )
        const location = `/api/v1/tasks/${task.id}`
        sendJson(res, outcome === 'replayed' ? 200 : 201, task, { Location: location })
      },
    },
    {
      method: 'GET',
      path: '/api/v1/tasks/:id',
      scope: 'read',
      tag: 'tasks',
      summary: 'One task, by jjm id, Jules session id or name, or a unique id prefix.',
      responses: { 200: { description: 'The task.', schema: 'Task' } },
      async handler(req, res) {
        sendJson(res, 200, await manager.getTask(req.params.id ?? ''))
      },
    },
    {
      method: 'PATCH',
      path: '/api/v1/tasks/:id',
      scope: 'write',
      tag: 'tasks',
      summary: "Change some of a task's title, labels and metadata (merged).",
      body: patchTaskBody,
      responses: { 200: { description: 'The task after the change.', schema: 'Task' } },
      async handler(req, res) {
        const changes = validate(
          patchTaskBody,
          metadataChecked(await readJsonBody(req, bodyLimitBytes)),
          'body',
        ) as TaskChanges
        sendJson(res, 200, await manager.updateTask(req.params.id ?? '', changes))
      },
    },
    {
      method: 'PUT',
      path: '/api/v1/tasks/:id',
      scope: 'write',
      tag: 'tasks',
      summary: "Replace a task's title, labels and metadata.",
      body: putTaskBody,
      responses: { 200: { description: 'The task after the change.', schema: 'Task' } },
      async handler(req, res) {
        const body = validate(putTaskBody, metadataChecked(await readJsonBody(req, bodyLimitBytes)), 'body')
        const current = await manager.getTask(req.params.id ?? '')
        // Replacing metadata whole: every key not in the body is removed.
        const metadata: Record<string, unknown> = Object.fromEntries(
          Object.keys(current.metadata).map((key) => [key, null]),
        )
        Object.assign(metadata, body.metadata)
        sendJson(res, 200, await manager.updateTask(current.id, { title: body.title, labels: body.labels, metadata }))
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/tasks/:id',
      scope: 'write',
      tag: 'tasks',
      summary: 'Delete a task; its history stays (a `deleted` event) unless `purge=true`.',
      responses: { 204: { description: 'Deleted.' } },
      async handler(req, res) {
        const purge = req.query.purge === 'true'
        await manager.deleteTask(req.params.id ?? '', { purge })
        sendEmpty(res, 204)
      },
    },
  ]
}

/**
 * Checks the body's metadata as it was sent: the schema's record drops a
 * `__proto__` key without a word, and core must refuse it, not lose it.
 */
function metadataChecked(body: unknown): unknown {
  const metadata = typeof body === 'object' && body !== null ? (body as { metadata?: unknown }).metadata : undefined
  if (typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata)) {
    checkStorableMetadata('metadata', metadata)
  }
  return body
}

function idempotencyKey(req: ApiRequest): string | undefined {
  const header = req.headers['idempotency-key']
  const key = Array.isArray(header) ? header[0] : header
  if (key === undefined) return undefined
  if (!idempotencyKeyPattern.test(key)) {
    throw new HttpError(400, 'JJM_VALIDATION', 'Idempotency-Key must be 1 to 255 visible ASCII characters.', {
      context: { header: 'Idempotency-Key' },
    })
  }
  return key
}
