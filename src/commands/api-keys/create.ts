import { Flags } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import { parseDuration } from '../../cli/duration.js'
import { parseRate } from '../../cli/rate.js'
import { type ApiKey, type ApiKeyScope, apiKeyScopes } from '../../core/api-keys.js'

export default class ApiKeysCreate extends JjmCommand<typeof ApiKeysCreate> {
  static override summary = "Create a key to jjm's REST API; the key is printed this once."
  static override description =
    `Only a salted hash and the key's prefix are stored: keep the key somewhere safe, it cannot be shown again.
Scopes: read (GET endpoints), write (create, change, operate on tasks), admin (manage keys). admin includes write, write includes read.
Exit codes: 0 created, 10 the storage backend cannot keep keys, 11 invalid input (name taken, bad scope, rate or expiry).`

  static override examples = [
    '<%= config.bin %> api-keys create --name dashboard',
    '<%= config.bin %> api-keys create --name ci-bot --scopes read,write --rate 120/min --expires 90d',
    '<%= config.bin %> api-keys create --name ops --scopes admin --json',
  ]

  static override flags = {
    name: Flags.string({ char: 'n', summary: 'A unique name that says who uses the key.', required: true }),
    scopes: Flags.string({
      summary: `Comma-separated scopes: ${apiKeyScopes.join(', ')}.`,
      default: 'read',
    }),
    rate: Flags.string({ summary: "Requests this key may make, e.g. 600/min (default: the daemon's api.rateLimit)." }),
    expires: Flags.string({ summary: 'Valid for this long, e.g. 90d or 12h (default: until revoked).' }),
  }

  async run(): Promise<ApiKey & { key: string }> {
    const scopes = this.flags.scopes
      .split(',')
      .map((scope) => scope.trim())
      .filter((scope) => scope !== '') as ApiKeyScope[]
    const core = await this.core()
    const { apiKey, key } = await core.apiKeys().create({
      name: this.flags.name,
      scopes,
      ...(this.flags.rate === undefined ? {} : { rateLimitPerMinute: parseRate(this.flags.rate, '--rate') }),
      ...(this.flags.expires === undefined ? {} : { expiresInMs: parseDuration(this.flags.expires, '--expires') }),
    })
    this.log(`Created API key "${apiKey.name}" (${apiKey.prefix}), scopes ${apiKey.scopes.join(', ')}.`)
    this.log(`Key (shown only now): ${key}`)
    this.log(`Use it as: curl -H 'Authorization: Bearer ${apiKey.prefix}_…' http://localhost:8080/api/v1/tasks`)
    return { ...apiKey, key }
  }
}
