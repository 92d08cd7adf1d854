import { z } from 'zod';
import {
  expectCloudEventType,
  parseCloudEvent,
  parseCloudEventData,
  type ReceivedCloudEvent,
} from './cloudevent';

export const STORAGE_OBJECT_FINALIZED = 'google.cloud.storage.object.v1.finalized';

const DECIMAL = /^\d+$/;

/**
 * An int64 field as Cloud Storage sends it: a decimal string in real deliveries, a JSON number in
 * Google's own test data. Output is always the decimal string, so a generation is never a lossy JS
 * number. A number that is not a safe integer is refused: JSON.parse already rounded it, and
 * silently using the rounded value would address another object generation.
 */
export function int64String(field: string) {
  return z
    .union([z.string(), z.number()], {
      error: `${field} must be an int64 given as a decimal string or a JSON number`,
    })
    .transform((value, ctx) => {
      if (typeof value === 'string') {
        if (DECIMAL.test(value)) return value;
        ctx.issues.push({
          code: 'custom',
          input: value,
          message: `${field} must be a non-negative decimal integer string, got "${value}"`,
        });
        return z.NEVER;
      }
      if (!Number.isSafeInteger(value)) {
        ctx.issues.push({
          code: 'custom',
          input: value,
          message:
            `${field} is a JSON number (${value}) that is not a safe integer: precision may already be ` +
            'lost (int64 above 2^53 or a fraction); send it as a decimal string',
        });
        return z.NEVER;
      }
      if (value < 0) {
        ctx.issues.push({
          code: 'custom',
          input: value,
          message: `${field} must not be negative, got ${value}`,
        });
        return z.NEVER;
      }
      return String(value);
    });
}

const timestamp = z.iso.datetime({ offset: true });

/**
 * StorageObjectData of google.cloud.storage.object.v1.finalized. Identity fields are required (every
 * finalized object has them); the rest is optional and unknown fields pass through, because Google
 * adds fields without notice.
 */
export const storageObjectDataSchema = z.looseObject({
  bucket: z.string().min(1),
  name: z.string().min(1),
  generation: int64String('generation'),
  metageneration: int64String('metageneration'),
  size: int64String('size'),
  contentType: z.string().optional(),
  contentEncoding: z.string().optional(),
  contentDisposition: z.string().optional(),
  contentLanguage: z.string().optional(),
  cacheControl: z.string().optional(),
  md5Hash: z.string().optional(),
  crc32c: z.string().optional(),
  etag: z.string().optional(),
  id: z.string().optional(),
  kind: z.string().optional(),
  selfLink: z.string().optional(),
  mediaLink: z.string().optional(),
  storageClass: z.string().optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  componentCount: z.number().int().nonnegative().optional(),
  kmsKeyName: z.string().optional(),
  timeCreated: timestamp.optional(),
  updated: timestamp.optional(),
  timeStorageClassUpdated: timestamp.optional(),
  customTime: timestamp.optional(),
  eventBasedHold: z.boolean().optional(),
  temporaryHold: z.boolean().optional(),
});

export type StorageObjectData = z.output<typeof storageObjectDataSchema>;
export type StorageObjectEvent = ReceivedCloudEvent<StorageObjectData>;

/** Object size in bytes, exact (size is int64). */
export function objectSizeBytes(object: Pick<StorageObjectData, 'size'>): bigint {
  return BigInt(object.size);
}

/**
 * Idempotency key of an object version: the same upload redelivered gives the same key, an
 * overwrite (new generation) gives a new one.
 */
export function objectVersionKey(object: Pick<StorageObjectData, 'bucket' | 'name' | 'generation'>): string {
  return `gs://${object.bucket}/${object.name}#${object.generation}`;
}

/**
 * Validates a delivered CloudEvent as an object-finalized event. Throws ValidationError with paths
 * into the event (`type`, `data.generation`).
 */
export function parseStorageObjectEvent(input: unknown): StorageObjectEvent {
  const ce = parseCloudEvent(input);
  expectCloudEventType(ce, STORAGE_OBJECT_FINALIZED);
  return parseCloudEventData(ce, storageObjectDataSchema, 'Cloud Storage object finalized event');
}
