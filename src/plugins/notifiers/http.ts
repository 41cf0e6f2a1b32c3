/**
 * The one HTTP call the HTTP notifiers make: a JSON POST through undici whose
 * answer says whether the notification was delivered, is worth retrying, or
 * was refused for good. Loaded only when a notifier sends.
 */
import { checkHttpStatus, NotificationDeliveryError } from '../../core/notifications.js'

export interface PostJsonOptions {
  url: string
  body: string
  headers?: Record<string, string>
  /** How the target is named in errors: never the whole URL, which may be a credential (Slack). */
  target: string
  timeoutMs?: number
}

export async function postJson(options: PostJsonOptions): Promise<void> {
  const { request } = await import('undici')
  const timeoutMs = options.timeoutMs ?? 10_000
  let status: number
  let text = ''
  try {
    const response = await request(options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'jjm', ...options.headers },
      body: options.body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    })
    status = response.statusCode
    text = await response.body.text().catch(() => '')
  } catch (error) {
    // Unreachable, reset, timed out: the target may be back later.
    const reason = error instanceof Error ? error.message : String(error)
    throw new NotificationDeliveryError(`${options.target} could not be reached: ${reason}`, { cause: error })
  }
  checkHttpStatus(options.target, status, text)
}

/** The origin of a URL, to name a target without revealing a secret path. */
export function originOf(url: string): string {
  try {
    return new URL(url).origin
  } catch {
    return '(invalid URL)'
  }
}
