import { awaitingPerson } from '../../core/task.js'
import { sendJson, sendPage } from '../http.js'
import type { Route } from '../route.js'
import { eventListQuery } from '../schemas.js'
import { validate } from '../validation.js'
import type { RouteContext } from './tasks.js'

/** What `GET /tasks/{id}/status` answers: the few fields a poller needs. */
export interface TaskStatus {
  taskId: string
  state: string
  updatedAt: string
  lastSyncedAt: string | null
  /** What a person must do for the task to go on, or null. */
  waitingFor: string | null
  terminal: boolean
}

export function monitoringRoutes({ core }: RouteContext): Route[] {
  const { manager } = core
  return [
    {
      method: 'GET',
      path: '/api/v1/tasks/:id/status',
      scope: 'read',
      tag: 'monitoring',
      summary: "A task's state, last update, last sync and what it waits for.",
      responses: { 200: { description: 'The status.', schema: 'TaskStatus' } },
      async handler(req, res) {
        const task = await manager.getTask(req.params.id ?? '')
        const status: TaskStatus = {
          taskId: task.id,
          state: task.state,
          updatedAt: task.updatedAt,
          lastSyncedAt: task.lastSyncedAt ?? null,
          waitingFor: awaitingPerson(task.state) ?? null,
          terminal: task.state === 'completed' || task.state === 'failed',
        }
        sendJson(res, 200, status)
      },
    },
    {
      method: 'GET',
      path: '/api/v1/tasks/:id/events',
      scope: 'read',
      tag: 'monitoring',
      summary: "A task's history, newest first; filter by type and time.",
      query: eventListQuery,
      responses: { 200: { description: 'One page of events.', schema: 'TaskEventPage' } },
      async handler(req, res) {
        sendPage(res, await manager.getEvents(req.params.id ?? '', validate(eventListQuery, req.query, 'query')))
      },
    },
  ]
}
