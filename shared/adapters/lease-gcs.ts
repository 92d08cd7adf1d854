/**
 * Lease records as Cloud Storage objects (`<prefix><name>.json` in the state bucket), through the
 * ObjectStore port. Atomicity comes from generation preconditions: create with
 * `ifGenerationMatch: 0`, renew (replace) and release (delete) with the generation last written.
 * The generation is the lease's version, kept as a string (int64).
 */
import { z } from 'zod';
import { type ObjectStore, PreconditionFailedError } from '../ports/storage';
import type { LeaseRecord, LeaseStore, VersionedLease } from '../runtime/lease';

const recordSchema = z.object({
  name: z.string(),
  holder: z.string(),
  acquiredAtEpochMs: z.number(),
  expiresAtEpochMs: z.number(),
});

export interface GcsLeaseStoreOptions {
  objects: ObjectStore;
  bucket: string;
  prefix?: string;
}

export const DEFAULT_LEASE_PREFIX = '_inferplane/leases/';

export class GcsLeaseStore implements LeaseStore {
  readonly #objects: ObjectStore;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: GcsLeaseStoreOptions) {
    this.#objects = options.objects;
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? DEFAULT_LEASE_PREFIX;
  }

  objectOf(name: string): { bucket: string; name: string } {
    return { bucket: this.#bucket, name: `${this.#prefix}${name}.json` };
  }

  async read(name: string): Promise<VersionedLease | undefined> {
    const found = await this.#objects.readText(this.objectOf(name));
    if (!found) return undefined;
    return { record: parseRecord(name, found.text), version: found.info.generation };
  }

  async create(record: LeaseRecord) {
    const written = await this.#write(record, '0');
    return written === undefined
      ? { outcome: 'exists' as const }
      : { outcome: 'created' as const, version: written };
  }

  async replace(record: LeaseRecord, expectedVersion: string) {
    const written = await this.#write(record, expectedVersion);
    return written === undefined
      ? { outcome: 'conflict' as const }
      : { outcome: 'replaced' as const, version: written };
  }

  async delete(name: string, expectedVersion: string): Promise<void> {
    try {
      await this.#objects.delete(this.objectOf(name), { ifGenerationMatch: expectedVersion });
    } catch (err) {
      if (err instanceof PreconditionFailedError) return; // taken over since: not ours to delete
      throw err;
    }
  }

  async #write(record: LeaseRecord, ifGenerationMatch: string): Promise<string | undefined> {
    try {
      const info = await this.#objects.writeText(this.objectOf(record.name), JSON.stringify(record), {
        ifGenerationMatch,
        contentType: 'application/json',
      });
      return info.generation;
    } catch (err) {
      if (err instanceof PreconditionFailedError) return undefined;
      throw err;
    }
  }
}

/** An unreadable record must not block its lease for ever: it reads as expired, to be taken over. */
function parseRecord(name: string, text: string): LeaseRecord {
  try {
    const parsed = recordSchema.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through
  }
  return { name, holder: '(unreadable)', acquiredAtEpochMs: 0, expiresAtEpochMs: 0 };
}
