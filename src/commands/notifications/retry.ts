import { Args, Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { notificationColumns, renderTable } from '../../cli/render.js'
import { ValidationError } from '../../core/errors.js'
import type { NotificationRetryResult } from '../../core/notification-admin.js'

export default class NotificationsRetry extends JjmCommand<typeof NotificationsRetry> {
  static override summary = 'Send failed notifications again, now.'
  static override description =
    `Puts the notifications back to pending with no attempts and delivers them at once; one that fails again is retried later with backoff, as usual. Pending ones may be retried too (they skip their wait). Fix the target first (its url, its credentials in the config).
Exit codes: 0 done (see the result for what was delivered), 13 no notification has an id given, 14 a notification given was already delivered, 10 its notifier is no longer in the config.`

  static override examples = [
    '<%= config.bin %> notifications retry 01JD7QXAZ8K3M0Y7B6N6T3V2C1',
    '<%= config.bin %> notifications retry --failed --json',
  ]

  static override strict = false

  static override args = {
    id: Args.string({ description: 'Notification id(s), from `jjm notifications list`.' }),
  }

  static override flags = {
    failed: Flags.boolean({ summary: 'Every failed notification whose notifier is configured.' }),
  }

  async run(): Promise<NotificationRetryResult> {
    const { argv } = await this.parse(NotificationsRetry)
    const ids = argv.map(String)
    if (ids.length === 0 && !this.flags.failed) {
      throw new ValidationError(
        'Say which notifications to retry: their ids (see `jjm notifications list --state failed`), or --failed for all failed ones.',
      )
    }
    if (ids.length > 0 && this.flags.failed) {
      throw new ValidationError('Give notification ids or --failed, not both.', { context: { ids } })
    }
    const { notifications } = await this.core()
    const result = await notifications.retry(this.flags.failed ? { failed: true } : { ids })
    if (result.items.length === 0 && result.skipped.length === 0) {
      this.log('No failed notifications to retry.')
      return result
    }
    if (result.items.length > 0) {
      this.log(renderTable(result.items, notificationColumns))
      this.log(
        `\nRetried ${result.items.length}: ${result.delivered} delivered, ${result.pending} to be retried later, ${result.failed} failed again.`,
      )
    }
    if (result.skipped.length > 0) {
      const notifiers = [...new Set(result.skipped.map((record) => record.notifier))].join(', ')
      this.log(`Left ${result.skipped.length} failed notification(s) alone: no configured notifier is ${notifiers}.`)
    }
    return result
  }
}
