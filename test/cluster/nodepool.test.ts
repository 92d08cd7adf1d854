import { describe, expect, it } from 'vitest';
import { LABELS } from '../../shared/cluster/names';
import {
  buildGpuNodePool,
  capacityOfNodePool,
  type GpuNodePoolInput,
  NodePoolRecreateRequired,
  nodePoolActions,
  nodePoolName,
  observedCapacityOf,
  planNodePoolChanges,
} from '../../shared/cluster/nodepool';
import type { NodePool, PlanAction } from '../../shared/domain/plan';
import { resolveGpuClass } from '../../shared/gpu/catalog';
import { ConfigurationError, PermanentError } from '../../shared/runtime/errors';

// biome-ignore lint/suspicious/noApproximativeNumericConstant: the listed g2-standard-4 price, not sqrt(1/2)
const G2_STANDARD_4_USD = 0.707;

const l4 = resolveGpuClass('l4');

function input(overrides: Partial<GpuNodePoolInput> = {}): GpuNodePoolInput {
  return { gpuClass: l4, size: { autoscaling: true, minNodes: 0, maxNodes: 4 }, ...overrides };
}

/** What GKE returns for a pool we created: int enums, int64 as strings, server-only fields. */
function asServerReturns(pool: NodePool): NodePool {
  const json = JSON.parse(JSON.stringify(pool)) as Record<string, unknown> & NodePool;
  const config = json.config!;
  config.taints = (config.taints ?? []).map((t) => ({ ...t, effect: 1 }));
  config.accelerators = (config.accelerators ?? []).map((a) => ({
    ...a,
    acceleratorCount: String(a.acceleratorCount) as unknown as number,
    gpuDriverInstallationConfig: { gpuDriverVersion: 3 },
  }));
  // Same labels, other key order.
  config.labels = Object.fromEntries(Object.entries(config.labels ?? {}).reverse());
  Object.assign(config, {
    diskSizeGb: 100,
    imageType: 'COS_CONTAINERD',
    metadata: { 'disable-legacy-endpoints': 'true' },
  });
  const autoscaling = json.autoscaling!;
  if (autoscaling.enabled) {
    autoscaling.locationPolicy = autoscaling.locationPolicy === 'ANY' ? 2 : 1;
  }
  return {
    ...json,
    status: 2,
    selfLink: 'https://container.googleapis.com/v1/projects/p/locations/l/clusters/c/nodePools/x',
    version: '1.33.5-gke.1',
    instanceGroupUrls: [
      'https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/instanceGroupManagers/gke-x',
    ],
    locations: ['us-central1-a'],
    etag: 'abc',
    podIpv4CidrSize: 24,
    upgradeSettings: { maxSurge: 1, strategy: 'SURGE' },
  };
}

