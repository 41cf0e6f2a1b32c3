import './cli/hooks.js'

/**
 * jjm as a library: what a plugin author or an embedding program uses.
 */
export * from './core/backends.js'
export * from './core/errors.js'
export { allTasksChannel, InProcessEventBus, taskChannel } from './core/event-bus.js'
export type { JulesClient } from './core/jules/client.js'
export type * from './core/ports.js'
export * from './core/representation.js'
export * from './core/task.js'
