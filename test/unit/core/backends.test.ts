import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type BackendRegistration,
  BackendRegistry,
  type CacheBackend,
  type CacheHandle,
  cacheNamespace,
  type StorageBackend,
  type StorageHandle,
} from '../../../src/core/backends.js'
import type { JjmConfig } from '../../../src/core/config.js'
import { ConfigurationError, ExitCode } from '../../../src/core/errors.js'

function storageBackend(name: string): StorageBackend {
  return {
    kind: 'storage',
    name,
    description: `${name} storage`,
    open: async (): Promise<StorageHandle> => assert.fail('not opened in these tests'),
  }
}

function cacheBackend(name: string): CacheBackend {
  return {
    kind: 'cache',
    name,
    description: `${name} cache`,
    open: async (): Promise<CacheHandle> => assert.fail('not opened in these tests'),
  }
}

/** The registry as the CLI fills it: the root package first, then an installed plugin. */
function registryWithPlugin(): BackendRegistry {
  const registry = new BackendRegistry()
  registry.register('jjm', { backends: [storageBackend('sqlite'), cacheBackend('memory'), cacheBackend('none')] })
  registry.register('jjm-plugin-fixture', { backends: [storageBackend('fixture-file')] })
  return registry
}

/** Runs `work` and returns the ConfigurationError it must throw. */
function configurationErrorOf(work: () => unknown): ConfigurationError {
  try {
    work()
  } catch (error) {
    assert.ok(error instanceof ConfigurationError, `expected a ConfigurationError, got ${String(error)}`)
    assert.equal(error.exitCode, ExitCode.configuration)
    return error
  }
  return assert.fail('expected a ConfigurationError, but nothing was thrown')
}

describe('BackendRegistry', () => {
  it('finds a storage backend by name, whichever plugin registered it', () => {
    const registry = registryWithPlugin()
    assert.equal(registry.storage('sqlite').name, 'sqlite')
    assert.equal(registry.storage('fixture-file').description, 'fixture-file storage')
  })

  it('finds a cache backend by name among the cache backends only', () => {
    const registry = registryWithPlugin()
    assert.equal(registry.cache('memory').kind, 'cache')
    assert.equal(registry.cache('none').name, 'none')
    // A storage name is not a cache name.
    const error = configurationErrorOf(() => registry.cache('sqlite'))
    assert.match(error.message, /No cache backend is named "sqlite"/)
  })

  it('lists every backend with the plugin that provides it, in registration order', () => {
    assert.deepEqual(registryWithPlugin().list(), [
      { kind: 'storage', name: 'sqlite', description: 'sqlite storage', plugin: 'jjm' },
      { kind: 'cache', name: 'memory', description: 'memory cache', plugin: 'jjm' },
      { kind: 'cache', name: 'none', description: 'none cache', plugin: 'jjm' },
      { kind: 'storage', name: 'fixture-file', description: 'fixture-file storage', plugin: 'jjm-plugin-fixture' },
    ])
  })

  it('lists the backends of one kind when asked for that kind', () => {
    const registry = registryWithPlugin()
    assert.deepEqual(
      registry.list('storage').map((entry) => `${entry.name} (from ${entry.plugin})`),
      ['sqlite (from jjm)', 'fixture-file (from jjm-plugin-fixture)'],
    )
    assert.deepEqual(
      registry.list('cache').map((entry) => entry.name),
      ['memory', 'none'],
    )
  })

  it('refuses an unknown storage name, listing the available names and the plugin that provides each', () => {
    const error = configurationErrorOf(() => registryWithPlugin().storage('nope'))
    assert.equal(error.code, 'JJM_CONFIGURATION')
    assert.match(error.message, /No storage backend is named "nope"/)
    assert.match(error.message, /Available: sqlite \(from jjm\), fixture-file \(from jjm-plugin-fixture\)\./)
    assert.match(error.message, /--storage, JJM_STORAGE or storage\.backend/)
    assert.match(error.message, /jjm plugins install/)
    assert.deepEqual(error.context, { kind: 'storage', name: 'nope' })
  })

  it('refuses an unknown cache name, naming the cache flag, variable and key', () => {
    const error = configurationErrorOf(() => registryWithPlugin().cache('redis'))
    assert.match(error.message, /Available: memory \(from jjm\), none \(from jjm\)\./)
    assert.match(error.message, /--cache, JJM_CACHE or cache\.backend/)
  })

  it('says "none" when no plugin registered a backend of the kind asked for', () => {
    const error = configurationErrorOf(() => new BackendRegistry().storage('sqlite'))
    assert.match(error.message, /Available: none\./)
  })

  it('refuses a plugin whose hook answered without a backends array, naming the plugin', () => {
    for (const answer of [undefined, {}, { backends: 'sqlite' }]) {
      const registry = new BackendRegistry()
      // What a JavaScript plugin may really answer, whatever the type says.
      const error = configurationErrorOf(() =>
        registry.register('broken-plugin', answer as unknown as BackendRegistration),
      )
      assert.match(error.message, /Plugin broken-plugin answered the jjm:backends hook with no backends list/)
      assert.match(error.message, /\{ backends: \[\.\.\.\] \}/)
      assert.deepEqual(error.context, { plugin: 'broken-plugin' })
    }
  })

  it('refuses a backend that has no name or no open function, naming the plugin', () => {
    const registry = new BackendRegistry()
    const nameless = { kind: 'storage', description: 'no name', open: async () => ({}) }
    const error = configurationErrorOf(() =>
      registry.register('sloppy-plugin', { backends: [nameless] } as unknown as BackendRegistration),
    )
    assert.match(error.message, /Plugin sloppy-plugin registered a backend without a name or an open\(\) function/)
  })

  it('refuses two plugins registering the same kind and name, naming both plugins', () => {
    const registry = registryWithPlugin()
    const error = configurationErrorOf(() =>
      registry.register('another-plugin', { backends: [storageBackend('fixture-file')] }),
    )
    assert.match(error.message, /Two plugins register the storage backend "fixture-file"/)
    assert.match(error.message, /jjm-plugin-fixture and another-plugin/)
    assert.match(error.message, /jjm plugins uninstall/)
    assert.deepEqual(error.context, { kind: 'storage', name: 'fixture-file' })
  })

  it('lets a storage backend and a cache backend share a name', () => {
    const registry = new BackendRegistry()
    registry.register('jjm', { backends: [storageBackend('redis')] })
    registry.register('jjm-redis', { backends: [cacheBackend('redis')] })
    assert.equal(registry.storage('redis').kind, 'storage')
    assert.equal(registry.cache('redis').kind, 'cache')
  })

  it('accepts a plugin that registers no backend at all', () => {
    const registry = new BackendRegistry()
    registry.register('quiet-plugin', { backends: [] })
    assert.deepEqual(registry.list(), [])
  })
})

