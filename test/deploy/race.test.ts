/**
 * #10 point 1: deployModel under races, through the handler against the local cloud. Two
 * instances (their own leases' holder ids, one state bucket) get deliveries at the same time;
 * each delivery is redelivered until acknowledged, as the platform does with a 5xx. The newer
 * version wins whichever finishes first, the loser of a lease waits (retried, never rejected),
 * and registry, pool index, repository and every Triton pod agree at the end.
 */
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { localStorageClient } from '../../infra/local/storage/client';
import { GcsLeaseStore } from '../../shared/adapters/lease-gcs';
import type { DeployModelDeps } from '../../shared/deploy/handler';
import { Leases } from '../../shared/runtime/lease';
import {
  type Delivery,
  deliverUntilAcked,
  expectConverged,
  podsOf,
  uploadVersion,
} from '../support/deploy-convergence';
import { localDeployHarness } from '../support/deploy-harness';

const INCOMING = 'race-incoming';
const REPO = 'race-repo';
const POOL = 'triton-l4';
const MAX_DELIVERIES = 40;

let cloud: LocalCloud;
let gcs: Storage;
let one: DeployModelDeps;
let two: DeployModelDeps;

beforeAll(async () => {
  cloud = await startLocalCloud({ operationPhaseMs: 0, repositoryBucket: REPO });
  gcs = localStorageClient(cloud.endpoints.storage);
  const harness = await localDeployHarness(cloud, { incoming: INCOMING, repository: REPO });
  one = harness.deps;
  // A second instance: same buckets and idempotency store, its own lease holder id.
  two = {
    ...harness.deps,
    leases: new Leases({
      store: new GcsLeaseStore({ objects: harness.deps.objects, bucket: REPO }),
      clock: harness.deps.clock,
      instanceId: 'instance-two',
    }),
  };
  // The pool exists and has a ready pod: the races below are about the serving stack.
  const base = await uploadVersion(gcs, INCOMING, 'base', 1, 'race-base');
  await deliverUntilAcked(() => one, base, { max: MAX_DELIVERIES });
}, 60_000);

afterAll(async () => {
  await cloud?.close();
});

const converged = (model: string, version: number, versions: number[]) =>
  expectConverged(cloud, gcs, { state: REPO, repository: REPO, pool: POOL, model, version, versions });

describe('two versions of one model', () => {
  it.each([
    { name: 'uploaded together, delivered at once to two instances', order: 'together' },
    { name: 'the older finishes first, then the newer supersedes it', order: 'older-first' },
    { name: 'the newer finishes first; the older is superseded, not deployed', order: 'newer-first' },
  ] as const)('$name: the higher one serves', async ({ order }) => {
    // Prepare
    const model = `two-${order}`;
    const v1 = await uploadVersion(gcs, INCOMING, model, 1, `${model}-1`);
    const v2 = await uploadVersion(gcs, INCOMING, model, 2, `${model}-2`);

    // Act
    let r1: Delivery;
    let r2: Delivery;
    if (order === 'together') {
      // Slow loads widen the window in which both deliveries are past planning.
      cloud.triton.faults.set({ latencyMs: 300, match: '/load' });
      [r1, r2] = await Promise.all([
        deliverUntilAcked(() => one, v1, { max: MAX_DELIVERIES }),
        deliverUntilAcked(() => two, v2, { max: MAX_DELIVERIES }),
      ]);
      cloud.triton.faults.clear();
    } else if (order === 'older-first') {
      r1 = await deliverUntilAcked(() => one, v1, { max: MAX_DELIVERIES });
      r2 = await deliverUntilAcked(() => two, v2, { max: MAX_DELIVERIES });
    } else {
      r2 = await deliverUntilAcked(() => two, v2, { max: MAX_DELIVERIES });
      r1 = await deliverUntilAcked(() => one, v1, { max: MAX_DELIVERIES });
    }

    // Assess: nobody was rejected; a lease loser was retried, never refused
    expect(r2.outcome.status).toBe('applied');
    expect(['applied', 'skipped']).toContain(r1.outcome.status);
    if (order === 'newer-first') {
      expect(r1.outcome).toMatchObject({ status: 'skipped' });
      expect(r1.outcome.message).toMatch(/superseded: version 2 is serving/);
    }
    if (order === 'older-first') expect(r1.outcome.status).toBe('applied');
    for (const reason of [...r1.retried, ...r2.retried]) expect(reason).toMatch(/^(LEASE_HELD|PLAN_STALE)$/);
    await converged(model, 2, [1, 2]);
  });
});

