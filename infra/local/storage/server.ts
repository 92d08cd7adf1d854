/**
 * A wire-level Cloud Storage JSON API server for the unmodified `@google-cloud/storage` client:
 * buckets, object upload (multipart, media, resumable), download with ranges, list, delete, patch,
 * rewrite/copy, compose, generation preconditions, and object-finalize CloudEvents.
 *
 * Request and object bodies are streamed between socket and disk; nothing holds a whole object.
 */
import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, open, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { type LocalServer, readBody, sendJson, startLocalServer } from '../common/server';
import { GcsError, invalid, notFoundObject, writeGcsError, writeInjectedGcsError } from './errors';
import { boundaryOf, readMultipartRelated } from './multipart';
import { type NotificationConfig, Notifier, type NotifierOptions, notificationSchema } from './notifications';
import { bucketResource, objectResource } from './resources';
import {
  type ContentSummary,
  checkPreconditions,
  HashingFileWriter,
  ObjectStore,
  type Preconditions,
  parsePreconditions,
  type StoredObject,
  type WritableFieldsInput,
  writableFieldsSchema,
} from './store';

export interface StorageServer extends LocalServer {
  /** The state directory (objects, sidecars, upload temp files). */
  readonly dir: string;
  addNotification(n: NotificationConfig): void;
  /** Resolves when every queued notification delivery has been attempted (retries included). */
  notificationsDelivered(): Promise<void>;
  /**
   * The most request-body bytes any upload handler held in memory at once. Bounded by the socket
   * chunk size (plus a multipart delimiter), never by the object size.
   */
  peakBufferedBytes(): number;
  /** Requests the handler saw (not those answered by fault injection), oldest first, last 10,000. */
  requests(): readonly RecordedRequest[];
}

export interface RecordedRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  status: number;
  /** Whether the client sent an Authorization header (it must not, against a local server). */
  authorization: boolean;
  contentRange?: string;
}

export interface StorageServerOptions {
  port?: number;
  host?: string;
  /** State directory; default a fresh temp dir, removed on close. */
  dir?: string;
  notifications?: NotifierOptions;
  random?: () => number;
}

interface UploadSession {
  id: string;
  bucket: string;
  name: string;
  fields: WritableFieldsInput;
  preconditions: Preconditions;
  writer?: HashingFileWriter;
  /** Bytes persisted so far; the next chunk must start at or before this offset. */
  received: number;
  total?: number;
  result?: StoredObject;
  busy: boolean;
}

const bucketInsertSchema = z.looseObject({
  name: z.string(),
  location: z.string().optional(),
  storageClass: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
});

const composeSchema = z.looseObject({
  sourceObjects: z
    .array(
      z.looseObject({
        name: z.string(),
        generation: z.union([z.string(), z.number()]).optional(),
        objectPreconditions: z
          .looseObject({ ifGenerationMatch: z.union([z.string(), z.number()]).optional() })
          .optional(),
      }),
    )
    .min(1)
    .max(32),
  destination: writableFieldsSchema.optional(),
});

const ROUTE = /^(?:\/storage\/v1)?(?:\/(upload|download))?(?:\/storage\/v1)?(\/b(?:\/.*)?)$/;

