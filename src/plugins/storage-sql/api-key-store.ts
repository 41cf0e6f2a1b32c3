/** API keys in the SQL database, shared by every daemon on it (so a revocation holds everywhere). */
import type { SqlEntityManager } from '@mikro-orm/knex'
import type { ApiKey, ApiKeyScope, ApiKeyStore, StoredApiKey } from '../../core/api-keys.js'
import { ValidationError } from '../../core/errors.js'
import type { ApiKeyRow } from './entities.js'
import { toDate, toIso } from './rows.js'
import { guarded, isUniqueViolation, type StoreContext, toStorageError } from './storage-errors.js'

type Entities = typeof import('./entities.js')

export class SqlApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly em: SqlEntityManager,
    private readonly entities: Entities,
    private readonly at: StoreContext,
  ) {}

  async insertApiKey(key: StoredApiKey): Promise<void> {
    const row: ApiKeyRow = {
      id: key.id,
      name: key.name,
      prefix: key.prefix,
      keyHash: key.keyHash,
      salt: key.salt,
      scopes: key.scopes,
      rateLimit: key.rateLimitPerMinute,
      createdAt: toDate(key.createdAt),
      expiresAt: key.expiresAt === null ? null : toDate(key.expiresAt),
      revokedAt: null,
      lastUsedAt: null,
    }
    try {
      await this.em.fork().createQueryBuilder(this.entities.ApiKeySchema).insert(row).execute()
    } catch (error) {
      if (isUniqueViolation(this.at.dialect.classifyError(error))) {
        throw new ValidationError(
          `An API key named "${key.name}" exists already. Choose another name, or revoke the old key first (\`jjm api-keys revoke ${key.name}\`) and pick a new name: names stay reserved for the record.`,
          { context: { field: 'name', name: key.name } },
        )
      }
      throw toStorageError(error, 'create an API key', this.at)
    }
  }

  async findApiKeyByPrefix(prefix: string): Promise<StoredApiKey | undefined> {
    const row = await guarded('read an API key', this.at, () =>
      this.em.fork().findOne(this.entities.ApiKeySchema, { prefix }, { disableIdentityMap: true }),
    )
    return row === null ? undefined : { ...toApiKey(row), keyHash: row.keyHash, salt: row.salt }
  }

  async listApiKeys(): Promise<ApiKey[]> {
    const rows = await guarded('list API keys', this.at, () =>
      this.em
        .fork()
        .find(
          this.entities.ApiKeySchema,
          {},
          { orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], disableIdentityMap: true },
        ),
    )
    return rows.map(toApiKey)
  }

  async revokeApiKey(id: string, at: string): Promise<boolean> {
    const changed = await guarded('revoke an API key', this.at, () =>
      this.em.fork().nativeUpdate(this.entities.ApiKeySchema, { id, revokedAt: null }, { revokedAt: toDate(at) }),
    )
    return changed > 0
  }

  async touchApiKey(id: string, at: string): Promise<void> {
    await guarded('record the use of an API key', this.at, () =>
      this.em.fork().nativeUpdate(this.entities.ApiKeySchema, { id }, { lastUsedAt: toDate(at) }),
    )
  }
}

function toApiKey(row: ApiKeyRow): ApiKey {
  const scopes = (typeof row.scopes === 'string' ? JSON.parse(row.scopes) : row.scopes) as ApiKeyScope[]
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes,
    rateLimitPerMinute: row.rateLimit ?? null,
    createdAt: toIso(row.createdAt),
    expiresAt: row.expiresAt === null ? null : toIso(row.expiresAt),
    revokedAt: row.revokedAt === null ? null : toIso(row.revokedAt),
    lastUsedAt: row.lastUsedAt === null ? null : toIso(row.lastUsedAt),
  }
}