describe('serialisation', () => {
  it('a deploy paused mid-plan keeps its lease: the other version is retried (LEASE_HELD), then supersedes it', async () => {
    // Prepare: instance one stops right after writing v1's config.pbtxt, until released
    const model = 'paused';
    const v1 = await uploadVersion(gcs, INCOMING, model, 1, `${model}-1`);
    const v2 = await uploadVersion(gcs, INCOMING, model, 2, `${model}-2`);
    let paused: () => void = () => undefined;
    let resume: () => void = () => undefined;
    const reached = new Promise<void>((r) => {
      paused = r;
    });
    const gate = new Promise<void>((r) => {
      resume = r;
    });
    const pausing: DeployModelDeps = {
      ...one,
      executeHooks: {
        afterAction: async (step) => {
          if (step.action.target.endsWith(`/${model}/config.pbtxt`)) {
            paused();
            await gate;
          }
        },
      },
    };

    // Act
    const older = deliverUntilAcked(() => pausing, v1, { max: MAX_DELIVERIES });
    await reached;
    const whilePaused = await deliverUntilAcked(() => two, v2, { max: 1 }).catch((e: unknown) => e);
    resume();
    const r1 = await older;
    const r2 = await deliverUntilAcked(() => two, v2, { max: MAX_DELIVERIES });

    // Assess
    expect(String((whilePaused as Error).message)).toMatch(/LEASE_HELD/);
    expect(r1.outcome.status).toBe('applied');
    expect(r2.outcome.status).toBe('applied');
    await converged(model, 2, [1, 2]);
  });
});

describe('two models on one pool', () => {
  it('uploaded together: both serve, the pool index lists both, the pool keeps its pods', async () => {
    // Prepare
    const podsBefore = await podsOf(cloud, POOL);
    const a = await uploadVersion(gcs, INCOMING, 'pair-a', 1, 'pair-a-1');
    const b = await uploadVersion(gcs, INCOMING, 'pair-b', 1, 'pair-b-1');

    // Act
    cloud.triton.faults.set({ latencyMs: 300, match: '/load' });
    const [ra, rb] = await Promise.all([
      deliverUntilAcked(() => one, a, { max: MAX_DELIVERIES }),
      deliverUntilAcked(() => two, b, { max: MAX_DELIVERIES }),
    ]).finally(() => cloud.triton.faults.clear());

    // Assess
    expect([ra.outcome.status, rb.outcome.status]).toEqual(['applied', 'applied']);
    await converged('pair-a', 1, [1]);
    await converged('pair-b', 1, [1]);
    expect(await podsOf(cloud, POOL)).toEqual(podsBefore);
  });

  it('a lease loser is retried with LEASE_HELD, and takes the lease once it is free', async () => {
    // Prepare: instance one holds the pool's lease (a deploy in progress elsewhere)
    const held = await one.leases.acquire(`deploy/pool/${POOL}`, 'someone-else');
    const event = await uploadVersion(gcs, INCOMING, 'waiter', 1, 'waiter-1');

    // Act
    const first = await deliverUntilAcked(() => two, event, { max: 1 }).catch((e: unknown) => e);
    await held.release();
    const then = await deliverUntilAcked(() => two, event, { max: MAX_DELIVERIES });

    // Assess
    expect(String((first as Error).message)).toMatch(/LEASE_HELD/);
    expect(then.outcome.status).toBe('applied');
    await converged('waiter', 1, [1]);
  });
});