export async function startStorageServer(opts: StorageServerOptions = {}): Promise<StorageServer> {
  const ownsDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'local-gcs-')));
  const store = await ObjectStore.open(dir);
  const notifier = new Notifier(opts.notifications);
  const sessions = new Map<string, UploadSession>();
  let peakBuffered = 0;
  const recorded: RecordedRequest[] = [];
  const noteHeld = (bytes: number) => {
    if (bytes > peakBuffered) peakBuffered = bytes;
  };

  const finalized = (o: StoredObject, base: string) => {
    notifier.objectFinalized({
      bucket: o.bucket,
      name: o.name,
      data: objectResource(o, base),
      time: o.updated,
    });
  };

  /** Streams a raw body to a writer; keeps draining after a failure so the error can be answered. */
  const streamBody = async (req: IncomingMessage, write: (chunk: Buffer) => Promise<void>): Promise<void> => {
    let failure: unknown;
    for await (const chunk of req) {
      if (failure !== undefined) continue;
      noteHeld((chunk as Buffer).length);
      try {
        await write(chunk as Buffer);
      } catch (err) {
        failure = err;
      }
    }
    if (failure !== undefined) throw failure;
  };

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://local');
    const base = `http://${req.headers.host ?? 'localhost'}`;
    res.on('finish', () => {
      const contentRange = header(req, 'content-range');
      recorded.push({
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        status: res.statusCode,
        authorization: req.headers.authorization !== undefined,
        ...(contentRange !== undefined ? { contentRange } : {}),
      });
      if (recorded.length > 10_000) recorded.splice(0, recorded.length - 10_000);
    });
    try {
      if (url.pathname === '/__notifications') {
        await controlNotifications(req, res, notifier);
        return;
      }
      const route = ROUTE.exec(url.pathname);
      if (!route) throw new GcsError(404, 'notFound', `Not Found: ${req.method} ${url.pathname}`);
      const kind = route[1];
      const seg = route[2]!.split('/').slice(1).map(decodeURIComponent);
      const q = url.searchParams;
      const method = req.method ?? 'GET';

      if (kind === 'upload') {
        if (seg.length !== 3 || seg[2] !== 'o') throw new GcsError(404, 'notFound', 'Not Found');
        await handleUpload(req, res, seg[1]!, q, base, method);
        return;
      }
      if (kind === 'download') {
        if (seg.length !== 4 || seg[2] !== 'o' || method !== 'GET')
          throw new GcsError(404, 'notFound', 'Not Found');
        await getObject(req, res, seg[1]!, seg[3]!, q, base, true);
        return;
      }
      // JSON API
      if (seg.length === 1) {
        if (method === 'GET') {
          const items = [...store.buckets.values()].map((b) => bucketResource(b, base));
          sendJson(res, 200, { kind: 'storage#buckets', items });
          return;
        }
        if (method === 'POST') {
          const input = parseJson(await readBody(req), bucketInsertSchema);
          const bucket = await store.createBucket(input.name, input);
          sendJson(res, 200, bucketResource(bucket, base));
          return;
        }
      }
      const bucket = seg[1]!;
      if (seg.length === 2) {
        if (method === 'GET' || method === 'PATCH' || method === 'PUT') {
          await drain(req);
          sendJson(res, 200, bucketResource(store.getBucket(bucket), base));
          return;
        }
        if (method === 'DELETE') {
          await drain(req);
          await store.deleteBucket(bucket);
          res.writeHead(204).end();
          return;
        }
      }
      if (seg[2] !== 'o') throw new GcsError(404, 'notFound', `Not Found: ${url.pathname}`);
      if (seg.length === 3 && method === 'GET') {
        listObjects(res, bucket, q, base);
        return;
      }
      const name = seg[3];
      if (name === undefined) throw new GcsError(400, 'invalid', 'Upload requests go to /upload/storage/v1.');
      if (seg.length === 4) {
        if (method === 'GET') {
          await getObject(req, res, bucket, name, q, base, q.get('alt') === 'media');
          return;
        }
        if (method === 'DELETE') {
          await drain(req);
          await store.delete(bucket, name, parsePreconditions(q), q.get('generation'));
          res.writeHead(204).end();
          return;
        }
        if (method === 'PATCH' || method === 'PUT') {
          const input = parseJson(await readBody(req), writableFieldsSchema);
          const o = await store.patch(bucket, name, input, parsePreconditions(q), {
            replace: method === 'PUT',
            generation: q.get('generation'),
          });
          sendJson(res, 200, objectResource(o, base));
          return;
        }
      }
      if (method === 'POST' && seg.length === 9 && (seg[4] === 'rewriteTo' || seg[4] === 'copyTo')) {
        if (seg[5] !== 'b' || seg[7] !== 'o') throw new GcsError(404, 'notFound', 'Not Found');
        await copyObject(req, res, { bucket, name }, { bucket: seg[6]!, name: seg[8]! }, q, base, seg[4]);
        return;
      }
      if (method === 'POST' && seg.length === 5 && seg[4] === 'compose') {
        await composeObject(req, res, bucket, name, q, base);
        return;
      }
      throw new GcsError(404, 'notFound', `Not Found: ${method} ${url.pathname}`);
    } catch (err) {
      // Answer the error only after the body is read, so the client sees the status and not a reset.
      if (!req.complete) await drain(req).catch(() => undefined);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof GcsError) writeGcsError(res, err);
      else writeGcsError(res, new GcsError(500, 'backendError', `local storage server bug: ${String(err)}`));
    }
  };

  const listObjects = (res: ServerResponse, bucket: string, q: URLSearchParams, base: string) => {
    const maxResults = q.get('maxResults');
    const page = store.list(bucket, {
      prefix: q.get('prefix') ?? undefined,
      delimiter: q.get('delimiter') || undefined,
      maxResults: maxResults ? Number.parseInt(maxResults, 10) : undefined,
      pageToken: q.get('pageToken') ?? undefined,
      startOffset: q.get('startOffset') ?? undefined,
      endOffset: q.get('endOffset') ?? undefined,
      includeTrailingDelimiter: q.get('includeTrailingDelimiter') === 'true',
    });
    sendJson(res, 200, {
      kind: 'storage#objects',
      ...(page.prefixes.length ? { prefixes: page.prefixes } : {}),
      ...(page.items.length ? { items: page.items.map((o) => objectResource(o, base)) } : {}),
      ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
    });
  };

  const getObject = async (
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    name: string,
    q: URLSearchParams,
    base: string,
    media: boolean,
  ) => {
    let o = store.get(bucket, name, q.get('generation'));
    const p = parsePreconditions(q);
    // A GET whose "not match" condition fails is "not modified", as in the real API.
    if (
      (p.ifGenerationNotMatch !== undefined && p.ifGenerationNotMatch === o.generation) ||
      (p.ifMetagenerationNotMatch !== undefined && p.ifMetagenerationNotMatch === o.metageneration)
    ) {
      res.writeHead(304).end();
      return;
    }
    checkPreconditions(o, { ...p, ifGenerationNotMatch: undefined, ifMetagenerationNotMatch: undefined });
    if (!media) {
      sendJson(res, 200, objectResource(o, base));
      return;
    }
    // The live generation may be replaced between lookup and open; look again once.
    let file = await open(store.dataPath(o)).catch(() => undefined);
    if (!file) {
      o = store.get(bucket, name, q.get('generation'));
      file = await open(store.dataPath(o)).catch(() => undefined);
      if (!file) throw notFoundObject(bucket, name);
    }
    try {
      const range = parseRange(req.headers.range, o.size);
      const headers: Record<string, string | number> = {
        'content-type': o.contentType,
        etag: objectResource(o, base).etag,
        'last-modified': new Date(o.updated).toUTCString(),
        'accept-ranges': 'bytes',
        'x-goog-generation': o.generation,
        'x-goog-metageneration': o.metageneration,
        'x-goog-stored-content-encoding': o.contentEncoding ?? 'identity',
        'x-goog-stored-content-length': o.size,
        'x-goog-hash': `crc32c=${o.crc32c},md5=${o.md5Hash}`,
        'x-goog-storage-class': o.storageClass,
      };
      if (o.contentEncoding) headers['content-encoding'] = o.contentEncoding;
      if (o.contentDisposition) headers['content-disposition'] = o.contentDisposition;
      if (o.cacheControl) headers['cache-control'] = o.cacheControl;
      if (range === 'unsatisfiable') {
        await file.close();
        const err = new GcsError(
          416,
          'requestedRangeNotSatisfiable',
          'The requested range cannot be satisfied.',
        );
        res.setHeader('content-range', `bytes */${o.size}`);
        writeGcsError(res, err);
        return;
      }
      if (o.size === 0) {
        await file.close();
        res.writeHead(200, { ...headers, 'content-length': 0 }).end();
        return;
      }
      const { start, end } = range ?? { start: 0, end: o.size - 1 };
      if (range) headers['content-range'] = `bytes ${start}-${end}/${o.size}`;
      res.writeHead(range ? 206 : 200, { ...headers, 'content-length': end - start + 1 });
      await pipeline(file.createReadStream({ start, end, autoClose: true }), res);
    } finally {
      await file.close().catch(() => undefined);
    }
  };

  const handleUpload = async (
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    q: URLSearchParams,
    base: string,
    method: string,
  ) => {
    const uploadId = q.get('upload_id');
    if (uploadId !== null) {
      const session = sessions.get(uploadId);
      if (!session) throw new GcsError(404, 'notFound', 'No such upload session.');
      if (method === 'DELETE') {
        await drain(req);
        sessions.delete(uploadId);
        await session.writer?.abort();
        res.writeHead(499, { 'content-length': 0 }).end();
        return;
      }
      if (method !== 'PUT' && method !== 'POST') throw new GcsError(405, 'invalid', 'Method not allowed.');
      await resumableChunk(req, res, session, base);
      return;
    }
    if (method !== 'POST') throw new GcsError(405, 'invalid', 'Method not allowed.');
    store.getBucket(bucket);
    const uploadType = q.get('uploadType');
    const preconditions = parsePreconditions(q);
    if (uploadType === 'resumable') {
      const body = await readBody(req);
      const fields = body.length ? parseJson(body, writableFieldsSchema) : {};
      const name = q.get('name') ?? fields.name;
      if (!name) throw new GcsError(400, 'required', 'Required: object name.');
      const contentType = header(req, 'x-upload-content-type');
      if (contentType) fields.contentType = contentType;
      // Checked now too, so a doomed upload fails before any bytes are sent.
      checkPreconditions(store.peek(bucket, name), preconditions);
      const id = randomUUID().replaceAll('-', '');
      const declared = header(req, 'x-upload-content-length');
      sessions.set(id, {
        id,
        bucket,
        name,
        fields,
        preconditions,
        received: 0,
        total: declared ? Number.parseInt(declared, 10) : undefined,
        busy: false,
      });
      const location = `${base}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
      res.writeHead(200, { location, 'x-guploader-uploadid': id, 'content-length': 0 }).end();
      return;
    }
    const writer = await HashingFileWriter.create(store.tempPath());
    try {
      let fields: WritableFieldsInput = {};
      if (uploadType === 'multipart') {
        const boundary = boundaryOf(header(req, 'content-type'));
        const { peakHeldBytes } = await readMultipartRelated(
          req as IncomingMessage & AsyncIterable<Buffer>,
          boundary,
          {
            onMetadata: (_part, body) => {
              fields = body.length ? parseJson(body, writableFieldsSchema) : {};
            },
            onMediaStart: (part) => {
              if (!fields.contentType && part.headers['content-type'])
                fields.contentType = part.headers['content-type'];
            },
            onMediaChunk: (chunk) => writer.write(chunk),
          },
        );
        noteHeld(peakHeldBytes);
      } else if (uploadType === 'media' || uploadType === null) {
        const contentType = header(req, 'content-type');
        if (contentType) fields.contentType = contentType;
        await streamBody(req, (chunk) => writer.write(chunk));
      } else {
        throw invalid(`Unsupported uploadType: ${uploadType}`);
      }
      const name = q.get('name') ?? fields.name;
      if (!name) throw new GcsError(400, 'required', 'Required: object name.');
      const content = await writer.finish();
      const o = await store.commit({ bucket, name, tempFile: writer.path, content, fields, preconditions });
      sendJson(res, 200, objectResource(o, base));
      finalized(o, base);
    } catch (err) {
      await writer.abort();
      throw err;
    }
  };

  const resumableChunk = async (
    req: IncomingMessage,
    res: ServerResponse,
    session: UploadSession,
    base: string,
  ) => {
    if (session.result) {
      await drain(req);
      sendJson(res, 200, objectResource(session.result, base));
      return;
    }
    if (session.busy)
      throw new GcsError(409, 'conflict', 'Another request is writing to this upload session.');
    const range = parseContentRange(header(req, 'content-range'));
    session.busy = true;
    try {
      if (range.total !== undefined) {
        if (session.total !== undefined && session.total !== range.total)
          throw invalid('Content-Range total differs from the declared size.');
        session.total = range.total;
      }
      if (range.start !== undefined) {
        if (range.start > session.received)
          throw invalid(`Chunk starts at ${range.start} but only ${session.received} bytes were received.`);
        session.writer ??= await HashingFileWriter.create(store.tempPath());
        const writer = session.writer;
        // Bytes the server already has are skipped: a retried chunk may overlap what was persisted.
        let position = range.start;
        await streamBody(req, async (chunk) => {
          const skip = Math.min(chunk.length, Math.max(0, session.received - position));
          position += chunk.length;
          if (skip < chunk.length) {
            await writer.write(skip ? chunk.subarray(skip) : chunk);
            session.received = writer.size;
          }
        });
      } else {
        await drain(req);
      }
      if (session.total !== undefined && session.received > session.total)
        throw invalid('Upload is larger than the declared size.');
      const complete = (session.total !== undefined && session.received === session.total) || range.openEnded;
      if (!complete) {
        const headers: Record<string, string | number> = { 'content-length': 0 };
        if (session.received > 0) headers.range = `bytes=0-${session.received - 1}`;
        res.writeHead(308, headers).end();
        return;
      }
      session.writer ??= await HashingFileWriter.create(store.tempPath());
      const content: ContentSummary = await session.writer.finish();
      const fields = { ...session.fields, ...expectedHashes(header(req, 'x-goog-hash')) };
      sessions.delete(session.id);
      const o = await store.commit({
        bucket: session.bucket,
        name: session.name,
        tempFile: session.writer.path,
        content,
        fields,
        preconditions: session.preconditions,
      });
      session.result = o;
      sessions.set(session.id, session);
      sendJson(res, 200, objectResource(o, base));
      finalized(o, base);
    } finally {
      session.busy = false;
    }
  };

  const copyObject = async (
    req: IncomingMessage,
    res: ServerResponse,
    src: { bucket: string; name: string },
    dst: { bucket: string; name: string },
    q: URLSearchParams,
    base: string,
    op: 'rewriteTo' | 'copyTo',
  ) => {
    const body = await readBody(req);
    const input = body.length ? parseJson(body, writableFieldsSchema) : {};
    const source = store.get(src.bucket, src.name, q.get('sourceGeneration'));
    checkPreconditions(source, parsePreconditions(q, true));
    store.getBucket(dst.bucket);
    const preconditions = parsePreconditions(q);
    checkPreconditions(store.peek(dst.bucket, dst.name), preconditions);
    const temp = store.tempPath();
    await copyFile(store.dataPath(source), temp);
    const fields: WritableFieldsInput = {
      contentType: source.contentType,
      contentEncoding: source.contentEncoding,
      contentDisposition: source.contentDisposition,
      contentLanguage: source.contentLanguage,
      cacheControl: source.cacheControl,
      metadata: source.metadata,
      ...withoutUndefined(input),
      md5Hash: undefined,
      crc32c: undefined,
    };
    const o = await store.commit({
      bucket: dst.bucket,
      name: dst.name,
      tempFile: temp,
      content: { size: source.size, md5Hash: source.md5Hash, crc32c: source.crc32c },
      fields,
      preconditions,
    });
    const resource = objectResource(o, base);
    if (op === 'copyTo') sendJson(res, 200, resource);
    else
      sendJson(res, 200, {
        kind: 'storage#rewriteResponse',
        totalBytesRewritten: String(o.size),
        objectSize: String(o.size),
        done: true,
        resource,
      });
    finalized(o, base);
  };

  const composeObject = async (
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    name: string,
    q: URLSearchParams,
    base: string,
  ) => {
    const input = parseJson(await readBody(req), composeSchema);
    const preconditions = parsePreconditions(q);
    const sources = input.sourceObjects.map((s) => {
      const o = store.get(bucket, s.name, s.generation === undefined ? undefined : String(s.generation));
      const want = s.objectPreconditions?.ifGenerationMatch;
      if (want !== undefined) checkPreconditions(o, { ifGenerationMatch: String(want) });
      return o;
    });
    checkPreconditions(store.peek(bucket, name), preconditions);
    const writer = await HashingFileWriter.create(store.tempPath());
    try {
      for (const source of sources) {
        const file = await open(store.dataPath(source));
        try {
          for await (const chunk of file.createReadStream({ autoClose: false }))
            await writer.write(chunk as Buffer);
        } finally {
          await file.close();
        }
      }
      const content = await writer.finish();
      const fields: WritableFieldsInput = {
        contentType: sources[0]?.contentType,
        ...withoutUndefined(input.destination ?? {}),
        md5Hash: undefined,
        crc32c: undefined,
      };
      const o = await store.commit({ bucket, name, tempFile: writer.path, content, fields, preconditions });
      sendJson(res, 200, objectResource(o, base));
      finalized(o, base);
    } catch (err) {
      await writer.abort();
      throw err;
    }
  };

  const server = await startLocalServer(handler, {
    port: opts.port,
    host: opts.host,
    random: opts.random,
    injectedError: writeInjectedGcsError,
    name: 'storage',
  });

  return {
    url: server.url,
    port: server.port,
    faults: server.faults,
    requestLog: server.requestLog,
    dir,
    addNotification: (n) => notifier.add(n),
    notificationsDelivered: () => notifier.delivered(),
    peakBufferedBytes: () => peakBuffered,
    requests: () => recorded,
    close: async () => {
      notifier.close();
      await server.close();
      for (const session of sessions.values()) await session.writer?.abort();
      sessions.clear();
      if (ownsDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

async function controlNotifications(req: IncomingMessage, res: ServerResponse, notifier: Notifier) {
  const body = await readBody(req);
  if (req.method === 'POST') {
    const parsed = notificationSchema.safeParse(body.length ? JSON.parse(body.toString('utf8')) : {});
    if (!parsed.success) {
      writeGcsError(res, invalid(`Body must be {bucket, url, objectNamePrefix?}: ${parsed.error.message}`));
      return;
    }
    notifier.add(parsed.data);
  } else if (req.method === 'DELETE') {
    notifier.clear();
  }
  sendJson(res, 200, { notifications: notifier.list() });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) {
    // discard
  }
}

function parseJson<T extends z.ZodType>(body: Buffer, schema: T): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid('Request body is not valid JSON.');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalid(`Invalid request body: ${parsed.error.message}`);
  return parsed.data;
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** `X-Goog-Hash: crc32c=...,md5=...` sent with a final chunk: the server must verify it. */
function expectedHashes(value: string | undefined): { crc32c?: string; md5Hash?: string } {
  const out: { crc32c?: string; md5Hash?: string } = {};
  for (const pair of (value ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at < 0) continue;
    const key = pair.slice(0, at).trim();
    const v = pair.slice(at + 1).trim();
    if (key === 'crc32c') out.crc32c = v;
    if (key === 'md5') out.md5Hash = v;
  }
  return out;
}

interface ContentRange {
  start?: number;
  end?: number;
  total?: number;
  /** `bytes N-*` : the body runs to the end of the object. */
  openEnded: boolean;
}

export function parseContentRange(value: string | undefined): ContentRange {
  if (value === undefined) return { start: 0, openEnded: true };
  const m = /^bytes (?:\*|(\d+)-(\d+|\*))\/(\*|\d+)$/.exec(value.trim());
  if (!m) throw invalid(`Invalid Content-Range: ${value}`);
  const total = m[3] === '*' ? undefined : Number.parseInt(m[3]!, 10);
  if (m[1] === undefined) return { total, openEnded: false };
  const start = Number.parseInt(m[1], 10);
  if (m[2] === '*') return { start, total, openEnded: true };
  return { start, end: Number.parseInt(m[2]!, 10), total, openEnded: false };
}

export function parseRange(
  value: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!value) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (size === 0) return undefined;
  if (m[1] === '') {
    const suffix = Number.parseInt(m[2]!, 10);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number.parseInt(m[1]!, 10);
  if (start >= size) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Math.min(Number.parseInt(m[2]!, 10), size - 1);
  if (end < start) return undefined;
  return { start, end };
}
