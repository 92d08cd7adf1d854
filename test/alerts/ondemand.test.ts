/**
 * The on-demand step of the stockout fallback, pure: when a Spot target gets an on-demand sibling
 * pool (and what it looks like), when it does not (policy off, an on-demand class, nothing asked,
 * already in place, the guardrails with their numbers), and how `planTarget` removes it when the
 * target returns to baseline or enters a downtime.
 */
import { describe, expect, it } from 'vitest';
import {
  isSpotPool,
  ON_DEMAND_FOR_LABEL,
  type OnDemandInput,
  onDemandDue,
  onDemandPoolName,
  planOnDemand,
} from '../../shared/alerts/ondemand';
import type { Guardrails } from '../../shared/cluster/guardrails';
import { NODE_POOL_NAME_MAX, nodePoolName } from '../../shared/cluster/nodepool';
import type { NodePool } from '../../shared/domain/plan';
import { emptyTargetRecord, type TargetRecord, type TargetSettings } from '../../shared/domain/target';
import { BUILTIN_GPU_CLASSES, machineHourlyPrice } from '../../shared/gpu/catalog';
import { type ObservedTarget, planTarget } from '../../shared/scaling/target';

const T0 = Date.parse('2026-12-01T22:00:00.000Z');
const NOW = new Date(T0).toISOString();
const L4 = BUILTIN_GPU_CLASSES.l4;
const SPOT = 'triton-l4-spot';
const AT = { stateBucket: 'state-b', cluster: 'inference', now: NOW };
const WIDE: Guardrails = { maxGpusTotal: 64, maxGpusPerPool: 64, maxNodes: 64, maxDollarsPerHour: 1000 };

function spotPool(over: Partial<NodePool> = {}): NodePool {
  return {
    name: SPOT,
    locations: ['us-central1-a'],
    config: {
      machineType: 'g2-standard-4',
      accelerators: [{ acceleratorCount: '1', acceleratorType: 'nvidia-l4' }],
      taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NO_SCHEDULE' }],
      labels: {
        'inferplane.dev/pool': SPOT,
        'inferplane.dev/gpu-class': 'l4',
        'inferplane.dev/managed-by': 'inferplane',
      },
      spot: true,
      serviceAccount: 'nodes@p.iam.gserviceaccount.com',
    },
    autoscaling: { enabled: false },
    ...over,
  };
}

const fixed = (count: number, zones = 1): TargetSettings['nodePool'] => ({
  autoscaling: { enabled: false, totalMinNodeCount: 0, totalMaxNodeCount: 0 },
  nodeCountPerZone: count,
  zones,
});

/** A Spot target one step out: the pool asked for `asked` nodes per zone over a baseline of 1. */
function scaledOut(asked: number, over: Partial<TargetRecord> = {}): TargetRecord {
  const base: TargetSettings = { replicas: 1, hpa: { minReplicas: 1, maxReplicas: 4 }, nodePool: fixed(1) };
  return {
    ...emptyTargetRecord(SPOT, 'triton', NOW),
    baseline: { recordedAt: NOW, settings: base, generations: { deployment: 1, hpa: 1 } },
    scaleOut: {
      rules: ['queue'],
      level: 1,
      since: NOW,
      lastActionAt: NOW,
      expiresAt: new Date(T0 + 3600_000).toISOString(),
      settings: { replicas: null, hpa: { minReplicas: 2, maxReplicas: 5 }, nodePool: fixed(asked) },
    },
    ...over,
  };
}

function observed(record: TargetRecord | null, over: Partial<ObservedTarget> = {}): ObservedTarget {
  return {
    pool: SPOT,
    namespace: 'triton',
    deployment: {
      name: SPOT,
      replicas: 2,
      readyReplicas: 1,
      generation: 2,
      annotations: {},
      createdAt: null,
    },
    hpa: {
      name: SPOT,
      minReplicas: 2,
      maxReplicas: 5,
      currentReplicas: 2,
      desiredReplicas: 2,
      generation: 2,
    },
    nodePool: spotPool(),
    nodeCountPerZone: 1,
    zones: 1,
    record: record ? { record, generation: '5' } : null,
    ...over,
  };
}

