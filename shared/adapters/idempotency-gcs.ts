/**
 * Idempotency records as Cloud Storage objects (`<prefix><key>.json`). Atomicity comes from
 * generation preconditions: create with `ifGenerationMatch: 0`, update and delete with the generation
 * that was read. The generation is the record's version, kept as a string (int64).
 */
import type { Bucket } from '@google-cloud/storage';
import { z } from 'zod';
import { RetryableError } from '../runtime/errors';
import type {
  CreateResult,
  IdempotencyRecord,
  IdempotencyStore,
  UpdateResult,
  VersionedRecord,
} from '../runtime/idempotency/store';

export interface GcsIdempotencyStoreOptions {
  bucket: Bucket;
  /** Object name prefix; a lifecycle rule on it can delete old records. */
  prefix?: string;
}

const recordSchema = z.object({
  key: z.string(),
  status: z.enum(['INPROGRESS', 'COMPLETED']),
  payloadHash: z.string(),
  lockedUntilEpochMs: z.number(),
  expiresAtEpochSec: z.number(),
  result: z.unknown().optional(),
  error: z
    .object({
      name: z.string(),
      reason: z.string(),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
});

/** A replaced object between reading its generation and its content is retried a few times. */
const READ_ATTEMPTS = 3;

export class GcsIdempotencyStore implements IdempotencyStore {
  readonly #bucket: Bucket;
  readonly #prefix: string;

  constructor(options: GcsIdempotencyStoreOptions) {
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? 'idempotency/';
  }

  objectName(key: string): string {
    return `${this.#prefix}${key}.json`;
  }

  async get(key: string): Promise<VersionedRecord | undefined> {
    const name = this.objectName(key);
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      let generation: string;
      try {
        const [metadata] = await this.#bucket.file(name).getMetadata();
        generation = String(metadata.generation);
      } catch (err) {
        if (httpCode(err) === 404) return undefined;
        throw unavailable('read', name, err);
      }
      let content: Buffer;
      try {
        // Pinned to the generation just read, so content and version always belong together.
        [content] = await this.#bucket.file(name, { generation }).download();
      } catch (err) {
        if (httpCode(err) === 404) continue; // replaced or deleted in between
        throw unavailable('read', name, err);
      }
      return { record: parseRecord(key, content), version: generation };
    }
    throw new RetryableError('IDEMPOTENCY_STORE_UNAVAILABLE', `Idempotency record ${name} keeps changing`);
  }

  async create(record: IdempotencyRecord): Promise<CreateResult> {
    const written = await this.#write(record, 0);
    return written === undefined ? { outcome: 'exists' } : { outcome: 'created', version: written };
  }

  async update(record: IdempotencyRecord, expectedVersion: string): Promise<UpdateResult> {
    const written = await this.#write(record, expectedVersion);
    return written === undefined ? { outcome: 'conflict' } : { outcome: 'updated', version: written };
  }

  async delete(key: string, expectedVersion?: string): Promise<void> {
    const name = this.objectName(key);
    try {
      await this.#bucket
        .file(name)
        .delete(expectedVersion === undefined ? {} : { ifGenerationMatch: expectedVersion });
    } catch (err) {
      const code = httpCode(err);
      if (code === 404 || code === 412) return;
      throw unavailable('delete', name, err);
    }
  }

  /** Returns the new generation, or undefined when the precondition failed. */
  async #write(record: IdempotencyRecord, ifGenerationMatch: string | number): Promise<string | undefined> {
    const name = this.objectName(record.key);
    const file = this.#bucket.file(name);
    try {
      await file.save(JSON.stringify(record), {
        resumable: false,
        contentType: 'application/json',
        preconditionOpts: { ifGenerationMatch },
      });
    } catch (err) {
      const code = httpCode(err);
      // 404: the object to update is gone, which is a lost race like 412.
      if (code === 412 || (code === 404 && ifGenerationMatch !== 0)) return undefined;
      throw unavailable('write', name, err);
    }
    return String(file.metadata.generation);
  }
}

/**
 * An unreadable record must not block its key for ever: it is reported as expired, so the next
 * attempt takes it over with a conditional update and rewrites it.
 */
function parseRecord(key: string, content: Buffer): IdempotencyRecord {
  try {
    const parsed = recordSchema.safeParse(JSON.parse(content.toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through
  }
  return { key, status: 'INPROGRESS', payloadHash: '', lockedUntilEpochMs: 0, expiresAtEpochSec: 0 };
}

function httpCode(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

function unavailable(action: string, name: string, cause: unknown): RetryableError {
  return new RetryableError(
    'IDEMPOTENCY_STORE_UNAVAILABLE',
    `Could not ${action} idempotency record ${name}`,
    {
      cause,
      details: { object: name, httpCode: httpCode(cause) },
    },
  );
}
