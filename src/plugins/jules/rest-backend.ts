import type { JulesBackend } from '../../core/backends.js'
import { AuthenticationError } from '../../core/errors.js'

/** `rest`: the official Jules API over HTTPS (undici), with jjm's retries, breaker and shared 429 pause. */
export const restJulesBackend: JulesBackend = {
  kind: 'jules',
  name: 'rest',
  description: 'The Jules API (jules.googleapis.com), with JULES_API_KEY',
  async open({ config, logger, version, onRateLimited }) {
    if (!config.jules.apiKey) {
      throw new AuthenticationError(
        'No Jules API key is configured. Set JULES_API_KEY (create one at https://jules.google.com/settings#api), or try jjm with --jules sim, the built-in simulator.',
        { context: { backend: 'rest' } },
      )
    }
    const { createRestClient } = await import('../../core/jules/rest.js')
    return createRestClient({
      baseUrl: config.jules.apiUrl,
      apiKey: config.jules.apiKey,
      timeoutMs: config.jules.timeoutMs,
      maxAttempts: config.jules.maxAttempts,
      breaker: config.jules.breaker,
      logger: logger.child({ jules: 'rest' }),
      userAgent: `jjm/${version}`,
      ...(onRateLimited === undefined ? {} : { onRateLimited }),
    })
  },
}
