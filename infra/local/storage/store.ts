/**
 * Disk-backed state of the local Cloud Storage server. Object bytes live in one file each under
 * `dir/data` and are only ever streamed; metadata lives in memory (it is small) and in a JSON
 * sidecar per object under `dir/objects`, so a server restarted on the same `dir` keeps its objects.
 *
 * Every state change is decided synchronously against the in-memory index (a commit cannot
 * interleave with another), which is what makes generation preconditions atomic here.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CRC32C } from '@google-cloud/storage';
import { z } from 'zod';
import { conditionNotMet, GcsError, invalid, notFoundBucket, notFoundObject } from './errors';

/** Fields a caller may set on an object (insert metadata, patch, rewrite destination). */
export interface WritableObjectFields {
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  customTime?: string;
  storageClass?: string;
  metadata?: Record<string, string>;
}

export interface StoredObject extends WritableObjectFields {
  bucket: string;
  name: string;
  /** int64 as a decimal string: microsecond timestamps exceed 2^53. */
  generation: string;
  metageneration: string;
  size: number;
  md5Hash: string;
  crc32c: string;
  contentType: string;
  storageClass: string;
  timeCreated: string;
  updated: string;
  timeStorageClassUpdated: string;
  /** Basename of the bytes under `dir/data`. */
  dataFile: string;
}

export interface StoredBucket {
  name: string;
  timeCreated: string;
  updated: string;
  location: string;
  storageClass: string;
  labels?: Record<string, string>;
}

export interface Preconditions {
  ifGenerationMatch?: string;
  ifGenerationNotMatch?: string;
  ifMetagenerationMatch?: string;
  ifMetagenerationNotMatch?: string;
}

export interface ContentSummary {
  size: number;
  md5Hash: string;
  crc32c: string;
}

const stringMap = z.record(z.string(), z.string());

/** The subset of the JSON object resource a client may send; everything else is ignored. */
export const writableFieldsSchema = z.looseObject({
  name: z.string().optional(),
  contentType: z.string().optional(),
  contentEncoding: z.string().optional(),
  contentDisposition: z.string().optional(),
  contentLanguage: z.string().optional(),
  cacheControl: z.string().optional(),
  customTime: z.string().optional(),
  storageClass: z.string().optional(),
  metadata: z
    .record(z.string(), z.union([z.string(), z.null()]))
    .nullable()
    .optional(),
  md5Hash: z.string().optional(),
  crc32c: z.string().optional(),
});
export type WritableFieldsInput = z.infer<typeof writableFieldsSchema>;

const storedObjectSchema = z.object({
  bucket: z.string(),
  name: z.string(),
  generation: z.string(),
  metageneration: z.string(),
  size: z.number(),
  md5Hash: z.string(),
  crc32c: z.string(),
  contentType: z.string(),
  contentEncoding: z.string().optional(),
  contentDisposition: z.string().optional(),
  contentLanguage: z.string().optional(),
  cacheControl: z.string().optional(),
  customTime: z.string().optional(),
  storageClass: z.string(),
  metadata: stringMap.optional(),
  timeCreated: z.string(),
  updated: z.string(),
  timeStorageClassUpdated: z.string(),
  dataFile: z.string(),
});

const storedBucketSchema = z.object({
  name: z.string(),
  timeCreated: z.string(),
  updated: z.string(),
  location: z.string(),
  storageClass: z.string(),
  labels: stringMap.optional(),
});

const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
const INT64 = /^\d{1,19}$/;

/** Streams bytes to a file while computing the MD5 and CRC32C GCS reports. Holds no data itself. */
export class HashingFileWriter {
  #md5 = createHash('md5');
  #crc = new CRC32C();
  #size = 0;
  private constructor(
    readonly path: string,
    readonly file: import('node:fs/promises').FileHandle,
  ) {}

  static async create(path: string): Promise<HashingFileWriter> {
    return new HashingFileWriter(path, await open(path, 'w'));
  }

