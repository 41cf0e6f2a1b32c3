/**
 * Keys to jjm's REST API. A key is shown once, when it is made; the store
 * keeps a salted SHA-256 hash of it and a short public prefix that finds the
 * row a presented key is checked against (in constant time).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { ApiKeyCache } from './api-key-cache.js'
import { ExitCode, JjmError, type JjmErrorOptions, ValidationError } from './errors.js'
import type { Clock, EventBus, Logger } from './ports.js'

export const apiKeyScopes = ['read', 'write', 'admin'] as const
export type ApiKeyScope = (typeof apiKeyScopes)[number]

/** A key as lists and the API show it: never the key itself, nor its hash. */
export interface ApiKey {
  id: string
  name: string
  /** Public: the first characters of the key, e.g. `jjm_k3x9q2ab`. */
  prefix: string
  scopes: ApiKeyScope[]
  /** Requests per minute for this key; null: the daemon's default. */
  rateLimitPerMinute: number | null
  createdAt: string
  expiresAt: string | null
  revokedAt: string | null
  lastUsedAt: string | null
}

/** What the store keeps of a key: its public fields and the salted hash. */
export interface StoredApiKey extends ApiKey {
  keyHash: string
  salt: string
}

/** Where keys live; provided by storage backends that can keep them (sqlite, postgresql). */
export interface ApiKeyStore {
  /** @throws ValidationError when the name is taken. */
  insertApiKey(key: StoredApiKey): Promise<void>
  findApiKeyByPrefix(prefix: string): Promise<StoredApiKey | undefined>
  /** Newest first; revoked keys too (they stay for the record). */
  listApiKeys(): Promise<ApiKey[]>
  /** Sets `revokedAt` on a key that is not yet revoked; false when no such live key. */
  revokeApiKey(id: string, at: string): Promise<boolean>
  touchApiKey(id: string, at: string): Promise<void>
}

/** A request without a valid API key (missing, unknown, revoked or expired). */
export class UnauthorizedError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_UNAUTHORIZED', ExitCode.authentication, 401, options)
  }
}

/** A valid key without the scope an endpoint needs. */
export class ForbiddenError extends JjmError {
  constructor(message: string, options?: JjmErrorOptions) {
    super(message, 'JJM_FORBIDDEN', ExitCode.authentication, 403, options)
  }
}

export interface CreateApiKeyInput {
  name: string
  scopes?: ApiKeyScope[]
  rateLimitPerMinute?: number
  /** How long the key is valid from now; unset: until revoked. */
  expiresInMs?: number
}

export interface CreatedApiKey {
  apiKey: ApiKey
  /** The secret, shown this once. */
  key: string
}

const prefixLength = 8
const base32 = 'abcdefghijklmnopqrstuvwxyz234567'
/** How often `lastUsedAt` is written for one key: not on every request. */
const touchIntervalMs = 60_000
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export interface ApiKeyServiceOptions {
  /** Carries revocations to every process (Redis) so that their caches of verified keys forget the key at once. */
  bus?: EventBus
  logger?: Logger
  /** How long a verified key is trusted without reading the store, while revocations reach this process. Default 30 s. */
  cacheTtlMs?: number
}

export class ApiKeyService {
  private readonly touched = new Map<string, number>()
  private readonly cache: ApiKeyCache

