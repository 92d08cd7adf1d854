/**
 * Behaviour of runIdempotent, shared by the memory-store unit tests and the Cloud Storage
 * integration tests so both stores are held to the same table.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { ManualClock } from '../../shared/runtime/clock';
import { PermanentError, RetryableError } from '../../shared/runtime/errors';
import {
  type IdempotencyStore,
  idempotencyKeyFromEvent,
  type RunIdempotentOptions,
  runIdempotent,
} from '../../shared/runtime/idempotency';

export interface ScenarioContext {
  store: IdempotencyStore;
  clock: ManualClock;
}

export interface IdempotencyScenario {
  name: string;
  run(ctx: ScenarioContext): Promise<void>;
}

const LOCK_MS = 60_000;
const TTL_SECONDS = 3_600;
const PAYLOAD = {
  bucket: 'acme-models-incoming',
  name: 'resnet50/1/model.onnx',
  generation: '1670454587395344',
};

function options(ctx: ScenarioContext, overrides: Partial<RunIdempotentOptions> = {}): RunIdempotentOptions {
  return {
    store: ctx.store,
    clock: ctx.clock,
    // A fresh key per scenario lets the integration tests share one bucket.
    key: idempotencyKeyFromEvent({
      source: '//storage.googleapis.com/projects/_/buckets/acme',
      id: randomUUID(),
    }),
    payload: PAYLOAD,
    lockMs: LOCK_MS,
    ttlSeconds: TTL_SECONDS,
    ...overrides,
  };
}

/** Work that counts its calls and returns a JSON result. */
function countingWork(result: unknown = { deployed: 'resnet50', version: 1 }) {
  const work = Object.assign(
    async () => {
      work.calls++;
      return result;
    },
    { calls: 0 },
  );
  return work;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

export const IDEMPOTENCY_SCENARIOS: readonly IdempotencyScenario[] = [
  {
    name: 'a duplicate delivery returns the stored result without doing the work again',
    async run(ctx) {
      // Prepare
      const opts = options(ctx);
      const work = countingWork({ deployed: 'resnet50', version: 3 });

      // Act
      const first = await runIdempotent(opts, work);
      ctx.clock.advance(5_000);
      const second = await runIdempotent(opts, work);

      // Assess
      expect(work.calls).toBe(1);
      expect(first).toEqual({ duplicate: false, result: { deployed: 'resnet50', version: 3 } });
      expect(second).toEqual({ duplicate: true, result: { deployed: 'resnet50', version: 3 } });
    },
  },
  {
    name: 'two concurrent deliveries do the work once; the loser is told to retry (IN_PROGRESS)',
    async run(ctx) {
      // Prepare: the winner's work waits on a gate, so the loser meets its INPROGRESS record.
      const opts = options(ctx);
      const gate = deferred();
      const bothWorking = deferred();
      let calls = 0;
      const work = async () => {
        calls++;
        if (calls === 2) bothWorking.resolve(); // broken exclusion: end the wait, let the asserts fail
        await gate.promise;
        return 'done';
      };

      // Act
      const a = runIdempotent(opts, work);
      const b = runIdempotent(opts, work);
      await Promise.race([a.catch(() => undefined), b.catch(() => undefined), bothWorking.promise]);
      gate.resolve();
      const settled = await Promise.allSettled([a, b]);
      const afterwards = await runIdempotent(opts, work);

      // Assess
      expect(calls).toBe(1);
      const fulfilled = settled.filter((s) => s.status === 'fulfilled');
      const rejected = settled.filter((s) => s.status === 'rejected');
      expect(fulfilled.map((s) => s.value)).toEqual([{ duplicate: false, result: 'done' }]);
      expect(rejected).toHaveLength(1);
      expect(rejected[0]?.reason).toBeInstanceOf(RetryableError);
      expect(rejected[0]?.reason).toMatchObject({ reason: 'IN_PROGRESS' });
      expect(afterwards).toEqual({ duplicate: true, result: 'done' });
    },
  },
  {
    name: "a crashed attempt's lock expires and a later delivery completes the work",
    async run(ctx) {
      // Prepare: the first attempt starts and never finishes (the instance died).
      const opts = options(ctx);
      const started = deferred();
      void runIdempotent(opts, async () => {
        started.resolve();
        return new Promise<never>(() => undefined);
      }).catch(() => undefined);
      await started.promise;
      const work = countingWork('recovered');

      // Act
      const whileLocked = await rejection(runIdempotent(opts, work));
      ctx.clock.advance(LOCK_MS + 1);
      const takeover = await runIdempotent(opts, work);
      const duplicate = await runIdempotent(opts, work);

      // Assess
      expect(whileLocked).toBeInstanceOf(RetryableError);
      expect(whileLocked).toMatchObject({ reason: 'IN_PROGRESS' });
      expect(takeover).toEqual({ duplicate: false, result: 'recovered' });
      expect(duplicate).toEqual({ duplicate: true, result: 'recovered' });
      expect(work.calls).toBe(1);
    },
  },
  {
    name: 'two deliveries racing to take over an expired lock do the work once',
    async run(ctx) {
      // Prepare
      const opts = options(ctx);
      const started = deferred();
      void runIdempotent(opts, async () => {
        started.resolve();
        return new Promise<never>(() => undefined);
      }).catch(() => undefined);
      await started.promise;
      ctx.clock.advance(LOCK_MS + 1);
      const gate = deferred();
      const bothWorking = deferred();
      let calls = 0;
      const work = async () => {
        calls++;
        if (calls === 2) bothWorking.resolve(); // broken exclusion: end the wait, let the asserts fail
        await gate.promise;
        return 'taken over';
      };

      // Act
      const a = runIdempotent(opts, work);
      const b = runIdempotent(opts, work);
      await Promise.race([a.catch(() => undefined), b.catch(() => undefined), bothWorking.promise]);
      gate.resolve();
      const settled = await Promise.allSettled([a, b]);

      // Assess
      expect(calls).toBe(1);
      expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
      const rejected = settled.filter((s) => s.status === 'rejected');
      expect(rejected.map((s) => (s.reason as RetryableError).reason)).toEqual(['IN_PROGRESS']);
    },
  },
  {
    name: 'the same key with a different payload is refused permanently',
    async run(ctx) {
      // Prepare
      const opts = options(ctx);
      const work = countingWork();
      await runIdempotent(opts, work);

      // Act
      const err = await rejection(
        runIdempotent({ ...opts, payload: { ...PAYLOAD, generation: '1670454587395345' } }, work),
      );

      // Assess
      expect(err).toBeInstanceOf(PermanentError);
      expect(err).toMatchObject({ reason: 'IDEMPOTENCY_PAYLOAD_MISMATCH' });
      expect(work.calls).toBe(1);
    },
  },
  {
    name: 'payload key order does not matter',
    async run(ctx) {
      const opts = options(ctx);
      const work = countingWork();
      await runIdempotent(opts, work);
      const reordered = { generation: PAYLOAD.generation, name: PAYLOAD.name, bucket: PAYLOAD.bucket };
      const again = await runIdempotent({ ...opts, payload: reordered }, work);
      expect(again.duplicate).toBe(true);
      expect(work.calls).toBe(1);
    },
  },
  {
    name: 'a permanent failure is recorded: the redelivery fails the same way without redoing the work',
    async run(ctx) {
      // Prepare
      const opts = options(ctx);
      let calls = 0;
      const work = async (): Promise<string> => {
        calls++;
        throw new PermanentError('MODEL_CONFIG_INVALID', 'config.pbtxt: max_batch_size must be >= 0', {
          details: { file: 'resnet50/config.pbtxt' },
        });
      };

      // Act
      const first = await rejection(runIdempotent(opts, work));
      const redelivered = await rejection(runIdempotent(opts, work));

      // Assess
      expect(calls).toBe(1);
      expect(first).toBeInstanceOf(PermanentError);
      expect(first).toMatchObject({ reason: 'MODEL_CONFIG_INVALID' });
      expect(redelivered).toBeInstanceOf(PermanentError);
      expect(redelivered).toMatchObject({
        reason: 'MODEL_CONFIG_INVALID',
        message: 'config.pbtxt: max_batch_size must be >= 0',
        details: { file: 'resnet50/config.pbtxt', duplicate: true, idempotencyKey: opts.key },
      });
    },
  },
  {
    name: 'a retryable failure releases the key: the redelivery runs the work again',
    async run(ctx) {
      // Prepare
      const opts = options(ctx);
      const failures = [
        new RetryableError('CLUSTER_BUSY', 'Cluster is running incompatible operation'),
        new Error('socket hang up'),
      ];
      let calls = 0;
      const work = async () => {
        calls++;
        const failure = failures.shift();
        if (failure) throw failure;
        return 'deployed';
      };

      // Act
      const first = await rejection(runIdempotent(opts, work));
      const second = await rejection(runIdempotent(opts, work));
      const third = await runIdempotent(opts, work);

      // Assess
      expect(first).toMatchObject({ reason: 'CLUSTER_BUSY' });
      expect(second).toMatchObject({ message: 'socket hang up' });
      expect(third).toEqual({ duplicate: false, result: 'deployed' });
      expect(calls).toBe(3);
    },
  },
  {
    name: 'a COMPLETED record answers duplicates until its TTL, then counts as absent',
    async run(ctx) {
      // Prepare
      const opts = options(ctx);
      const work = countingWork('v1');
      await runIdempotent(opts, work);

      // Act
      ctx.clock.advance(TTL_SECONDS * 1000 - 1_000);
      const beforeExpiry = await runIdempotent(opts, work);
      ctx.clock.advance(2_000);
      const afterExpiry = await runIdempotent({ ...opts, payload: { other: 'payload' } }, work);

      // Assess
      expect(beforeExpiry.duplicate).toBe(true);
      expect(afterExpiry.duplicate).toBe(false);
      expect(work.calls).toBe(2);
    },
  },
  {
    name: 'different keys are independent',
    async run(ctx) {
      const work = countingWork();
      const a = await runIdempotent(options(ctx), work);
      const b = await runIdempotent(options(ctx), work);
      expect([a.duplicate, b.duplicate]).toEqual([false, false]);
      expect(work.calls).toBe(2);
    },
  },
];
