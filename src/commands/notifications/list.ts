import { Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { pageFlags } from '../../cli/flags.js'
import { notificationColumns, renderTable } from '../../cli/render.js'
import type { NotificationPage } from '../../core/notification-admin.js'
import { type NotificationQuery, type NotificationState, notificationStates } from '../../core/ports.js'

export default class NotificationsList extends JjmCommand<typeof NotificationsList> {
  static override summary = 'List notifications in the outbox, newest first: pending, delivered and failed.'
  static override description =
    `Delivered notifications are kept for notifications.keepDeliveredDays (default 7) and failed ones for notifications.keepFailedDays (default 30), then pruned. Retry failed ones with \`jjm notifications retry\`.`

  static override examples = [
    '<%= config.bin %> notifications list',
    '<%= config.bin %> notifications list --state failed --state pending',
    '<%= config.bin %> notifications list --task 01JD3 --json',
  ]

  static override flags = {
    state: Flags.custom<NotificationState>({
      summary: 'Only notifications in this state (repeatable).',
      options: [...notificationStates],
    })({ multiple: true, multipleNonGreedy: true }),
    task: Flags.string({ summary: 'Only notifications about this task (its jjm id).' }),
    ...pageFlags,
  }

  async run(): Promise<NotificationPage> {
    const query: NotificationQuery = {}
    if (this.flags.state) query.states = this.flags.state
    if (this.flags.task) query.taskId = this.flags.task
    if (this.flags.limit !== undefined) query.limit = this.flags.limit
    if (this.flags.cursor) query.cursor = this.flags.cursor
    const { notifications } = await this.core()
    const page = await notifications.list(query)
    if (page.items.length === 0) {
      this.log('No notifications match.')
    } else {
      this.log(renderTable(page.items, notificationColumns))
      if (page.nextCursor) this.log(`\nMore: ${this.config.bin} notifications list --cursor ${page.nextCursor}`)
    }
    return page
  }
}
