import { Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { parseDuration } from '../../cli/duration.js'
import type { NotificationPruneResult } from '../../core/notification-admin.js'

export default class NotificationsPrune extends JjmCommand<typeof NotificationsPrune> {
  static override summary = 'Delete delivered and failed notifications past their retention; never pending ones.'
  static override description =
    `Without --older-than, delivered notifications older than notifications.keepDeliveredDays (default 7) and failed ones older than notifications.keepFailedDays (default 30) are deleted. Every monitor pass does the same, a bounded batch at a time.`

  static override examples = [
    '<%= config.bin %> notifications prune',
    '<%= config.bin %> notifications prune --older-than 1d --json',
  ]

  static override flags = {
    'older-than': Flags.string({
      summary:
        'Delete delivered and failed notifications older than this: 12h, 7d, 1d12h (default: the configured retention).',
    }),
  }

  async run(): Promise<NotificationPruneResult> {
    const olderThan = this.flags['older-than']
    const olderThanMs = olderThan === undefined ? undefined : parseDuration(olderThan, '--older-than')
    const { notifications } = await this.core()
    const result = await notifications.prune(olderThanMs === undefined ? {} : { olderThanMs })
    this.log(
      `Deleted ${result.delivered} delivered notification(s) delivered before ${result.deliveredBefore} and ${result.failed} failed one(s) given up before ${result.failedBefore}.`,
    )
    return result
  }
}