  get size(): number {
    return this.#size;
  }

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.#md5.update(chunk);
    this.#crc.update(chunk);
    this.#size += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.file.write(chunk, offset);
      offset += bytesWritten;
    }
  }

  /** Closes the file; the hashes describe every byte written. */
  async finish(): Promise<ContentSummary> {
    await this.file.close();
    return { size: this.#size, md5Hash: this.#md5.digest('base64'), crc32c: this.#crc.toString() };
  }

  async abort(): Promise<void> {
    await this.file.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}

/** Reads `ifGenerationMatch`... or, for a rewrite's source, `ifSourceGenerationMatch`... */
export function parsePreconditions(q: URLSearchParams, source = false): Preconditions {
  const p: Preconditions = {};
  const keys = [
    'ifGenerationMatch',
    'ifGenerationNotMatch',
    'ifMetagenerationMatch',
    'ifMetagenerationNotMatch',
  ];
  for (const key of keys) {
    const qKey = source ? key.replace(/^if/, 'ifSource') : key;
    const v = q.get(qKey);
    // Clients serialise an unset option as an empty parameter.
    if (v === null || v === '') continue;
    if (!INT64.test(v)) throw invalid(`Invalid value for ${qKey}: ${v}`);
    p[key as keyof Preconditions] = BigInt(v).toString();
  }
  return p;
}

/**
 * Checks preconditions against the current live object. For writes a missing object counts as
 * generation 0 (so `ifGenerationMatch=0` means "must not exist").
 */
export function checkPreconditions(current: StoredObject | undefined, p: Preconditions): void {
  const generation = current?.generation ?? '0';
  if (p.ifGenerationMatch !== undefined && p.ifGenerationMatch !== generation)
    throw conditionNotMet('If-Match');
  if (p.ifGenerationNotMatch !== undefined && p.ifGenerationNotMatch === generation)
    throw conditionNotMet('If-None-Match');
  if (p.ifMetagenerationMatch !== undefined && p.ifMetagenerationMatch !== current?.metageneration)
    throw conditionNotMet('If-Metageneration-Match');
  if (
    p.ifMetagenerationNotMatch !== undefined &&
    (current === undefined || p.ifMetagenerationNotMatch === current.metageneration)
  )
    throw conditionNotMet('If-Metageneration-Not-Match');
}

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  maxResults?: number;
  pageToken?: string;
  startOffset?: string;
  endOffset?: string;
  includeTrailingDelimiter?: boolean;
}

