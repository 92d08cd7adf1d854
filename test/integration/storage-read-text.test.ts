/**
 * The Storage adapter's readText against the local Cloud Storage server through the official
 * client: one media GET gives the text and the generation, size and hashes it belongs to (the
 * x-goog-* headers Cloud Storage sends with a download), and a missing object is undefined.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StorageServer, startStorageServer } from '../../infra/local/storage';
import { localStorageClient } from '../../infra/local/storage/client';
import { GcsObjectStore, infoFromHeaders } from '../../shared/adapters/storage';

const BUCKET = 'read-text-bucket';

describe('GcsObjectStore.readText', () => {
  let server: StorageServer;
  let store: GcsObjectStore;
  beforeAll(async () => {
    server = await startStorageServer({});
    const client = localStorageClient(server.url);
    await client.createBucket(BUCKET);
    store = new GcsObjectStore(client);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('reads text and its info in one request, as the metadata says', async () => {
    const ref = { bucket: BUCKET, name: 'records/a.json' };
    const written = await store.writeText(ref, '{"a":"é"}\n', { contentType: 'application/json' });
    const before = server.requestLog.length;

    const read = await store.readText(ref);

    expect(server.requestLog.slice(before).map((r) => r.method)).toEqual(['GET']);
    expect(read?.text).toBe('{"a":"é"}\n');
    expect(read?.info).toMatchObject({
      bucket: BUCKET,
      name: ref.name,
      generation: written.generation,
      metageneration: written.metageneration,
      size: written.size,
      crc32c: written.crc32c,
      md5Hash: written.md5Hash,
      contentType: 'application/json',
    });
  });

  it('a missing object is undefined, in one request', async () => {
    const before = server.requestLog.length;
    expect(await store.readText({ bucket: BUCKET, name: 'records/none.json' })).toBeUndefined();
    expect(server.requestLog.length - before).toBe(1);
  });
});

describe('infoFromHeaders', () => {
  const ref = { bucket: 'b', name: 'o' };
  it.each([
    {
      name: 'one x-goog-hash header with both hashes',
      headers: {
        'x-goog-generation': '7',
        'x-goog-metageneration': '2',
        'x-goog-stored-content-length': '10',
        'x-goog-hash': 'crc32c=AAAAAA==,md5=BBBB',
      },
      want: { generation: '7', metageneration: '2', size: 10n, crc32c: 'AAAAAA==', md5Hash: 'BBBB' },
    },
    {
      name: 'two x-goog-hash headers (as Cloud Storage sends them)',
      headers: {
        'x-goog-generation': '7',
        'x-goog-stored-content-length': '0',
        'x-goog-hash': ['crc32c=AAAAAA==', 'md5=BBBB'],
      },
      want: { generation: '7', metageneration: '0', size: 0n, crc32c: 'AAAAAA==', md5Hash: 'BBBB' },
    },
  ])('$name', ({ headers, want }) => {
    expect(infoFromHeaders(headers, ref)).toMatchObject({ bucket: 'b', name: 'o', ...want });
  });

  it.each([
    { name: 'no generation', headers: { 'x-goog-stored-content-length': '1' } },
    { name: 'no stored length', headers: { 'x-goog-generation': '7' } },
    {
      name: 'a generation that is not a number',
      headers: { 'x-goog-generation': 'x', 'x-goog-stored-content-length': '1' },
    },
  ])('$name: undefined (the adapter reads the metadata instead)', ({ headers }) => {
    expect(infoFromHeaders(headers, ref)).toBeUndefined();
  });
});
