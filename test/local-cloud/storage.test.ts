/**
 * Contract tests of the local Cloud Storage server, driven only through the official client.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Bucket, CRC32C, type File, Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';

let server: StorageServer;
let storage: Storage;
let bucket: Bucket;
let other: Bucket;

beforeAll(async () => {
  server = await startStorageServer({});
  storage = localStorageClient(server.url);
  [bucket] = await storage.createBucket('contract-bucket');
  [other] = await storage.createBucket('other-bucket');
});

afterAll(async () => {
  await server.close();
});

function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('base64');
}

function crc32c(data: Buffer | string): string {
  const crc = new CRC32C();
  crc.update(Buffer.from(data));
  return crc.toString();
}

/** The official client's ApiError carries the HTTP code and Google's error reasons. */
async function apiError(
  p: Promise<unknown>,
): Promise<{ code: unknown; reasons: unknown[]; message: string }> {
  try {
    await p;
  } catch (err) {
    // Resumable-session errors surface as gaxios errors, which carry `status` instead of `code`.
    const e = err as { code?: unknown; status?: unknown; errors?: { reason?: unknown }[]; message?: string };
    return {
      code: e.code ?? e.status,
      reasons: (e.errors ?? []).map((x) => x.reason),
      message: e.message ?? '',
    };
  }
  throw new Error('expected the call to fail');
}

async function dataFileOf(file: File): Promise<string> {
  const sidecar = join(
    server.dir,
    'objects',
    file.bucket.name,
    `${createHash('sha256').update(file.name).digest('hex')}.json`,
  );
  const { dataFile } = JSON.parse(await readFile(sidecar, 'utf8')) as { dataFile: string };
  return join(server.dir, 'data', dataFile);
}

describe('client configuration', () => {
  it('sends no credentials to the local server', async () => {
    // Prepare
    const before = server.requests().length;

    // Act
    await bucket.file('auth-probe').save('x', { resumable: false });
    await bucket.file('auth-probe-resumable').save('x', { resumable: true });
    await bucket.file('auth-probe').download();

    // Assess
    const seen = server.requests().slice(before);
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(seen.filter((r) => r.authorization)).toEqual([]);
  });

  it('also works through STORAGE_EMULATOR_HOST', async () => {
    // Prepare
    const previous = process.env.STORAGE_EMULATOR_HOST;
    process.env.STORAGE_EMULATOR_HOST = server.url;
    let viaEnv: Storage;
    try {
      viaEnv = new Storage({ projectId: 'local-project' });
    } finally {
      if (previous === undefined) delete process.env.STORAGE_EMULATOR_HOST;
      else process.env.STORAGE_EMULATOR_HOST = previous;
    }
    const file = viaEnv.bucket('contract-bucket').file('via-env.txt');

    // Act
    await file.save('through the emulator variable', { resumable: false });
    await file.save('through the emulator variable, resumable', { resumable: true });
    const [content] = await file.download();
    const [meta] = await file.getMetadata();

    // Assess
    expect(content.toString()).toBe('through the emulator variable, resumable');
    expect(meta.name).toBe('via-env.txt');
  });
});

describe('buckets', () => {
  it('creates, gets and lists buckets', async () => {
    // Act
    const [created] = await storage.createBucket('fresh-bucket');
    const [exists] = await storage.bucket('fresh-bucket').exists();
    const [meta] = await storage.bucket('fresh-bucket').getMetadata();
    const [all] = await storage.getBuckets();

    // Assess
    expect(created.name).toBe('fresh-bucket');
    expect(exists).toBe(true);
    expect(meta).toMatchObject({ kind: 'storage#bucket', name: 'fresh-bucket', id: 'fresh-bucket' });
    expect(all.map((b) => b.name)).toEqual(expect.arrayContaining(['contract-bucket', 'fresh-bucket']));
  });

  it.each([
    [
      'a missing bucket is 404 notFound',
      () => storage.bucket('no-such-bucket').getMetadata(),
      404,
      'notFound',
    ],
    [
      'creating an existing bucket is 409 conflict',
      () => storage.createBucket('contract-bucket'),
      409,
      'conflict',
    ],
    [
      'an upload into a missing bucket is 404',
      () => storage.bucket('no-such-bucket').file('x').save('x', { resumable: false }),
      404,
      undefined,
    ],
  ] as const)('%s', async (_name, call, code, reason) => {
    // Act
    const err = await apiError(call());

    // Assess
    expect(err.code).toBe(code);
    if (reason) expect(err.reasons).toContain(reason);
  });

  it('reports a missing bucket as not existing', async () => {
    const [exists] = await storage.bucket('never-created').exists();
    expect(exists).toBe(false);
  });
});

