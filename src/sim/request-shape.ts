/**
 * How Google's front end reads a request, as far as the simulator copies it:
 * JSON bodies and query parameters may use the proto field names
 * (`source_context`, `page_size`) beside the JSON names (`sourceContext`,
 * `pageSize`), and a name the method does not know is 400 INVALID_ARGUMENT
 * with a `google.rpc.BadRequest` detail listing every unknown name.
 */
import { SimApiError } from './engine.js'

/** The fields of a message: `true` for a scalar or list, a nested Shape for a message. */
export interface Shape {
  readonly [jsonName: string]: true | Shape
}

export interface FieldViolation {
  field: string
  description: string
}

const sourceContextShape: Shape = {
  source: true,
  githubRepoContext: { startingBranch: true },
  workingBranch: true,
  environmentVariablesEnabled: true,
}

/** The Session message: input fields, and output-only ones Google ignores on create. */
export const sessionShape: Shape = {
  prompt: true,
  title: true,
  sourceContext: sourceContextShape,
  requirePlanApproval: true,
  automationMode: true,
  name: true,
  id: true,
  state: true,
  url: true,
  createTime: true,
  updateTime: true,
  outputs: true,
  archived: true,
}

export const sendMessageShape: Shape = { prompt: true }
export const emptyShape: Shape = {}

/** Query parameters every Google API accepts, whatever the method. */
const systemParameters = new Set([
  'key',
  'alt',
  '$alt',
  'fields',
  '$fields',
  'prettyPrint',
  'quotaUser',
  'callback',
  'access_token',
  'upload_protocol',
  'uploadType',
  '$.xgafv',
])

function camelOf(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase())
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function unknownName(path: string, name: string, why: string): FieldViolation {
  return { field: path, description: `Invalid JSON payload received. Unknown name "${name}"${why}: Cannot find field.` }
}

function normaliseInto(
  value: Record<string, unknown>,
  shape: Shape,
  path: string,
  violations: FieldViolation[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, fieldValue] of Object.entries(value)) {
    const jsonName = name in shape ? name : camelOf(name)
    const fieldShape = shape[jsonName]
    const fieldPath = path === '' ? jsonName : `${path}.${jsonName}`
    if (fieldShape === undefined) {
      violations.push(unknownName(path === '' ? name : `${path}.${name}`, name, path === '' ? '' : ` at '${path}'`))
      continue
    }
    out[jsonName] =
      fieldShape !== true && isRecord(fieldValue)
        ? normaliseInto(fieldValue, fieldShape, fieldPath, violations)
        : fieldValue
  }
  return out
}

function badRequest(violations: FieldViolation[]): SimApiError {
  const first = violations[0]?.description ?? 'Invalid request.'
  return new SimApiError(400, 'INVALID_ARGUMENT', violations.length > 1 ? `${first} (and more)` : first, [
    { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: violations },
  ])
}

/**
 * A request body in JSON names. @throws SimApiError 400 with a BadRequest
 * detail when the body names a field the method's message lacks.
 */
export function normaliseBody(body: Record<string, unknown>, shape: Shape): Record<string, unknown> {
  const violations: FieldViolation[] = []
  const normalised = normaliseInto(body, shape, '', violations)
  if (violations.length > 0) throw badRequest(violations)
  return normalised
}

/**
 * The query parameters in JSON names (`page_size` → `pageSize`), keeping
 * only the last value of each. @throws SimApiError 400 with a BadRequest
 * detail for a parameter the method does not take.
 */
export function normaliseQuery(query: URLSearchParams, accepted: readonly string[]): URLSearchParams {
  const out = new URLSearchParams()
  const violations: FieldViolation[] = []
  for (const [name, value] of query) {
    if (systemParameters.has(name)) continue
    const jsonName = accepted.includes(name) ? name : camelOf(name)
    if (!accepted.includes(jsonName)) {
      violations.push({
        field: name,
        description: `Invalid JSON payload received. Unknown name "${name}": Cannot bind query parameter. Field '${name}' could not be found in request message.`,
      })
      continue
    }
    out.set(jsonName, value)
  }
  if (violations.length > 0) throw badRequest(violations)
  return out
}
