import type { BackendRegistration } from '../core/backends.js'

/** Types the custom `jjm:backends` hook for every plugin that answers it. */
declare module '@oclif/core/hooks' {
  interface Hooks {
    'jjm:backends': {
      options: Record<string, never>
      return: BackendRegistration
    }
  }
}