describe('nodePoolName', () => {
  it.each([
    ['l4', false, 'triton-l4'],
    ['l4', true, 'triton-l4-spot'],
    ['h100-80gb', true, 'triton-h100-80gb-spot'],
  ])('%s spot=%s -> %s', (cls, spot, expected) => {
    expect(nodePoolName(cls, spot)).toBe(expected);
  });

  it.each([
    ['My_Class.With.Dots', false],
    ['a-very-long-user-defined-gpu-class-name-for-testing', true],
    ['a-very-long-user-defined-gpu-class-name-for-testing', false],
    ['9lives', false],
  ])('%s spot=%s stays RFC 1035 and <= 40 chars', (cls, spot) => {
    // Act
    const name = nodePoolName(cls, spot);

    // Assess
    expect(name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    expect(name.length).toBeLessThanOrEqual(40);
    expect(name.endsWith('-spot')).toBe(spot);
    expect(nodePoolName(cls, spot)).toBe(name);
  });

  it('keeps different long ids apart', () => {
    const a = nodePoolName('a-very-long-user-defined-gpu-class-name-number-one', false);
    const b = nodePoolName('a-very-long-user-defined-gpu-class-name-number-two', false);
    expect(a).not.toBe(b);
  });
});

describe('buildGpuNodePool', () => {
  it('builds the full on-demand L4 pool', () => {
    // Act
    const pool = buildGpuNodePool(
      input({ model: 'resnet50', serviceAccount: 'nodes@p.iam.gserviceaccount.com' }),
    );

    // Assess
    expect(pool).toEqual({
      name: 'triton-l4',
      config: {
        machineType: 'g2-standard-4',
        accelerators: [
          {
            acceleratorCount: 1,
            acceleratorType: 'nvidia-l4',
            gpuDriverInstallationConfig: { gpuDriverVersion: 'LATEST' },
          },
        ],
        taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NO_SCHEDULE' }],
        labels: {
          [LABELS.managedBy]: 'inferplane',
          [LABELS.gpuClass]: 'l4',
          [LABELS.pool]: 'triton-l4',
          [LABELS.model]: 'resnet50',
        },
        spot: false,
        serviceAccount: 'nodes@p.iam.gserviceaccount.com',
      },
      initialNodeCount: 0,
      autoscaling: { enabled: true, totalMinNodeCount: 0, totalMaxNodeCount: 4, locationPolicy: 'BALANCED' },
      management: { autoRepair: true, autoUpgrade: true },
    });
  });

  it.each([
    [false, 'BALANCED', 'triton-l4'],
    [true, 'ANY', 'triton-l4-spot'],
  ])('spot=%s uses locationPolicy %s and name %s', (spot, policy, name) => {
    // Act
    const pool = buildGpuNodePool(input({ spot }));

    // Assess
    expect(pool.autoscaling?.locationPolicy).toBe(policy);
    expect(pool.config?.spot).toBe(spot);
    expect(pool.name).toBe(name);
  });

  it.each([
    ['l4', 'g2-standard-48', 4, 'nvidia-l4'],
    ['a100-40gb', 'a2-highgpu-8g', 8, 'nvidia-tesla-a100'],
    ['a100-80gb', 'a2-ultragpu-2g', 2, 'nvidia-a100-80gb'],
    ['h100-80gb', 'a3-highgpu-8g', 8, 'nvidia-h100-80gb'],
  ])('%s on %s gets %d x %s', (cls, machineType, count, accelerator) => {
    // Act
    const pool = buildGpuNodePool(input({ gpuClass: resolveGpuClass(cls), machineType }));

    // Assess
    expect(pool.config?.accelerators).toEqual([
      {
        acceleratorCount: count,
        acceleratorType: accelerator,
        gpuDriverInstallationConfig: { gpuDriverVersion: 'LATEST' },
      },
    ]);
  });

  it('uses the class overrides (machine type, spot) by default', () => {
    // Prepare
    const cls = resolveGpuClass('cheap', { cheap: { machineType: 'g2-standard-8', spot: true } });

    // Act
    const pool = buildGpuNodePool(input({ gpuClass: cls }));

    // Assess
    expect(pool.name).toBe('triton-cheap-spot');
    expect(pool.config?.machineType).toBe('g2-standard-8');
    expect(pool.config?.labels?.[LABELS.gpuClass]).toBe('cheap');
  });

  it('sets autoscaling totals and a per-zone initial count', () => {
    // Act
    const pool = buildGpuNodePool(
      input({
        size: { autoscaling: true, minNodes: 3, maxNodes: 12 },
        locations: ['us-central1-a', 'us-central1-b'],
      }),
    );

    // Assess
    expect(pool.autoscaling).toMatchObject({ totalMinNodeCount: 3, totalMaxNodeCount: 12 });
    expect(pool.autoscaling?.minNodeCount).toBeUndefined();
    expect(pool.initialNodeCount).toBe(1);
    expect(pool.locations).toEqual(['us-central1-a', 'us-central1-b']);
  });

  it.each([
    [4, 4, 3, 1],
    [3, 6, 3, 1],
    [2, 2, 3, 0],
    [5, 8, 1, 5],
  ])(
    'min %d / max %d over %d zone(s) starts with %d per zone, never above the minimum',
    (minNodes, maxNodes, zones, perZone) => {
      // Act
      const pool = buildGpuNodePool(input({ size: { autoscaling: true, minNodes, maxNodes }, zones }));

      // Assess
      expect(pool.initialNodeCount).toBe(perZone);
      expect((pool.initialNodeCount ?? 0) * zones).toBeLessThanOrEqual(minNodes);
    },
  );

  it('builds a fixed-size pool with autoscaling off', () => {
    // Act
    const pool = buildGpuNodePool(input({ size: { autoscaling: false, nodeCountPerZone: 0 } }));

    // Assess
    expect(pool.autoscaling).toEqual({ enabled: false });
    expect(pool.initialNodeCount).toBe(0);
  });

  it.each<[string, Partial<GpuNodePoolInput>, string]>([
    ['foreign machine type', { machineType: 'a3-highgpu-1g' }, 'INCOMPATIBLE_MACHINE_TYPE'],
    ['min above max', { size: { autoscaling: true, minNodes: 5, maxNodes: 2 } }, 'INVALID_NODE_COUNT'],
    ['zero max', { size: { autoscaling: true, minNodes: 0, maxNodes: 0 } }, 'INVALID_NODE_COUNT'],
    ['fractional nodes', { size: { autoscaling: false, nodeCountPerZone: 1.5 } }, 'INVALID_NODE_COUNT'],
  ])('rejects %s', (_case, patch, reason) => {
    // Act / Assess
    expect(() => buildGpuNodePool(input(patch))).toThrow(ConfigurationError);
    try {
      buildGpuNodePool(input(patch));
    } catch (err) {
      expect((err as ConfigurationError).reason).toBe(reason);
    }
  });
});

describe('capacityOfNodePool', () => {
  it('counts an autoscaled pool at its total maximum with catalog prices', () => {
    // Act
    const capacity = capacityOfNodePool(
      buildGpuNodePool(input({ size: { autoscaling: true, minNodes: 1, maxNodes: 6 } })),
      l4,
    );

    // Assess
    expect(capacity).toEqual({
      pool: 'triton-l4',
      gpuClass: 'l4',
      machineType: 'g2-standard-4',
      spot: false,
      gpusPerNode: 1,
      maxNodes: 6,
      nodeHourlyUsd: expect.closeTo(G2_STANDARD_4_USD, 6),
    });
  });

  it('counts per-zone autoscaling limits times zones, and fixed pools at their size', () => {
    // Prepare
    const perZone: NodePool = {
      name: 'legacy',
      locations: ['a', 'b', 'c'],
      config: {
        machineType: 'a2-highgpu-2g',
        accelerators: [{ acceleratorType: 'nvidia-tesla-a100', acceleratorCount: 2 }],
      },
      autoscaling: { enabled: true, minNodeCount: 0, maxNodeCount: 2 },
    };
    const fixed: NodePool = { ...perZone, autoscaling: { enabled: false }, initialNodeCount: 5 };

    // Act / Assess
    expect(capacityOfNodePool(perZone)).toMatchObject({ maxNodes: 6, gpusPerNode: 2, gpuClass: 'a100-40gb' });
    expect(capacityOfNodePool(fixed, undefined, { nodeCountPerZone: 1 })).toMatchObject({ maxNodes: 3 });
    expect(capacityOfNodePool(fixed)).toMatchObject({ maxNodes: 15 });
  });

  it('fails closed on a machine type it cannot price', () => {
    const pool: NodePool = {
      name: 'cpu',
      config: { machineType: 'e2-standard-4' },
      autoscaling: { enabled: true },
    };
    expect(() => capacityOfNodePool(pool)).toThrow(/cannot price machine type "e2-standard-4"/);
  });
});

describe('observedCapacityOf', () => {
  it('counts GPU pools only, with per-class prices and fixed sizes', () => {
    // Prepare
    const cheap = resolveGpuClass('l4', { l4: { onDemandPerGpuHour: 0.5 } });
    const gpu = buildGpuNodePool(input({ size: { autoscaling: true, minNodes: 0, maxNodes: 3 } }));
    const fixed = buildGpuNodePool(input({ spot: true, size: { autoscaling: false, nodeCountPerZone: 9 } }));
    const cpu: NodePool = {
      name: 'default-pool',
      config: { machineType: 'e2-standard-4' },
      initialNodeCount: 3,
    };

    // Act
    const observed = observedCapacityOf([cpu, gpu, fixed], {
      gpuClassFor: () => cheap,
      nodeCountPerZone: { 'triton-l4-spot': 2 },
    });

    // Assess
    expect(observed.pools.map((p) => [p.pool, p.maxNodes, p.spot])).toEqual([
      ['triton-l4', 3, false],
      ['triton-l4-spot', 2, true],
    ]);
    expect(observed.pools[0]?.nodeHourlyUsd).toBeCloseTo(G2_STANDARD_4_USD - 0.06, 6);
  });
});

describe('planNodePoolChanges', () => {
  const desired = buildGpuNodePool(input({ size: { autoscaling: true, minNodes: 0, maxNodes: 4 } }));

  it('creates a missing pool', () => {
    // Act
    const changes = planNodePoolChanges(undefined, desired, { gpuClass: l4 });

    // Assess
    expect(changes.status).toBe('ok');
    expect(changes.actions).toHaveLength(1);
    const [create] = changes.actions;
    expect(create).toMatchObject({
      kind: 'createNodePool',
      target: 'nodePool/triton-l4',
      before: null,
      after: desired,
    });
    expect(create?.costDeltaPerHour).toBeCloseTo(4 * G2_STANDARD_4_USD, 4);
  });

  it.each<[string, (p: NodePool) => NodePool]>([
    ['identical object', (p) => p],
    ['server representation (int enums, string int64, extra fields, label order)', asServerReturns],
    [
      'foreign labels and taints kept by an operator',
      (p) => ({
        ...p,
        config: {
          ...p.config,
          labels: { ...p.config?.labels, team: 'ml' },
          taints: [...(p.config?.taints ?? []), { key: 'dedicated', value: 'ml', effect: 'NO_EXECUTE' }],
        },
      }),
    ],
    [
      'other driver version (not compared)',
      (p) => ({
        ...p,
        config: {
          ...p.config,
          accelerators: [
            { ...p.config?.accelerators?.[0], gpuDriverInstallationConfig: { gpuDriverVersion: 'DEFAULT' } },
          ],
        },
      }),
    ],
  ])('already matches (%s): no actions', (_case, observe) => {
    // Act
    const changes = planNodePoolChanges(observe(structuredClone(desired)), desired, { gpuClass: l4 });

    // Assess
    expect(changes).toEqual({ status: 'ok', actions: [] });
  });

  it.each<[string, (p: NodePool) => NodePool, PlanAction['kind']]>([
    [
      'max nodes',
      (p) => ({ ...p, autoscaling: { ...p.autoscaling, totalMaxNodeCount: 2 } }),
      'setNodePoolAutoscaling',
    ],
    [
      'min nodes',
      (p) => ({ ...p, autoscaling: { ...p.autoscaling, totalMinNodeCount: 1 } }),
      'setNodePoolAutoscaling',
    ],
    [
      'location policy',
      (p) => ({ ...p, autoscaling: { ...p.autoscaling, locationPolicy: 2 } }),
      'setNodePoolAutoscaling',
    ],
    ['autoscaling off', (p) => ({ ...p, autoscaling: { enabled: false } }), 'setNodePoolAutoscaling'],
    [
      'missing owned label',
      (p) => ({ ...p, config: { ...p.config, labels: { [LABELS.managedBy]: 'inferplane' } } }),
      'updateNodePool',
    ],
    [
      'stale model label',
      (p) => ({ ...p, config: { ...p.config, labels: { ...p.config?.labels, [LABELS.model]: 'old' } } }),
      'updateNodePool',
    ],
    ['missing taint', (p) => ({ ...p, config: { ...p.config, taints: [] } }), 'updateNodePool'],
    [
      'taint effect',
      (p) => ({
        ...p,
        config: { ...p.config, taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 3 }] },
      }),
      'updateNodePool',
    ],
  ])('a different %s -> exactly %s', (_case, observe, kind) => {
    // Act
    const changes = planNodePoolChanges(observe(asServerReturns(desired)), desired, { gpuClass: l4 });

    // Assess
    expect(changes.status).toBe('ok');
    expect(changes.actions.map((a) => a.kind)).toEqual([kind]);
  });

  it('sets autoscaling to the desired totals and prices the change', () => {
    // Prepare
    const observed = asServerReturns({
      ...desired,
      autoscaling: { ...desired.autoscaling, totalMaxNodeCount: 10 },
    });

    // Act
    const [action] = planNodePoolChanges(observed, desired, { gpuClass: l4 }).actions;

    // Assess
    expect(action).toMatchObject({
      kind: 'setNodePoolAutoscaling',
      after: desired.autoscaling,
      capacityBefore: { maxNodes: 10 },
      capacityAfter: { maxNodes: 4 },
    });
    expect(action?.costDeltaPerHour).toBeCloseTo(-6 * G2_STANDARD_4_USD, 4);
  });

  it('keeps foreign labels and taints in the update', () => {
    // Prepare
    const observed = asServerReturns(desired);
    observed.config!.labels = { team: 'ml' };
    observed.config!.taints = [{ key: 'dedicated', value: 'ml', effect: 1 }];

    // Act
    const [action] = planNodePoolChanges(observed, desired, { gpuClass: l4 }).actions;

    // Assess
    expect(action?.kind).toBe('updateNodePool');
    if (action?.kind !== 'updateNodePool') return;
    expect(action.after.labels).toEqual({ ...desired.config?.labels, team: 'ml' });
    expect(action.after.taints).toEqual([
      { key: 'dedicated', value: 'ml', effect: 'NO_SCHEDULE' },
      { key: 'nvidia.com/gpu', value: 'present', effect: 'NO_SCHEDULE' },
    ]);
  });

  describe('fixed-size pools (scheduled scale to zero)', () => {
    const zero = buildGpuNodePool(input({ size: { autoscaling: false, nodeCountPerZone: 0 } }));

    it('disables autoscaling then sets the size, in that order, with chained costs', () => {
      // Prepare
      const observed = asServerReturns(desired);

      // Act
      const { actions } = planNodePoolChanges(observed, zero, { gpuClass: l4, observedNodeCountPerZone: 2 });

      // Assess
      expect(actions.map((a) => a.kind)).toEqual(['setNodePoolAutoscaling', 'setNodePoolSize']);
      expect(actions[1]).toMatchObject({
        before: { nodeCountPerZone: 2, zones: 1 },
        after: { nodeCountPerZone: 0, zones: 1 },
      });
      const total = actions.reduce((sum, a) => sum + a.costDeltaPerHour, 0);
      expect(total).toBeCloseTo(-4 * G2_STANDARD_4_USD, 4);
    });

    it('does nothing when the size already matches', () => {
      // Prepare
      const observed = asServerReturns(zero);

      // Act
      const changes = planNodePoolChanges(observed, zero, { gpuClass: l4, observedNodeCountPerZone: 0 });

      // Assess
      expect(changes.actions).toEqual([]);
    });

    it('sets the size when the current size is unknown (setSize is idempotent)', () => {
      const changes = planNodePoolChanges(asServerReturns(zero), zero, { gpuClass: l4 });
      expect(changes.actions.map((a) => a.kind)).toEqual(['setNodePoolSize']);
    });
  });

  it.each<[string, (p: NodePool) => NodePool, string]>([
    [
      'machine type',
      (p) => ({ ...p, config: { ...p.config, machineType: 'g2-standard-8' } }),
      'config.machineType',
    ],
    [
      'accelerator',
      (p) => ({
        ...p,
        config: {
          ...p.config,
          machineType: 'a2-highgpu-1g',
          accelerators: [{ acceleratorType: 'nvidia-tesla-a100', acceleratorCount: 1 }],
        },
      }),
      'config.accelerators',
    ],
    ['spot', (p) => ({ ...p, config: { ...p.config, spot: true } }), 'config.spot'],
  ])('immutable %s differs -> recreate-required', (_case, observe, field) => {
    // Prepare
    const observed = observe(asServerReturns(desired));

    // Act
    const changes = planNodePoolChanges(observed, desired, { gpuClass: l4 });

    // Assess
    expect(changes.status).toBe('recreate-required');
    if (changes.status !== 'recreate-required') return;
    expect(changes.differences.map((d) => d.field)).toContain(field);
    expect(changes.actions.map((a) => a.kind)).toEqual(['deleteNodePool', 'createNodePool']);
  });

  it('refuses a recreate unless explicitly allowed', () => {
    // Prepare
    const observed = {
      ...asServerReturns(desired),
      config: { ...asServerReturns(desired).config, machineType: 'g2-standard-8' },
    };
    const changes = planNodePoolChanges(observed, desired, { gpuClass: l4 });

    // Act / Assess
    expect(() => nodePoolActions(changes, { allowRecreate: false })).toThrow(NodePoolRecreateRequired);
    try {
      nodePoolActions(changes, { allowRecreate: false });
    } catch (err) {
      expect(err).toBeInstanceOf(PermanentError);
      expect((err as PermanentError).reason).toBe('NODE_POOL_RECREATE_REQUIRED');
      expect((err as Error).message).toMatch(/config\.machineType g2-standard-8 -> g2-standard-4/);
    }
    expect(nodePoolActions(changes, { allowRecreate: true }).map((a) => a.kind)).toEqual([
      'deleteNodePool',
      'createNodePool',
    ]);
  });
});
