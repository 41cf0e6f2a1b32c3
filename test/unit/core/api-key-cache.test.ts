import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type ApiKey, ApiKeyService, type ApiKeyStore, type StoredApiKey } from '../../../src/core/api-keys.js'
import { ManualClock } from '../../../src/core/clock.js'
import { InProcessEventBus } from '../../../src/core/event-bus.js'
import type { ApiKeyRevocation, EventBus } from '../../../src/core/ports.js'

/** Keys in memory; counts the reads a request makes, and can be changed behind the service's back (another process). */
class CountingKeyStore implements ApiKeyStore {
  readonly rows = new Map<string, StoredApiKey>()
  reads = 0
  /** Rows created by someone else, not yet visible. */
  hidden = new Set<string>()

  async insertApiKey(key: StoredApiKey): Promise<void> {
    this.rows.set(key.id, { ...key })
  }
  async findApiKeyByPrefix(prefix: string): Promise<StoredApiKey | undefined> {
    this.reads++
    const row = [...this.rows.values()].find((key) => key.prefix === prefix && !this.hidden.has(key.id))
    return row === undefined ? undefined : { ...row }
  }
  async listApiKeys(): Promise<ApiKey[]> {
    return [...this.rows.values()].map(({ keyHash: _hash, salt: _salt, ...key }) => key)
  }
  async revokeApiKey(id: string, at: string): Promise<boolean> {
    const row = this.rows.get(id)
    if (row === undefined || row.revokedAt !== null) return false
    row.revokedAt = at
    return true
  }
  async touchApiKey(): Promise<void> {}
}

/** A bus like Redis: cross-process, with a switch for an outage. */
class SharedBus implements EventBus {
  readonly crossProcess = true
  up = true
  private readonly inner = new InProcessEventBus()
  get healthy(): boolean {
    return this.up
  }
  publish: EventBus['publish'] = (update) => this.inner.publish(update)
  subscribe: EventBus['subscribe'] = (filter, listener) => this.inner.subscribe(filter, listener)
  publishApiKeyRevocation = (revocation: ApiKeyRevocation) => this.inner.publishApiKeyRevocation(revocation)
  subscribeApiKeyRevocations = (listener: (revocation: ApiKeyRevocation) => void) =>
    this.inner.subscribeApiKeyRevocations(listener)
  close = () => this.inner.close()
}

function world(options: { bus?: EventBus } = {}) {
  const store = new CountingKeyStore()
  const clock = new ManualClock()
  let n = 0
  const service = new ApiKeyService(store, clock, () => `key${++n}`, options.bus ? { bus: options.bus } : {})
  return { store, clock, service }
}

/** Lets the subscription the first verify starts settle. */
const settle = () => new Promise((resolve) => setImmediate(resolve))

describe('the cache of verified API keys', () => {
  it('reads a key from the store once, then trusts it for 30 s of the injected clock while revocations reach it from every process', async () => {
    const { store, clock, service } = world({ bus: new SharedBus() })
    const { key } = await service.create({ name: 'ci' })
    await service.verify(key)
    await settle()
    await service.verify(key)
    clock.advance(29_999)
    await service.verify(key)
    assert.equal(store.reads, 1)
    clock.advance(1)
    await service.verify(key)
    assert.equal(store.reads, 2, 'read again once the entry is 30 s old')
  })

  it('refuses a key at the next request once its revocation arrives over the bus, although the TTL has not passed', async () => {
    const bus = new SharedBus()
    const { store, service } = world({ bus })
    const { key, apiKey } = await service.create({ name: 'ci' })
    await service.verify(key)
    await settle()
    await service.verify(key)
    // Another daemon revokes: the row changes in the shared store, and the message comes over the bus.
    const at = '2026-01-01T00:00:05.000Z'
    await store.revokeApiKey(apiKey.id, at)
    await service.verify(key)
    assert.equal(store.reads, 1, 'the revocation in the store alone is not seen before the message')
    await bus.publishApiKeyRevocation({ keyId: apiKey.id, at } satisfies ApiKeyRevocation)
    await assert.rejects(service.verify(key), { code: 'JJM_UNAUTHORIZED', message: /revoked/ })
  })

  it('publishes a revocation made here to every listener on the bus', async () => {
    const bus = new SharedBus()
    const { service } = world({ bus })
    const heard: string[] = []
    await bus.subscribeApiKeyRevocations((revocation) => heard.push(revocation.keyId))
    const { key, apiKey } = await service.create({ name: 'ci' })
    await service.verify(key)
    await service.revoke('ci')
    assert.deepEqual(heard, [apiKey.id])
    await assert.rejects(service.verify(key), { message: /revoked/ })
  })

  it('trusts a key for 1 s only when revocations from other processes cannot reach it (in-process bus)', async () => {
    const { store, clock, service } = world({ bus: new InProcessEventBus() })
    const { key, apiKey } = await service.create({ name: 'ci' })
    await service.verify(key)
    await settle()
    await store.revokeApiKey(apiKey.id, '2026-01-01T00:00:00.500Z')
    clock.advance(999)
    await service.verify(key)
    clock.advance(1)
    await assert.rejects(service.verify(key), { message: /revoked/ })
  })

  it('reads the store again while the shared bus is down, as revocations sent meanwhile are lost', async () => {
    const bus = new SharedBus()
    const { store, service } = world({ bus })
    const { key } = await service.create({ name: 'ci' })
    await service.verify(key)
    await settle()
    await service.verify(key)
    assert.equal(store.reads, 1)
    bus.up = false
    await service.verify(key)
    assert.equal(store.reads, 2)
    bus.up = true
    await service.verify(key)
    await service.verify(key)
    assert.equal(store.reads, 3, 'what was verified before the outage is verified again')
  })

  it('does not remember a refusal: a key that appears in the store is accepted at the next request', async () => {
    const { store, service } = world({ bus: new SharedBus() })
    const { key, apiKey } = await service.create({ name: 'ci' })
    store.hidden.add(apiKey.id)
    await assert.rejects(service.verify(key), { code: 'JJM_UNAUTHORIZED' })
    await assert.rejects(service.verify(key), { code: 'JJM_UNAUTHORIZED' })
    store.hidden.delete(apiKey.id)
    assert.equal((await service.verify(key)).id, apiKey.id)
  })

  it('refuses a cached key once it expires on the injected clock', async () => {
    const { clock, service } = world({ bus: new SharedBus() })
    const { key } = await service.create({ name: 'ci', expiresInMs: 10_000 })
    await service.verify(key)
    clock.advance(10_000)
    await assert.rejects(service.verify(key), { message: /expired/ })
  })

  it('reads the store once for many requests with the same key at once', async () => {
    const { store, service } = world({ bus: new SharedBus() })
    const { key } = await service.create({ name: 'ci' })
    await Promise.all(Array.from({ length: 20 }, () => service.verify(key)))
    assert.equal(store.reads, 1)
  })

  it('does not cache a read that began before a revocation arrived', async () => {
    const bus = new SharedBus()
    const { store, service } = world({ bus })
    const { key, apiKey } = await service.create({ name: 'ci' })
    const first = service.verify(key)
    // The revocation lands while the first read is on its way (it read the row before the revoke).
    await bus.publishApiKeyRevocation({ keyId: apiKey.id, at: '2026-01-01T00:00:00.000Z' })
    await first
    await store.revokeApiKey(apiKey.id, '2026-01-01T00:00:00.000Z')
    await assert.rejects(service.verify(key), { message: /revoked/ })
  })
})