describe('cacheNamespace', () => {
  const base = {
    storage: {
      backend: 'postgresql',
      path: '/tmp/jjm.sqlite',
      url: 'postgresql://alice:pw@db.acme:5432/jjm',
      poolSize: 10,
    },
    cache: { backend: 'redis', url: 'redis://127.0.0.1:6379' },
  }
  const namespaceOf = (overrides: { storage?: object; cache?: object }) =>
    cacheNamespace({
      ...base,
      storage: { ...base.storage, ...overrides.storage },
      cache: { ...base.cache, ...overrides.cache },
    } as unknown as JjmConfig)

  it('keeps two databases on one Redis apart', () => {
    assert.notEqual(namespaceOf({}), namespaceOf({ storage: { url: 'postgresql://alice:pw@db.acme:5432/other' } }))
    assert.notEqual(namespaceOf({}), namespaceOf({ storage: { url: 'postgresql://alice:pw@db2.acme:5432/jjm' } }))
    assert.notEqual(
      namespaceOf({ storage: { backend: 'sqlite', url: undefined, path: '/a/jjm.sqlite' } }),
      namespaceOf({ storage: { backend: 'sqlite', url: undefined, path: '/b/jjm.sqlite' } }),
    )
  })

  it('gives every process on the same database the same namespace, whoever logs in', () => {
    assert.equal(namespaceOf({}), namespaceOf({ storage: { url: 'postgresql://bob:other@db.acme/jjm' } }))
    assert.doesNotMatch(namespaceOf({}), /pw|alice/)
  })

  it('uses cache.namespace when it is set', () => {
    assert.equal(namespaceOf({ cache: { namespace: 'acme-prod' } }), 'acme-prod')
  })
})
