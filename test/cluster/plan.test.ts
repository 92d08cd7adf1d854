import { describe, expect, it } from 'vitest';
import { buildGpuNodePool, planNodePoolChanges } from '../../shared/cluster/nodepool';
import { buildTritonDeployment } from '../../shared/cluster/triton';
import {
  createPlan,
  describePlan,
  estimatePlanCost,
  type ObservedCapacity,
  objectTarget,
  type Plan,
  type PoolCapacity,
  totalsAfter,
} from '../../shared/domain/plan';
import { resolveGpuClass } from '../../shared/gpu/catalog';
import { ManualClock } from '../../shared/runtime/clock';

// biome-ignore lint/suspicious/noApproximativeNumericConstant: the listed g2-standard-4 price, not sqrt(1/2)
const G2_STANDARD_4_USD = 0.707;

const l4 = resolveGpuClass('l4');
const h100 = resolveGpuClass('h100-80gb');

function capacity(patch: Partial<PoolCapacity> & Pick<PoolCapacity, 'pool'>): PoolCapacity {
  return {
    gpuClass: 'l4',
    machineType: 'g2-standard-4',
    spot: false,
    gpusPerNode: 1,
    maxNodes: 2,
    nodeHourlyUsd: G2_STANDARD_4_USD,
    ...patch,
  };
}

/** A realistic plan: create an H100 pool, shrink the L4 pool, apply a Deployment, load a model. */
function samplePlan(): Plan {
  const h100Pool = buildGpuNodePool({
    gpuClass: h100,
    machineType: 'a3-highgpu-8g',
    size: { autoscaling: true, minNodes: 0, maxNodes: 2 },
  });
  const l4Desired = buildGpuNodePool({ gpuClass: l4, size: { autoscaling: true, minNodes: 0, maxNodes: 2 } });
  const l4Observed = buildGpuNodePool({
    gpuClass: l4,
    size: { autoscaling: true, minNodes: 0, maxNodes: 6 },
  });
  const deployment = buildTritonDeployment({
    cluster: { name: 'c', namespace: 'triton', repositoryBucket: 'b', tritonImage: 'img' },
    pool: 'triton-h100-80gb',
    gpuClass: h100,
    machineType: 'a3-highgpu-8g',
    repositoryPrefix: 'pools/triton-h100-80gb',
  });
  return {
    id: 'plan-1',
    createdAt: '2026-11-28T13:00:00.000Z',
    reason: 'model llama uploaded',
    actions: [
      ...planNodePoolChanges(undefined, h100Pool, { gpuClass: h100 }).actions,
      ...planNodePoolChanges(l4Observed, l4Desired, { gpuClass: l4 }).actions,
      {
        kind: 'applyObject',
        target: objectTarget(deployment),
        before: null,
        after: deployment,
        costDeltaPerHour: 0,
      },
      {
        kind: 'loadModel',
        target: 'model/llama',
        before: null,
        after: {
          pool: 'triton-h100-80gb',
          pod: 'triton-h100-80gb-0',
          model: 'llama',
          config: { name: 'llama', max_batch_size: 8 },
        },
        costDeltaPerHour: 0,
      },
    ],
  };
}

const observed: ObservedCapacity = {
  pools: [
    capacity({ pool: 'triton-l4', maxNodes: 6 }),
    capacity({ pool: 'other', gpuClass: 'a100-40gb', gpusPerNode: 2, maxNodes: 1, nodeHourlyUsd: 7.3 }),
  ],
};

describe('Plan JSON', () => {
  it('round-trips through JSON.stringify/parse unchanged', () => {
    // Prepare
    const plan = samplePlan();

    // Act
    const copy = JSON.parse(JSON.stringify(plan)) as Plan;

    // Assess
    expect(copy).toEqual(plan);
    expect(totalsAfter(copy, observed)).toEqual(totalsAfter(plan, observed));
    expect(describePlan(copy, observed)).toBe(describePlan(plan, observed));
  });
});

describe('createPlan', () => {
  it('stamps the plan with the injected clock', () => {
    // Act
    const p = createPlan(new ManualClock(Date.UTC(2026, 10, 28, 13, 0, 0)), 'tick', [], 'plan-7');

    // Assess
    expect(p).toEqual({ id: 'plan-7', createdAt: '2026-11-28T13:00:00.000Z', reason: 'tick', actions: [] });
  });
});

