/**
 * Leases, held to one table over the memory store and the Cloud Storage store (the production
 * adapter over the official client, against the local storage server): taken once, refused to a
 * second holder with a retryable error, taken over once expired, renewed while held, released
 * only by their holder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';
import { GcsLeaseStore } from '../../shared/adapters/lease-gcs';
import { GcsObjectStore } from '../../shared/adapters/storage';
import { ManualClock } from '../../shared/runtime/clock';
import { RetryableError } from '../../shared/runtime/errors';
import {
  LeaseHeldError,
  LeaseLostError,
  type LeaseStore,
  Leases,
  MemoryLeaseStore,
} from '../../shared/runtime/lease';

const BUCKET = 'lease-state';
const TTL = 60_000;
let server: StorageServer;
let objects: GcsObjectStore;
let n = 0;

beforeAll(async () => {
  server = await startStorageServer({});
  const gcs = localStorageClient(server.url);
  await gcs.createBucket(BUCKET);
  objects = new GcsObjectStore(gcs);
});
afterAll(async () => {
  await server?.close();
});

const STORES: Array<[string, () => LeaseStore]> = [
  ['memory', () => new MemoryLeaseStore()],
  ['Cloud Storage', () => new GcsLeaseStore({ objects, bucket: BUCKET })],
];

/** Two instances sharing a store and a clock; renewals off unless asked (a huge period). */
function instances(store: LeaseStore, renewEveryMs = TTL - 1) {
  const clock = new ManualClock();
  const a = new Leases({ store, clock, ttlMs: TTL, renewEveryMs, instanceId: 'a' });
  const b = new Leases({ store, clock, ttlMs: TTL, renewEveryMs, instanceId: 'b' });
  return { clock, a, b, name: `deploy/model/m${n++}` };
}

describe.each(STORES)('Leases over the %s store', (_label, makeStore) => {
  it('gives a held lease to nobody else: LEASE_HELD, retryable, naming the holder', async () => {
    // Prepare
    const { a, b, name } = instances(makeStore());
    const held = await a.acquire(name, 'event-1');

    // Act
    const refused = await b.acquire(name, 'event-2').catch((e: unknown) => e);

    // Assess
    expect(refused).toBeInstanceOf(LeaseHeldError);
    expect(refused).toBeInstanceOf(RetryableError);
    expect(refused).toMatchObject({ reason: 'LEASE_HELD', details: { holder: 'a/event-1' } });
    expect(held.holder).toBe('a/event-1');
    await held.release();
  });

  it('lets exactly one of several concurrent takers win', async () => {
    // Prepare
    const { a, b, name } = instances(makeStore());

    // Act
    const results = await Promise.allSettled([a, b, a, b].map((l, i) => l.acquire(name, `e${i}`)));

    // Assess
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LeaseHeldError);
    for (const r of results) if (r.status === 'fulfilled') await r.value.release();
  });

  it('is free again once released, and a release by a former holder leaves the new holder alone', async () => {
    // Prepare
    const { clock, a, b, name } = instances(makeStore());
    const first = await a.acquire(name, 'crashed');
    clock.advance(TTL); // first stops renewing (a crash) and expires
    const second = await b.acquire(name, 'redelivery');

    // Act
    await first.release();
    const refused = await a.acquire(name, 'third').catch((e: unknown) => e);

    // Assess: the late release did not free second's lease
    expect(refused).toBeInstanceOf(LeaseHeldError);
    await second.release();
    const third = await a.acquire(name, 'third');
    expect(third.holder).toBe('a/third');
    await third.release();
  });

  it('is taken over only after its expiry (an injectable clock, no sleeps)', async () => {
    // Prepare
    const { clock, a, b, name } = instances(makeStore());
    const crashed = await a.acquire(name, 'crashed');

    // Act
    clock.advance(TTL - 1);
    const early = await b.acquire(name, 'early').catch((e: unknown) => e);
    clock.advance(1);
    const taken = await b.acquire(name, 'late');

    // Assess
    expect(early).toBeInstanceOf(LeaseHeldError);
    expect(taken.holder).toBe('b/late');
    await expect(crashed.renew()).rejects.toBeInstanceOf(LeaseLostError);
    expect(crashed.lost).toBe(true);
    expect(() => crashed.assertHeld()).toThrow(LeaseLostError);
    await taken.release();
  });

  it('renews itself while held: past its first expiry it is still held', async () => {
    // Prepare: a heartbeat every 2 ms of real time
    const { clock, a, b, name } = instances(makeStore(), 2);
    const held = await a.acquire(name, 'long-deploy');
    const firstExpiry = held.expiresAtEpochMs;

    // Act: time moves on; wait (bounded) for a beat to have moved the expiry
    clock.advance(TTL - 1);
    for (let i = 0; i < 500 && held.expiresAtEpochMs === firstExpiry; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    clock.advance(2);
    const refused = await b.acquire(name, 'rival').catch((e: unknown) => e);

    // Assess
    expect(held.expiresAtEpochMs).toBeGreaterThan(firstExpiry);
    expect(refused).toBeInstanceOf(LeaseHeldError);
    expect(() => held.assertHeld()).not.toThrow();
    await held.release();
  });

  it('withLease releases after the work, also when the work throws', async () => {
    // Prepare
    const { a, b, name } = instances(makeStore());

    // Act
    const thrown = await a
      .withLease(name, 'x', async () => {
        throw new Error('boom');
      })
      .catch((e: unknown) => e);
    const value = await b.withLease(name, 'y', async (lease) => lease.holder);

    // Assess
    expect(thrown).toMatchObject({ message: 'boom' });
    expect(value).toBe('b/y');
  });
});

describe('GcsLeaseStore', () => {
  it('keeps a lease as one JSON object under _inferplane/leases/ in the state bucket', async () => {
    // Prepare
    const store = new GcsLeaseStore({ objects, bucket: BUCKET });
    const leases = new Leases({ store, clock: new ManualClock(), instanceId: 'i' });

    // Act
    const lease = await leases.acquire('deploy/pool/triton-l4', 'ev');
    const stored = await objects.readText({
      bucket: BUCKET,
      name: '_inferplane/leases/deploy/pool/triton-l4.json',
    });
    await lease.release();
    const after = await objects.stat({
      bucket: BUCKET,
      name: '_inferplane/leases/deploy/pool/triton-l4.json',
    });

    // Assess
    expect(JSON.parse(stored?.text ?? '{}')).toMatchObject({ name: 'deploy/pool/triton-l4', holder: 'i/ev' });
    expect(after).toBeUndefined();
  });

  it('reads an unreadable record as expired, so it is taken over rather than blocking for ever', async () => {
    // Prepare
    const store = new GcsLeaseStore({ objects, bucket: BUCKET });
    await objects.writeText({ bucket: BUCKET, name: '_inferplane/leases/broken.json' }, '{not json');
    const leases = new Leases({ store, clock: new ManualClock(), instanceId: 'i' });

    // Act
    const lease = await leases.acquire('broken', 'ev');

    // Assess
    expect(lease.holder).toBe('i/ev');
    await lease.release();
  });
});

describe('Leases options', () => {
  it.each([
    [0, 1],
    [1000, 1000],
    [1000, 0],
  ])('refuses ttlMs=%s renewEveryMs=%s', (ttlMs, renewEveryMs) => {
    expect(
      () => new Leases({ store: new MemoryLeaseStore(), clock: new ManualClock(), ttlMs, renewEveryMs }),
    ).toThrow(RangeError);
  });
});
