import type { Hook } from '@oclif/core'
import '../cli/hooks.js'
import type { BackendRegistration } from '../core/backends.js'
import { cacheBackends } from './cache-keyv/backend.js'
import { julesBackends } from './jules/backend.js'
import { notifierBackends } from './notifiers/backend.js'
import { jsonBackend } from './storage-json/backend.js'
import { postgresqlBackend, sqliteBackend } from './storage-sql/backend.js'

/**
 * The root package's own `jjm:backends` hook: the built-in backends register
 * exactly as an installed plugin's do.
 */
const hook: Hook<'jjm:backends'> = async (): Promise<BackendRegistration> => ({
  backends: [sqliteBackend, postgresqlBackend, jsonBackend, ...cacheBackends, ...notifierBackends, ...julesBackends],
})

export default hook
