/**
 * Nodes from GKE node pools: one v1 Node per live node, named and labelled as GKE does, NotReady
 * then Ready after the start-up delay, gone when the pool shrinks (and their pods recreated on
 * the nodes left).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { gpuDeployment, l4Pool, startTestCluster, type TestCluster } from './cluster-support';

const STARTUP = 20_000;

describe('local cluster: nodes from node pools', () => {
  let c: TestCluster;
  afterEach(async () => {
    await c?.close();
  });

  it('registers a NotReady node per new pool node, Ready after the start-up delay, with GKE labels, taints and capacity', async () => {
    // Prepare
    c = await startTestCluster({ nodeStartupMs: STARTUP });

    // Act
    c.pools.set(
      'triton-l4',
      l4Pool(1, { spot: true, taints: [{ key: 'team', value: 'ml', effect: 'NoSchedule' }] }),
    );
    const [starting] = (await c.core.listNode()).items;
    c.timers.advance(STARTUP - 1);
    const almost = await c.core.readNode({ name: starting!.metadata!.name! });
    c.timers.advance(1);
    const ready = await c.core.readNode({ name: starting!.metadata!.name! });

    // Assess
    const name = starting!.metadata!.name!;
    expect(name).toMatch(/^gke-inference-triton-l4-[0-9a-f]{8}-[a-z0-9]{4}$/);
    const readyOf = (n: typeof ready) => n.status?.conditions?.find((x) => x.type === 'Ready')?.status;
    expect([readyOf(starting!), readyOf(almost), readyOf(ready)]).toEqual(['False', 'False', 'True']);
    expect(ready.metadata?.labels).toMatchObject({
      'cloud.google.com/gke-nodepool': 'triton-l4',
      'cloud.google.com/gke-accelerator': 'nvidia-l4',
      'cloud.google.com/gke-spot': 'true',
      'topology.kubernetes.io/zone': 'us-central1-a',
      'node.kubernetes.io/instance-type': 'g2-standard-8',
      'kubernetes.io/hostname': name,
      'inferplane.dev/gpu-class': 'l4',
    });
    expect(starting!.spec?.taints).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }),
      ]),
    );
    expect(ready.spec?.taints).toEqual([
      { key: 'team', value: 'ml', effect: 'NoSchedule' },
      { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' },
    ]);
    expect(ready.status?.capacity).toMatchObject({ cpu: '8', 'nvidia.com/gpu': '1', pods: '110' });
    expect(ready.status?.allocatable).toMatchObject({ cpu: '7910m', 'nvidia.com/gpu': '1' });
    expect(ready.spec?.providerID).toBe(`gce://local-project/us-central1-a/${name}`);
  });

  it.each([
    [
      'n1-standard-4 with 2 T4s',
      'n1-standard-4',
      { type: 'nvidia-tesla-t4', count: 2 },
      { cpu: '4', 'nvidia.com/gpu': '2' },
    ],
    [
      'a2-highgpu-2g',
      'a2-highgpu-2g',
      { type: 'nvidia-tesla-a100', count: 2 },
      { cpu: '24', 'nvidia.com/gpu': '2' },
    ],
    [
      'a3-highgpu-8g',
      'a3-highgpu-8g',
      { type: 'nvidia-h100-80gb', count: 8 },
      { cpu: '208', 'nvidia.com/gpu': '8' },
    ],
    ['e2-standard-4 (no GPU)', 'e2-standard-4', undefined, { cpu: '4', memory: `${16 * 1024 * 1024}Ki` }],
  ])('sizes a %s node from its machine type', async (_name, machineType, accelerator, capacity) => {
    // Prepare
    c = await startTestCluster();

    // Act
    c.pools.set('p', {
      machineType,
      ...(accelerator ? { accelerator } : {}),
      nodeCountPerZone: { 'us-central1-a': 1 },
    });
    const [node] = (await c.core.listNode()).items;

    // Assess
    expect(node?.status?.capacity).toMatchObject(capacity);
    if (!accelerator) expect(node?.status?.capacity?.['nvidia.com/gpu']).toBeUndefined();
  });

  it('removes nodes when the pool shrinks or goes, and the ReplicaSet recreates their pods on the nodes left', async () => {
    // Prepare: two L4 nodes in two zones, one pod each.
    c = await startTestCluster();
    c.pools.set(
      'triton-l4',
      l4Pool(0, {
        zones: ['us-central1-a', 'us-central1-b'],
        nodeCountPerZone: { 'us-central1-a': 1, 'us-central1-b': 2 },
      }),
    );
    await c.apps.createNamespacedDeployment({
      namespace: 'default',
      body: gpuDeployment('t', 'triton-l4', 2),
    });
    const before = (await c.core.listNamespacedPod({ namespace: 'default' })).items;
    const zoneA = (await c.core.listNode({ labelSelector: 'topology.kubernetes.io/zone=us-central1-a' }))
      .items[0]!;
    const onA = before.find((p) => p.spec?.nodeName === zoneA.metadata?.name);

    // Act
    c.pools.set('triton-l4', { nodeCountPerZone: { 'us-central1-a': 0, 'us-central1-b': 2 } });
    const nodesAfter = (await c.core.listNode()).items;
    const after = (await c.core.listNamespacedPod({ namespace: 'default' })).items;
    c.pools.delete('triton-l4');
    const nodesGone = (await c.core.listNode()).items;

    // Assess
    expect(before).toHaveLength(2);
    expect(onA).toBeDefined();
    expect(nodesAfter.map((n) => n.metadata?.labels?.['topology.kubernetes.io/zone'])).toEqual([
      'us-central1-b',
      'us-central1-b',
    ]);
    expect(after).toHaveLength(2);
    expect(after.map((p) => p.metadata?.name)).not.toContain(onA?.metadata?.name);
    expect(after.every((p) => nodesAfter.some((n) => n.metadata?.name === p.spec?.nodeName))).toBe(true);
    expect(nodesGone).toEqual([]);
    expect(c.server.clusterEvents().some((e) => e.reason === 'RemovingNode')).toBe(true);
  });
});
