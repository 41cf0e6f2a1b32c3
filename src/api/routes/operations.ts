import { readJsonBody } from '../body.js'
import { sendJson } from '../http.js'
import type { Route } from '../route.js'
import { messageBody, resumeBody } from '../schemas.js'
import { validate } from '../validation.js'
import type { RouteContext } from './tasks.js'

const stateNote =
  'Refused with 409 when the task is not in a state that allows it (the problem says which state it is in).'

export function operationRoutes({ core, bodyLimitBytes }: RouteContext): Route[] {
  const { manager } = core
  return [
    {
      method: 'POST',
      path: '/api/v1/tasks/:id/message',
      scope: 'write',
      tag: 'operations',
      summary: 'Send the agent a message (any non-terminal state).',
      description: stateNote,
      body: messageBody,
      responses: { 200: { description: 'Sent; when, and in which state.', schema: 'OperationResult' } },
      async handler(req, res) {
        const { text } = validate(messageBody, await readJsonBody(req, bodyLimitBytes), 'body')
        sendJson(res, 200, await manager.sendMessage(req.params.id ?? '', text))
      },
    },
    {
      method: 'POST',
      path: '/api/v1/tasks/:id/approve',
      scope: 'write',
      tag: 'operations',
      summary: "Approve the task's plan (only in awaiting_plan_approval).",
      description: stateNote,
      responses: { 200: { description: 'Approved.', schema: 'OperationResult' } },
      async handler(req, res) {
        await readJsonBody(req, bodyLimitBytes)
        sendJson(res, 200, await manager.approvePlan(req.params.id ?? ''))
      },
    },
    {
      method: 'POST',
      path: '/api/v1/tasks/:id/resume',
      scope: 'write',
      tag: 'operations',
      summary: 'Resume a paused task (only in paused), optionally with a message.',
      description: stateNote,
      body: resumeBody,
      responses: { 200: { description: 'Resumed.', schema: 'OperationResult' } },
      async handler(req, res) {
        const body = validate(resumeBody, (await readJsonBody(req, bodyLimitBytes)) ?? {}, 'body')
        sendJson(res, 200, await manager.resumeTask(req.params.id ?? '', body.text))
      },
    },
  ]
}
