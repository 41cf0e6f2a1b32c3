import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { stringify } from 'yaml'
import { parseTaskFile } from '../../../src/core/bulk-create.js'
import { ValidationError } from '../../../src/core/errors.js'
import {
  type taskFileEntrySchema,
  taskFileSchema,
  taskInputSchema,
  taskSchema,
  toJsonSchema,
} from '../../../src/core/representation.js'
import { buildTask } from '../../../src/testing/build-task.js'

/** A value of every field a task file may hold. */
const everyField: Record<keyof typeof taskFileEntrySchema.shape, unknown> = {
  prompt: 'Add retries to the HTTP client',
  repository: 'acme/api',
  repo: 'acme/api',
  source: 'sources/github/acme/api',
  branch: 'main',
  title: 'Retries',
  labels: ['backend', 'q4'],
  requirePlanApproval: true,
  automationMode: 'AUTO_CREATE_PR',
  metadata: { ticket: 'OPS-12' },
  priority: 2,
  idempotencyKey: 'retries-1',
}

describe('the task file schema and the --from parser', () => {
  it('accept the same fields: an entry with every field the schema lists is read', () => {
    const file = [everyField]
    assert.ok(taskFileSchema.safeParse(file).success)
    const [entry] = parseTaskFile(stringify(file), 'tasks.yaml')
    assert.equal(entry?.idempotencyKey, 'retries-1')
    assert.deepEqual(taskInputSchema.parse(entry?.input), entry?.input, 'what the parser reads is a valid POST body')
  })

  it('both refuse a field neither knows', () => {
    const file = [{ prompt: 'Fix it', repo: 'acme/api', reviewer: 'ana' }]
    assert.equal(taskFileSchema.safeParse(file).success, false)
    assert.throws(() => parseTaskFile(stringify(file), 'tasks.yaml'), ValidationError)
  })

  it('both take `tasks:` holding the list', () => {
    const file = { tasks: [{ prompt: 'Fix it', repo: 'acme/api' }] }
    assert.ok(taskFileSchema.safeParse(file).success)
    assert.equal(parseTaskFile(stringify(file), 'tasks.yaml').length, 1)
  })
})

describe('the task representation', () => {
  it('accepts a complete task and refuses a field it does not describe', () => {
    const task = buildTask({ state: 'completed', completedAt: '2026-01-01T00:10:00.000Z' })
    assert.ok(taskSchema.safeParse(task).success)
    assert.equal(taskSchema.safeParse({ ...task, secret: 'x' }).success, false)
  })

  it('keeps a state this jjm does not know yet, as Jules gave it', () => {
    assert.ok(taskSchema.safeParse(buildTask({ state: 'some_new_state' })).success)
  })

  it('is published with its id and description, for the OpenAPI document', () => {
    const schema = toJsonSchema(taskSchema) as { $ref: string; $defs: Record<string, { description?: string }> }
    assert.equal(schema.$ref, '#/$defs/Task')
    assert.match(schema.$defs.Task?.description ?? '', /Jules session/)
    assert.ok(schema.$defs.TaskState, 'named parts are shared definitions')
  })
})
