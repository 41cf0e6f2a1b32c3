/**
 * The built-in notifier backends: console, webhook, slack, pagerduty and
 * email. Each is selected by `backend:` in a `notifiers:` entry of the config
 * and reads its own settings from that entry. undici and nodemailer are loaded
 * only when a notification is sent.
 */
import { createHmac } from 'node:crypto'
import type { NotifierBackend } from '../../core/backends.js'
import { ConfigurationError } from '../../core/errors.js'
import { NotificationDeliveryError, type NotifierRoute } from '../../core/notifications.js'
import type { Notification, Notifier } from '../../core/ports.js'

/** A required string setting of a route, or a ConfigurationError that names it. */
function required(route: NotifierRoute, key: string, expected: string): string {
  const value = route[key]
  if (typeof value === 'string' && value.trim() !== '') return value.trim()
  throw new ConfigurationError(
    `The ${route.backend} notifier${route.name ? ` "${route.name}"` : ''} needs "${key}" in its notifiers entry: ${expected}.`,
    { context: { key: `notifiers.${key}`, backend: route.backend } },
  )
}

function optional(route: NotifierRoute, key: string): string | undefined {
  const value = route[key]
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined
}

function httpUrl(route: NotifierRoute, key: string, fallback?: string): string {
  const value = fallback !== undefined && route[key] === undefined ? fallback : required(route, key, 'an http(s) URL')
  let parsed: URL | undefined
  try {
    parsed = new URL(value)
  } catch {
    parsed = undefined
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new ConfigurationError(
      `The ${route.backend} notifier's "${key}" is not an http(s) URL. Give the full URL, e.g. https://example.com/hook.`,
      { context: { key: `notifiers.${key}`, backend: route.backend } },
    )
  }
  return value
}

/** The JSON a webhook receives: the notification, as it is. */
export function webhookBody(notification: Notification): string {
  return JSON.stringify(notification)
}

/** `sha256=<hex HMAC-SHA256 of the body>`: what X-Jjm-Signature carries. */
export function webhookSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

/** One line on stderr per notification: for a person watching a terminal, or a log collector. */
export const consoleNotifierBackend: NotifierBackend = {
  kind: 'notifier',
  name: 'console',
  description: 'One line on standard error per notification',
  async open({ route }) {
    return {
      name: route.name ?? 'console',
      async send(notification) {
        const link = notification.url ? ` ${notification.url}` : ''
        process.stderr.write(`[jjm] ${notification.title}: ${notification.text}${link}\n`)
      },
    }
  },
}

/** A JSON POST, signed with HMAC-SHA256 when the entry has a `secret`. */
export const webhookNotifierBackend: NotifierBackend = {
  kind: 'notifier',
  name: 'webhook',
  description: 'JSON POST to a URL, signed (X-Jjm-Signature: sha256=HMAC of the body) when a secret is set',
  async open({ route }) {
    const url = httpUrl(route, 'url')
    const secret = optional(route, 'secret')
    const { originOf, postJson } = await import('./http.js')
    const target = `The webhook at ${originOf(url)}`
    return {
      name: route.name ?? 'webhook',
      async send(notification) {
        const body = webhookBody(notification)
        const headers: Record<string, string> = {
          'x-jjm-timestamp': String(Math.floor(Date.now() / 1000)),
          'x-jjm-delivery': notification.id,
          'x-jjm-event': notification.eventType,
        }
        if (secret !== undefined) headers['x-jjm-signature'] = webhookSignature(secret, body)
        await postJson({ url, body, headers, target })
      },
    }
  },
}

/** Slack's mrkdwn escapes: &, < and > only. */
function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}

