/**
 * Fault injection as the official client experiences it: retryable faults are retried by the
 * client, others surface with the injected code and Google's error body.
 */
import type { Bucket, File } from '@google-cloud/storage';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';

let server: StorageServer;
let bucket: Bucket;
let file: File;

beforeAll(async () => {
  server = await startStorageServer({});
  // Set-up goes through its own client: a multipart `file.save` without ifGenerationMatch turns
  // off `retryOptions.autoRetry` on the Storage instance it was called on (client 7.22 behaviour),
  // which would hide the retries under test.
  const setup = localStorageClient(server.url);
  await setup.createBucket('fault-bucket');
  await setup.bucket('fault-bucket').file('object.txt').save('payload', { resumable: false });
  // Short client backoff keeps retried tests quick; nothing asserts on time.
  const storage = localStorageClient(server.url, {
    retryOptions: { maxRetryDelay: 2, retryDelayMultiplier: 1.5 },
  });
  bucket = storage.bucket('fault-bucket');
  file = bucket.file('object.txt');
});

afterEach(() => {
  server.faults.clear();
});

afterAll(async () => {
  await server.close();
});

describe('fault injection through the official client', () => {
  it.each([
    ['503 twice', { failNext: 2, failStatus: 503 }, 2],
    ['429 once', { failNext: 1, failStatus: 429 }, 1],
    ['a dropped connection', { dropNext: 1 }, 1],
  ])('getMetadata is retried by the client after %s', async (_name, fault, injected) => {
    // Prepare
    server.faults.set({ ...fault, match: 'GET /storage/v1/b/fault-bucket/o/object.txt' });

    // Act
    const [meta] = await file.getMetadata();

    // Assess
    expect(meta.name).toBe('object.txt');
    expect(server.faults.injected).toBe(injected);
  });

  it('a non-retryable injected status fails the call with that code and Google error body', async () => {
    // Prepare
    server.faults.set({ failNext: 1, failStatus: 403, match: 'GET /storage/v1/b/fault-bucket/o/object.txt' });

    // Act
    const err = await file.getMetadata().then(
      () => undefined,
      (e: unknown) => e as { code?: number; errors?: { reason?: string }[]; message?: string },
    );

    // Assess
    expect(err?.code).toBe(403);
    expect(err?.errors?.[0]?.reason).toBe('forbidden');
    expect(err?.message).toContain('injected fault');
    expect(server.faults.injected).toBe(1);
  });

  it('a download is retried after an injected 503', async () => {
    // Prepare
    server.faults.set({ failNext: 1, failStatus: 503, match: 'alt=media' });

    // Act
    const [content] = await file.download();

    // Assess
    expect(content.toString()).toBe('payload');
    expect(server.faults.injected).toBe(1);
  });

  it('a resumable upload survives an injected 503 on a chunk', async () => {
    // Prepare
    const data = Buffer.alloc(600 * 1024, 7);
    server.faults.set({ failNext: 1, failStatus: 503, match: 'PUT /upload/' });
    const before = server.requests().length;

    // Act
    await new Promise<void>((resolve, reject) => {
      // The client retries an upload only when it is idempotent, i.e. has ifGenerationMatch.
      const stream = bucket.file('chunked.bin').createWriteStream({
        resumable: true,
        chunkSize: 256 * 1024,
        preconditionOpts: { ifGenerationMatch: 0 },
      });
      stream.on('error', reject).on('finish', resolve);
      stream.end(data);
    });
    const [content] = await bucket.file('chunked.bin').download();

    // Assess
    expect(server.faults.injected).toBe(1);
    expect(content.equals(data)).toBe(true);
    // After the failed chunk the client asked the session how much the server had persisted.
    expect(
      server
        .requests()
        .slice(before)
        .some((r) => r.contentRange === 'bytes */*'),
    ).toBe(true);
  });

  it('faults can be set over HTTP with POST /__faults', async () => {
    // Prepare
    const res = await fetch(`${server.url}/__faults`, {
      method: 'POST',
      body: JSON.stringify({ failNext: 1, failStatus: 404, match: 'object.txt' }),
    });

    // Act
    const [exists] = await file.exists();

    // Assess
    expect(res.status).toBe(200);
    expect(exists).toBe(false);
    expect(server.faults.injected).toBe(1);
  });
});
