import type {
  CreateResult,
  IdempotencyRecord,
  IdempotencyStore,
  UpdateResult,
  VersionedRecord,
} from './store';

/**
 * In-process store for tests and the sandbox. Records are kept as JSON, like a real store, so a
 * caller can never mutate a stored record by reference and non-JSON results show up in tests.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #records = new Map<string, { json: string; version: number }>();
  #nextVersion = 1;

  async get(key: string): Promise<VersionedRecord | undefined> {
    await Promise.resolve();
    const entry = this.#records.get(key);
    if (!entry) return undefined;
    return { record: JSON.parse(entry.json) as IdempotencyRecord, version: String(entry.version) };
  }

  async create(record: IdempotencyRecord): Promise<CreateResult> {
    await Promise.resolve();
    if (this.#records.has(record.key)) return { outcome: 'exists' };
    const version = this.#nextVersion++;
    this.#records.set(record.key, { json: JSON.stringify(record), version });
    return { outcome: 'created', version: String(version) };
  }

  async update(record: IdempotencyRecord, expectedVersion: string): Promise<UpdateResult> {
    await Promise.resolve();
    const entry = this.#records.get(record.key);
    if (!entry || String(entry.version) !== expectedVersion) return { outcome: 'conflict' };
    const version = this.#nextVersion++;
    this.#records.set(record.key, { json: JSON.stringify(record), version });
    return { outcome: 'updated', version: String(version) };
  }

  async delete(key: string, expectedVersion?: string): Promise<void> {
    await Promise.resolve();
    const entry = this.#records.get(key);
    if (!entry) return;
    if (expectedVersion !== undefined && String(entry.version) !== expectedVersion) return;
    this.#records.delete(key);
  }

  /** Number of records held, for tests. */
  get size(): number {
    return this.#records.size;
  }
}