describe('objects', () => {
  it.each([
    ['multipart', false],
    ['resumable', true],
  ])('File.save (%s) stores bytes, real hashes and metadata', async (_kind, resumable) => {
    // Prepare
    const data = Buffer.from(`model bytes ${resumable}\n`.repeat(100));
    const file = bucket.file(`models/save-${resumable}.bin`);

    // Act
    await file.save(data, {
      resumable,
      contentType: 'application/x-onnx',
      metadata: { metadata: { k: 'v' } },
    });
    const [meta] = await file.getMetadata();
    const [downloaded] = await file.download();

    // Assess
    expect(downloaded.equals(data)).toBe(true);
    expect(meta).toMatchObject({
      kind: 'storage#object',
      bucket: 'contract-bucket',
      name: `models/save-${resumable}.bin`,
      contentType: 'application/x-onnx',
      metageneration: '1',
      size: String(data.length),
      md5Hash: md5(data),
      crc32c: crc32c(data),
      metadata: { k: 'v' },
      storageClass: 'STANDARD',
    });
    expect(meta.generation).toMatch(/^\d{16,}$/);
    expect(meta.id).toBe(`contract-bucket/models/save-${resumable}.bin/${meta.generation}`);
  });

  it('gives every write a new, increasing generation', async () => {
    // Prepare
    const file = bucket.file('generations.txt');
    const generations: bigint[] = [];

    // Act
    for (let i = 0; i < 5; i += 1) {
      await file.save(`v${i}`, { resumable: false });
      const [meta] = await file.getMetadata();
      generations.push(BigInt(String(meta.generation)));
    }

    // Assess
    for (let i = 1; i < generations.length; i += 1) expect(generations[i]! > generations[i - 1]!).toBe(true);
    const [content] = await file.download();
    expect(content.toString()).toBe('v4');
  });

  it('downloads byte ranges with 206 Partial Content', async () => {
    // Prepare
    const data = Buffer.from('0123456789abcdefghij');
    const file = bucket.file('ranged.txt');
    await file.save(data, { resumable: false });

    const read = (opts: { start?: number; end?: number }) =>
      new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let status: number | undefined;
        file
          .createReadStream(opts)
          .on('response', (res: { statusCode?: number }) => {
            status = res.statusCode;
          })
          .on('data', (c: Buffer) => chunks.push(c))
          .on('error', reject)
          .on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
      });

    // Act
    const middle = await read({ start: 5, end: 9 });
    const fromOffset = await read({ start: 15 });
    const tail = await read({ end: -3 });
    const [whole] = await file.download();

    // Assess
    expect(middle).toEqual({ status: 206, body: '56789' });
    expect(fromOffset).toEqual({ status: 206, body: 'fghij' });
    expect(tail).toEqual({ status: 206, body: 'hij' });
    expect(whole.toString()).toBe(data.toString());
  });

  it('the client rejects a download whose bytes do not match the stored crc32c', async () => {
    // Prepare: corrupt the stored bytes behind the server's back, keeping the length.
    const file = bucket.file('corrupted.bin');
    await file.save(Buffer.from('precious model weights'), { resumable: false });
    await writeFile(await dataFileOf(file), Buffer.from('PRECIOUS MODEL WEIGHTS'));

    // Act
    const err = await apiError(file.download());

    // Assess
    expect(err.code).toBe('CONTENT_DOWNLOAD_MISMATCH');
  });

  it('exists, getMetadata, download and delete of a missing object answer 404 notFound', async () => {
    // Prepare
    const file = bucket.file('missing/object');

    // Act
    const [exists] = await file.exists();
    const errors = [
      await apiError(file.getMetadata()),
      await apiError(file.download()),
      await apiError(file.delete()),
    ];

    // Assess
    expect(exists).toBe(false);
    for (const err of errors) expect(err.code).toBe(404);
    expect(errors[0]!.reasons).toEqual(['notFound']);
  });

  it('deletes objects', async () => {
    // Prepare
    const file = bucket.file('to-delete.txt');
    await file.save('bye', { resumable: false });
    const [before] = await file.exists();

    // Act
    await file.delete();

    // Assess
    const [after] = await file.exists();
    expect([before, after]).toEqual([true, false]);
  });

  it('uploads with uploadType=media on the wire', async () => {
    // Prepare
    const url = `${server.url}/upload/storage/v1/b/contract-bucket/o?uploadType=media&name=${encodeURIComponent('media/raw.txt')}`;

    // Act
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'raw body',
    });
    const [meta] = await bucket.file('media/raw.txt').getMetadata();
    const [content] = await bucket.file('media/raw.txt').download();

    // Assess
    expect(res.status).toBe(200);
    expect(meta).toMatchObject({ contentType: 'text/plain', size: '8', md5Hash: md5('raw body') });
    expect(content.toString()).toBe('raw body');
  });

  it('bucket.upload sends a local file with a resumable upload', async () => {
    // Prepare
    const local = join(server.dir, 'local-upload-source.bin');
    const data = randomBytes(300 * 1024);
    await writeFile(local, data);
    const before = server.requests().length;

    // Act
    const [file] = await bucket.upload(local, { destination: 'uploaded/file.bin' });
    const [content] = await file.download();

    // Assess
    expect(content.equals(data)).toBe(true);
    const seen = server.requests().slice(before);
    expect(seen.some((r) => r.method === 'POST' && r.url.includes('uploadType=resumable'))).toBe(true);
  });
});

