/**
 * The executor against the local Cloud Storage server through the production adapter: actions run
 * in order, what is already done is skipped, a stale precondition (someone else's write between
 * plan and apply) stops the plan, and the re-plan is checked against the guardrails before any of
 * it runs. Re-plans are bounded.
 */
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';
import { GcsObjectStore } from '../../shared/adapters/storage';
import { assertGuardrails, GuardrailViolation } from '../../shared/cluster/guardrails';
import {
  createPlan,
  type Plan,
  type PlanAction,
  storageTarget,
  type WriteStorageObjectAction,
} from '../../shared/domain/plan';
import { PlanExecutor } from '../../shared/execute/executor';
import { StorageRunner } from '../../shared/execute/storage-runner';
import { ManualClock } from '../../shared/runtime/clock';
import { RetryableError } from '../../shared/runtime/errors';
import { createMemoryLogger } from '../../shared/runtime/log';

const BUCKET = 'exec-bucket';
let server: StorageServer;
let gcs: Storage;
let store: GcsObjectStore;
const clock = new ManualClock();

beforeAll(async () => {
  server = await startStorageServer({});
  gcs = localStorageClient(server.url);
  store = new GcsObjectStore(gcs);
  await gcs.createBucket(BUCKET);
});
afterAll(async () => {
  await server?.close();
});

let counter = 0;
function freshName(): string {
  counter += 1;
  return `objects/o${counter}.txt`;
}

function write(name: string, text: string, generation: string | null): WriteStorageObjectAction {
  const object = { bucket: BUCKET, name };
  return {
    kind: 'writeStorageObject',
    target: storageTarget(object),
    costDeltaPerHour: 0,
    before: generation === null ? null : { generation },
    after: { object, text, contentType: 'text/plain' },
  };
}

/** A node pool that alone exceeds `maxNodes: 2` (8 nodes at the autoscaler's maximum). */
const tooBig: PlanAction = {
  kind: 'createNodePool',
  target: 'nodePool/triton-big',
  costDeltaPerHour: 8,
  before: null,
  after: { name: 'triton-big' },
  capacityBefore: null,
  capacityAfter: {
    pool: 'triton-big',
    gpuClass: 'l4',
    machineType: 'g2-standard-8',
    spot: false,
    gpusPerNode: 1,
    maxNodes: 8,
    nodeHourlyUsd: 1,
  },
};

const guardrails = (plan: Plan) =>
  assertGuardrails(
    plan,
    { pools: [] },
    { maxGpusTotal: 2, maxGpusPerPool: 2, maxNodes: 2, maxDollarsPerHour: 5 },
  );

async function text(name: string): Promise<string | undefined> {
  return (await store.readText({ bucket: BUCKET, name }))?.text;
}

function executor() {
  const memory = createMemoryLogger();
  return { exec: new PlanExecutor([new StorageRunner(store)], memory.logger), entries: memory.entries };
}

describe('PlanExecutor', () => {
  it('runs the actions in order; a re-run of the same plan finds its preconditions gone and re-plans', async () => {
    // Prepare
    const a = freshName();
    const plan = createPlan(clock, 'two writes', [write(a, 'one', null), write(a, 'two', null)]);
    const { exec } = executor();

    // Act: the second write expects the generation the first one left
    const first = await exec.execute(plan, { guardrails });
    const again = await exec.execute(plan, {
      guardrails,
      replan: async () => createPlan(clock, 'nothing left', []),
    });

    // Assess
    expect(first.steps.map((s) => s.outcome)).toEqual(['applied', 'applied']);
    expect(await text(a)).toBe('two');
    // On a re-run the first write's precondition is gone (the object moved on): re-planned.
    expect(again.replans).toBe(1);
    expect(again.plan.actions).toEqual([]);
  });

  it('re-plans when someone else wrote between plan and apply, and checks the re-plan against the guardrails', async () => {
    // Prepare: planned against generation G; a rival writes first.
    const a = freshName();
    const seen = await store.writeText({ bucket: BUCKET, name: a }, 'original');
    const plan = createPlan(clock, 'overwrite', [write(a, 'ours', seen.generation)]);
    await store.writeText({ bucket: BUCKET, name: a }, 'rival');
    const { exec, entries } = executor();
    let replans = 0;

    // Act: the re-plan (from live state) wants more capacity than the guardrails allow
    const act = exec.execute(plan, {
      guardrails,
      replan: async () => {
        replans += 1;
        return createPlan(clock, 'grown meanwhile', [tooBig]);
      },
    });

    // Assess: refused before anything of it ran; the rival's write stands
    await expect(act).rejects.toBeInstanceOf(GuardrailViolation);
    await expect(act).rejects.toMatchObject({ reason: 'GUARDRAIL_VIOLATION' });
    expect(replans).toBe(1);
    expect(await text(a)).toBe('rival');
    expect(entries.filter((e) => e.message === 'plan re-planned')).toEqual([]);
  });

  it('continues with a re-plan that passes the guardrails, logging it', async () => {
    // Prepare
    const a = freshName();
    const seen = await store.writeText({ bucket: BUCKET, name: a }, 'original');
    const plan = createPlan(clock, 'overwrite', [write(a, 'ours', seen.generation)]);
    const rival = await store.writeText({ bucket: BUCKET, name: a }, 'rival');
    const { exec, entries } = executor();

    // Act
    const result = await exec.execute(plan, {
      guardrails,
      replan: async () => createPlan(clock, 'from live state', [write(a, 'ours', rival.generation)]),
    });

    // Assess
    expect(result.replans).toBe(1);
    expect(await text(a)).toBe('ours');
    const logged = entries.find((e) => e.message === 'plan re-planned');
    expect(logged).toMatchObject({ replan: 1, actionsAfter: 1 });
    expect(String(logged?.reason)).toContain(storageTarget({ bucket: BUCKET, name: a }));
  });

  it('refuses the first plan itself when it exceeds a guardrail, running nothing', async () => {
    const a = freshName();
    const { exec } = executor();
    const act = exec.execute(createPlan(clock, 'too much', [write(a, 'x', null), tooBig]), { guardrails });
    await expect(act).rejects.toBeInstanceOf(GuardrailViolation);
    expect(await text(a)).toBeUndefined();
  });

  it('gives up after a bounded number of re-plans (retryable: the event comes back later)', async () => {
    // Prepare: every re-plan is stale again by the time it runs
    const a = freshName();
    await store.writeText({ bucket: BUCKET, name: a }, 'v0');
    const { exec } = executor();

    // Act
    const act = exec.execute(createPlan(clock, 'stale', [write(a, 'ours', '1')]), {
      guardrails,
      maxReplans: 2,
      replan: async () => createPlan(clock, 'stale again', [write(a, 'ours', '1')]),
    });

    // Assess
    await expect(act).rejects.toBeInstanceOf(RetryableError);
    await expect(act).rejects.toMatchObject({ reason: 'PLAN_STALE', details: { replans: 2 } });
    expect(await text(a)).toBe('v0');
  });
});
