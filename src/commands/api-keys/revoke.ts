import { Args } from '@oclif/core'
import { JjmCommand } from '../../cli/base-command.js'
import type { ApiKey } from '../../core/api-keys.js'

export default class ApiKeysRevoke extends JjmCommand<typeof ApiKeysRevoke> {
  static override summary = 'Revoke an API key: every daemon on this database refuses it from its next request.'
  static override description =
    `The key's row stays for the record (jjm api-keys list shows it revoked). Revoking a revoked key changes nothing.
Exit codes: 0 revoked, 13 no such key.`

  static override examples = [
    '<%= config.bin %> api-keys revoke dashboard',
    '<%= config.bin %> api-keys revoke jjm_k3x9q2ab',
  ]
  static override args = {
    key: Args.string({ description: "The key's name, prefix or id.", required: true }),
  }

  async run(): Promise<ApiKey> {
    const core = await this.core()
    const key = await core.apiKeys().revoke(this.args.key)
    this.log(`Revoked API key "${key.name}" (${key.prefix}) at ${key.revokedAt}.`)
    return key
  }
}