function input(over: Partial<OnDemandInput> = {}): OnDemandInput {
  const record = over.record ?? scaledOut(3);
  return {
    observed: observed(record),
    record,
    rule: { name: 'queue', fallback: { otherZones: true, onDemand: true } },
    short: ['us-central1-a', 'us-central1-b'],
    existing: null,
    gpuClass: L4,
    capacity: { pools: [] },
    guardrails: WIDE,
    at: AT,
    ...over,
  };
}

describe('zones first, then on-demand', () => {
  const both = { otherZones: true, onDemand: true };
  it.each([
    ['the added zones had the capacity', both, true, 'absorbed', 'ABSORBED'],
    ['the added zones were short too', both, true, 'short-too', 'due'],
    ['no zone was left to try', both, true, 'none-left', 'due'],
    ['the guardrails refused the zones', both, true, 'refused', 'due'],
    ['the rule allows no other zone', { otherZones: false, onDemand: true }, true, 'not-allowed', 'due'],
    [
      'the rule allows no on-demand (the default)',
      { otherZones: true, onDemand: false },
      true,
      'short-too',
      'POLICY_OFF',
    ],
    ['an on-demand class', both, false, 'short-too', 'NOT_SPOT'],
    ['an on-demand class whose zones absorbed it', both, false, 'absorbed', 'ABSORBED'],
  ] as const)('%s', (_name, fallback, spot, zones, expected) => {
    const d = onDemandDue({ fallback, spot, zones });
    expect(d.due ? 'due' : d.reason).toBe(expected);
  });
});

