/**
 * The idempotency scenarios again, with GcsIdempotencyStore over the official client against the
 * local Cloud Storage server: the atomicity comes from real generation preconditions on the wire.
 */
import type { Bucket } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';
import { GcsIdempotencyStore } from '../../shared/adapters/idempotency-gcs';
import { ManualClock } from '../../shared/runtime/clock';
import { RetryableError } from '../../shared/runtime/errors';
import type { IdempotencyRecord } from '../../shared/runtime/idempotency';
import { IDEMPOTENCY_SCENARIOS } from '../runtime/idempotency-scenarios';

let server: StorageServer;
let bucket: Bucket;

beforeAll(async () => {
  server = await startStorageServer({});
  [bucket] = await localStorageClient(server.url).createBucket('acme-inferplane-state');
});

afterAll(async () => {
  await server.close();
});

const record = (key: string, overrides: Partial<IdempotencyRecord> = {}): IdempotencyRecord => ({
  key,
  status: 'INPROGRESS',
  payloadHash: 'h',
  lockedUntilEpochMs: 1_000,
  expiresAtEpochSec: 2_000,
  ...overrides,
});

describe('runIdempotent with GcsIdempotencyStore (local Cloud Storage)', () => {
  it.each(IDEMPOTENCY_SCENARIOS.map((s) => [s.name, s] as const))('%s', async (_name, scenario) => {
    await scenario.run({ store: new GcsIdempotencyStore({ bucket }), clock: new ManualClock() });
  });
});

describe('GcsIdempotencyStore', () => {
  it('creates idempotency/<key>.json once; a second create reports exists', async () => {
    // Prepare
    const store = new GcsIdempotencyStore({ bucket });

    // Act
    const first = await store.create(record('create-once'));
    const second = await store.create(record('create-once', { payloadHash: 'other' }));

    // Assess
    expect(first).toEqual({ outcome: 'created', version: expect.stringMatching(/^\d+$/) });
    expect(second).toEqual({ outcome: 'exists' });
    const creates = server.requests().filter((r) => r.url.includes('create-once'));
    expect(
      creates.filter((r) => r.method === 'POST').map((r) => [r.status, /ifGenerationMatch=0/.test(r.url)]),
    ).toEqual([
      [200, true],
      [412, true],
    ]);
    const [content] = await bucket.file('idempotency/create-once.json').download();
    expect(JSON.parse(content.toString())).toEqual(record('create-once'));
  });

  it('updates at the read generation only, and reads back the new version', async () => {
    // Prepare
    const store = new GcsIdempotencyStore({ bucket, prefix: 'state/idem/' });
    const created = await store.create(record('update'));
    if (created.outcome !== 'created') throw new Error('not created');

    // Act
    const updated = await store.update(
      record('update', { status: 'COMPLETED', result: { n: 1 } }),
      created.version,
    );
    const stale = await store.update(record('update', { status: 'INPROGRESS' }), created.version);
    const read = await store.get('update');

    // Assess
    expect(updated.outcome).toBe('updated');
    expect(stale).toEqual({ outcome: 'conflict' });
    expect(read?.record).toMatchObject({ status: 'COMPLETED', result: { n: 1 } });
    expect(read?.version).toBe(updated.outcome === 'updated' ? updated.version : 'none');
  });

  it('treats an update of a deleted record as a conflict', async () => {
    const store = new GcsIdempotencyStore({ bucket });
    const created = await store.create(record('gone'));
    if (created.outcome !== 'created') throw new Error('not created');
    await store.delete('gone');
    expect(await store.update(record('gone'), created.version)).toEqual({ outcome: 'conflict' });
    expect(await store.get('gone')).toBeUndefined();
  });

  it('deletes only at the expected generation', async () => {
    // Prepare
    const store = new GcsIdempotencyStore({ bucket });
    const created = await store.create(record('delete'));
    if (created.outcome !== 'created') throw new Error('not created');
    const updated = await store.update(record('delete', { status: 'COMPLETED' }), created.version);

    // Act
    await store.delete('delete', created.version);
    const afterStaleDelete = await store.get('delete');
    await store.delete('delete', updated.outcome === 'updated' ? updated.version : undefined);

    // Assess
    expect(afterStaleDelete?.record.status).toBe('COMPLETED');
    expect(await store.get('delete')).toBeUndefined();
  });

  it('reports an unreadable record as expired, so it can be taken over', async () => {
    // Prepare
    await bucket.file('idempotency/corrupt.json').save('{not json', { resumable: false });
    const store = new GcsIdempotencyStore({ bucket });

    // Act
    const read = await store.get('corrupt');

    // Assess
    expect(read?.record).toMatchObject({ key: 'corrupt', expiresAtEpochSec: 0, lockedUntilEpochMs: 0 });
  });

  it('turns a server failure into a RetryableError carrying the cause', async () => {
    // Prepare: a bucket that does not exist answers 404 on writes.
    const store = new GcsIdempotencyStore({
      bucket: localStorageClient(server.url).bucket('no-such-bucket'),
    });

    // Act
    let caught: unknown;
    try {
      await store.create(record('x'));
    } catch (err) {
      caught = err;
    }

    // Assess
    expect(caught).toBeInstanceOf(RetryableError);
    expect(caught).toMatchObject({ reason: 'IDEMPOTENCY_STORE_UNAVAILABLE', details: { httpCode: 404 } });
    expect((caught as Error).cause).toBeDefined();
  });
});