describe('preconditions', () => {
  let file: File;
  let generation: string;
  let metageneration: string;

  beforeAll(async () => {
    file = bucket.file('preconditioned.txt');
    await file.save('first', { resumable: false });
    const [meta] = await file.getMetadata();
    generation = String(meta.generation);
    metageneration = String(meta.metageneration);
  });

  const wrong = () => (BigInt(generation) + 12345n).toString();

  it.each([
    [
      'save ifGenerationMatch=0 on an existing object (multipart)',
      () => file.save('x', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }),
    ],
    [
      'save ifGenerationMatch=0 on an existing object (resumable)',
      () => file.save('x', { resumable: true, preconditionOpts: { ifGenerationMatch: 0 } }),
    ],
    [
      'save ifGenerationMatch=<wrong>',
      () => file.save('x', { resumable: false, preconditionOpts: { ifGenerationMatch: wrong() } }),
    ],
    ['getMetadata ifGenerationMatch=<wrong>', () => file.getMetadata({ ifGenerationMatch: wrong() })],
    ['getMetadata ifMetagenerationMatch=<wrong>', () => file.getMetadata({ ifMetagenerationMatch: 99 })],
    ['delete ifGenerationMatch=<wrong>', () => file.delete({ ifGenerationMatch: wrong() })],
    ['delete ifGenerationNotMatch=<current>', () => file.delete({ ifGenerationNotMatch: generation })],
    ['delete ifMetagenerationMatch=<wrong>', () => file.delete({ ifMetagenerationMatch: 99 })],
    [
      'setMetadata ifMetagenerationMatch=<wrong>',
      () => file.setMetadata({ metadata: { a: 'b' } }, { ifMetagenerationMatch: 99 }),
    ],
    [
      'copy onto an existing destination with ifGenerationMatch=0',
      () => bucket.file('copy-source.txt').copy(file, { preconditionOpts: { ifGenerationMatch: 0 } }),
    ],
  ])('%s fails with 412 conditionNotMet', async (_name, call) => {
    // Prepare
    await bucket.file('copy-source.txt').save('source', { resumable: false });

    // Act
    const err = await apiError(call());

    // Assess
    expect(err.code).toBe(412);
    if (!_name.includes('resumable')) expect(err.reasons).toEqual(['conditionNotMet']);
    const [content] = await file.download();
    expect(content.toString()).toBe('first');
    const [meta] = await file.getMetadata();
    expect([meta.generation, meta.metageneration]).toEqual([generation, metageneration]);
  });

  it('a read whose ifGenerationNotMatch fails is 304 Not Modified, as in GCS', async () => {
    const err = await apiError(file.getMetadata({ ifGenerationNotMatch: generation }));
    expect(err.code).toBe(304);
  });

  it('ifGenerationMatch=0 creates an object that does not exist yet, once', async () => {
    // Prepare
    const fresh = bucket.file(`create-once-${randomBytes(4).toString('hex')}`);

    // Act
    await fresh.save('one', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    const second = await apiError(
      fresh.save('two', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }),
    );

    // Assess
    expect(second.code).toBe(412);
    const [content] = await fresh.download();
    expect(content.toString()).toBe('one');
  });

  it('matching preconditions let writes through', async () => {
    // Prepare
    const target = bucket.file('cas.txt');
    await target.save('v1', { resumable: false });
    const [m1] = await target.getMetadata();

    // Act
    await target.save('v2', {
      resumable: false,
      preconditionOpts: { ifGenerationMatch: String(m1.generation) },
    });
    const [m2] = await target.getMetadata();
    await target.setMetadata(
      { metadata: { stage: 'ready' } },
      { ifMetagenerationMatch: String(m2.metageneration) },
    );
    const [m3] = await target.getMetadata();
    await target.delete({ ifGenerationMatch: String(m3.generation) });

    // Assess
    expect(BigInt(String(m2.generation)) > BigInt(String(m1.generation))).toBe(true);
    expect(m3.metageneration).toBe('2');
    expect(m3.generation).toBe(m2.generation);
    expect(m3.metadata).toEqual({ stage: 'ready' });
    const [exists] = await target.exists();
    expect(exists).toBe(false);
  });
});