  constructor(
    private readonly store: ApiKeyStore,
    private readonly clock: Clock,
    private readonly newId: () => string,
    private readonly options: ApiKeyServiceOptions = {},
  ) {
    this.cache = new ApiKeyCache({
      clock,
      ...(options.bus === undefined ? {} : { bus: options.bus }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      ...(options.cacheTtlMs === undefined ? {} : { ttlMs: options.cacheTtlMs }),
    })
  }

  async create(input: CreateApiKeyInput): Promise<CreatedApiKey> {
    if (!namePattern.test(input.name)) {
      throw new ValidationError(
        `"${input.name}" is not a usable key name: use 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit.`,
        { context: { field: 'name' } },
      )
    }
    const scopes = normaliseScopes(input.scopes ?? ['read'])
    if (
      input.rateLimitPerMinute !== undefined &&
      !(Number.isInteger(input.rateLimitPerMinute) && input.rateLimitPerMinute > 0)
    ) {
      throw new ValidationError('The rate limit must be a whole number of requests per minute, at least 1.', {
        context: { field: 'rateLimitPerMinute' },
      })
    }
    if (input.expiresInMs !== undefined && !(input.expiresInMs > 0)) {
      throw new ValidationError('The expiry must be a positive duration, such as 90d.', {
        context: { field: 'expiresIn' },
      })
    }
    const now = this.clock.now()
    const prefix = `jjm_${randomBase32(prefixLength)}`
    const key = `${prefix}_${randomBytes(32).toString('base64url')}`
    const salt = randomBytes(16).toString('hex')
    const apiKey: ApiKey = {
      id: this.newId(),
      name: input.name,
      prefix,
      scopes,
      rateLimitPerMinute: input.rateLimitPerMinute ?? null,
      createdAt: new Date(now).toISOString(),
      expiresAt: input.expiresInMs === undefined ? null : new Date(now + input.expiresInMs).toISOString(),
      revokedAt: null,
      lastUsedAt: null,
    }
    await this.store.insertApiKey({ ...apiKey, keyHash: hashKey(salt, key), salt })
    return { apiKey, key }
  }

  list(): Promise<ApiKey[]> {
    return this.store.listApiKeys()
  }

  /**
   * Revokes by id, name or prefix. This process refuses the key from the next
   * request on; other daemons as soon as the revocation reaches them over the
   * event bus (Redis), else within a second (see ApiKeyCache). Revoking a
   * revoked key announces the revocation again.
   */
  async revoke(ref: string): Promise<ApiKey> {
    const keys = await this.store.listApiKeys()
    const key = keys.find((candidate) => candidate.id === ref || candidate.name === ref || candidate.prefix === ref)
    if (key === undefined) {
      throw new ApiKeyNotFoundError(ref)
    }
    const revoked = key.revokedAt === null ? { ...key, revokedAt: new Date(this.clock.now()).toISOString() } : key
    if (key.revokedAt === null) await this.store.revokeApiKey(key.id, revoked.revokedAt as string)
    this.cache.forget(key.id)
    await this.options.bus?.publishApiKeyRevocation?.({ keyId: key.id, at: revoked.revokedAt as string })
    return revoked
  }

  /**
   * The key a request presented, when it is known, live and unexpired. A key
   * verified lately comes from this process's cache (no store read); see
   * ApiKeyCache for how long a revocation elsewhere can take to reach it.
   */
  async verify(presented: string): Promise<ApiKey> {
    const cached = await this.cache.verified(presented, () => this.verifyInStore(presented))
    const now = this.clock.now()
    if (cached.expiresAt !== null && Date.parse(cached.expiresAt) <= now) {
      throw new UnauthorizedError(`The API key ${cached.prefix} expired at ${cached.expiresAt}; create a new one.`, {
        context: { keyPrefix: cached.prefix },
      })
    }
    const apiKey = { ...cached }
    const last = this.touched.get(apiKey.id) ?? 0
    if (now - last >= touchIntervalMs) {
      this.touched.set(apiKey.id, now)
      apiKey.lastUsedAt = new Date(now).toISOString()
      await this.store.touchApiKey(apiKey.id, apiKey.lastUsedAt)
    }
    return apiKey
  }

  /** Stops listening to revocations. */
  close(): Promise<void> {
    return this.cache.close()
  }

  private async verifyInStore(presented: string): Promise<ApiKey> {
    const prefix = prefixOf(presented)
    const stored = prefix === undefined ? undefined : await this.store.findApiKeyByPrefix(prefix)
    // Hash even when no row matched, so that an unknown prefix takes as long as a wrong secret.
    const expected = Buffer.from(stored?.keyHash ?? hashKey('0', ''), 'hex')
    const actual = Buffer.from(hashKey(stored?.salt ?? '0', presented), 'hex')
    const matches = expected.length === actual.length && timingSafeEqual(expected, actual)
    if (stored === undefined || !matches) {
      throw new UnauthorizedError('The API key is not valid. Create one with `jjm api-keys create --name NAME`.')
    }
    const now = this.clock.now()
    if (stored.revokedAt !== null) {
      throw new UnauthorizedError(`The API key ${stored.prefix} was revoked at ${stored.revokedAt}.`, {
        context: { keyPrefix: stored.prefix },
      })
    }
    if (stored.expiresAt !== null && Date.parse(stored.expiresAt) <= now) {
      throw new UnauthorizedError(`The API key ${stored.prefix} expired at ${stored.expiresAt}; create a new one.`, {
        context: { keyPrefix: stored.prefix },
      })
    }
    const { keyHash: _hash, salt: _salt, ...apiKey } = stored
    return apiKey
  }
}

export class ApiKeyNotFoundError extends JjmError {
  constructor(ref: string) {
    super(
      `No API key matches "${ref}". Run \`jjm api-keys list\` to see the names and prefixes.`,
      'JJM_API_KEY_NOT_FOUND',
      ExitCode.taskNotFound,
      404,
      { context: { key: ref } },
    )
  }
}

/** `read,write` → scopes; `admin` implies write and read, `write` implies read. */
export function normaliseScopes(scopes: readonly string[]): ApiKeyScope[] {
  const unknown = scopes.filter((scope) => !(apiKeyScopes as readonly string[]).includes(scope))
  if (unknown.length > 0) {
    throw new ValidationError(
      `Unknown scope ${unknown.map((scope) => `"${scope}"`).join(', ')}: use ${apiKeyScopes.join(', ')}.`,
      { context: { field: 'scopes' } },
    )
  }
  if (scopes.length === 0) throw new ValidationError('Give a key at least one scope: read, write or admin.')
  return apiKeyScopes.filter((scope) => scopes.includes(scope))
}

/** Whether a key with `scopes` may do what needs `needed`: admin ⊇ write ⊇ read. */
export function hasScope(scopes: readonly ApiKeyScope[], needed: ApiKeyScope): boolean {
  const rank = (scope: ApiKeyScope) => apiKeyScopes.indexOf(scope)
  return scopes.some((scope) => rank(scope) >= rank(needed))
}

function prefixOf(presented: string): string | undefined {
  const match = /^(jjm_[a-z2-7]{8})_[A-Za-z0-9_-]{43}$/.exec(presented)
  return match?.[1]
}

function hashKey(salt: string, key: string): string {
  return createHash('sha256').update(salt).update(':').update(key).digest('hex')
}

function randomBase32(length: number): string {
  const bytes = randomBytes(length)
  let text = ''
  for (const byte of bytes) text += base32[byte % 32]
  return text
}
