import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ManualClock } from '../../src/core/clock.js'
import type {
  NotificationPage,
  NotificationPruneResult,
  NotificationRetryResult,
} from '../../src/core/notification-admin.js'
import type { Task } from '../../src/core/task.js'
import type { SimServer } from '../../src/sim/http.js'
import { jjm, json, root } from '../support/cli.js'
import { e2eEnvironment, startE2eSimulator } from '../support/e2e-sim.js'

describe('jjm notifications end to end, with a real webhook receiver', { timeout: 240_000 }, () => {
  let dir: string
  let env: Record<string, string>
  let sim: SimServer
  let receiver: Server
  /** What the receiver answers; the test fixes the "target" by setting it to 200. */
  let status = 404
  const received: string[] = []

  before(async () => {
    assert.ok(existsSync(join(root, 'dist', 'src', 'commands')), 'dist/ is missing: run `npm run build`')
    dir = await mkdtemp(join(tmpdir(), 'jjm-e2e-notify-'))
    sim = (await startE2eSimulator(new ManualClock(Date.now()))).server
    receiver = createServer((request, response) => {
      request.resume()
      request.on('end', () => {
        received.push(String(request.headers['x-jjm-delivery']))
        response.statusCode = status
        response.end(status === 200 ? 'ok' : 'no such hook')
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const { port } = receiver.address() as AddressInfo
    env = e2eEnvironment(dir, sim.url, {
      JJM_DB: join(dir, 'jjm.sqlite'),
      JJM_LOG_LEVEL: 'silent',
      JJM_NOTIFIERS: JSON.stringify([
        { name: 'ci-webhook', backend: 'webhook', url: `http://127.0.0.1:${port}/hook`, events: ['*'] },
      ]),
    })
  })

  after(async () => {
    await sim?.close()
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()))
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  let task: Task
  let failedId: string

  it('lists the notification a refusing target gave up on, with its task, notifier, attempts and error', async () => {
    const created = await jjm(['tasks', 'create', '--repo', 'acme/api', 'Fix the flaky upload test', '--json'], env)
    assert.equal(created.code, 0, created.stderr)
    task = json<Task>(created)
    assert.equal(received.length, 1, 'the creation was notified by the command that recorded it')

    const listed = await jjm(['notifications', 'list', '--json'], env)
    assert.equal(listed.code, 0, listed.stderr)
    const page = json<NotificationPage>(listed)
    assert.equal(page.nextCursor, null)
    const [failed] = page.items
    assert.ok(failed !== undefined)
    assert.deepEqual(
      [failed.taskId, failed.eventType, failed.notifier, failed.state, failed.attempts],
      [task.id, 'created', 'ci-webhook', 'failed', 1],
    )
    assert.match(failed.lastError ?? '', /HTTP 404: no such hook/)
    failedId = failed.id

    const text = await jjm(['notifications', 'list', '--state', 'failed', '--task', task.id], env)
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /ID\s+TASK\s+EVENT\s+NOTIFIER\s+STATE\s+ATTEMPTS\s+LAST ERROR\s+WHEN/)
    assert.match(text.stdout, new RegExp(`${failedId}\\s+${task.id}\\s+created\\s+ci-webhook\\s+failed\\s+1\\s+`))
    assert.match(text.stdout, /gave up \d+s ago/)

    const none = await jjm(['notifications', 'list', '--state', 'delivered', '--state', 'pending', '--json'], env)
    assert.deepEqual(json<NotificationPage>(none).items, [])
    const otherTask = await jjm(['notifications', 'list', '--task', '01NOSUCHTASK'], env)
    assert.equal(otherTask.code, 0)
    assert.match(otherTask.stdout, /No notifications match/)
  })

  it('refuses bad flags with a usage error', async () => {
    const badState = await jjm(['notifications', 'list', '--state', 'lost'], env)
    assert.equal(badState.code, 2)
    assert.match(badState.stderr, /--state=lost to be one of: pending, delivered, failed/)
    const badLimit = await jjm(['notifications', 'list', '--limit', '0'], env)
    assert.equal(badLimit.code, 2)
    const badAge = await jjm(['notifications', 'prune', '--older-than', 'soon'], env)
    assert.equal(badAge.code, 11)
    assert.match(badAge.stderr, /--older-than "soon" is not a duration/)
    const nothing = await jjm(['notifications', 'retry'], env)
    assert.equal(nothing.code, 11)
    assert.match(nothing.stderr, /Say which notifications to retry/)
    const both = await jjm(['notifications', 'retry', failedId, '--failed'], env)
    assert.equal(both.code, 11)
  })

  it('refuses to retry an unknown id, naming it, and retries nothing', async () => {
    const run = await jjm(['notifications', 'retry', failedId, '01NOSUCHNOTIFICATION'], env)
    assert.equal(run.code, 13)
    assert.match(run.stderr, /No notification has the id "01NOSUCHNOTIFICATION".*\[JJM_NOTIFICATION_NOT_FOUND\]/)
    const asJson = await jjm(['notifications', 'retry', '01NOSUCHNOTIFICATION', '--json'], env)
    assert.equal(asJson.code, 13)
    assert.equal(json<{ error: { code: string } }>(asJson).error.code, 'JJM_NOTIFICATION_NOT_FOUND')
    assert.equal(received.length, 1, 'nothing was sent')
  })

  it('retries a failed notification once the target is fixed: delivered at once, attempts reset', async () => {
    status = 200
    const run = await jjm(['notifications', 'retry', failedId, '--json'], env)
    assert.equal(run.code, 0, run.stderr)
    const result = json<NotificationRetryResult>(run)
    assert.deepEqual([result.delivered, result.pending, result.failed], [1, 0, 0])
    assert.deepEqual(
      result.items.map((record) => [record.id, record.state, record.attempts, record.lastError]),
      [[failedId, 'delivered', 0, null]],
    )
    assert.deepEqual(received, [failedId, failedId], 'the same delivery id both times: receivers can drop duplicates')

    const again = await jjm(['notifications', 'retry', failedId], env)
    assert.equal(again.code, 14)
    assert.match(again.stderr, /was delivered at .*only pending and failed notifications can be retried/)
    const allFailed = await jjm(['notifications', 'retry', '--failed'], env)
    assert.equal(allFailed.code, 0, allFailed.stderr)
    assert.match(allFailed.stdout, /No failed notifications to retry/)
  })

  it('prunes delivered notifications older than asked, and keeps them within the retention', async () => {
    const kept = await jjm(['notifications', 'prune', '--json'], env)
    assert.equal(kept.code, 0, kept.stderr)
    const within = json<NotificationPruneResult>(kept)
    assert.deepEqual([within.delivered, within.failed], [0, 0])
    const days = (iso: string) => Math.round((Date.now() - Date.parse(iso)) / 86_400_000)
    assert.deepEqual([days(within.deliveredBefore), days(within.failedBefore)], [7, 30], 'the default retention')

    const pruned = await jjm(['notifications', 'prune', '--older-than', '0s'], env)
    assert.equal(pruned.code, 0, pruned.stderr)
    assert.match(pruned.stdout, /Deleted 1 delivered notification\(s\)/)
    assert.deepEqual(json<NotificationPage>(await jjm(['notifications', 'list', '--json'], env)).items, [])
  })
})
