/**
 * Object-finalize CloudEvents, as Eventarc delivers them to a Cloud Run function.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bucket } from '@google-cloud/storage';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A stand-in for a Cloud Run function: records deliveries, answers with the next scripted status. */
class Receiver {
  readonly received: Received[] = [];
  statuses: number[] = [];
  hold?: Promise<void>;
  #server?: Server;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        void (this.hold ?? Promise.resolve()).then(() => {
          res.writeHead(this.statuses.shift() ?? 204).end();
        });
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/`;
  }

  reset(): void {
    this.received.length = 0;
    this.statuses = [];
    this.hold = undefined;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((resolve) => this.#server?.close(resolve));
  }
}

let server: StorageServer;
let bucket: Bucket;
let otherBucket: Bucket;
const receiver = new Receiver();

beforeAll(async () => {
  await receiver.start();
  server = await startStorageServer({ notifications: { initialBackoffMs: 5 } });
  const storage = localStorageClient(server.url);
  [bucket] = await storage.createBucket('notify-bucket');
  [otherBucket] = await storage.createBucket('quiet-bucket');
  server.addNotification({ bucket: 'notify-bucket', url: receiver.url, objectNamePrefix: 'models/' });
});

afterEach(async () => {
  await server.notificationsDelivered();
  receiver.reset();
});

afterAll(async () => {
  await server.close();
  await receiver.close();
});

describe('object finalize notifications', () => {
  it('POSTs a binary-mode CloudEvent with the StorageObjectData body', async () => {
    // Prepare
    const file = bucket.file('models/resnet/1/model.onnx');

    // Act
    await file.save('onnx!', {
      resumable: false,
      contentType: 'application/octet-stream',
      metadata: { metadata: { a: 'b' } },
    });
    await server.notificationsDelivered();
    const [meta] = await file.getMetadata();

    // Assess
    expect(receiver.received).toHaveLength(1);
    const { headers, body } = receiver.received[0]!;
    expect(headers).toMatchObject({
      'ce-specversion': '1.0',
      'ce-type': 'google.cloud.storage.object.v1.finalized',
      'ce-source': '//storage.googleapis.com/projects/_/buckets/notify-bucket',
      'ce-subject': 'objects/models/resnet/1/model.onnx',
      'content-type': 'application/json',
    });
    expect(headers['ce-id']).toMatch(/\S+/);
    expect(Number.isNaN(Date.parse(String(headers['ce-time'])))).toBe(false);
    const data = JSON.parse(body) as Record<string, unknown>;
    expect(data).toMatchObject({
      kind: 'storage#object',
      bucket: 'notify-bucket',
      name: 'models/resnet/1/model.onnx',
      generation: meta.generation,
      metageneration: '1',
      size: '5',
      md5Hash: meta.md5Hash,
      crc32c: meta.crc32c,
      contentType: 'application/octet-stream',
      metadata: { a: 'b' },
      etag: meta.etag,
      id: meta.id,
      storageClass: 'STANDARD',
      timeCreated: meta.timeCreated,
      updated: meta.updated,
      timeStorageClassUpdated: meta.timeStorageClassUpdated,
    });
    // int64 fields travel as JSON strings, as in real deliveries.
    expect(body).toMatch(/"generation":"\d+"/);
    expect(body).toMatch(/"size":"5"/);
    expect(typeof data.selfLink).toBe('string');
    expect(typeof data.mediaLink).toBe('string');
  });

  it.each([
    ['a resumable upload', () => bucket.file('models/r.bin').save('r', { resumable: true }), 'models/r.bin'],
    [
      'a server-side copy',
      async () => {
        await bucket.file('staging/c.bin').save('c', { resumable: false });
        await bucket.file('staging/c.bin').copy(bucket.file('models/c.bin'));
      },
      'models/c.bin',
    ],
  ])('is sent after %s', async (_name, act, expectedName) => {
    // Act
    await act();
    await server.notificationsDelivered();

    // Assess
    expect(receiver.received.map((r) => r.headers['ce-subject'])).toEqual([`objects/${expectedName}`]);
  });

  it('is not sent for other prefixes, other buckets, metadata patches or deletes', async () => {
    // Prepare
    await bucket.file('models/patched').save('p', { resumable: false });
    await server.notificationsDelivered();
    receiver.reset();

    // Act
    await bucket.file('logs/x.txt').save('x', { resumable: false });
    await otherBucket.file('models/y.txt').save('y', { resumable: false });
    await bucket.file('models/patched').setMetadata({ metadata: { k: 'v' } });
    await bucket.file('models/patched').delete();
    await server.notificationsDelivered();

    // Assess
    expect(receiver.received).toEqual([]);
  });

  it('gives each event its own ce-id', async () => {
    // Act
    await bucket.file('models/one').save('1', { resumable: false });
    await bucket.file('models/one').save('2', { resumable: false });
    await server.notificationsDelivered();

    // Assess
    const ids = receiver.received.map((r) => r.headers['ce-id']);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
  });

  it('retries a 5xx answer with the same ce-id, and stops after success', async () => {
    // Prepare
    receiver.statuses = [503, 500, 200];

    // Act
    await bucket.file('models/retried').save('r', { resumable: false });
    await server.notificationsDelivered();

    // Assess
    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((r) => r.headers['ce-id'])).size).toBe(1);
  });

  it('does not retry a 4xx answer', async () => {
    // Prepare
    receiver.statuses = [400];

    // Act
    await bucket.file('models/rejected').save('r', { resumable: false });
    await server.notificationsDelivered();

    // Assess
    expect(receiver.received).toHaveLength(1);
  });

  it('never holds the upload response while the endpoint is slow', async () => {
    // Prepare
    let release = () => {};
    receiver.hold = new Promise<void>((resolve) => {
      release = resolve;
    });

    // Act: the save must resolve although the endpoint has not answered.
    await bucket.file('models/held').save('h', { resumable: false });
    const pendingBeforeRelease = receiver.received.length;
    release();
    await server.notificationsDelivered();

    // Assess
    expect(pendingBeforeRelease).toBeLessThanOrEqual(1);
    expect(receiver.received).toHaveLength(1);
  });

  it('can be registered over HTTP with POST /__notifications', async () => {
    // Prepare
    const res = await fetch(`${server.url}/__notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ bucket: 'quiet-bucket', url: receiver.url, objectNamePrefix: 'http/' }),
    });
    const bad = await fetch(`${server.url}/__notifications`, { method: 'POST', body: '{"bucket":""}' });

    // Act
    await otherBucket.file('http/registered').save('x', { resumable: false });
    await server.notificationsDelivered();

    // Assess
    expect(res.status).toBe(200);
    expect(bad.status).toBe(400);
    expect(receiver.received.map((r) => r.headers['ce-source'])).toEqual([
      '//storage.googleapis.com/projects/_/buckets/quiet-bucket',
    ]);
  });
});

describe('delivery to an unreachable endpoint', () => {
  it('is attempted a few times and then given up, without failing the upload', async () => {
    // Prepare
    const attempts: { error?: string }[] = [];
    const isolated = await startStorageServer({
      notifications: { initialBackoffMs: 1, maxAttempts: 3, onAttempt: (a) => attempts.push(a) },
    });
    const b = localStorageClient(isolated.url).bucket('dead-letter');
    await localStorageClient(isolated.url).createBucket('dead-letter');
    isolated.addNotification({ bucket: 'dead-letter', url: 'http://127.0.0.1:1/' });

    // Act
    await b.file('x').save('x', { resumable: false });
    await isolated.notificationsDelivered();
    await isolated.close();

    // Assess
    expect(attempts).toHaveLength(3);
    for (const a of attempts) expect(a.error).toBeDefined();
  });
});
