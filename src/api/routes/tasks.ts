import type { Core } from '../../core/core.js'
import { checkStorableMetadata } from '../../core/storable.js'
import type { Task, TaskInput } from '../../core/task.js'
import type { TaskChanges, UpdateOptions } from '../../core/task-operations.js'
import { readJsonBody } from '../body.js'
import { type ApiRequest, sendEmpty, sendJson, sendPage } from '../http.js'
import { HttpError } from '../problem.js'
import type { Route } from '../route.js'
import { createTaskBody, deleteTaskQuery, patchTaskBody, putTaskBody, taskListQuery, taskQuery } from '../schemas.js'
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
        sendJson(res, outcome === 'replayed' ? 200 : 201, task, { Location: location, ETag: entityTag(task) })
      },
    },
    {
      method: 'GET',
      path: '/api/v1/tasks/:id',
      scope: 'read',
      tag: 'tasks',
      summary: 'One task, by jjm id, Jules session id or name, or a unique id prefix.',
      description:
        'With `include=details`, the task also has `details`: its plan, latest messages, changed files and recent events (what `jjm tasks show --json` prints).',
      query: taskQuery,
      responses: {
        200: {
          description: 'The task (with `details` when asked); `ETag` is its version, for `If-Match` on a change.',
          schema: 'TaskMaybeWithDetails',
        },
      },
      async handler(req, res) {
        const { include } = validate(taskQuery, req.query, 'query')
        const task =
          include === 'details'
            ? await manager.getTaskWithDetails(req.params.id ?? '')
            : await manager.getTask(req.params.id ?? '')
        sendJson(res, 200, task, { ETag: entityTag(task) })
      },
    },
    {
      method: 'PATCH',
      path: '/api/v1/tasks/:id',
      scope: 'write',
      tag: 'tasks',
      summary: "Change some of a task's title, labels and metadata (merged).",
      body: patchTaskBody,
      headers: [ifMatchHeader],
      responses: { 200: { description: 'The task after the change.', schema: 'Task' } },
      async handler(req, res) {
        const changes = validate(
          patchTaskBody,
          metadataChecked(await readJsonBody(req, bodyLimitBytes)),
          'body',
        ) as TaskChanges
        const task = await manager.updateTask(req.params.id ?? '', changes, ifMatch(req))
        sendJson(res, 200, task, { ETag: entityTag(task) })
      },
    },
    {
      method: 'PUT',
      path: '/api/v1/tasks/:id',
      scope: 'write',
      tag: 'tasks',
      summary: "Replace a task's title, labels and metadata.",
      body: putTaskBody,
      headers: [ifMatchHeader],
      responses: { 200: { description: 'The task after the change.', schema: 'Task' } },
      async handler(req, res) {
        const body = validate(putTaskBody, metadataChecked(await readJsonBody(req, bodyLimitBytes)), 'body')
        const task = await manager.updateTask(
          req.params.id ?? '',
          { title: body.title, labels: body.labels, metadata: body.metadata },
          { ...ifMatch(req), replaceMetadata: true },
        )
        sendJson(res, 200, task, { ETag: entityTag(task) })
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/tasks/:id',
      scope: 'write',
      tag: 'tasks',
      summary: 'Delete a task; its history stays (a `deleted` event) unless `purge=true`.',
      description:
        'With `remote=true`, the Jules session is deleted first (one Jules no longer has counts as deleted); a Jules backend that cannot delete sessions answers 501 and nothing is deleted.',
      query: deleteTaskQuery,
      responses: { 204: { description: 'Deleted.' } },
      async handler(req, res) {
        const { purge, remote } = validate(deleteTaskQuery, req.query, 'query')
        await manager.deleteTask(req.params.id ?? '', { purge: purge === 'true', remote: remote === 'true' })
        sendEmpty(res, 204)
      },
    },
  ]
}

const ifMatchHeader = {
  name: 'If-Match',
  description:
    "The task's ETag as read (its version): the change applies only if the task has not changed since, else 412. Without it, the change is applied to the task as it is now.",
}

/** A task's entity tag: its version, which goes up with every change to it. */
function entityTag(task: Task): string {
  return `"${task.version}"`
}

/** The version an edit is conditional on, from `If-Match` (`"3"`, `W/"3"`, or `*` for any). */
function ifMatch(req: ApiRequest): UpdateOptions {
  const header = req.headers['if-match']
  const value = (Array.isArray(header) ? header.join(',') : header)?.trim()
  if (value === undefined || value === '' || value === '*') return {}
  const match = /^(?:W\/)?"(\d{1,15})"$/.exec(value)
  if (!match) {
    throw new HttpError(
      400,
      'JJM_VALIDATION',
      'If-Match must be one entity tag as the task\'s ETag gives it (for example "3"), or *.',
      { context: { header: 'If-Match' } },
    )
  }
  return { expectedVersion: Number(match[1]) }
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