export interface ListPage {
  items: StoredObject[];
  prefixes: string[];
  nextPageToken?: string;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function applyFields(target: WritableObjectFields, input: WritableFieldsInput, replace: boolean): void {
  const simple = [
    'contentType',
    'contentEncoding',
    'contentDisposition',
    'contentLanguage',
    'cacheControl',
    'customTime',
    'storageClass',
  ] as const;
  for (const key of simple) {
    const value = input[key];
    if (value !== undefined) target[key] = value;
    else if (replace && key !== 'contentType' && key !== 'storageClass') delete target[key];
  }
  if (input.metadata === null || (replace && input.metadata === undefined)) {
    delete target.metadata;
  } else if (input.metadata) {
    // Patch semantics: keys merge, a null value removes a key (as in the JSON API).
    const merged: Record<string, string> = replace ? {} : { ...(target.metadata ?? {}) };
    for (const [k, v] of Object.entries(input.metadata)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    if (Object.keys(merged).length > 0) target.metadata = merged;
    else delete target.metadata;
  }
}

export class ObjectStore {
  readonly buckets = new Map<string, StoredBucket>();
  readonly #objects = new Map<string, Map<string, StoredObject>>();
  readonly #persisting = new Map<string, Promise<void>>();
  #lastGeneration = 0n;

  private constructor(readonly dir: string) {}

  static async open(dir: string): Promise<ObjectStore> {
    const store = new ObjectStore(dir);
    for (const sub of ['buckets', 'objects', 'data', 'tmp']) await mkdir(join(dir, sub), { recursive: true });
    await rm(join(dir, 'tmp'), { recursive: true, force: true });
    await mkdir(join(dir, 'tmp'), { recursive: true });
    for (const file of await readdir(join(dir, 'buckets'))) {
      if (!file.endsWith('.json')) continue;
      const bucket = storedBucketSchema.parse(JSON.parse(await readFile(join(dir, 'buckets', file), 'utf8')));
      store.buckets.set(bucket.name, bucket);
      store.#objects.set(bucket.name, new Map());
      const objDir = join(dir, 'objects', bucket.name);
      await mkdir(objDir, { recursive: true });
      for (const objFile of await readdir(objDir)) {
        if (!objFile.endsWith('.json')) continue;
        const o = storedObjectSchema.parse(JSON.parse(await readFile(join(objDir, objFile), 'utf8')));
        store.#objects.get(bucket.name)!.set(o.name, o);
        if (BigInt(o.generation) > store.#lastGeneration) store.#lastGeneration = BigInt(o.generation);
      }
    }
    return store;
  }

  /** Unique and increasing: microseconds since the epoch, bumped when two commits share one. */
  #nextGeneration(): string {
    const now = BigInt(Date.now()) * 1000n;
    this.#lastGeneration = now > this.#lastGeneration ? now : this.#lastGeneration + 1n;
    return this.#lastGeneration.toString();
  }

  dataPath(o: StoredObject): string {
    return join(this.dir, 'data', o.dataFile);
  }

  tempPath(): string {
    return join(this.dir, 'tmp', randomUUID());
  }

  async createBucket(
    name: string,
    input: { location?: string; storageClass?: string; labels?: Record<string, string> },
  ) {
    if (!BUCKET_NAME.test(name)) throw invalid(`Invalid bucket name: '${name}'`);
    if (this.buckets.has(name))
      throw new GcsError(
        409,
        'conflict',
        'Your previous request to create the named bucket succeeded and you already own it.',
      );
    const now = new Date().toISOString();
    const bucket: StoredBucket = {
      name,
      timeCreated: now,
      updated: now,
      location: (input.location ?? 'US').toUpperCase(),
      storageClass: input.storageClass ?? 'STANDARD',
      ...(input.labels ? { labels: input.labels } : {}),
    };
    this.buckets.set(name, bucket);
    this.#objects.set(name, new Map());
    await mkdir(join(this.dir, 'objects', name), { recursive: true });
    await writeFile(join(this.dir, 'buckets', `${name}.json`), JSON.stringify(bucket));
    return bucket;
  }

  getBucket(name: string): StoredBucket {
    const bucket = this.buckets.get(name);
    if (!bucket) throw notFoundBucket();
    return bucket;
  }

  async deleteBucket(name: string): Promise<void> {
    this.getBucket(name);
    if ((this.#objects.get(name)?.size ?? 0) > 0)
      throw new GcsError(409, 'conflict', 'The bucket you tried to delete is not empty.');
    this.buckets.delete(name);
    this.#objects.delete(name);
    await rm(join(this.dir, 'buckets', `${name}.json`), { force: true });
    await rm(join(this.dir, 'objects', name), { recursive: true, force: true });
  }

  #bucketObjects(bucket: string): Map<string, StoredObject> {
    const objects = this.#objects.get(bucket);
    if (!objects) throw notFoundBucket();
    return objects;
  }

  /** The live object, or undefined; throws 404 only for a missing bucket. */
  peek(bucket: string, name: string): StoredObject | undefined {
    return this.#bucketObjects(bucket).get(name);
  }

  get(bucket: string, name: string, generation?: string | null): StoredObject {
    const o = this.peek(bucket, name);
    // Only the live generation is kept (no object versioning).
    if (!o || (generation && generation !== o.generation)) throw notFoundObject(bucket, name);
    return o;
  }

  /**
   * Makes the bytes in `tempFile` the new live generation of `bucket/name`, if the preconditions
   * hold at this moment. The temp file is consumed either way.
   */
  async commit(args: {
    bucket: string;
    name: string;
    tempFile: string;
    content: ContentSummary;
    fields: WritableFieldsInput;
    preconditions: Preconditions;
  }): Promise<StoredObject> {
    const { bucket, name, content } = args;
    const dataFile = `${randomUUID()}.bin`;
    const dataPath = join(this.dir, 'data', dataFile);
    try {
      validateName(name);
      const objects = this.#bucketObjects(bucket);
      if (args.fields.md5Hash !== undefined && args.fields.md5Hash !== content.md5Hash)
        throw invalid(
          `Provided MD5 hash "${args.fields.md5Hash}" doesn't match calculated MD5 hash "${content.md5Hash}".`,
        );
      if (args.fields.crc32c !== undefined && args.fields.crc32c !== content.crc32c)
        throw invalid(
          `Provided CRC32C "${args.fields.crc32c}" doesn't match calculated CRC32C "${content.crc32c}".`,
        );
      checkPreconditions(objects.get(name), args.preconditions);
      await rename(args.tempFile, dataPath);
      // Re-checked after the only await: another commit may have won the race meanwhile.
      const previous = objects.get(name);
      checkPreconditions(previous, args.preconditions);
      const now = new Date().toISOString();
      const o: StoredObject = {
        bucket,
        name,
        generation: this.#nextGeneration(),
        metageneration: '1',
        size: content.size,
        md5Hash: content.md5Hash,
        crc32c: content.crc32c,
        contentType: 'application/octet-stream',
        storageClass: this.buckets.get(bucket)?.storageClass ?? 'STANDARD',
        timeCreated: now,
        updated: now,
        timeStorageClassUpdated: now,
        dataFile,
      };
      applyFields(o, args.fields, false);
      objects.set(name, o);
      await this.#persist(bucket, name);
      if (previous) await rm(this.dataPath(previous), { force: true });
      return o;
    } catch (err) {
      await rm(args.tempFile, { force: true });
      await rm(dataPath, { force: true });
      throw err;
    }
  }

  async patch(
    bucket: string,
    name: string,
    input: WritableFieldsInput,
    preconditions: Preconditions,
    opts: { replace: boolean; generation?: string | null },
  ): Promise<StoredObject> {
    const current = this.get(bucket, name, opts.generation);
    checkPreconditions(current, preconditions);
    const next: StoredObject = { ...current };
    applyFields(next, input, opts.replace);
    next.metageneration = (BigInt(current.metageneration) + 1n).toString();
    next.updated = new Date().toISOString();
    this.#bucketObjects(bucket).set(name, next);
    await this.#persist(bucket, name);
    return next;
  }

  async delete(bucket: string, name: string, preconditions: Preconditions, generation?: string | null) {
    const current = this.get(bucket, name, generation);
    checkPreconditions(current, preconditions);
    this.#bucketObjects(bucket).delete(name);
    await this.#persist(bucket, name);
    await rm(this.dataPath(current), { force: true });
  }

  list(bucket: string, opts: ListOptions): ListPage {
    const objects = this.#bucketObjects(bucket);
    const prefix = opts.prefix ?? '';
    const max = Math.max(1, Math.min(opts.maxResults ?? 1000, 1000));
    const token = opts.pageToken ? decodePageToken(opts.pageToken) : undefined;
    const names = [...objects.keys()].filter((n) => n.startsWith(prefix)).sort(compareNames);
    const page: ListPage = { items: [], prefixes: [] };
    let lastKey: string | undefined;
    for (const name of names) {
      if (opts.startOffset !== undefined && compareNames(name, opts.startOffset) < 0) continue;
      if (opts.endOffset !== undefined && compareNames(name, opts.endOffset) >= 0) continue;
      if (token !== undefined && compareNames(name, token) <= 0) continue;
      // A page that ended on a prefix resumes after every name under it.
      if (token !== undefined && opts.delimiter && token.endsWith(opts.delimiter) && name.startsWith(token))
        continue;
      let key = name;
      let isPrefix = false;
      if (opts.delimiter) {
        const at = name.indexOf(opts.delimiter, prefix.length);
        if (at >= 0) {
          key = name.slice(0, at + opts.delimiter.length);
          isPrefix = true;
        }
      }
      if (isPrefix && key === lastKey) continue;
      if (page.items.length + page.prefixes.length >= max) {
        page.nextPageToken = encodePageToken(lastKey!);
        break;
      }
      lastKey = key;
      if (isPrefix) {
        page.prefixes.push(key);
        if (opts.includeTrailingDelimiter && objects.has(key)) page.items.push(objects.get(key)!);
      } else page.items.push(objects.get(name)!);
    }
    return page;
  }

  /** Writes the current state of one object's sidecar; writes for one object never reorder. */
  #persist(bucket: string, name: string): Promise<void> {
    const key = `${bucket}/${name}`;
    const file = join(this.dir, 'objects', bucket, `${sha256(name)}.json`);
    const previous = this.#persisting.get(key) ?? Promise.resolve();
    const next = previous.then(async () => {
      const o = this.#objects.get(bucket)?.get(name);
      if (!o) {
        await unlink(file).catch(() => undefined);
        return;
      }
      const tmp = `${file}.${randomUUID()}.tmp`;
      await writeFile(tmp, JSON.stringify(o));
      await rename(tmp, file);
    });
    const settled = next.catch(() => undefined);
    this.#persisting.set(key, settled);
    void settled.then(() => {
      if (this.#persisting.get(key) === settled) this.#persisting.delete(key);
    });
    return next;
  }
}

/** GCS orders names by their UTF-8 bytes. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function validateName(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name) > 1024) throw invalid('Object name must be 1-1024 bytes.');
  if (name === '.' || name === '..') throw invalid(`Invalid object name: '${name}'`);
}

function encodePageToken(after: string): string {
  return Buffer.from(after, 'utf8').toString('base64url');
}

function decodePageToken(token: string): string {
  return Buffer.from(token, 'base64url').toString('utf8');
}