describe('the on-demand fallback of a Spot pool', () => {
  it('adds a sibling with the Spot pool machines, taints and pool label, on demand, autoscaling 0..the nodes asked', () => {
    const d = planOnDemand(input());
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d).toMatchObject({ pool: `${SPOT}-od`, maxNodes: 2 });
    expect(d.actions.map((a) => a.kind)).toEqual(['writeStorageObject', 'createNodePool']);
    const create = d.actions[1];
    if (create?.kind !== 'createNodePool') throw new Error('no create');
    const pool = create.after;
    expect(pool.name).toBe(`${SPOT}-od`);
    expect(pool.config).toMatchObject({
      machineType: 'g2-standard-4',
      accelerators: [{ acceleratorCount: '1', acceleratorType: 'nvidia-l4' }],
      taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NO_SCHEDULE' }],
      spot: false,
      serviceAccount: 'nodes@p.iam.gserviceaccount.com',
      labels: { 'inferplane.dev/pool': SPOT, [ON_DEMAND_FOR_LABEL]: SPOT },
    });
    expect(isSpotPool(pool)).toBe(false);
    expect(pool.locations).toEqual(['us-central1-a']);
    expect(pool.autoscaling).toEqual({
      enabled: true,
      totalMinNodeCount: 0,
      totalMaxNodeCount: 2,
      locationPolicy: 'ANY',
    });
    // Priced at on-demand rates: the dollar guardrail sees what it would cost.
    const onDemand = machineHourlyPrice(L4, 'g2-standard-4', false);
    expect(onDemand).toBeGreaterThan(machineHourlyPrice(L4, 'g2-standard-4', true));
    expect(create.capacityAfter).toMatchObject({ spot: false, maxNodes: 2, nodeHourlyUsd: onDemand });
    expect(create.costDeltaPerHour).toBeCloseTo(2 * onDemand, 4);
    // The record says so, conditional on the generation observed.
    const write = d.actions[0];
    if (write?.kind !== 'writeStorageObject') throw new Error('no write');
    expect(write.before).toEqual({ generation: '5' });
    expect(JSON.parse(write.after.text).scaleOutOnDemand).toEqual({
      pool: `${SPOT}-od`,
      maxNodes: 2,
      short: ['us-central1-a', 'us-central1-b'],
      at: NOW,
    });
  });

  it.each<[string, Partial<OnDemandInput>, string, RegExp]>([
    [
      'the rule does not allow it (the default)',
      { rule: { name: 'queue', fallback: { otherZones: true, onDemand: false } } },
      'POLICY_OFF',
      /rule queue does not allow on-demand/,
    ],
    [
      'an on-demand class has no other provisioning model',
      {
        observed: observed(scaledOut(3), {
          pool: 'triton-l4',
          nodePool: spotPool({ name: 'triton-l4', config: { ...spotPool().config, spot: false } }),
        }),
      },
      'NOT_SPOT',
      /on-demand pool: there is no other provisioning model/,
    ],
    [
      'the scale-out asks for no nodes above the baseline',
      { record: scaledOut(1) },
      'NOT_SCALED_OUT',
      /no nodes above its baseline/,
    ],
    [
      'an earlier step made it already, as large',
      {
        existing: {
          name: `${SPOT}-od`,
          config: spotPool().config ?? null,
          autoscaling: { enabled: true, totalMinNodeCount: 0, totalMaxNodeCount: 2 },
        },
      },
      'IN_PLACE',
      /is in place \(up to 2 nodes\)/,
    ],
    [
      'the guardrails refuse it, with the numbers',
      { guardrails: { ...WIDE, maxDollarsPerHour: 1 } },
      'GUARDRAIL_REFUSED',
      /refused by the guardrails: maxDollarsPerHour: plan would allow [\d.]+ USD\/h, limit 1\.00/,
    ],
    [
      'the guardrails count the Spot pool at the size it asked for',
      {
        capacity: {
          pools: [
            {
              pool: SPOT,
              gpuClass: 'l4',
              machineType: 'g2-standard-4',
              spot: true,
              gpusPerNode: 1,
              maxNodes: 3,
              nodeHourlyUsd: 0.3,
            },
          ],
        },
        guardrails: { ...WIDE, maxNodes: 4 },
      },
      'GUARDRAIL_REFUSED',
      /maxNodes: plan would allow 5 nodes, limit 4/,
    ],
  ])('does not add one when %s', (_name, over, reason, message) => {
    const d = planOnDemand(input(over));
    expect(d).toMatchObject({ ok: false, reason });
    if (d.ok) return;
    expect(d.message).toMatch(message);
    if (reason === 'GUARDRAIL_REFUSED') expect(d.violations?.length).toBeGreaterThan(0);
  });

  it('raises the maximum of a sibling an earlier, smaller step made', () => {
    const existing: NodePool = {
      name: `${SPOT}-od`,
      config: { ...spotPool().config, spot: false },
      autoscaling: { enabled: true, totalMinNodeCount: 0, totalMaxNodeCount: 1 },
    };
    const d = planOnDemand(input({ existing }));
    expect(d.ok && d.actions.map((a) => a.kind)).toEqual(['writeStorageObject', 'setNodePoolAutoscaling']);
    expect(d.ok && d.actions[1]?.after).toMatchObject({ totalMaxNodeCount: 2 });
  });

  it.each([
    ['triton-l4-spot', 'triton-l4-spot-od'],
    [nodePoolName('a-very-long-custom-gpu-class-name-x', true), undefined],
  ])('names the sibling of %s within 40 characters', (spot, expected) => {
    const name = onDemandPoolName(spot);
    expect(name.length).toBeLessThanOrEqual(NODE_POOL_NAME_MAX);
    expect(name).toMatch(/^[a-z][a-z0-9-]*-od$/);
    if (expected) expect(name).toBe(expected);
    expect(onDemandPoolName(spot)).toBe(name);
  });
});

