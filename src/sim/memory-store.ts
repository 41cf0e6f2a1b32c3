import type { SimSessionRecord, SimStateStore } from '../core/ports.js'

/**
 * Keeps simulated sessions in memory: the store for tests and for
 * `jjm sim serve` without a database. Records are copied on the way in and
 * out, so two Simulators sharing one store behave like two processes sharing
 * a database (neither sees the other's objects, only what was put).
 */
export class MemorySimStateStore implements SimStateStore {
  private readonly records = new Map<string, SimSessionRecord>()

  async get(id: string): Promise<SimSessionRecord | undefined> {
    const record = this.records.get(id)
    return record === undefined ? undefined : structuredClone(record)
  }

  async put(record: SimSessionRecord): Promise<void> {
    this.records.set(record.id, structuredClone(record))
  }

  /** Oldest first; ties keep insertion order (Array.prototype.sort is stable). */
  async list(): Promise<SimSessionRecord[]> {
    return [...this.records.values()]
      .map((record) => structuredClone(record))
      .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt))
  }
}