describe('listing', () => {
  let listed: Bucket;

  beforeAll(async () => {
    [listed] = await storage.createBucket('listing-bucket');
    const names = ['a.txt', 'dir/1.txt', 'dir/2.txt', 'dir/sub/3.txt', 'other/4.txt', 'z.txt'];
    for (const name of names) await listed.file(name).save(name, { resumable: false });
  });

  it('lists everything in name order', async () => {
    const [files] = await listed.getFiles();
    expect(files.map((f) => f.name)).toEqual([
      'a.txt',
      'dir/1.txt',
      'dir/2.txt',
      'dir/sub/3.txt',
      'other/4.txt',
      'z.txt',
    ]);
  });

  it('filters by prefix and groups by delimiter into prefixes', async () => {
    // Act
    const [files, , response] = await listed.getFiles({ delimiter: '/', autoPaginate: false });
    const [underDir, , dirResponse] = await listed.getFiles({
      prefix: 'dir/',
      delimiter: '/',
      autoPaginate: false,
    });

    // Assess
    expect(files.map((f) => f.name)).toEqual(['a.txt', 'z.txt']);
    expect((response as { prefixes?: string[] }).prefixes).toEqual(['dir/', 'other/']);
    expect(underDir.map((f) => f.name)).toEqual(['dir/1.txt', 'dir/2.txt']);
    expect((dirResponse as { prefixes?: string[] }).prefixes).toEqual(['dir/sub/']);
  });

  it('paginates with maxResults and pageToken', async () => {
    // Act
    const pages: string[][] = [];
    let pageToken: string | undefined;
    do {
      const [files, next] = await listed.getFiles({
        maxResults: 2,
        autoPaginate: false,
        ...(pageToken ? { pageToken } : {}),
      });
      pages.push(files.map((f) => f.name));
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken);
    const [auto] = await listed.getFiles({ maxResults: 4 });

    // Assess
    expect(pages).toEqual([
      ['a.txt', 'dir/1.txt'],
      ['dir/2.txt', 'dir/sub/3.txt'],
      ['other/4.txt', 'z.txt'],
    ]);
    expect(auto).toHaveLength(4);
  });

  it('paginates across delimiter prefixes without repeating them', async () => {
    // Act
    const seen: string[] = [];
    let pageToken: string | undefined;
    do {
      const [files, next, response] = await listed.getFiles({
        delimiter: '/',
        maxResults: 1,
        autoPaginate: false,
        ...(pageToken ? { pageToken } : {}),
      });
      seen.push(...files.map((f) => f.name), ...((response as { prefixes?: string[] }).prefixes ?? []));
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
    } while (pageToken);

    // Assess
    expect(seen).toEqual(['a.txt', 'dir/', 'other/', 'z.txt']);
  });
});

