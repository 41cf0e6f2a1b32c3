import type { Hook } from '@oclif/core'
import '../cli/hooks.js'
import type { BackendRegistration } from '../core/backends.js'
import { sqliteBackend } from './storage-sql/backend.js'

/**
 * The root package's own `jjm:backends` hook: the built-in backends register
 * exactly as an installed plugin's do.
 */
const hook: Hook<'jjm:backends'> = async (): Promise<BackendRegistration> => ({ backends: [sqliteBackend] })

export default hook
