import { describe, expect, it } from 'vitest';
import { policyNetworkPolicySet } from '../../shared/cluster/desired';
import { LABELS } from '../../shared/cluster/names';
import { buildGpuNodePool } from '../../shared/cluster/nodepool';
import {
  adminKeyOf,
  type ClusterReconcileInput,
  desiredServingPools,
  NEW_ADMIN_KEY_PLACEHOLDER,
  planClusterReconcile,
  servingPools,
} from '../../shared/cluster/reconcile';
import { type NodePool, objectTarget } from '../../shared/domain/plan';
import type { ModelRecord } from '../../shared/domain/registry';
import { resolveGpuClass } from '../../shared/gpu/catalog';
import { type Policy, type PolicyInput, policySchema } from '../../shared/policy';
import type { LiveObject } from '../../shared/ports/kubernetes';
import { ManualClock } from '../../shared/runtime/clock';

const ADMIN_KEY = 'live-admin-key-0123456789';

function policyWith(patch: Partial<PolicyInput> = {}): Policy {
  return policySchema.parse({
    apiVersion: 'inferplane.dev/v1',
    kind: 'ControlPlanePolicy',
    cluster: {
      project: 'local-project',
      name: 'inference',
      repositoryBucket: 'local-triton-repo',
      incomingBucket: 'local-incoming',
    },
    guardrails: { maxGpusTotal: 16, maxGpusPerPool: 8, maxNodes: 16, maxDollarsPerHour: 100 },
    ...patch,
  });
}

/** `serving: null`: no version serves (the only one failed). */
function record(model: string, gpuClass: string, serving: number | null = 1): ModelRecord {
  return {
    apiVersion: 'inferplane.dev/registry/v1',
    model,
    ...(serving === null ? {} : { serving }),
    aliases: {},
    versions: {
      '1': {
        version: 1,
        state: serving === null ? 'FAILED' : 'READY',
        backend: 'onnxruntime',
        gpuClass,
        source: { bucket: 'local-incoming', name: `${model}/1/model.onnx`, generation: '1' },
        fingerprint: 'f',
        files: { 'model.onnx': { size: '10' } },
        publishedAt: '2026-11-01T00:00:00.000Z',
      },
    },
    updatedAt: '2026-11-01T00:00:00.000Z',
  };
}

/** Live objects as the apiserver returns them: our fields plus server metadata. */
function asLive(objects: readonly { apiVersion: string; kind: string; metadata: object }[]): LiveObject[] {
  return objects.map((o, i) => {
    const copy = structuredClone(o) as LiveObject;
    copy.metadata.uid = `uid-${i}`;
    copy.metadata.resourceVersion = String(100 + i);
    return copy;
  });
}

/** The cluster as it is once everything for `registry` was applied with `ADMIN_KEY`. */
function matchingCluster(
  policy: Policy,
  registry: readonly ModelRecord[],
): ClusterReconcileInput['observed'] {
  const pools = desiredServingPools(policy, servingPools(policy, registry), { 'triton-l4': ADMIN_KEY }, 1);
  return {
    nodePools: pools.map((p) => ({ ...structuredClone(p.nodePool), status: 'RUNNING' }) as NodePool),
    objects: asLive(pools.flatMap((p) => p.objects)),
  };
}

function input(patch: Partial<ClusterReconcileInput>): ClusterReconcileInput {
  return {
    policy: policyWith(),
    registry: [],
    observed: { nodePools: [], objects: [] },
    adminKeys: {},
    zones: 1,
    clock: new ManualClock(Date.UTC(2026, 10, 28)),
    ...patch,
  };
}

const TRITON_L4_OBJECTS = [
  'Namespace/triton',
  'ServiceAccount/triton/triton',
  'Secret/triton/triton-l4-admin',
  'Service/triton/triton-l4',
  'Deployment/triton/triton-l4',
  'HorizontalPodAutoscaler/triton/triton-l4',
  'PodDisruptionBudget/triton/triton-l4',
  // The namespace's NetworkPolicy set (default-deny, triton-ingress, egress), versioned by content.
  ...policyNetworkPolicySet(policyWith()).objects.map(objectTarget),
  'PodMonitoring/triton/triton-l4',
];

