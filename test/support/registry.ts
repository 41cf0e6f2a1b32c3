import { type BackendRegistration, BackendRegistry } from '../../src/core/backends.js'
import hook from '../../src/plugins/backends-hook.js'

/** The registry of jjm's built-in backends, as the CLI builds it from the root package's `jjm:backends` hook. */
export async function builtinRegistry(): Promise<BackendRegistry> {
  const registry = new BackendRegistry()
  registry.register('jjm', await (hook as unknown as () => Promise<BackendRegistration>)())
  return registry
}