describe('totalsAfter', () => {
  it('counts pools at their maximum after every action', () => {
    // Act
    const totals = totalsAfter(samplePlan(), observed);

    // Assess: H100 2 x 8 GPUs, L4 shrunk 6 -> 2 nodes, 'other' untouched.
    expect(totals.pools).toEqual({
      'triton-l4': {
        gpuClass: 'l4',
        gpus: 2,
        nodes: 2,
        dollarsPerHour: expect.closeTo(2 * G2_STANDARD_4_USD, 4),
      },
      other: { gpuClass: 'a100-40gb', gpus: 2, nodes: 1, dollarsPerHour: 7.3 },
      'triton-h100-80gb': {
        gpuClass: 'h100-80gb',
        gpus: 16,
        nodes: 2,
        dollarsPerHour: expect.closeTo(2 * 87.8, 3),
      },
    });
    expect(totals.gpusTotal).toBe(20);
    expect(totals.nodesTotal).toBe(5);
    expect(totals.dollarsPerHour).toBeCloseTo(2 * G2_STANDARD_4_USD + 7.3 + 2 * 87.8, 3);
  });

  it('removes deleted pools and keeps the last change of a pool', () => {
    // Prepare
    const before = capacity({ pool: 'triton-l4', maxNodes: 6 });
    const plan: Plan = {
      createdAt: '2026-11-28T13:00:00Z',
      reason: 'test',
      actions: [
        {
          kind: 'setNodePoolAutoscaling',
          target: 'nodePool/triton-l4',
          before: null,
          after: { enabled: true, totalMaxNodeCount: 3 },
          capacityBefore: before,
          capacityAfter: { ...before, maxNodes: 3 },
          costDeltaPerHour: -3 * G2_STANDARD_4_USD,
        },
        {
          kind: 'deleteNodePool',
          target: 'nodePool/other',
          before: { name: 'other' },
          after: null,
          capacityBefore: observed.pools[1] ?? null,
          capacityAfter: null,
          costDeltaPerHour: -7.3,
        },
      ],
    };

    // Act
    const totals = totalsAfter(plan, observed);

    // Assess
    expect(Object.keys(totals.pools)).toEqual(['triton-l4']);
    expect(totals.gpusTotal).toBe(3);
  });

  it('is the observed capacity for an empty plan', () => {
    const totals = totalsAfter({ createdAt: 'x', reason: 'noop', actions: [] }, observed);
    expect(totals.gpusTotal).toBe(8);
    expect(totals.nodesTotal).toBe(7);
  });
});

describe('estimatePlanCost', () => {
  it('sums increases and decreases separately', () => {
    // Act
    const cost = estimatePlanCost(samplePlan());

    // Assess
    expect(cost.increasePerHour).toBeCloseTo(2 * 87.8, 3);
    expect(cost.decreasePerHour).toBeCloseTo(-4 * G2_STANDARD_4_USD, 3);
    expect(cost.deltaPerHour).toBeCloseTo(2 * 87.8 - 4 * G2_STANDARD_4_USD, 3);
  });
});

describe('describePlan', () => {
  it('prints one row per action with kind, target, change and cost, then the totals', () => {
    // Act
    const text = describePlan(samplePlan(), observed);
    const lines = text.split('\n');

    // Assess
    expect(lines[0]).toContain('plan-1');
    expect(text).toContain('Reason: model llama uploaded');
    const header = lines.find((l) => l.startsWith('#'));
    expect(header).toMatch(/ACTION\s+TARGET\s+CHANGE\s+USD\/H/);
    const rows = lines.filter((l) => /^\d+\s/.test(l));
    expect(rows).toHaveLength(4);
    expect(rows[0]).toMatch(
      /^1\s+createNodePool\s+nodePool\/triton-h100-80gb\s+create, 2 x a3-highgpu-8g \(16 GPUs max\)\s+\+175\.60$/,
    );
    expect(rows[1]).toMatch(
      /setNodePoolAutoscaling\s+nodePool\/triton-l4\s+autoscaling 0\.\.6 -> 0\.\.2 BALANCED\s+-2\.83$/,
    );
    expect(rows[2]).toMatch(/applyObject\s+Deployment\/triton\/triton-h100-80gb\s+create/);
    expect(rows[3]).toMatch(
      /loadModel\s+model\/llama\s+load llama on triton-h100-80gb-0 \(with config\)\s+0\.00$/,
    );
    expect(text).toMatch(/Estimated cost change .*: \+172\.77 USD\/h/);
    expect(text).toMatch(/After the plan: 20 GPUs, 5 nodes, 184\.31 USD\/h at most/);
  });

  it('aligns the columns', () => {
    // Act
    const lines = describePlan(samplePlan()).split('\n');
    const table = lines.filter((l) => /^(#|\d+)\s/.test(l));

    // Assess: every row's TARGET column starts where the header's does.
    const column = table[0]?.indexOf('TARGET') ?? -1;
    expect(column).toBeGreaterThan(0);
    for (const row of table.slice(1)) expect(row.slice(column)).toMatch(/^(nodePool|Deployment|model)\//);
  });

  it('says so when there is nothing to do', () => {
    expect(describePlan({ createdAt: 't', reason: 'tick', actions: [] })).toMatch(/No changes/);
  });
});
