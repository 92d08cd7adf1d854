/**
 * Scheduling and the pod lifecycle: nodeSelector, required node affinity, taints/tolerations and
 * resource requests against what is left on each node; kube-scheduler's Unschedulable message;
 * container start delay, the readiness hook, and graceful termination.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import {
  gpuDeployment,
  isReady,
  l4Pool,
  podScheduled,
  startTestCluster,
  type TestCluster,
} from './cluster-support';

function pod(name: string, spec: Partial<NonNullable<V1Pod['spec']>>, gpus = 0): V1Pod {
  return {
    metadata: { name },
    spec: {
      ...spec,
      containers: [
        {
          name: 'c',
          image: 'busybox:1.36',
          resources:
            gpus > 0 ? { limits: { 'nvidia.com/gpu': String(gpus) } } : { requests: { cpu: '100m' } },
        },
      ],
    },
  };
}

const GPU_TOLERATION = { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' };

describe('local cluster: scheduling', () => {
  let c: TestCluster;
  afterEach(async () => {
    await c?.close();
  });

  it('keeps a GPU pod Pending with the Unschedulable message on a 0-node pool, then runs it once a node is Ready', async () => {
    // Prepare
    c = await startTestCluster({ nodeStartupMs: 20_000, containerStartMs: 2_000 });
    c.pools.set('system', { machineType: 'e2-standard-4', nodeCountPerZone: { 'us-central1-a': 2 } });
    c.pools.set('triton-l4', l4Pool(0));
    c.timers.advance(20_000);
    await c.apps.createNamespacedDeployment({
      namespace: 'default',
      body: gpuDeployment('t', 'triton-l4', 1),
    });

    // Act
    const [pending] = (await c.core.listNamespacedPod({ namespace: 'default' })).items;
    c.pools.set('triton-l4', l4Pool(1));
    const whileNodeStarts = await c.core.readNamespacedPod({
      name: pending!.metadata!.name!,
      namespace: 'default',
    });
    c.timers.advance(20_000);
    const bound = await c.core.readNamespacedPod({ name: pending!.metadata!.name!, namespace: 'default' });
    c.timers.advance(2_000);
    const running = await c.core.readNamespacedPod({ name: pending!.metadata!.name!, namespace: 'default' });

    // Assess
    expect(pending?.status?.phase).toBe('Pending');
    expect(podScheduled(pending!)).toMatchObject({
      status: 'False',
      reason: 'Unschedulable',
      message:
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
    });
    expect(podScheduled(whileNodeStarts)?.message).toBe(
      "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
    );
    expect(bound.spec?.nodeName).toMatch(/^gke-inference-triton-l4-/);
    expect(bound.status?.phase).toBe('Pending');
    expect(bound.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');
    expect(running.status?.phase).toBe('Running');
    expect(isReady(running)).toBe(true);
    expect(running.status?.podIP).toMatch(/^10\.244\.\d+\.\d+$/);
    expect(running.status?.conditions?.map((x) => x.type)).toEqual([
      'PodReadyToStartContainers',
      'Initialized',
      'Ready',
      'ContainersReady',
      'PodScheduled',
    ]);
  });

  it('counts GPUs already taken: the second pod of a 1-GPU node is Insufficient nvidia.com/gpu', async () => {
    // Prepare
    c = await startTestCluster();
    c.pools.set('triton-l4', l4Pool(1));

    // Act
    await c.apps.createNamespacedDeployment({
      namespace: 'default',
      body: gpuDeployment('t', 'triton-l4', 2),
    });
    const pods = (await c.core.listNamespacedPod({ namespace: 'default' })).items;

    // Assess
    expect(pods.filter((p) => p.spec?.nodeName).length).toBe(1);
    const waiting = pods.find((p) => !p.spec?.nodeName);
    expect(podScheduled(waiting!)?.message).toBe(
      '0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
    );
  });

  it.each([
    [
      'no toleration: the GPU taint keeps it off',
      { nodeSelector: { 'cloud.google.com/gke-nodepool': 'triton-l4' } },
      1,
      undefined,
    ],
    [
      'toleration and nodeSelector of the pool',
      { nodeSelector: { 'cloud.google.com/gke-nodepool': 'triton-l4' }, tolerations: [GPU_TOLERATION] },
      1,
      'triton-l4',
    ],
    [
      'nodeSelector of the CPU pool',
      { nodeSelector: { 'cloud.google.com/gke-nodepool': 'system' } },
      0,
      'system',
    ],
    [
      'required affinity In the spot pool',
      {
        tolerations: [GPU_TOLERATION],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [{ key: 'cloud.google.com/gke-spot', operator: 'In', values: ['true'] }],
                },
              ],
            },
          },
        },
      },
      1,
      'spot-l4',
    ],
    [
      'required affinity NotIn spot, GPU asked',
      {
        tolerations: [GPU_TOLERATION],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [
                    { key: 'cloud.google.com/gke-spot', operator: 'NotIn', values: ['true'] },
                  ],
                },
              ],
            },
          },
        },
      },
      1,
      'triton-l4',
    ],
    [
      'required affinity Exists on an absent label',
      {
        tolerations: [GPU_TOLERATION],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'no-such-label', operator: 'Exists' }] }],
            },
          },
        },
      },
      0,
      undefined,
    ],
    [
      'a GPU request with no selector lands on a GPU node it tolerates',
      { tolerations: [GPU_TOLERATION] },
      1,
      'gpu',
    ],
  ])('%s', async (_name, spec, gpus, poolOf) => {
    // Prepare
    c = await startTestCluster();
    c.pools.set('system', { machineType: 'e2-standard-4', nodeCountPerZone: { 'us-central1-a': 1 } });
    c.pools.set('triton-l4', l4Pool(1));
    c.pools.set('spot-l4', l4Pool(1, { spot: true }));

    // Act
    await c.core.createNamespacedPod({
      namespace: 'default',
      body: pod('p', spec as NonNullable<V1Pod['spec']>, gpus),
    });
    const read = await c.core.readNamespacedPod({ name: 'p', namespace: 'default' });

    // Assess
    const nodeName = read.spec?.nodeName;
    if (poolOf === undefined) {
      expect(nodeName).toBeUndefined();
      expect(podScheduled(read)?.reason).toBe('Unschedulable');
      return;
    }
    const node = await c.core.readNode({ name: nodeName! });
    const pool = node.metadata?.labels?.['cloud.google.com/gke-nodepool'];
    if (poolOf === 'gpu') expect(['triton-l4', 'spot-l4']).toContain(pool);
    else expect(pool).toBe(poolOf);
    expect(read.status?.phase).toBe('Running');
  });

  it('turns Ready only when the readiness hook says so, and NotReady again when it stops', async () => {
    // Prepare
    const healthy = new Set<string>();
    c = await startTestCluster({
      readiness: async (p) => healthy.has(String((p.metadata as { name: string }).name)),
      readinessPeriodMs: 1_000,
    });
    c.pools.set('system', { nodeCountPerZone: { 'us-central1-a': 1 } });
    await c.core.createNamespacedPod({ namespace: 'default', body: pod('p', {}) });
    const probe = async () => {
      c.timers.advance(1_000);
      // The hook is async: let its promise settle, then read.
      for (let i = 0; i < 5; i += 1) await new Promise((r) => setImmediate(r));
      return c.core.readNamespacedPod({ name: 'p', namespace: 'default' });
    };

    // Act
    const notYet = await probe();
    healthy.add('p');
    const ready = await probe();
    healthy.delete('p');
    const unready = await probe();

    // Assess
    expect(notYet.status?.phase).toBe('Running');
    expect(isReady(notYet)).toBe(false);
    expect(notYet.status?.conditions?.find((x) => x.type === 'Ready')).toMatchObject({
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [c]',
    });
    expect(isReady(ready)).toBe(true);
    expect(isReady(unready)).toBe(false);
  });

  it('keeps a deleted pod Terminating (deletionTimestamp) for the grace delay, then removes it', async () => {
    // Prepare
    c = await startTestCluster({ podTerminationMs: 5_000 });
    c.pools.set('system', { nodeCountPerZone: { 'us-central1-a': 1 } });
    await c.core.createNamespacedPod({ namespace: 'default', body: pod('p', {}) });

    // Act
    const deleted = await c.core.deleteNamespacedPod({ name: 'p', namespace: 'default' });
    const terminating = await c.core.readNamespacedPod({ name: 'p', namespace: 'default' });
    c.timers.advance(5_000);
    const list = await c.core.listNamespacedPod({ namespace: 'default' });

    // Assess
    expect(deleted.metadata?.deletionTimestamp).toBeDefined();
    expect(terminating.metadata?.deletionGracePeriodSeconds).toBe(30);
    expect(isReady(terminating)).toBe(false);
    expect(list.items).toEqual([]);
  });
});
