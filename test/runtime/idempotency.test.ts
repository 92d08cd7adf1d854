import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/runtime/clock';
import {
  hashPayload,
  idempotencyKeyFromEvent,
  idempotencyKeyFromObject,
  MemoryIdempotencyStore,
  runIdempotent,
} from '../../shared/runtime/idempotency';
import { IDEMPOTENCY_SCENARIOS } from './idempotency-scenarios';

describe('runIdempotent with MemoryIdempotencyStore', () => {
  it.each(IDEMPOTENCY_SCENARIOS.map((s) => [s.name, s] as const))('%s', async (_name, scenario) => {
    await scenario.run({ store: new MemoryIdempotencyStore(), clock: new ManualClock() });
  });

  it('stores the record with its units: lock in epoch ms, expiry in epoch seconds', async () => {
    // Prepare
    const store = new MemoryIdempotencyStore();
    const clock = new ManualClock(Date.UTC(2026, 10, 28, 12, 0, 0, 500));
    const key = idempotencyKeyFromEvent({ source: 's', id: '1' });

    // Act
    await runIdempotent(
      { store, clock, key, payload: { a: 1 }, lockMs: 30_000, ttlSeconds: 600 },
      async () => ({
        ok: true,
      }),
    );

    // Assess
    const stored = await store.get(key);
    expect(stored?.record).toEqual({
      key,
      status: 'COMPLETED',
      payloadHash: hashPayload({ a: 1 }),
      lockedUntilEpochMs: clock.nowMs(),
      expiresAtEpochSec: Math.floor(clock.nowMs() / 1000) + 600,
      result: { ok: true },
    });
  });

  it('leaves no record behind after a retryable failure', async () => {
    const store = new MemoryIdempotencyStore();
    const options = { store, clock: new ManualClock(), key: 'k', payload: 1, lockMs: 1000, ttlSeconds: 60 };
    await expect(
      runIdempotent(options, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(store.size).toBe(0);
  });

  it.each([
    [0, 60],
    [1000, 0],
    [Number.NaN, 60],
  ])('refuses lockMs=%s ttlSeconds=%s', async (lockMs, ttlSeconds) => {
    const options = { store: new MemoryIdempotencyStore(), clock: new ManualClock(), key: 'k', payload: 1 };
    await expect(runIdempotent({ ...options, lockMs, ttlSeconds }, async () => 1)).rejects.toThrow(
      RangeError,
    );
  });
});

describe('MemoryIdempotencyStore', () => {
  const record = {
    key: 'k',
    status: 'INPROGRESS' as const,
    payloadHash: 'h',
    lockedUntilEpochMs: 1,
    expiresAtEpochSec: 2,
  };

  it('creates once, then reports exists', async () => {
    const store = new MemoryIdempotencyStore();
    expect((await store.create(record)).outcome).toBe('created');
    expect(await store.create(record)).toEqual({ outcome: 'exists' });
  });

  it('updates only at the expected version', async () => {
    const store = new MemoryIdempotencyStore();
    const created = await store.create(record);
    if (created.outcome !== 'created') throw new Error('not created');
    const updated = await store.update({ ...record, status: 'COMPLETED' }, created.version);
    expect(updated.outcome).toBe('updated');
    expect(await store.update(record, created.version)).toEqual({ outcome: 'conflict' });
    expect(await store.update({ ...record, key: 'absent' }, created.version)).toEqual({
      outcome: 'conflict',
    });
    expect((await store.get('k'))?.record.status).toBe('COMPLETED');
  });

  it('deletes only at the expected version when one is given', async () => {
    const store = new MemoryIdempotencyStore();
    await store.create(record);
    await store.delete('k', 'not-the-version');
    expect(store.size).toBe(1);
    await store.delete('k');
    expect(store.size).toBe(0);
  });
});

describe('idempotency keys', () => {
  it('derive a sha256 hex key from the CloudEvent source and id', () => {
    const key = idempotencyKeyFromEvent({ source: '//pubsub.googleapis.com/projects/p/topics/t', id: '42' });
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(idempotencyKeyFromEvent({ source: '//pubsub.googleapis.com/projects/p/topics/t', id: '42' })).toBe(
      key,
    );
  });

  it.each([
    ['another id', { source: 'a', id: '2' }],
    ['another source', { source: 'b', id: '1' }],
    ['a shifted separator', { source: 'a1', id: '' }],
  ])('give a different key for %s', (_what, event) => {
    expect(idempotencyKeyFromEvent(event)).not.toBe(idempotencyKeyFromEvent({ source: 'a', id: '1' }));
  });

  it('separate consumers by scope', () => {
    const event = { source: 'a', id: '1' };
    expect(idempotencyKeyFromEvent(event, 'deployer')).not.toBe(idempotencyKeyFromEvent(event, 'registry'));
  });

  it('derive an object key from bucket, name and generation, keeping int64 generations exact', () => {
    const base = { bucket: 'b', name: 'resnet50/1/model.onnx' };
    const a = idempotencyKeyFromObject({ ...base, generation: '1670454587395344' });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(idempotencyKeyFromObject({ ...base, generation: 1670454587395344n })).toBe(a);
    expect(idempotencyKeyFromObject({ ...base, generation: '1670454587395345' })).not.toBe(a);
    expect(a).not.toBe(idempotencyKeyFromEvent({ source: 'b', id: 'resnet50/1/model.onnx' }));
  });

  it('hash payloads independently of key order and undefined fields', () => {
    expect(hashPayload({ a: 1, b: { c: [1, 2], d: undefined } })).toBe(
      hashPayload({ b: { c: [1, 2] }, a: 1 }),
    );
    expect(hashPayload({ a: 1 })).not.toBe(hashPayload({ a: 2 }));
  });
});
