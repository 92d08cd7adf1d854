/**
 * The Cloud Storage port: the few calls the control plane makes, each with preconditions. The
 * adapter (shared/adapters/storage.ts) implements it over @google-cloud/storage.
 */
import { RetryableError, ValidationError } from '../runtime/errors';

/**
 * Random access to the bytes of one object (a local file or a Cloud Storage object), so a parser
 * can skip what it does not need (an ONNX model's weights) without fetching it.
 *
 * `read` returns exactly `length` bytes unless the object ends first; then it returns fewer.
 * `bytesRead` counts the bytes actually fetched, for benchmarks and tests.
 */
export interface ByteSource {
  size(): Promise<number>;
  read(offset: number, length: number): Promise<Uint8Array>;
  readonly bytesRead: number;
  /** Releases what the adapter holds open (a file handle). Safe to call twice. */
  close?(): Promise<void>;
}

/** @throws ValidationError unless offset and length are non-negative integers. */
export function checkByteRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new ValidationError('byte range', [
      { path: 'offset', message: `offset ${offset} and length ${length} must be non-negative integers` },
    ]);
  }
}

export interface ObjectRef {
  bucket: string;
  name: string;
}

export interface ObjectInfo extends ObjectRef {
  /** int64 as a decimal string: generations exceed 2^53. */
  generation: string;
  metageneration: string;
  size: bigint;
  md5Hash?: string;
  crc32c?: string;
  contentType?: string;
}

export interface Preconditions {
  /** '0' means "only if the object does not exist". */
  ifGenerationMatch?: string;
}

/** A generation precondition did not hold: someone else wrote first. */
export class PreconditionFailedError extends RetryableError {
  override name = 'PreconditionFailedError';
}

export interface ObjectStore {
  stat(ref: ObjectRef): Promise<ObjectInfo | undefined>;
  /** Names and infos under a prefix (no delimiter: the whole subtree). */
  list(bucket: string, prefix: string): Promise<ObjectInfo[]>;
  readText(ref: ObjectRef): Promise<{ text: string; info: ObjectInfo } | undefined>;
  writeText(
    ref: ObjectRef,
    text: string,
    options?: Preconditions & { contentType?: string },
  ): Promise<ObjectInfo>;
  /** Server-side copy: no object bytes pass through the caller. */
  copy(
    from: ObjectRef & { generation?: string },
    to: ObjectRef,
    options?: Preconditions,
  ): Promise<ObjectInfo>;
  delete(ref: ObjectRef, options?: Preconditions): Promise<void>;
  /**
   * Random access to one generation of an object (ONNX inspection reads the signature and skips
   * the weights): bytes are fetched only as they are read. `size` (bytes, decimal, that
   * generation's as a listing reports it) spares the adapter a metadata request.
   */
  byteSource(ref: ObjectRef & { generation: string; size?: string }): ByteSource;
}