describe('planTarget and the on-demand sibling', () => {
  const sibling: NodePool = {
    name: `${SPOT}-od`,
    locations: ['us-central1-a'],
    config: { ...spotPool().config, spot: false },
    autoscaling: { enabled: true, totalMinNodeCount: 0, totalMaxNodeCount: 2 },
  };
  const withSibling = (over: Partial<TargetRecord> = {}): TargetRecord =>
    scaledOut(3, {
      scaleOutOnDemand: { pool: `${SPOT}-od`, maxNodes: 2, short: ['us-central1-a'], at: NOW },
      lastApplied: {
        at: NOW,
        settings: { replicas: null, hpa: { minReplicas: 2, maxReplicas: 5 }, nodePool: fixed(3) },
        previous: null,
      },
      ...over,
    });
  const live = (record: TargetRecord, onDemandPool: NodePool | null | undefined) =>
    observed(record, {
      nodeCountPerZone: 3,
      ...(onDemandPool === undefined ? {} : { onDemandPool }),
    });
  const ctx = { ...AT, reason: 'test' };
  const kinds = (r: ReturnType<typeof planTarget>) => r.actions.map((a) => `${a.kind} ${a.target}`);

  it.each<[string, TargetRecord, NodePool | null | undefined, string[], boolean]>([
    [
      'a restore deletes it, after the workload and the Spot pool',
      { ...withSibling(), scaleOut: null },
      sibling,
      [
        'writeStorageObject gs://state-b/targets/inference/triton-l4-spot.json',
        'applyObject HorizontalPodAutoscaler/triton/triton-l4-spot',
        'setNodePoolSize nodePool/triton-l4-spot',
        'deleteNodePool nodePool/triton-l4-spot-od',
      ],
      true,
    ],
    [
      'a downtime deletes it too',
      {
        ...withSibling(),
        downtime: {
          schedule: 'nights',
          since: NOW,
          until: null,
          settings: { replicas: 0, hpa: null, nodePool: fixed(0) },
        },
      },
      sibling,
      [
        'writeStorageObject gs://state-b/targets/inference/triton-l4-spot.json',
        'applyObject HorizontalPodAutoscaler/triton/triton-l4-spot',
        'scaleWorkload Deployment/triton/triton-l4-spot',
        'setNodePoolSize nodePool/triton-l4-spot',
        'deleteNodePool nodePool/triton-l4-spot-od',
      ],
      true,
    ],
    [
      'a restore of a sibling not read (undefined) still deletes it (the executor skips a pool already gone)',
      { ...withSibling(), scaleOut: null },
      undefined,
      [
        'writeStorageObject gs://state-b/targets/inference/triton-l4-spot.json',
        'applyObject HorizontalPodAutoscaler/triton/triton-l4-spot',
        'setNodePoolSize nodePool/triton-l4-spot',
        'deleteNodePool nodePool/triton-l4-spot-od',
      ],
      true,
    ],
    [
      'a restore of a sibling already gone forgets it',
      { ...withSibling(), scaleOut: null },
      null,
      [
        'writeStorageObject gs://state-b/targets/inference/triton-l4-spot.json',
        'applyObject HorizontalPodAutoscaler/triton/triton-l4-spot',
        'setNodePoolSize nodePool/triton-l4-spot',
      ],
      true,
    ],
    ['a scale-out keeps it', withSibling(), sibling, [], false],
  ])('%s', (_name, next, onDemandPool, expected, forgotten) => {
    const previous = withSibling();
    const obs = { ...live(previous, onDemandPool), record: { record: previous, generation: '5' } };
    const planned = planTarget(obs, next, ctx);
    expect(kinds(planned)).toEqual(expected);
    expect(planned.record.scaleOutOnDemand === null).toBe(forgotten);
    const del = planned.actions.find((a) => a.kind === 'deleteNodePool');
    if (del && onDemandPool) expect(del.costDeltaPerHour).toBeLessThan(0);
  });
});
