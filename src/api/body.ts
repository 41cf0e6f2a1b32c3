/** Reads a JSON request body: within the size limit, of the right type, and well-formed. */

import type { ApiRequest } from './http.js'
import { HttpError, RequestValidationError } from './problem.js'

export async function readJsonBody(req: ApiRequest, limitBytes: number): Promise<unknown> {
  const length = Number(req.headers['content-length'] ?? Number.NaN)
  const chunked = req.headers['transfer-encoding'] !== undefined
  if (!chunked && (Number.isNaN(length) || length === 0)) return undefined
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  if (type !== 'application/json' && !type.endsWith('+json')) {
    req.resume()
    throw new HttpError(
      415,
      'JJM_UNSUPPORTED_MEDIA_TYPE',
      `The body must be JSON: send it with Content-Type: application/json${type === '' ? '' : ` (got ${type})`}.`,
      { headers: { 'Accept-Post': 'application/json' } },
    )
  }
  if (length > limitBytes) {
    req.resume()
    throw tooLarge(limitBytes)
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limitBytes) {
      req.resume()
      throw tooLarge(limitBytes)
    }
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new RequestValidationError(
      `The body is not valid JSON: ${error instanceof Error ? error.message : String(error)}.`,
      [{ field: 'body', message: 'malformed JSON' }],
    )
  }
}

function tooLarge(limitBytes: number): HttpError {
  return new HttpError(
    413,
    'JJM_PAYLOAD_TOO_LARGE',
    `The body is larger than the ${limitBytes} bytes this server accepts (api.bodyLimitBytes).`,
    {
      context: { limitBytes },
    },
  )
}