/** The message a Slack incoming webhook receives: a readable line with links to the PR and the session. */
export function slackMessage(notification: Notification): Record<string, unknown> {
  const { task } = notification
  const title = slackEscape(notification.title)
  const heading = notification.url ? `*<${notification.url}|${title}>*` : `*${title}*`
  const links = [
    task.pullRequest?.url ? `<${task.pullRequest.url}|Pull request>` : undefined,
    task.url ? `<${task.url}|Jules session>` : undefined,
  ].filter((link) => link !== undefined)
  const context = [`${slackEscape(task.repository)}`, `state: ${task.state}`, `task ${task.id}`, ...links].join(' · ')
  return {
    text: `${notification.title}: ${notification.text}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${heading}\n${slackEscape(notification.text)}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context }] },
    ],
  }
}

export const slackNotifierBackend: NotifierBackend = {
  kind: 'notifier',
  name: 'slack',
  description: 'A Slack incoming webhook (url): a readable message with links to the PR and the session',
  async open({ route }) {
    const url = httpUrl(route, 'url')
    const { originOf, postJson } = await import('./http.js')
    const target = `The Slack webhook at ${originOf(url)}`
    return {
      name: route.name ?? 'slack',
      async send(notification) {
        await postJson({ url, body: JSON.stringify(slackMessage(notification)), target })
      },
    }
  },
}

export const pagerDutyDefaultUrl = 'https://events.pagerduty.com/v2/enqueue'

/**
 * A PagerDuty Events API v2 event: one incident per task (dedup key
 * `jjm-{taskId}`), triggered when the task needs a person or failed, resolved
 * when it completed.
 */
export function pagerDutyEvent(routingKey: string, notification: Notification): Record<string, unknown> {
  const dedupKey = `jjm-${notification.taskId}`
  const completed = notification.eventType === 'completed' || notification.eventType === 'completed_with_pr'
  if (completed) return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey }
  const links = [
    notification.url ? { href: notification.url, text: 'Open' } : undefined,
    notification.task.url && notification.task.url !== notification.url
      ? { href: notification.task.url, text: 'Jules session' }
      : undefined,
  ].filter((link) => link !== undefined)
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey,
    payload: {
      summary: notification.title.slice(0, 1024),
      source: `jjm:${notification.task.repository}`,
      severity: notification.eventType === 'failed' ? 'error' : 'warning',
      timestamp: notification.at,
      component: notification.task.repository,
      class: notification.eventType,
      custom_details: {
        text: notification.text,
        taskId: notification.taskId,
        state: notification.task.state,
        branch: notification.task.branch,
      },
    },
    links,
  }
}

export const pagerDutyNotifierBackend: NotifierBackend = {
  kind: 'notifier',
  name: 'pagerduty',
  description: 'PagerDuty Events API v2 (routingKey; url defaults to events.pagerduty.com): one incident per task',
  async open({ route }) {
    const routingKey = required(route, 'routingKey', 'the integration key of a PagerDuty Events API v2 service')
    const url = httpUrl(route, 'url', pagerDutyDefaultUrl)
    const { originOf, postJson } = await import('./http.js')
    const target = `PagerDuty at ${originOf(url)}`
    return {
      name: route.name ?? 'pagerduty',
      async send(notification) {
        await postJson({ url, body: JSON.stringify(pagerDutyEvent(routingKey, notification)), target })
      },
    }
  },
}

function recipients(route: NotifierRoute): string[] {
  const value = route.to
  const list = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : []
  const addresses = list.filter((item): item is string => typeof item === 'string' && item.trim() !== '')
  if (addresses.length > 0) return addresses.map((address) => address.trim())
  throw new ConfigurationError(
    'The email notifier needs "to" in its notifiers entry: an address, or a list of addresses.',
    { context: { key: 'notifiers.to', backend: route.backend } },
  )
}

/** SMTP through nodemailer: `host`/`port`/`secure`/`user`/`pass`, or one `url` (smtp://user:pass@host:587). */
export const emailNotifierBackend: NotifierBackend = {
  kind: 'notifier',
  name: 'email',
  description: 'Email over SMTP (nodemailer): to, from, and host/port/user/pass or an smtp:// url',
  async open({ route }) {
    const to = recipients(route)
    const from = required(route, 'from', 'the sender address, e.g. jjm@example.com')
    const url = optional(route, 'url')
    const host = url === undefined ? required(route, 'host', 'the SMTP server, e.g. smtp.example.com') : undefined
    const port = typeof route.port === 'number' ? route.port : undefined
    const user = optional(route, 'user')
    const pass = optional(route, 'pass') ?? optional(route, 'password')
    const { default: nodemailer } = await import('nodemailer')
    const transport =
      url !== undefined
        ? nodemailer.createTransport(url)
        : nodemailer.createTransport({
            host,
            port: port ?? 587,
            secure: route.secure === true,
            ...(user !== undefined ? { auth: { user, pass } } : {}),
            connectionTimeout: 10_000,
            greetingTimeout: 10_000,
            socketTimeout: 20_000,
          })
    const notifier: Notifier = {
      name: route.name ?? 'email',
      async send(notification) {
        const link = notification.url ? `\n\n${notification.url}` : ''
        const pr = notification.task.pullRequest?.url
        try {
          await transport.sendMail({
            from,
            to,
            subject: `[jjm] ${notification.title}`,
            text: `${notification.text}${link}\n\nTask ${notification.taskId} on ${notification.task.repository}, state ${notification.task.state}.${pr && pr !== notification.url ? `\nPull request: ${pr}` : ''}\n`,
            headers: { 'X-Jjm-Notification': notification.id, 'X-Jjm-Task': notification.taskId },
          })
        } catch (error) {
          const code = (error as { responseCode?: unknown }).responseCode
          // SMTP 5xx is a refusal (unknown mailbox, rejected sender): retrying cannot help.
          const permanent = typeof code === 'number' && code >= 500 && code < 600
          const reason = error instanceof Error ? error.message : String(error)
          throw new NotificationDeliveryError(`The SMTP server refused or failed the email: ${reason}`, {
            permanent,
            cause: error,
          })
        }
      },
    }
    return notifier
  },
}

export const notifierBackends: NotifierBackend[] = [
  consoleNotifierBackend,
  webhookNotifierBackend,
  slackNotifierBackend,
  pagerDutyNotifierBackend,
  emailNotifierBackend,
]
