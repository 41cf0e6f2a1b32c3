/** Turns zod's complaints about a request into one 400 problem that names every field at fault. */
import type { ZodType } from 'zod'
import { type FieldError, RequestValidationError } from './problem.js'

export function validate<T>(schema: ZodType<T>, value: unknown, where: 'body' | 'query'): T {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const errors: FieldError[] = result.error.issues.map((issue) => ({
    field: [where, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }))
  const summary = errors.map((error) => `${error.field}: ${error.message}`).join('; ')
  throw new RequestValidationError(`The request ${where} is not valid: ${summary}.`, errors)
}
