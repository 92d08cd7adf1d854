/**
 * Large objects stream between socket and disk: the server writes an upload to disk while the
 * client is still sending it, and never holds more than a socket chunk of it in memory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Bucket } from '@google-cloud/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';

const MiB = 1024 * 1024;
const OBJECT_SIZE = 64 * MiB;

let server: StorageServer;
let bucket: Bucket;

// A server per test, so each test's peak-buffer reading is its own.
beforeEach(async () => {
  server = await startStorageServer({});
  [bucket] = await localStorageClient(server.url).createBucket('stream-bucket');
});

afterEach(async () => {
  await server.close();
});

async function write(stream: Writable, chunk: Buffer): Promise<void> {
  if (!stream.write(chunk)) await new Promise((resolve) => stream.once('drain', resolve));
}

/** Size of the largest upload in progress in the server's temp dir. */
async function largestTempFile(): Promise<number> {
  const dir = join(server.dir, 'tmp');
  let largest = 0;
  for (const name of await readdir(dir)) {
    const size = await stat(join(dir, name)).then(
      (s) => s.size,
      () => 0,
    );
    largest = Math.max(largest, size);
  }
  return largest;
}

async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  // Bounded by the test timeout; nothing here measures how long it takes.
  while (!(await condition())) await new Promise((r) => setTimeout(r, 20));
}

describe.each([
  ['multipart', false],
  ['resumable', true],
])('a %s upload of 64 MiB', (kind, resumable) => {
  it('is on disk before the client finishes sending, is never buffered whole, and downloads intact', async () => {
    // Prepare
    const file = bucket.file(`large/${kind}.bin`);
    const sent = createHash('md5');
    const block = randomBytes(MiB);
    const stream = file.createWriteStream({ resumable, contentType: 'application/octet-stream' });
    const finished = new Promise<void>((resolve, reject) => stream.on('finish', resolve).on('error', reject));

    // Act: send half, wait until the server has written a quarter to disk, then send the rest.
    for (let i = 0; i < OBJECT_SIZE / MiB; i += 1) {
      if (i === OBJECT_SIZE / MiB / 2)
        await waitFor(async () => (await largestTempFile()) >= OBJECT_SIZE / 4);
      const chunk = Buffer.from(block);
      chunk.writeUInt32BE(i, 0);
      sent.update(chunk);
      await write(stream, chunk);
    }
    stream.end();
    await finished;

    const [meta] = await file.getMetadata();
    const received = createHash('md5');
    let receivedBytes = 0;
    await new Promise<void>((resolve, reject) => {
      file
        .createReadStream()
        .on('data', (c: Buffer) => {
          received.update(c);
          receivedBytes += c.length;
        })
        .on('error', reject)
        .on('end', resolve);
    });

    // Assess
    const expectedMd5 = sent.digest('base64');
    expect(meta.size).toBe(String(OBJECT_SIZE));
    expect(meta.md5Hash).toBe(expectedMd5);
    expect(receivedBytes).toBe(OBJECT_SIZE);
    expect(received.digest('base64')).toBe(expectedMd5);
    const dataFiles = await readdir(join(server.dir, 'data'));
    const sizes = await Promise.all(
      dataFiles.map(async (f) => (await stat(join(server.dir, 'data', f))).size),
    );
    expect(sizes).toContain(OBJECT_SIZE);
    expect(server.peakBufferedBytes()).toBeGreaterThan(0);
    expect(server.peakBufferedBytes()).toBeLessThan(2 * MiB);
  });
});