describe('planClusterReconcile', () => {
  const policy = policyWith();
  const resnet = record('resnet', 'l4');

  it.each([
    {
      name: 'empty registry: nothing to do',
      registry: [],
      observed: { nodePools: [], objects: [] },
      kinds: [],
      targets: [],
    },
    {
      name: 'a model with no serving version needs no pool',
      registry: [record('broken', 'l4', null)],
      observed: { nodePools: [], objects: [] },
      kinds: [],
      targets: [],
    },
    {
      name: 'one serving ONNX model on l4: create the pool and its serving stack',
      registry: [resnet],
      observed: { nodePools: [], objects: [] },
      kinds: ['createNodePool', ...TRITON_L4_OBJECTS.map(() => 'applyObject')],
      targets: ['nodePool/triton-l4', ...TRITON_L4_OBJECTS],
    },
    {
      name: 'everything already matching: no actions',
      registry: [resnet],
      observed: matchingCluster(policy, [resnet]),
      kinds: [],
      targets: [],
    },
  ])('$name', ({ registry, observed, kinds, targets }) => {
    // Prepare
    const adminKeys = observed.objects.length > 0 ? { 'triton-l4': ADMIN_KEY } : {};

    // Act
    const result = planClusterReconcile(input({ policy, registry, observed, adminKeys }));

    // Assess
    expect(result.plan.actions.map((a) => a.kind)).toEqual(kinds);
    expect(result.plan.actions.map((a) => a.target)).toEqual(targets);
    expect(result.plan.createdAt).toBe('2026-11-28T00:00:00.000Z');
    expect(result.guardrails.ok).toBe(true);
  });

  it('places a model on the GPU class of its serving version, not the one the policy names now', () => {
    // Prepare: the policy moved resnet to a100-40gb, but the registry still serves it from l4.
    const moved = policyWith({ models: { resnet: { gpuClass: 'a100-40gb' } } });

    // Act
    const result = planClusterReconcile(input({ policy: moved, registry: [resnet] }));

    // Assess
    expect(result.pools.map((p) => [p.pool, p.gpuClass, p.models])).toEqual([
      ['triton-l4', 'l4', ['resnet']],
    ]);
  });

  it('sizes a shared pool for every model it serves', () => {
    // Prepare
    const p = policyWith({ models: { bert: { replicas: { min: 2, max: 6 } } } });

    // Act
    const result = planClusterReconcile(input({ policy: p, registry: [resnet, record('bert', 'l4')] }));

    // Assess
    const create = result.plan.actions.find((a) => a.kind === 'createNodePool');
    expect(create?.kind === 'createNodePool' && create.after.autoscaling).toMatchObject({
      totalMinNodeCount: 2,
      totalMaxNodeCount: 6,
    });
    expect(result.pools[0]?.models).toEqual(['bert', 'resnet']);
    // One Namespace and one ServiceAccount, however many pools share them.
    expect(result.plan.actions.filter((a) => a.target === 'Namespace/triton')).toHaveLength(1);
  });

  it('only updates what differs: a changed replica range touches the pool and the HPA', () => {
    // Prepare: the cluster matches a policy with max 4 replicas; now the policy says 6.
    const observed = matchingCluster(policy, [resnet]);
    const wider = policyWith({ modelDefaults: { replicas: { min: 1, max: 6 } } });

    // Act
    const result = planClusterReconcile(
      input({ policy: wider, registry: [resnet], observed, adminKeys: { 'triton-l4': ADMIN_KEY } }),
    );

    // Assess
    expect(result.plan.actions.map((a) => `${a.kind} ${a.target}`)).toEqual([
      'setNodePoolAutoscaling nodePool/triton-l4',
      'applyObject HorizontalPodAutoscaler/triton/triton-l4',
    ]);
  });

  it('refuses a plan over maxGpusTotal', () => {
    // Prepare: resnet may grow to 8 one-GPU nodes; the cluster may hold 4 GPUs.
    const tight = policyWith({
      modelDefaults: { replicas: { min: 1, max: 8 } },
      guardrails: { maxGpusTotal: 4, maxGpusPerPool: 8, maxNodes: 16, maxDollarsPerHour: 100 },
    });

    // Act
    const result = planClusterReconcile(input({ policy: tight, registry: [resnet] }));

    // Assess
    expect(result.plan.actions[0]?.kind).toBe('createNodePool');
    expect(result.guardrails.ok).toBe(false);
    expect(!result.guardrails.ok && result.guardrails.violations.map((v) => [v.guardrail, v.actual])).toEqual(
      [['maxGpusTotal', 8]],
    );
  });

  it('reports a managed pool with no serving model and does not delete it', () => {
    // Prepare: an a100 pool left from a model that no longer serves, and a CPU pool that is not ours.
    const a100 = buildGpuNodePool({
      gpuClass: resolveGpuClass('a100-40gb'),
      size: { autoscaling: true, minNodes: 0, maxNodes: 2 },
    });
    const cpu: NodePool = { name: 'default-pool', config: { machineType: 'e2-standard-4' } };
    const observed = matchingCluster(policy, [resnet]);

    // Act
    const result = planClusterReconcile(
      input({
        registry: [resnet],
        observed: { ...observed, nodePools: [...observed.nodePools, a100, cpu] },
        adminKeys: { 'triton-l4': ADMIN_KEY },
      }),
    );

    // Assess
    expect(result.plan.actions).toEqual([]);
    expect(result.pools).toEqual([
      expect.objectContaining({ pool: 'triton-l4', status: 'serving', actions: [] }),
      expect.objectContaining({
        pool: 'triton-a100-40gb',
        gpuClass: 'a100-40gb',
        status: 'unused',
        models: [],
        actions: [],
        note: expect.stringContaining('not deleted'),
      }),
    ]);
    expect(result.plan.reason).toContain('nodePool/triton-a100-40gb serves no model: reported, not deleted');
    // Its GPUs still count against the guardrails.
    expect(result.guardrails.totals.pools['triton-a100-40gb']?.gpus).toBe(2);
  });

  it("leaves scaleOnAlert's on-demand pool beside a Spot pool alone: no action, not reported unused", () => {
    // Prepare: the on-demand sibling a stockout fallback added (labelled with the pool it stands in for).
    const observed = matchingCluster(policy, [resnet]);
    const live = observed.nodePools[0] as NodePool;
    const sibling: NodePool = {
      ...live,
      name: 'triton-l4-od',
      config: { ...live.config, labels: { ...live.config?.labels, [LABELS.onDemandFor]: 'triton-l4' } },
    };

    // Act
    const result = planClusterReconcile(
      input({
        registry: [resnet],
        observed: { ...observed, nodePools: [...observed.nodePools, sibling] },
        adminKeys: { 'triton-l4': ADMIN_KEY },
      }),
    );

    // Assess
    expect(result.plan.actions).toEqual([]);
    expect(result.pools.map((p) => p.pool)).toEqual(['triton-l4']);
    // Its GPUs count against the guardrails.
    expect(result.guardrails.totals.pools['triton-l4-od']).toBeDefined();
  });

  it('reports a pool whose shape cannot change in place instead of planning its deletion', () => {
    // Prepare: the live l4 pool is on-demand; the policy now wants spot.
    const observed = matchingCluster(policy, [resnet]);
    const spot = policyWith({ gpuClasses: { l4: { spot: true } } });
    const onDemand = { ...observed.nodePools[0], name: 'triton-l4-spot' } as NodePool;

    // Act
    const result = planClusterReconcile(
      input({ policy: spot, registry: [resnet], observed: { nodePools: [onDemand], objects: [] } }),
    );

    // Assess
    expect(result.plan.actions.some((a) => a.kind === 'deleteNodePool' || a.kind === 'createNodePool')).toBe(
      false,
    );
    expect(result.pools[0]).toMatchObject({
      pool: 'triton-l4-spot',
      status: 'recreate-required',
      differences: [{ field: 'config.spot', observed: 'false', desired: 'true' }],
    });
  });

  it('plans a missing admin Secret without its value ever reaching the plan', () => {
    // Act
    const result = planClusterReconcile(input({ registry: [resnet] }));

    // Assess
    const secret = result.plan.actions.find((a) => a.target === 'Secret/triton/triton-l4-admin');
    expect(secret?.reason).toContain('generated at apply time');
    const text = JSON.stringify(result);
    expect(text).not.toContain(NEW_ADMIN_KEY_PLACEHOLDER);
    expect(text).not.toContain(Buffer.from(NEW_ADMIN_KEY_PLACEHOLDER).toString('base64'));
    expect(text).toMatch(/"admin-key":"sha256:[0-9a-f]{12}"/);
  });

  it('plans a Secret update when the known key differs, still redacted', () => {
    // Prepare
    const observed = matchingCluster(policy, [resnet]);

    // Act
    const result = planClusterReconcile(
      input({ registry: [resnet], observed, adminKeys: { 'triton-l4': 'another-key' } }),
    );

    // Assess
    expect(result.plan.actions.map((a) => a.target)).toEqual(['Secret/triton/triton-l4-admin']);
    const text = JSON.stringify(result.plan);
    expect(text).not.toContain(ADMIN_KEY);
    expect(text).not.toContain(Buffer.from(ADMIN_KEY).toString('base64'));
  });
});

describe('adminKeyOf', () => {
  it.each([
    {
      name: 'live Secret',
      secret: { data: { 'admin-key': Buffer.from('k1').toString('base64') } },
      want: 'k1',
    },
    { name: 'absent', secret: undefined, want: undefined },
    { name: 'no data', secret: { metadata: {} }, want: undefined },
    { name: 'other key only', secret: { data: { other: 'eA==' } }, want: undefined },
  ])('$name', ({ secret, want }) => {
    expect(adminKeyOf(secret, 'admin-key')).toBe(want);
  });
});
