import { Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { renderTable } from '../../cli/render.js'
import type { SourceView } from '../../core/manager.js'
import type { Page } from '../../core/task.js'

export default class SourcesList extends JjmCommand<typeof SourcesList> {
  static override summary = 'List the repositories Jules can work on (with the Jules GitHub app installed).'
  static override examples = ['<%= config.bin %> sources list', '<%= config.bin %> sources list --json']

  static override flags = {
    limit: Flags.integer({ summary: 'Sources per page (at most 100).', min: 1, max: 100 }),
    cursor: Flags.string({ summary: 'Continue from the nextCursor of an earlier page.' }),
  }

  async run(): Promise<Page<SourceView>> {
    const { manager } = await this.core()
    const page = await manager.listSources({
      ...(this.flags.limit === undefined ? {} : { pageSize: this.flags.limit }),
      ...(this.flags.cursor === undefined ? {} : { pageToken: this.flags.cursor }),
    })
    if (page.items.length === 0) {
      this.log('Jules has no sources: install the Jules GitHub app on a repository first.')
    } else {
      this.log(
        renderTable(page.items, [
          { header: 'REPOSITORY', value: (source) => source.repository },
          { header: 'DEFAULT BRANCH', value: (source) => source.defaultBranch ?? '' },
          { header: 'PRIVATE', value: (source) => (source.isPrivate === null ? '' : source.isPrivate ? 'yes' : 'no') },
          { header: 'NAME', value: (source) => source.name },
        ]),
      )
      if (page.nextCursor) this.log(`\nMore: ${this.config.bin} sources list --cursor ${page.nextCursor}`)
    }
    return page
  }
}
