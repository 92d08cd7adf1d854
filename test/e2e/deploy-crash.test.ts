/**
 * #10 point 6: the deploy killed after each step of its plan, for every step. The crashing
 * instance stops dead after action N (the hook throws, and from then on every call it makes to
 * Cloud Storage fails, so it releases nothing: no lease, no idempotency record). A *fresh*
 * instance (new clients, new lease holder id, nothing in memory shared) gets the redeliveries of
 * the same event id. Its clock is injectable: it moves past the crashed attempt's idempotency
 * lock, then past the crashed holder's lease, which it then takes over. The end state is one
 * served version with registry, pool index, repository and every Triton pod agreeing.
 */
import type { Storage } from '@google-cloud/storage';
import { afterAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { localStorageClient } from '../../infra/local/storage/client';
import type { Clock } from '../../shared/runtime/clock';
import type { Config } from '../../shared/runtime/config';
import {
  deliverUntilAcked,
  expectConverged,
  freshInstance,
  LOCK_MS,
  OffsetClock,
  uploadVersion,
} from '../support/deploy-convergence';
import { localDeployHarness } from '../support/deploy-harness';

const INCOMING = 'crash-incoming';
const REPO = 'crash-repo';
const POOL = 'triton-l4';
/** A lease longer than the idempotency lock for the crashed holder: both are waited out in turn. */
const CRASHED_LEASE_MS = 120_000;

let cloud: LocalCloud;
let gcs: Storage;
let config: Config;

/** One clock for the file: it only moves forward, so a lease left by an earlier case is expired. */
const clock = new OffsetClock();

class Crash extends Error {
  override name = 'Crash';
}

/** An ObjectStore that fails every call once `dead()` says so: a killed process writes nothing. */
function killable<T extends object>(inner: T, dead: () => boolean): T {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (dead()) return Promise.reject(new Crash('the process is dead'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** One function instance, built from scratch; once `dead()` it fails every state write. */
function instance(options: { clock: Clock; leaseTtlMs?: number; dead?: () => boolean }) {
  const dead = options.dead ?? (() => false);
  return freshInstance({
    config,
    clock: options.clock,
    ...(options.leaseTtlMs === undefined ? {} : { leaseTtlMs: options.leaseTtlMs }),
    objects: (built) => killable(built, dead),
    idempotency: (built) => killable(built, dead),
  });
}

async function startCloud(): Promise<void> {
  cloud = await startLocalCloud({ operationPhaseMs: 0, repositoryBucket: REPO });
  gcs = localStorageClient(cloud.endpoints.storage);
  const harness = await localDeployHarness(cloud, { incoming: INCOMING, repository: REPO });
  config = harness.deps.config;
}

afterAll(async () => {
  await cloud?.close();
});

const at = (model: string, version: number, versions: number[]) => ({
  state: REPO,
  repository: REPO,
  pool: POOL,
  model,
  version,
  versions,
  nowMs: clock.nowMs(),
});

/**
 * Delivers `event` to a crashing instance that dies after its `crashAfter`-th action (counted
 * over its deliveries), then to a fresh instance until acknowledged. Returns whether it crashed.
 */
async function crashThenRedeliver(event: Awaited<ReturnType<typeof uploadVersion>>, crashAfter: number) {
  let actions = 0;
  let dead = false;
  const crashing = await instance({ clock, leaseTtlMs: CRASHED_LEASE_MS, dead: () => dead });
  crashing.executeHooks = {
    afterAction: () => {
      actions += 1;
      if (actions === crashAfter) {
        dead = true;
        throw new Crash(`killed after action ${crashAfter}`);
      }
    },
  };
  // The crashing instance gets deliveries until it dies or acknowledges.
  let acknowledged = false;
  for (let i = 0; i < 4 && !dead && !acknowledged; i++) {
    acknowledged = await deliverUntilAcked(() => crashing, event, { max: 1 }).then(
      () => true,
      () => false,
    );
  }
  const fresh = await instance({ clock });
  const redelivered = await deliverUntilAcked(() => fresh, event, {
    max: 8,
    // The platform's backoff, compressed: past the lock, then past the crashed holder's lease.
    between: (reason) => {
      if (reason === 'IN_PROGRESS' || reason === 'LEASE_HELD') clock.offsetMs += LOCK_MS + 1;
    },
  });
  // Killed after its last action, the deploy was complete: the redelivery skips it without a
  // lease, and the dead holder's leases simply expire.
  clock.offsetMs += CRASHED_LEASE_MS + 1;
  return { crashed: dead, actions, redelivered };
}

describe('a deploy killed after each step of its plan converges on redelivery', () => {
  it('first model on a new cluster (pool, serving stack, repository, then loads and records), for every step', async () => {
    const crashedAt: number[] = [];
    for (let n = 1; n <= 40; n++) {
      // Prepare: an empty cluster each time
      await cloud?.close();
      await startCloud();
      const event = await uploadVersion(gcs, INCOMING, 'first', 1, `crash-first-${n}`);

      // Act
      const { crashed, redelivered } = await crashThenRedeliver(event, n);

      // Assess
      expect(redelivered.outcome.status).toMatch(/^(applied|skipped)$/);
      if (redelivered.outcome.status === 'skipped')
        expect(redelivered.outcome.message).toMatch(/already deployed/);
      await expectConverged(cloud, gcs, at('first', 1, [1]));
      if (!crashed) break; // n is past the last action: every step has been crashed
      crashedAt.push(n);
      // The crashed holder's lease outlived its idempotency lock: it was waited for, then taken
      // over (a deploy killed after its very last action is complete, and skipped without it).
      if (redelivered.outcome.status === 'applied') expect(redelivered.retried).toContain('LEASE_HELD');
    }
    // Pool, ~8 objects, copy and config (first delivery); load, index and record (the second).
    expect(crashedAt.length).toBeGreaterThanOrEqual(12);
  }, 600_000);

  it('a new version over a serving one, for every step: the newer serves, the older is superseded', async () => {
    await cloud?.close();
    await startCloud();
    const crashedAt: number[] = [];
    for (let n = 1; n <= 20; n++) {
      // Prepare: v1 serves
      const model = `next-${n}`;
      const fresh = await instance({ clock });
      await deliverUntilAcked(() => fresh, await uploadVersion(gcs, INCOMING, model, 1, `next-${n}-1`), {
        max: 8,
      });
      const event = await uploadVersion(gcs, INCOMING, model, 2, `next-${n}-2`);

      // Act
      const { crashed, redelivered } = await crashThenRedeliver(event, n);

      // Assess
      expect(redelivered.outcome.status).toMatch(/^(applied|skipped)$/);
      if (redelivered.outcome.status === 'skipped')
        expect(redelivered.outcome.message).toMatch(/already deployed/);
      await expectConverged(cloud, gcs, at(model, 2, [1, 2]));
      if (!crashed) break;
      crashedAt.push(n);
      if (redelivered.outcome.status === 'applied') expect(redelivered.retried).toContain('LEASE_HELD');
    }
    // copy, config.pbtxt, load, pool index, registry record
    expect(crashedAt.length).toBeGreaterThanOrEqual(5);
  }, 300_000);
});
