/**
 * The cluster autoscaler simulation: grows an autoscaling pool for pods no node has room for
 * (after the scale-up delay, within the pool's maximum), never for pods a starting node will
 * take, and removes a node that has been empty for the idle time, never below the minimum.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  gpuDeployment,
  isReady,
  l4Pool,
  podScheduled,
  startTestCluster,
  type TestCluster,
} from './cluster-support';

const UP = 5_000;
const STARTUP = 20_000;
const IDLE = 60_000;

describe('local cluster: cluster autoscaler', () => {
  let c: TestCluster;
  afterEach(async () => {
    await c?.close();
  });

  const autoscaling = (min: number, max: number) => ({ enabled: true, minNodeCount: min, maxNodeCount: max });

  it('grows a pool for pending GPU pods after the delay, by as many nodes as they need, and they run', async () => {
    // Prepare
    c = await startTestCluster({ scaleUpDelayMs: UP, nodeStartupMs: STARTUP, scaleDownIdleMs: IDLE });
    c.pools.set('triton-l4', l4Pool(0, { autoscaling: autoscaling(0, 5) }));
    c.pools.set('other-l4', l4Pool(0)); // no autoscaling: never grown

    // Act
    await c.apps.createNamespacedDeployment({
      namespace: 'default',
      body: gpuDeployment('t', 'triton-l4', 3),
    });
    c.timers.advance(UP - 1);
    const resizesBeforeDelay = c.pools.resizes.length;
    c.timers.advance(1);
    const resizes = [...c.pools.resizes];
    c.timers.advance(STARTUP);
    const pods = (await c.core.listNamespacedPod({ namespace: 'default' })).items;

    // Assess
    expect(resizesBeforeDelay).toBe(0);
    expect(resizes).toEqual([{ pool: 'triton-l4', nodeCountPerZone: { 'us-central1-a': 3 } }]);
    expect(pods.filter(isReady)).toHaveLength(3);
    expect(new Set(pods.map((p) => p.spec?.nodeName)).size).toBe(3);
    const up = c.server.clusterEvents().find((e) => e.reason === 'TriggeredScaleUp');
    expect(up?.message).toContain('pod triggered scale-up: [{triton-l4 0->3 (max: 5)}]');
    expect((await c.core.listNode()).items).toHaveLength(3);
  });

  it('asks once while a resize is still on its way, then the pods run', async () => {
    // Prepare: the pool view shows the new size only when the resize lands.
    c = await startTestCluster({ scaleUpDelayMs: UP });
    c.pools.deferResizes = true;
    c.pools.set('triton-l4', l4Pool(0, { autoscaling: autoscaling(0, 5) }));
    await c.apps.createNamespacedDeployment({
      namespace: 'default',
      body: gpuDeployment('t', 'triton-l4', 2),
    });

    // Act
    c.timers.advance(UP);
    c.server.reconcile(); // passes happen on any change: none may ask again
    c.timers.advance(UP * 4);
    c.server.reconcile();
    const asked = [...c.pools.resizes];
    c.pools.flush();
    const pods = (await c.core.listNamespacedPod({ namespace: 'default' })).items;

    // Assess
    expect(asked).toEqual([{ pool: 'triton-l4', nodeCountPerZone: { 'us-central1-a': 2 } }]);
    expect(pods.filter(isReady)).toHaveLength(2);
  });

  it('stops at the maximum and records why the rest stay Pending', async () => {
    // Prepare
    c = await startTestCluster({ scaleUpDelayMs: UP });
    c.pools.set('triton-l4', l4Pool(0, { autoscaling: autoscaling(0, 2) }));

    // Act
    await c.apps.createNamespacedDeployment({
      namespace: 'default',
      body: gpuDeployment('t', 'triton-l4', 3),
    });
    c.timers.advance(UP);
    c.timers.advance(UP);
    const pods = (await c.core.listNamespacedPod({ namespace: 'default' })).items;

    // Assess
    expect(c.pools.pools.get('triton-l4')?.nodeCountPerZone).toEqual({ 'us-central1-a': 2 });
    const pending = pods.filter((p) => !p.spec?.nodeName);
    expect(pending).toHaveLength(1);
    expect(podScheduled(pending[0]!)?.message).toContain('Insufficient nvidia.com/gpu');
    expect(
      c.server
        .clusterEvents()
        .some((e) => e.reason === 'NotTriggerScaleUp' && e.message.includes('max node group size reached')),
    ).toBe(true);
  });

  it('does not grow for a pod that no node of any autoscaling pool would fit', async () => {
    // Prepare: the pod asks 2 GPUs; g2-standard-8 has 1.
    c = await startTestCluster({ scaleUpDelayMs: UP });
    c.pools.set('triton-l4', l4Pool(0, { autoscaling: autoscaling(0, 5) }));
    const body = gpuDeployment('t', 'triton-l4', 1);
    body.spec!.template.spec!.containers[0]!.resources!.limits = { 'nvidia.com/gpu': '2' };

    // Act
    await c.apps.createNamespacedDeployment({ namespace: 'default', body });
    c.timers.advance(UP);

    // Assess
    expect(c.pools.resizes).toEqual([]);
    expect(c.server.clusterEvents().find((e) => e.reason === 'NotTriggerScaleUp')?.message).toContain(
      'no node group would fit it',
    );
  });

  it('removes a node empty for the idle time, never below the minimum', async () => {
    // Prepare: 3 nodes, min 1; the Deployment goes from 3 pods to 1.
    c = await startTestCluster({ scaleDownIdleMs: IDLE });
    c.pools.set('triton-l4', l4Pool(3, { autoscaling: autoscaling(1, 5) }));
    await c.apps.createNamespacedDeployment({
      namespace: 'default',
      body: gpuDeployment('t', 'triton-l4', 3),
    });
    await c.apps.replaceNamespacedDeploymentScale({
      name: 't',
      namespace: 'default',
      body: { metadata: { name: 't' }, spec: { replicas: 1 } },
    });
    const [pod] = (await c.core.listNamespacedPod({ namespace: 'default' })).items;

    // Act
    c.timers.advance(IDLE - 1);
    const beforeIdle = (await c.core.listNode()).items.length;
    c.timers.advance(1);
    const afterIdle = (await c.core.listNode()).items;
    await c.apps.replaceNamespacedDeploymentScale({
      name: 't',
      namespace: 'default',
      body: { metadata: { name: 't' }, spec: { replicas: 0 } },
    });
    c.timers.advance(IDLE * 3);
    const atMin = (await c.core.listNode()).items;

    // Assess
    expect(beforeIdle).toBe(3);
    expect(afterIdle.map((n) => n.metadata?.name)).toEqual([pod!.spec!.nodeName]);
    expect(atMin).toHaveLength(1);
    expect(c.pools.pools.get('triton-l4')?.nodeCountPerZone).toEqual({ 'us-central1-a': 1 });
    const downs = c.server.clusterEvents().filter((e) => e.reason === 'ScaleDown');
    expect(downs).toHaveLength(2);
    expect(downs[0]?.message).toMatch(/^node removed by cluster autoscaler: empty for 60s/);
  });
});
