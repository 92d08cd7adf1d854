/**
 * #10 point 5: a failed attempt whose release also fails must not block its event id for long.
 * The lock is short and renewed by a heartbeat while the attempt runs; a release is retried, and
 * when every try fails the lock lapses `lockMs` after the last beat.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/runtime/clock';
import { RetryableError } from '../../shared/runtime/errors';
import {
  type IdempotencyStore,
  MemoryIdempotencyStore,
  type RunIdempotentOptions,
  runIdempotent,
} from '../../shared/runtime/idempotency';

const LOCK_MS = 60_000;

/** A memory store whose next `failDeletes` deletes throw, as a store under injected faults. */
function flakyStore(failDeletes: number) {
  const inner = new MemoryIdempotencyStore();
  let failing = failDeletes;
  const calls = { delete: 0 };
  const store: IdempotencyStore = {
    get: (k) => inner.get(k),
    create: (r) => inner.create(r),
    update: (r, v) => inner.update(r, v),
    delete: async (k, v) => {
      calls.delete += 1;
      if (failing > 0) {
        failing -= 1;
        throw new RetryableError('IDEMPOTENCY_STORE_UNAVAILABLE', 'injected: delete failed');
      }
      return inner.delete(k, v);
    },
  };
  return { store, inner, calls };
}

function options(store: IdempotencyStore, clock: ManualClock, extra: Partial<RunIdempotentOptions> = {}) {
  return { store, clock, key: 'event-1', payload: { id: 1 }, lockMs: LOCK_MS, ttlSeconds: 3600, ...extra };
}

const failing = async () => {
  throw new RetryableError('STORAGE_UNAVAILABLE', 'the deploy hit a 503');
};

describe('a failed attempt whose release fails', () => {
  it.each([
    { failDeletes: 1, name: 'fails once: the retried release frees the event at once' },
    { failDeletes: 2, name: 'fails twice: the third try frees the event at once' },
  ])('release $name', async ({ failDeletes }) => {
    // Prepare
    const clock = new ManualClock();
    const { store, calls } = flakyStore(failDeletes);
    await expect(runIdempotent(options(store, clock), failing)).rejects.toMatchObject({
      reason: 'STORAGE_UNAVAILABLE',
    });

    // Act: the redelivery, at the same instant
    const again = await runIdempotent(options(store, clock), async () => 'done');

    // Assess
    expect(again).toEqual({ duplicate: false, result: 'done' });
    expect(calls.delete).toBe(failDeletes + 1);
  });

  it('fails every time: the event is blocked for one lock period (not the old 10 minutes), then runs', async () => {
    // Prepare
    const clock = new ManualClock();
    const { store } = flakyStore(1_000);
    await expect(runIdempotent(options(store, clock), failing)).rejects.toMatchObject({
      reason: 'STORAGE_UNAVAILABLE',
    });

    // Act
    clock.advance(LOCK_MS - 1);
    const early = runIdempotent(options(store, clock), async () => 'early');
    await expect(early).rejects.toMatchObject({ reason: 'IN_PROGRESS' });
    clock.advance(1);
    const after = await runIdempotent(options(store, clock), async () => 'converged');

    // Assess
    expect(after).toEqual({ duplicate: false, result: 'converged' });
  });
});

describe('the heartbeat', () => {
  it('renews a live attempt past its first lock period, so a redelivery waits instead of taking over', async () => {
    // Prepare: an attempt that runs until told to finish
    const clock = new ManualClock();
    const store = new MemoryIdempotencyStore();
    let finish: () => void = () => undefined;
    const running = runIdempotent(
      options(store, clock, { renewEveryMs: 2 }),
      () =>
        new Promise<string>((resolve) => {
          finish = () => resolve('first');
        }),
    );
    const firstLock = (await waitFor(() => store.get('event-1')))?.record.lockedUntilEpochMs ?? 0;

    // Act: time passes beyond the first lock; a beat renews it
    clock.advance(LOCK_MS + 1);
    await waitFor(async () => {
      const r = await store.get('event-1');
      return r && r.record.lockedUntilEpochMs > firstLock ? r : undefined;
    });
    const redelivery = runIdempotent(options(store, clock), async () => 'second');

    // Assess
    await expect(redelivery).rejects.toMatchObject({ reason: 'IN_PROGRESS' });
    finish();
    await expect(running).resolves.toEqual({ duplicate: false, result: 'first' });
    const replay = await runIdempotent(options(store, clock), async () => 'third');
    expect(replay).toEqual({ duplicate: true, result: 'first' });
  });
});

/** Polls `probe` (bounded) until it returns something. */
async function waitFor<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('condition not reached');
}