describe('rewrite, patch and compose', () => {
  it('copies an object across buckets server-side, keeping bytes, hashes and metadata', async () => {
    // Prepare
    const data = randomBytes(100_000);
    const source = bucket.file('copy/source.bin');
    await source.save(data, {
      resumable: false,
      contentType: 'application/x-model',
      metadata: { metadata: { m: '1' } },
    });
    const [srcMeta] = await source.getMetadata();
    const before = server.requests().length;

    // Act
    const [copy] = await source.copy(other.file('copied/dest.bin'));
    const [meta] = await copy.getMetadata();
    const [content] = await copy.download();

    // Assess
    expect(content.equals(data)).toBe(true);
    expect(meta).toMatchObject({
      bucket: 'other-bucket',
      name: 'copied/dest.bin',
      contentType: 'application/x-model',
      md5Hash: srcMeta.md5Hash,
      crc32c: srcMeta.crc32c,
      metadata: { m: '1' },
      metageneration: '1',
    });
    expect(meta.generation).not.toBe(srcMeta.generation);
    expect(
      server
        .requests()
        .slice(before)
        .some((r) => r.url.includes('/rewriteTo/b/other-bucket/o/')),
    ).toBe(true);
  });

  it('patches metadata: merges keys, null removes one, metageneration increments', async () => {
    // Prepare
    const file = bucket.file('patched.txt');
    await file.save('p', { resumable: false, metadata: { metadata: { keep: '1', drop: '2' } } });
    const [before] = await file.getMetadata();

    // Act
    await file.setMetadata({ contentType: 'text/csv', metadata: { drop: null, added: '3' } });
    const [after] = await file.getMetadata();

    // Assess
    expect(after).toMatchObject({
      contentType: 'text/csv',
      metadata: { keep: '1', added: '3' },
      metageneration: '2',
      generation: before.generation,
    });
    expect(after.metadata).not.toHaveProperty('drop');
  });

  it('composes objects into one with the combined bytes and hashes', async () => {
    // Prepare
    await bucket.file('part-1').save('hello, ', { resumable: false });
    await bucket.file('part-2').save('world', { resumable: false });

    // Act
    const [combined] = await bucket.combine(['part-1', 'part-2'], 'combined.txt');
    const [content] = await combined.download();
    const [meta] = await combined.getMetadata();

    // Assess
    expect(content.toString()).toBe('hello, world');
    expect(meta).toMatchObject({ md5Hash: md5('hello, world'), crc32c: crc32c('hello, world'), size: '12' });
  });
});

