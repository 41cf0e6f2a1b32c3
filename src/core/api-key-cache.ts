/**
 * The API keys this process verified lately, so that a request does not read
 * its key from the database. Entries are keyed by the SHA-256 of the presented
 * key (the secret itself is never kept) and hold only keys that were valid:
 * an unknown or refused key is looked up again on every request, so a key
 * created a moment ago is accepted at once.
 *
 * How long an entry is trusted depends on how revocations reach this process:
 * `ttlMs` (30 s) while it listens to a cross-process bus (Redis) that is up,
 * whose revocation message drops the entry at once on every daemon; otherwise
 * `unsharedTtlMs` (1 s), the longest a key revoked by another process (the
 * CLI, another daemon) is still accepted here.
 */
import { createHash } from 'node:crypto'
import type { ApiKey } from './api-keys.js'
import type { ApiKeyRevocation, Clock, EventBus, Logger } from './ports.js'

export interface ApiKeyCacheOptions {
  clock: Clock
  /** Where revocations come from; without one, every entry lives `unsharedTtlMs`. */
  bus?: EventBus
  logger?: Logger
  /** How long a verified key is trusted while revocations arrive from every process. Default 30 s. */
  ttlMs?: number
  /** How long it is trusted otherwise (in-process bus, bus down, not yet listening). Default 1 s. */
  unsharedTtlMs?: number
}

interface Entry {
  apiKey: ApiKey
  verifiedAt: number
}

/** How long to wait before asking the bus again for revocations after it refused. */
const subscribeRetryMs = 1_000

export class ApiKeyCache {
  private readonly entries = new Map<string, Entry>()
  /** One store read per key at a time: concurrent requests with the same key wait for the first. */
  private readonly loading = new Map<string, Promise<ApiKey>>()
  /** Moves on at every revocation, so that a read that began before one does not cache what it read. */
  private generation = 0
  private listening: 'no' | 'starting' | 'yes' = 'no'
  /** The bus's health when last looked at; a change either way empties the cache. */
  private busWasHealthy = true
  private nextSubscribeAt = 0
  private unsubscribe: (() => Promise<void>) | undefined
  private readonly ttlMs: number
  private readonly unsharedTtlMs: number

  constructor(private readonly options: ApiKeyCacheOptions) {
    this.ttlMs = options.ttlMs ?? 30_000
    this.unsharedTtlMs = options.unsharedTtlMs ?? 1_000
  }

  /**
   * The key `presented` stands for: from the cache while its entry is fresh,
   * else from `load` (which throws for a key that is not valid; nothing is
   * cached then). The caller still checks expiry, which moves with the clock.
   */
  async verified(presented: string, load: () => Promise<ApiKey>): Promise<ApiKey> {
    this.listen()
    const digest = createHash('sha256').update(presented).digest('base64')
    const ttlMs = this.currentTtlMs()
    const entry = this.entries.get(digest)
    if (entry !== undefined) {
      if (this.options.clock.now() - entry.verifiedAt < ttlMs) return entry.apiKey
      this.entries.delete(digest)
    }
    const pending = this.loading.get(digest)
    if (pending !== undefined) return pending
    const generation = this.generation
    const loaded = load().then(
      (apiKey) => {
        this.loading.delete(digest)
        if (generation === this.generation) this.entries.set(digest, { apiKey, verifiedAt: this.options.clock.now() })
        return apiKey
      },
      (error: unknown) => {
        this.loading.delete(digest)
        throw error
      },
    )
    this.loading.set(digest, loaded)
    return loaded
  }

  /** Forgets the key: the next request that presents it is checked against the store. */
  forget(keyId: string): void {
    this.generation++
    for (const [digest, entry] of this.entries) {
      if (entry.apiKey.id === keyId) this.entries.delete(digest)
    }
  }

  async close(): Promise<void> {
    this.entries.clear()
    const unsubscribe = this.unsubscribe
    this.unsubscribe = undefined
    this.listening = 'no'
    this.nextSubscribeAt = Number.POSITIVE_INFINITY
    await unsubscribe?.()
  }

  /** 30 s only while a revocation from any process would reach this one. */
  private currentTtlMs(): number {
    const bus = this.options.bus
    if (bus === undefined || this.listening !== 'yes' || bus.crossProcess !== true) return this.unsharedTtlMs
    const healthy = bus.healthy
    if (healthy !== this.busWasHealthy) {
      // Revocations published while the bus was down are lost: whatever was verified before
      // the outage or during it is checked against the store again.
      this.busWasHealthy = healthy
      this.entries.clear()
      this.generation++
    }
    return healthy ? this.ttlMs : this.unsharedTtlMs
  }

  /** Starts listening to revocations on the first use, and again after the bus refused, at most once a second. */
  private listen(): void {
    const bus = this.options.bus
    if (this.listening !== 'no' || bus?.subscribeApiKeyRevocations === undefined) return
    const now = this.options.clock.now()
    if (now < this.nextSubscribeAt) return
    this.listening = 'starting'
    bus
      .subscribeApiKeyRevocations((revocation: ApiKeyRevocation) => this.forget(revocation.keyId))
      .then(
        (unsubscribe) => {
          if (this.listening !== 'starting') {
            // Closed meanwhile.
            void unsubscribe()
            return
          }
          this.unsubscribe = unsubscribe
          this.listening = 'yes'
        },
        (error: unknown) => {
          if (this.listening !== 'starting') return
          this.listening = 'no'
          this.nextSubscribeAt = this.options.clock.now() + subscribeRetryMs
          this.options.logger?.debug('Not listening to API key revocations yet; keys are re-read every second', {
            error: error instanceof Error ? error.message : String(error),
          })
        },
      )
  }
}
