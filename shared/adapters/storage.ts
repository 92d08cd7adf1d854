/**
 * Cloud Storage port and its adapter over `@google-cloud/storage`. The control plane only needs
 * a few calls, each with preconditions; everything else stays out of the port so tests and
 * reviewers see exactly what touches buckets.
 */
import { type File, Storage } from '@google-cloud/storage';
import {
  type ByteSource,
  checkByteRange,
  type ObjectInfo,
  type ObjectRef,
  type ObjectStore,
  PreconditionFailedError,
  type Preconditions,
} from '../ports/storage';
import { PermanentError, RetryableError, ValidationError } from '../runtime/errors';

interface ApiErrorLike {
  code?: number | string;
  message?: string;
}

function statusOf(err: unknown): number | undefined {
  const code = (err as ApiErrorLike | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** 412 -> PreconditionFailedError, 404 passes through as undefined where the call allows it, 4xx -> permanent. */
function mapError(err: unknown, what: string): Error {
  const status = statusOf(err);
  const message = (err as ApiErrorLike | undefined)?.message ?? String(err);
  if (status === 412)
    return new PreconditionFailedError('PRECONDITION_FAILED', `${what}: precondition failed`, { cause: err });
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return new PermanentError('STORAGE_REQUEST_REFUSED', `${what}: ${message} (HTTP ${status})`, {
      cause: err,
    });
  }
  return new RetryableError('STORAGE_UNAVAILABLE', `${what}: ${message}`, { cause: err });
}

interface RawMetadata {
  bucket?: string;
  name?: string;
  generation?: string | number;
  metageneration?: string | number;
  size?: string | number;
  md5Hash?: string;
  crc32c?: string;
  contentType?: string;
}

function toInfo(meta: RawMetadata, fallback: ObjectRef): ObjectInfo {
  return {
    bucket: meta.bucket ?? fallback.bucket,
    name: meta.name ?? fallback.name,
    generation: String(meta.generation ?? '0'),
    metageneration: String(meta.metageneration ?? '0'),
    size: BigInt(meta.size ?? 0),
    ...(meta.md5Hash ? { md5Hash: meta.md5Hash } : {}),
    ...(meta.crc32c ? { crc32c: meta.crc32c } : {}),
    ...(meta.contentType ? { contentType: meta.contentType } : {}),
  };
}

const gen = (g: string | undefined): number | undefined => (g === undefined ? undefined : Number(g));

type ResponseHeaders = Record<string, string | string[] | undefined>;

function headerText(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** An object's info from the headers of its media download; undefined when they are missing. */
export function infoFromHeaders(headers: ResponseHeaders, ref: ObjectRef): ObjectInfo | undefined {
  const generation = headerText(headers, 'x-goog-generation');
  const size = headerText(headers, 'x-goog-stored-content-length');
  if (generation === undefined || !/^\d+$/.test(generation) || size === undefined || !/^\d+$/.test(size))
    return undefined;
  const hashes: Record<string, string> = {};
  for (const part of (headerText(headers, 'x-goog-hash') ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) hashes[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const contentType = headerText(headers, 'content-type');
  return {
    bucket: ref.bucket,
    name: ref.name,
    generation,
    metageneration: headerText(headers, 'x-goog-metageneration') ?? '0',
    size: BigInt(size),
    ...(hashes.md5 ? { md5Hash: hashes.md5 } : {}),
    ...(hashes.crc32c ? { crc32c: hashes.crc32c } : {}),
    ...(contentType ? { contentType } : {}),
  };
}

export class GcsObjectStore implements ObjectStore {
  constructor(private readonly storage: Storage) {}

  file(ref: ObjectRef): File {
    return this.storage.bucket(ref.bucket).file(ref.name);
  }

  byteSource(ref: ObjectRef & { generation: string; size?: string }): ByteSource {
    return gcsByteSource(
      this.storage.bucket(ref.bucket).file(ref.name, { generation: Number(ref.generation) }),
      ref.size === undefined ? {} : { size: Number(ref.size) },
    );
  }

  async stat(ref: ObjectRef): Promise<ObjectInfo | undefined> {
    try {
      const [meta] = await this.file(ref).getMetadata();
      return toInfo(meta as RawMetadata, ref);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw mapError(err, `stat gs://${ref.bucket}/${ref.name}`);
    }
  }

  async list(bucket: string, prefix: string): Promise<ObjectInfo[]> {
    try {
      const [files] = await this.storage.bucket(bucket).getFiles({ prefix, autoPaginate: true });
      return files.map((f) => toInfo(f.metadata as RawMetadata, { bucket, name: f.name }));
    } catch (err) {
      throw mapError(err, `list gs://${bucket}/${prefix}`);
    }
  }

  /**
   * One media GET: the text and the generation, size and hashes Cloud Storage sends with it
   * (`x-goog-generation`, `x-goog-metageneration`, `x-goog-stored-content-length`, `x-goog-hash`),
   * so text and info always belong together. Without those headers (a proxy that drops them), the
   * metadata is read first and that exact generation downloaded.
   */
  async readText(ref: ObjectRef): Promise<{ text: string; info: ObjectInfo } | undefined> {
    const file = this.file(ref);
    try {
      const { bytes, headers } = await new Promise<{ bytes: Buffer; headers: ResponseHeaders }>(
        (resolve, reject) => {
          const chunks: Buffer[] = [];
          let headers: ResponseHeaders = {};
          file
            .createReadStream()
            .on('response', (res: { headers?: ResponseHeaders }) => {
              headers = res.headers ?? {};
            })
            .on('data', (chunk: Buffer) => chunks.push(chunk))
            .on('end', () => resolve({ bytes: Buffer.concat(chunks), headers }))
            .on('error', reject);
        },
      );
      const info = infoFromHeaders(headers, ref);
      if (info) return { text: bytes.toString('utf8'), info };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw mapError(err, `read gs://${ref.bucket}/${ref.name}`);
    }
    try {
      const [meta] = await file.getMetadata();
      const info = toInfo(meta as RawMetadata, ref);
      // Read that exact generation, so text and info always belong together.
      const [bytes] = await this.storage
        .bucket(ref.bucket)
        .file(ref.name, { generation: Number(info.generation) })
        .download();
      return { text: bytes.toString('utf8'), info };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw mapError(err, `read gs://${ref.bucket}/${ref.name}`);
    }
  }

  async writeText(
    ref: ObjectRef,
    text: string,
    options: Preconditions & { contentType?: string } = {},
  ): Promise<ObjectInfo> {
    const file = this.file(ref);
    try {
      await file.save(text, {
        resumable: false,
        contentType: options.contentType ?? 'text/plain; charset=utf-8',
        ...(options.ifGenerationMatch === undefined
          ? {}
          : { preconditionOpts: { ifGenerationMatch: gen(options.ifGenerationMatch) } }),
      });
      return toInfo(file.metadata as RawMetadata, ref);
    } catch (err) {
      throw mapError(err, `write gs://${ref.bucket}/${ref.name}`);
    }
  }

  async copy(
    from: ObjectRef & { generation?: string },
    to: ObjectRef,
    options: Preconditions = {},
  ): Promise<ObjectInfo> {
    const source = this.storage
      .bucket(from.bucket)
      .file(from.name, from.generation === undefined ? {} : { generation: Number(from.generation) });
    try {
      const [copied, response] = await source.copy(this.file(to), {
        ...(options.ifGenerationMatch === undefined
          ? {}
          : { preconditionOpts: { ifGenerationMatch: gen(options.ifGenerationMatch) } }),
      });
      // The client does not copy the rewrite response's `resource` into the new File's metadata:
      // without it the copy would report generation 0 and size 0.
      const resource = (response as { resource?: RawMetadata } | undefined)?.resource;
      return toInfo(resource ?? (copied.metadata as RawMetadata), to);
    } catch (err) {
      throw mapError(err, `copy gs://${from.bucket}/${from.name} -> gs://${to.bucket}/${to.name}`);
    }
  }

  async delete(ref: ObjectRef, options: Preconditions = {}): Promise<void> {
    try {
      await this.file(ref).delete({
        ignoreNotFound: true,
        ...(options.ifGenerationMatch === undefined
          ? {}
          : { ifGenerationMatch: gen(options.ifGenerationMatch) }),
      });
    } catch (err) {
      throw mapError(err, `delete gs://${ref.bucket}/${ref.name}`);
    }
  }
}

/** Production: ADC credentials. Local: an explicit endpoint, no credentials. */
export function createStorageClient(opts: { projectId: string; endpoint?: string }): Storage {
  if (!opts.endpoint) return new Storage({ projectId: opts.projectId });
  return new Storage({
    projectId: opts.projectId,
    apiEndpoint: opts.endpoint.replace(/\/+$/, ''),
    useAuthWithCustomEndpoint: false,
  });
}

/**
 * A Cloud Storage object, read with ranged GETs. Pin the generation on the `File`
 * (`bucket.file(name, { generation })`) so every range comes from the same object version even if
 * the name is overwritten meanwhile.
 *
 * `decompress: false`: an object stored with `Content-Encoding: gzip` is read as stored (its
 * metadata size is the compressed size); the parser then rejects it as not an ONNX model instead of
 * seeing ranges of a transcoded stream that do not match the advertised size.
 *
 * `size`: the generation's size when the caller already knows it (a listing or the CloudEvent
 * gives it); the metadata request is then never made, so a small model's signature costs one
 * ranged GET instead of two requests.
 */
export function gcsByteSource(file: File, options: { size?: number } = {}): ByteSource {
  if (options.size !== undefined && (!Number.isSafeInteger(options.size) || options.size < 0)) {
    throw new ValidationError(`gs://${file.bucket.name}/${file.name}`, [
      { path: 'size', message: `object size ${String(options.size)} is not a byte count` },
    ]);
  }
  let cachedSize: number | undefined = options.size;
  let bytesRead = 0;
  const source: ByteSource = {
    get bytesRead() {
      return bytesRead;
    },
    async size() {
      if (cachedSize === undefined) {
        const [metadata] = await file.getMetadata();
        const size = Number(metadata.size);
        if (!Number.isSafeInteger(size) || size < 0) {
          throw new ValidationError(`gs://${file.bucket.name}/${file.name}`, [
            { path: 'metadata.size', message: `object size ${String(metadata.size)} is not a byte count` },
          ]);
        }
        cachedSize = size;
      }
      return cachedSize;
    },
    async read(offset, length) {
      checkByteRange(offset, length);
      if (length === 0) return new Uint8Array(0);
      const size = await source.size();
      if (offset >= size) return new Uint8Array(0);
      // `end` is inclusive in the client (HTTP Range semantics).
      const end = Math.min(offset + length, size) - 1;
      const [buf] = await file.download({ start: offset, end, decompress: false });
      bytesRead += buf.byteLength;
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    },
    async close() {},
  };
  return source;
}
