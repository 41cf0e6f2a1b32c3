import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { after, before, describe, it } from 'node:test'
import { SMTPServer } from 'smtp-server'
import type { NotifierBackend } from '../../../../src/core/backends.js'
import { ManualClock } from '../../../../src/core/clock.js'
import { type JjmConfig, loadConfig } from '../../../../src/core/config.js'
import { ConfigurationError } from '../../../../src/core/errors.js'
import { deliverNotifications, type NotifierRoute, routeEvent } from '../../../../src/core/notifications.js'
import type { Notification, Notifier } from '../../../../src/core/ports.js'
import { silentLogger } from '../../../../src/core/ports.js'
import {
  consoleNotifierBackend,
  emailNotifierBackend,
  pagerDutyNotifierBackend,
  slackNotifierBackend,
  webhookNotifierBackend,
} from '../../../../src/plugins/notifiers/backend.js'
import { openSqlStore } from '../../../../src/plugins/storage-sql/sql-store.js'
import { buildTask } from '../../../../src/testing/build-task.js'

interface Received {
  headers: IncomingHttpHeaders
  body: string
}

/** A real HTTP receiver on 127.0.0.1 that answers with the statuses it is given, in order (then 200). */
async function receiver(statuses: number[] = []) {
  const requests: Received[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      requests.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') })
      response.statusCode = statuses.shift() ?? 200
      response.end(response.statusCode >= 400 ? 'nope' : 'ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

let config: JjmConfig
before(async () => {
  config = await loadConfig({ configDir: tmpdir(), dataDir: tmpdir(), env: {} })
})

function open(backend: NotifierBackend, route: NotifierRoute): Promise<Notifier> {
  return backend.open({ route, config, logger: silentLogger })
}

const task = buildTask({
  title: 'Fix <login> & co',
  repository: 'acme/api',
  state: 'failed',
  url: 'https://jules.google.com/session/1',
  pullRequest: { url: 'https://github.com/acme/api/pull/7', title: 'Fix', description: '' },
})

function notification(eventType = 'failed'): Notification {
  return {
    id: 'n-1',
    taskId: task.id,
    eventType,
    title: `Failed: ${task.title}`,
    text: 'The task on acme/api failed: tests broke',
    url: task.url ?? undefined,
    task,
    at: '2026-11-25T10:00:00.000Z',
  }
}

/** An SQLite outbox holding one failure notification for `notifier`. */
async function outboxWith(notifier: string) {
  const storage = await openSqlStore({ dialect: 'sqlite', path: ':memory:' })
  const [routed] = routeEvent(
    task,
    { type: 'failed', data: { reason: 'tests broke' }, at: '2026-11-25T10:00:00.000Z' },
    [{ backend: notifier }],
  )
  assert.ok(routed)
  await storage.store.createTask(task, [{ type: 'failed', data: {} }], {
    notifications: [{ notifier, taskId: task.id, eventType: routed.payload.eventType, payload: routed.payload }],
  })
  return storage
}

describe('webhook notifier', () => {
  it('posts the notification as JSON with an HMAC-SHA256 signature of the body and a timestamp', async () => {
    const server = await receiver()
    try {
      const webhook = await open(webhookNotifierBackend, { backend: 'webhook', url: server.url, secret: 'shh' })
      await webhook.send(notification())
      const [request] = server.requests
      assert.ok(request)
      assert.deepEqual(JSON.parse(request.body), JSON.parse(JSON.stringify(notification())))
      const expected = `sha256=${createHmac('sha256', 'shh').update(request.body).digest('hex')}`
      assert.equal(request.headers['x-jjm-signature'], expected)
      assert.match(String(request.headers['x-jjm-timestamp']), /^\d{10}$/)
      assert.equal(request.headers['x-jjm-delivery'], 'n-1')
      assert.equal(request.headers['content-type'], 'application/json')
    } finally {
      await server.close()
    }
  })

  it('retries after a 500 and delivers on the next due pass, through the outbox', async () => {
    const server = await receiver([500])
    const storage = await outboxWith('webhook')
    try {
      const clock = new ManualClock('2026-11-25T10:00:00.000Z')
      const notifiers = new Map([
        ['webhook', await open(webhookNotifierBackend, { backend: 'webhook', url: server.url })],
      ])
      const pass = () => deliverNotifications({ store: storage.store, notifiers, clock, logger: silentLogger })
      assert.deepEqual(await pass(), { delivered: 0, retrying: 1, failed: [] })
      clock.advance(60_000)
      assert.deepEqual(await pass(), { delivered: 1, retrying: 0, failed: [] })
      assert.equal(server.requests.length, 2)
      assert.equal(server.requests[0]?.body, server.requests[1]?.body, 'the same notification, sent again')
      assert.equal(server.requests[0]?.headers['x-jjm-signature'], undefined, 'no secret, no signature')
      clock.advance(86_400_000)
      assert.deepEqual(await pass(), { delivered: 0, retrying: 0, failed: [] }, 'delivered once')
    } finally {
      await storage.close()
      await server.close()
    }
  })

  it('marks a 400 failed for good and never sends it again, but retries a 429', async () => {
    const server = await receiver([429, 400])
    const storage = await outboxWith('webhook')
    try {
      const clock = new ManualClock('2026-11-25T10:00:00.000Z')
      const notifiers = new Map([
        ['webhook', await open(webhookNotifierBackend, { backend: 'webhook', url: server.url })],
      ])
      const pass = () => deliverNotifications({ store: storage.store, notifiers, clock, logger: silentLogger })
      assert.deepEqual(await pass(), { delivered: 0, retrying: 1, failed: [] })
      clock.advance(60_000)
      const report = await pass()
      assert.equal(report.failed.length, 1)
      assert.match(report.failed[0]?.error ?? '', /HTTP 400: nope/)
      assert.doesNotMatch(report.failed[0]?.error ?? '', /\/hook/, 'the URL path is never in the error')
      clock.advance(86_400_000)
      await pass()
      assert.equal(server.requests.length, 2)
    } finally {
      await storage.close()
      await server.close()
    }
  })

  it('refuses an entry without a URL', async () => {
    await assert.rejects(open(webhookNotifierBackend, { backend: 'webhook' }), ConfigurationError)
    await assert.rejects(open(webhookNotifierBackend, { backend: 'webhook', url: 'ftp://x' }), ConfigurationError)
  })

  it('retries a target that cannot be reached', async () => {
    const server = await receiver()
    await server.close()
    const webhook = await open(webhookNotifierBackend, { backend: 'webhook', url: server.url })
    await assert.rejects(webhook.send(notification()), (error: Error & { permanent?: boolean }) => {
      assert.equal(error.permanent, false)
      return true
    })
  })
})

describe('slack notifier', () => {
  it('posts a readable message with links to the pull request and the session', async () => {
    const server = await receiver()
    try {
      const slack = await open(slackNotifierBackend, { backend: 'slack', url: server.url })
      await slack.send(notification())
      const body = JSON.parse(server.requests[0]?.body ?? '{}')
      assert.equal(body.text, `Failed: ${task.title}: The task on acme/api failed: tests broke`)
      const blocks = JSON.stringify(body.blocks)
      assert.match(blocks, /<https:\/\/jules\.google\.com\/session\/1\|Failed: Fix &lt;login&gt; &amp; co>/)
      assert.match(blocks, /<https:\/\/github\.com\/acme\/api\/pull\/7\|Pull request>/)
      assert.match(blocks, /<https:\/\/jules\.google\.com\/session\/1\|Jules session>/)
    } finally {
      await server.close()
    }
  })
})

describe('pagerduty notifier', () => {
  it('triggers an Events API v2 incident per task and resolves it when the task completes', async () => {
    const server = await receiver([202, 202])
    try {
      const pagerduty = await open(pagerDutyNotifierBackend, {
        backend: 'pagerduty',
        url: server.url,
        routingKey: 'R1',
      })
      await pagerduty.send(notification('failed'))
      await pagerduty.send(notification('completed_with_pr'))
      const [trigger, resolve] = server.requests.map((request) => JSON.parse(request.body))
      assert.equal(trigger.routing_key, 'R1')
      assert.equal(trigger.event_action, 'trigger')
      assert.equal(trigger.dedup_key, `jjm-${task.id}`)
      assert.equal(trigger.payload.severity, 'error')
      assert.equal(trigger.payload.summary, `Failed: ${task.title}`)
      assert.equal(trigger.payload.timestamp, '2026-11-25T10:00:00.000Z')
      assert.deepEqual(resolve, { routing_key: 'R1', event_action: 'resolve', dedup_key: `jjm-${task.id}` })
    } finally {
      await server.close()
    }
  })

  it('needs a routing key', async () => {
    await assert.rejects(open(pagerDutyNotifierBackend, { backend: 'pagerduty' }), ConfigurationError)
  })
})

describe('email notifier', () => {
  const mails: Array<{ from: string; to: string[]; data: string }> = []
  let smtp: SMTPServer
  let port = 0
  before(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onRcptTo(address, _session, callback) {
        if (address.address.startsWith('nobody@')) {
          const error = Object.assign(new Error('No such user'), { responseCode: 550 })
          callback(error)
          return
        }
        callback()
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = []
        stream.on('data', (chunk: Buffer) => chunks.push(chunk))
        stream.on('end', () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            data: Buffer.concat(chunks).toString('utf8'),
          })
          callback()
        })
      },
    })
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()))
    port = (smtp.server.address() as AddressInfo).port
  })
  after(async () => {
    await new Promise<void>((resolve) => smtp.close(() => resolve()))
  })

  it('sends the notification over SMTP with its title as subject and the links in the text', async () => {
    const email = await open(emailNotifierBackend, {
      backend: 'email',
      host: '127.0.0.1',
      port,
      from: 'jjm@example.com',
      to: ['dev@example.com', 'lead@example.com'],
    })
    await email.send(notification())
    const [mail] = mails
    assert.ok(mail)
    assert.equal(mail.from, 'jjm@example.com')
    assert.deepEqual(mail.to, ['dev@example.com', 'lead@example.com'])
    assert.match(mail.data, /Subject: \[jjm\] Failed: Fix <login> & co/)
    assert.match(mail.data, /https:\/\/jules\.google\.com\/session\/1/)
    assert.match(mail.data, /Pull request: https:\/\/github\.com\/acme\/api\/pull\/7/)
    assert.match(mail.data, /X-Jjm-Notification: n-1/)
  })

  it('treats a refused recipient as permanent', async () => {
    const email = await open(emailNotifierBackend, {
      backend: 'email',
      url: `smtp://127.0.0.1:${port}`,
      from: 'jjm@example.com',
      to: 'nobody@example.com',
    })
    await assert.rejects(email.send(notification()), (error: Error & { permanent?: boolean }) => {
      assert.equal(error.permanent, true)
      return true
    })
  })

  it('needs recipients, a sender and a server', async () => {
    await assert.rejects(open(emailNotifierBackend, { backend: 'email', from: 'a@b.c', host: 'x' }), ConfigurationError)
    await assert.rejects(open(emailNotifierBackend, { backend: 'email', to: 'a@b.c', host: 'x' }), ConfigurationError)
    await assert.rejects(
      open(emailNotifierBackend, { backend: 'email', to: 'a@b.c', from: 'a@b.c' }),
      ConfigurationError,
    )
  })
})

describe('console notifier', () => {
  it('writes one line per notification to standard error', async () => {
    const lines: string[] = []
    const write = process.stderr.write
    process.stderr.write = ((chunk: string) => {
      lines.push(chunk)
      return true
    }) as typeof process.stderr.write
    try {
      await (await open(consoleNotifierBackend, { backend: 'console' })).send(notification())
    } finally {
      process.stderr.write = write
    }
    assert.deepEqual(lines, [
      `[jjm] Failed: ${task.title}: The task on acme/api failed: tests broke https://jules.google.com/session/1\n`,
    ])
  })
})
