import { JjmCommand } from '../../cli/base-command.js'
import { age, renderTable } from '../../cli/render.js'
import type { ApiKey } from '../../core/api-keys.js'
import type { Page } from '../../core/task.js'

export default class ApiKeysList extends JjmCommand<typeof ApiKeysList> {
  static override summary = "List the REST API's keys: prefix, name, scopes, created, last used, expiry."
  static override examples = ['<%= config.bin %> api-keys list', '<%= config.bin %> api-keys list --json']

  async run(): Promise<Page<ApiKey>> {
    const core = await this.core()
    const keys = await core.apiKeys().list()
    const now = core.clock.now()
    if (keys.length === 0) this.log('No API keys yet. Create one with `jjm api-keys create --name NAME`.')
    else
      this.log(
        renderTable(keys, [
          { header: 'PREFIX', value: (key) => key.prefix },
          { header: 'NAME', value: (key) => key.name },
          { header: 'SCOPES', value: (key) => key.scopes.join(',') },
          {
            header: 'RATE',
            value: (key) => (key.rateLimitPerMinute === null ? 'default' : `${key.rateLimitPerMinute}/min`),
          },
          { header: 'CREATED', value: (key) => age(key.createdAt, now) },
          { header: 'LAST USED', value: (key) => (key.lastUsedAt === null ? 'never' : age(key.lastUsedAt, now)) },
          { header: 'STATUS', value: (key) => status(key, now) },
        ]),
      )
    return { items: keys, nextCursor: '' }
  }
}

function status(key: ApiKey, now: number): string {
  if (key.revokedAt !== null) return `revoked ${key.revokedAt.slice(0, 10)}`
  if (key.expiresAt === null) return 'active'
  return Date.parse(key.expiresAt) <= now
    ? `expired ${key.expiresAt.slice(0, 10)}`
    : `expires ${key.expiresAt.slice(0, 10)}`
}