describe('resumable uploads', () => {
  it('uploads a few MiB in several chunks, answering 308 with Range in between', async () => {
    // Prepare
    const data = randomBytes(3 * 1024 * 1024 + 12345);
    const file = bucket.file('resumable/chunked.bin');
    const before = server.requests().length;

    // Act
    await new Promise<void>((resolve, reject) => {
      const stream = file.createWriteStream({ resumable: true, chunkSize: 1024 * 1024 });
      stream.on('error', reject).on('finish', resolve);
      for (let offset = 0; offset < data.length; offset += 100_000)
        stream.write(data.subarray(offset, offset + 100_000));
      stream.end();
    });
    const [content] = await file.download();
    const [meta] = await file.getMetadata();

    // Assess
    expect(content.equals(data)).toBe(true);
    expect(meta.md5Hash).toBe(md5(data));
    const puts = server
      .requests()
      .slice(before)
      .filter((r) => r.method === 'PUT');
    expect(puts.length).toBe(4);
    expect(puts.slice(0, 3).map((r) => r.status)).toEqual([308, 308, 308]);
    expect(puts[3]!.status).toBe(200);
    expect(puts.map((r) => r.contentRange)).toEqual([
      'bytes 0-1048575/*',
      'bytes 1048576-2097151/*',
      'bytes 2097152-3145727/*',
      `bytes 3145728-${data.length - 1}/${data.length}`,
    ]);
  });

  it('answers a status query on a session with the persisted range', async () => {
    // Prepare
    const file = bucket.file('resumable/manual.bin');
    const [uri] = await file.createResumableUpload();
    const first = Buffer.alloc(256 * 1024, 1);
    const second = Buffer.alloc(1000, 2);

    // Act
    const partial = await fetch(uri, {
      method: 'PUT',
      headers: { 'content-range': `bytes 0-${first.length - 1}/*` },
      body: first,
    });
    const status = await fetch(uri, { method: 'PUT', headers: { 'content-range': 'bytes */*' } });
    const total = first.length + second.length;
    const done = await fetch(uri, {
      method: 'PUT',
      headers: { 'content-range': `bytes ${first.length}-${total - 1}/${total}` },
      body: second,
    });
    const [content] = await file.download();

    // Assess
    expect([partial.status, partial.headers.get('range')]).toEqual([308, `bytes=0-${first.length - 1}`]);
    expect([status.status, status.headers.get('range')]).toEqual([308, `bytes=0-${first.length - 1}`]);
    expect(done.status).toBe(200);
    expect(content.equals(Buffer.concat([first, second]))).toBe(true);
  });
});

describe('state', () => {
  it('lets exactly one of many concurrent ifGenerationMatch=0 creates win', async () => {
    // Prepare
    const name = `race-${randomBytes(4).toString('hex')}`;

    // Act
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        bucket
          .file(name)
          .save(`writer ${i}`, { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }),
      ),
    );

    // Assess
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes.filter((x) => x.status === 'rejected'))
      expect((o as PromiseRejectedResult).reason).toMatchObject({ code: 412 });
  });

  it('survives a restart on the same state dir', async () => {
    // Prepare
    const first = await startStorageServer({ dir: join(server.dir, 'restart-state') });
    const before = localStorageClient(first.url);
    await before.createBucket('durable');
    await before.bucket('durable').file('kept.txt').save('still here', { resumable: false });
    const [metaBefore] = await before.bucket('durable').file('kept.txt').getMetadata();
    await first.close();

    // Act
    const second = await startStorageServer({ dir: join(server.dir, 'restart-state') });
    const after = localStorageClient(second.url).bucket('durable');
    const [content] = await after.file('kept.txt').download();
    const [metaAfter] = await after.file('kept.txt').getMetadata();
    await after.file('kept.txt').save('newer', { resumable: false });
    const [metaNewer] = await after.file('kept.txt').getMetadata();
    await second.close();

    // Assess
    expect(content.toString()).toBe('still here');
    expect(metaAfter.generation).toBe(metaBefore.generation);
    expect(BigInt(String(metaNewer.generation)) > BigInt(String(metaBefore.generation))).toBe(true);
  });
});
