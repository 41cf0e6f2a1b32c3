import type { BulkActionRequest } from '../../core/bulk-actions.js'
import { readJsonBody } from '../body.js'
import { sendJson } from '../http.js'
import type { Route } from '../route.js'
import { bulkActionBody } from '../schemas.js'
import { validate } from '../validation.js'
import type { RouteContext } from './tasks.js'

/** Archive, unarchive, the change set, and one action on many tasks: what people who run many sessions need. */
export function taskActionRoutes({ core, bodyLimitBytes }: RouteContext): Route[] {
  const { manager } = core
  const unsupported =
    'A Jules backend that cannot archive sessions answers 501 (JJM_JULES_UNSUPPORTED) and nothing is changed.'
  return [
    {
      method: 'POST',
      path: '/api/v1/tasks/:id/archive',
      scope: 'write',
      tag: 'operations',
      summary: 'Archive the task at Jules and in jjm (any state): hidden from lists unless `archived=true`.',
      description: unsupported,
      responses: { 200: { description: 'Archived (or already was).', schema: 'ArchiveResult' } },
      async handler(req, res) {
        await readJsonBody(req, bodyLimitBytes)
        sendJson(res, 200, await manager.archiveTask(req.params.id ?? '', 'archive'))
      },
    },
    {
      method: 'POST',
      path: '/api/v1/tasks/:id/unarchive',
      scope: 'write',
      tag: 'operations',
      summary: 'Bring an archived task back, at Jules and in jjm.',
      description: unsupported,
      responses: { 200: { description: 'Unarchived (or was not archived).', schema: 'ArchiveResult' } },
      async handler(req, res) {
        await readJsonBody(req, bodyLimitBytes)
        sendJson(res, 200, await manager.archiveTask(req.params.id ?? '', 'unarchive'))
      },
    },
    {
      method: 'GET',
      path: '/api/v1/tasks/:id/patch',
      scope: 'read',
      tag: 'tasks',
      summary: "The session's change set as a unified diff, read from Jules now.",
      description:
        "The session's final change set (outputs), else its newest changeSet activity. 409 while the session has none yet.",
      responses: { 200: { description: 'The diff.', mediaType: 'text/x-diff' } },
      async handler(req, res) {
        const { patch, taskId } = await manager.getTaskPatch(req.params.id ?? '')
        res.writeHead(200, {
          'Content-Type': 'text/x-diff; charset=utf-8',
          'Content-Length': Buffer.byteLength(patch),
          'Content-Disposition': `attachment; filename="${taskId}.patch"`,
        })
        res.end(patch)
      },
    },
    {
      method: 'POST',
      path: '/api/v1/tasks/bulk',
      scope: 'write',
      tag: 'operations',
      summary: 'Archive, unarchive or delete many tasks, by ids or a filter; `dryRun` counts and names them.',
      description:
        'Each task is acted on in turn and reported on its own: one failure does not stop the rest (the answer is still 200; see `failed`). A filter needs at least one criterion. Archive matches only tasks not archived, unarchive only archived ones.',
      body: bulkActionBody,
      responses: {
        200: { description: "Each task's result (or, dry, the tasks matched).", schema: 'BulkActionReport' },
      },
      async handler(req, res) {
        const body = validate(bulkActionBody, await readJsonBody(req, bodyLimitBytes), 'body')
        const { filter, taskIds, ...rest } = body
        const request: BulkActionRequest = {
          ...rest,
          selection: {
            ...(taskIds === undefined ? {} : { taskIds }),
            ...(filter?.state === undefined ? {} : { states: filter.state }),
            ...(filter?.repository === undefined ? {} : { repository: filter.repository }),
            ...(filter?.label === undefined ? {} : { label: filter.label }),
            ...(filter?.group === undefined ? {} : { group: filter.group }),
            ...(filter?.updatedBefore === undefined ? {} : { updatedBefore: filter.updatedBefore }),
          },
        }
        sendJson(res, 200, await manager.runBulkAction(request))
      },
    },
  ]
}
