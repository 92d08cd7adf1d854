/**
 * Deployments roll through ReplicaSets: a template change makes a new ReplicaSet (new pod names)
 * and old pods go only as fast as maxSurge/maxUnavailable allow, counting Ready pods as
 * available; Recreate stops all old pods first; scale to 0 and back; deleting the Deployment
 * removes its ReplicaSets and pods. Time is stepped with ManualTimers and every step is checked.
 */
import type { AppsV1Api, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { isReady, startTestCluster, type TestCluster } from './cluster-support';

const NS = 'default';
const START = 3_000;
const STOP = 2_000;
const STEP = 500;

function deployment(
  replicas: number,
  image: string,
  strategy?: V1Deployment['spec'] extends infer S ? (S extends { strategy?: infer T } ? T : never) : never,
): V1Deployment {
  const labels = { app: 'web' };
  return {
    metadata: { name: 'web' },
    spec: {
      replicas,
      ...(strategy ? { strategy } : {}),
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'c', image, resources: { requests: { cpu: '100m' } } }] },
      },
    },
  };
}

/** `kubectl rollout status` for one Deployment (kubectl's DeploymentStatusViewer). */
async function rolloutStatus(apps: AppsV1Api): Promise<{ done: boolean; message: string }> {
  const d = await apps.readNamespacedDeployment({ name: 'web', namespace: NS });
  const s = d.status ?? {};
  const want = d.spec?.replicas ?? 1;
  if ((d.metadata?.generation ?? 0) > (s.observedGeneration ?? 0))
    return { done: false, message: 'Waiting for deployment spec update to be observed...' };
  const progressing = s.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded')
    return { done: false, message: 'exceeded its progress deadline' };
  if ((s.updatedReplicas ?? 0) < want)
    return {
      done: false,
      message: `${s.updatedReplicas ?? 0} out of ${want} new replicas have been updated...`,
    };
  if ((s.replicas ?? 0) > (s.updatedReplicas ?? 0))
    return {
      done: false,
      message: `${(s.replicas ?? 0) - (s.updatedReplicas ?? 0)} old replicas are pending termination...`,
    };
  if ((s.availableReplicas ?? 0) < (s.updatedReplicas ?? 0))
    return {
      done: false,
      message: `${s.availableReplicas ?? 0} of ${s.updatedReplicas} updated replicas are available...`,
    };
  return { done: true, message: 'deployment "web" successfully rolled out' };
}

interface Sample {
  available: number;
  /** Pods not terminating. */
  live: number;
  newPods: number;
  oldPods: number;
}

describe('local cluster: Deployment rollouts', () => {
  let c: TestCluster;
  afterEach(async () => {
    await c?.close();
  });

  async function pods(): Promise<V1Pod[]> {
    return (await c.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=web' })).items;
  }

  async function settle(): Promise<void> {
    for (let i = 0; i < 40 && !(await rolloutStatus(c.apps)).done; i += 1) c.timers.advance(STEP);
  }

  /** Steps time until the rollout is done, sampling the pods after every step. */
  async function rollThrough(newImage: string): Promise<Sample[]> {
    const samples: Sample[] = [];
    for (let i = 0; i < 200; i += 1) {
      const all = await pods();
      const live = all.filter((p) => !p.metadata?.deletionTimestamp);
      samples.push({
        available: live.filter(isReady).length,
        live: live.length,
        newPods: live.filter((p) => p.spec?.containers[0]?.image === newImage).length,
        oldPods: live.filter((p) => p.spec?.containers[0]?.image !== newImage).length,
      });
      if ((await rolloutStatus(c.apps)).done) return samples;
      c.timers.advance(STEP);
    }
    throw new Error('the rollout did not finish within 200 steps');
  }

  it.each([
    ['defaults (25%/25%) on 4 replicas', 4, undefined, { surge: 1, unavailable: 1 }],
    [
      'maxSurge 1, maxUnavailable 0',
      3,
      { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      { surge: 1, unavailable: 0 },
    ],
    [
      'maxSurge 0, maxUnavailable 1',
      3,
      { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      { surge: 0, unavailable: 1 },
    ],
    [
      'percentages 50%/50% on 4 replicas',
      4,
      { type: 'RollingUpdate', rollingUpdate: { maxSurge: '50%', maxUnavailable: '50%' } },
      { surge: 2, unavailable: 2 },
    ],
  ])('rolls a template change with %s within its bounds', async (_name, replicas, strategy, bounds) => {
    // Prepare
    c = await startTestCluster({ containerStartMs: START, podTerminationMs: STOP });
    c.pools.set('system', { machineType: 'e2-standard-8', nodeCountPerZone: { 'us-central1-a': 2 } });
    await c.apps.createNamespacedDeployment({
      namespace: NS,
      body: deployment(replicas, 'web:1', strategy as never),
    });
    await settle();
    const before = (await pods()).map((p) => p.metadata?.name);
    const rsBefore = (await c.apps.listNamespacedReplicaSet({ namespace: NS })).items;

    // Act
    await c.apps.patchNamespacedDeployment({
      name: 'web',
      namespace: NS,
      body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'web:2' }],
    });
    const samples = await rollThrough('web:2');
    c.timers.advance(STOP); // the last old pods finish terminating

    // Assess
    const after = await pods();
    const rs = (await c.apps.listNamespacedReplicaSet({ namespace: NS })).items;
    const d = await c.apps.readNamespacedDeployment({ name: 'web', namespace: NS });
    expect(before).toHaveLength(replicas);
    expect(rsBefore).toHaveLength(1);
    expect(samples.length).toBeGreaterThan(2);
    for (const s of samples) {
      expect(s.available).toBeGreaterThanOrEqual(replicas - bounds.unavailable);
      expect(s.live).toBeLessThanOrEqual(replicas + bounds.surge);
    }
    expect(samples.some((s) => s.newPods > 0 && s.oldPods > 0)).toBe(true);
    expect(after).toHaveLength(replicas);
    expect(
      after.every((p) => !before.includes(p.metadata?.name) && p.spec?.containers[0]?.image === 'web:2'),
    ).toBe(true);
    expect(rs).toHaveLength(2);
    const newRs = rs.find((r) => r.spec?.template?.spec?.containers[0]?.image === 'web:2')!;
    const oldRs = rs.find((r) => r !== newRs)!;
    expect(newRs.metadata?.name).toBe(`web-${newRs.metadata?.labels?.['pod-template-hash']}`);
    expect(newRs.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
    expect(oldRs.spec?.replicas).toBe(0);
    expect(d.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
    expect(d.status).toMatchObject({
      observedGeneration: 2,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
    });
    expect(d.status?.unavailableReplicas).toBeUndefined();
    expect(d.status?.conditions?.map((x) => [x.type, x.status, x.reason])).toEqual([
      ['Available', 'True', 'MinimumReplicasAvailable'],
      ['Progressing', 'True', 'NewReplicaSetAvailable'],
    ]);
    expect(d.status?.conditions?.find((x) => x.type === 'Progressing')?.message).toBe(
      `ReplicaSet "${newRs.metadata?.name}" has successfully progressed.`,
    );
  });

  it('reports a rollout in progress the way kubectl rollout status reads it', async () => {
    // Prepare
    c = await startTestCluster({ containerStartMs: START, podTerminationMs: STOP });
    c.pools.set('system', { machineType: 'e2-standard-8', nodeCountPerZone: { 'us-central1-a': 1 } });
    await c.apps.createNamespacedDeployment({ namespace: NS, body: deployment(2, 'web:1') });
    const fresh = await rolloutStatus(c.apps);
    const created = await c.apps.readNamespacedDeployment({ name: 'web', namespace: NS });
    await settle();

    // Act
    await c.apps.patchNamespacedDeployment({
      name: 'web',
      namespace: NS,
      body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'web:2' }],
    });
    const started = await rolloutStatus(c.apps);
    const midway = await c.apps.readNamespacedDeployment({ name: 'web', namespace: NS });
    await settle();
    const done = await rolloutStatus(c.apps);

    // Assess
    expect(fresh).toEqual({ done: false, message: '0 of 2 updated replicas are available...' });
    expect(created.status).toMatchObject({ replicas: 2, updatedReplicas: 2, unavailableReplicas: 2 });
    expect(created.status?.conditions?.find((x) => x.type === 'Available')).toMatchObject({
      status: 'False',
      reason: 'MinimumReplicasUnavailable',
    });
    expect(started.done).toBe(false);
    expect(midway.status?.conditions?.find((x) => x.type === 'Progressing')?.reason).toMatch(
      /^(NewReplicaSetCreated|ReplicaSetUpdated)$/,
    );
    expect(done).toEqual({ done: true, message: 'deployment "web" successfully rolled out' });
  });

  it('Recreate stops every old pod before the first new one starts', async () => {
    // Prepare
    c = await startTestCluster({ containerStartMs: START, podTerminationMs: STOP });
    c.pools.set('system', { machineType: 'e2-standard-8', nodeCountPerZone: { 'us-central1-a': 1 } });
    await c.apps.createNamespacedDeployment({
      namespace: NS,
      body: deployment(3, 'web:1', { type: 'Recreate' } as never),
    });
    await settle();

    // Act
    await c.apps.patchNamespacedDeployment({
      name: 'web',
      namespace: NS,
      body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'web:2' }],
    });
    const mixes: [number, number][] = [];
    for (let i = 0; i < 100 && !(await rolloutStatus(c.apps)).done; i += 1) {
      const all = await pods();
      mixes.push([
        all.filter((p) => p.spec?.containers[0]?.image === 'web:1').length,
        all.filter((p) => p.spec?.containers[0]?.image === 'web:2').length,
      ]);
      c.timers.advance(STEP);
    }

    // Assess
    expect(mixes.every(([old, fresh]) => old === 0 || fresh === 0)).toBe(true);
    expect(mixes.some(([old, fresh]) => old > 0 && fresh === 0)).toBe(true);
    expect(mixes.some(([old, fresh]) => old === 0 && fresh > 0)).toBe(true);
    expect((await pods()).map((p) => p.spec?.containers[0]?.image)).toEqual(['web:2', 'web:2', 'web:2']);
  });

  it('scales to 0 (no pods, status without counts) and back', async () => {
    // Prepare
    c = await startTestCluster();
    c.pools.set('system', { nodeCountPerZone: { 'us-central1-a': 1 } });
    await c.apps.createNamespacedDeployment({ namespace: NS, body: deployment(2, 'web:1') });

    // Act
    await c.apps.replaceNamespacedDeploymentScale({
      name: 'web',
      namespace: NS,
      body: { metadata: { name: 'web' }, spec: { replicas: 0 } },
    });
    const atZero = await pods();
    const zero = await c.apps.readNamespacedDeployment({ name: 'web', namespace: NS });
    await c.apps.replaceNamespacedDeploymentScale({
      name: 'web',
      namespace: NS,
      body: { metadata: { name: 'web' }, spec: { replicas: 3 } },
    });
    const back = await pods();
    const rs = (await c.apps.listNamespacedReplicaSet({ namespace: NS })).items;

    // Assess
    expect(atZero).toEqual([]);
    expect(zero.status).toEqual(expect.objectContaining({ observedGeneration: 2 }));
    expect(zero.status?.replicas).toBeUndefined();
    expect(zero.status?.availableReplicas).toBeUndefined();
    expect(back.filter(isReady)).toHaveLength(3);
    expect(rs).toHaveLength(1); // scaling is no template change
  });

  it('says ProgressDeadlineExceeded when pods cannot become available within progressDeadlineSeconds', async () => {
    // Prepare: no node has room, so the pods stay Pending.
    c = await startTestCluster();
    c.pools.set('system', { nodeCountPerZone: { 'us-central1-a': 0 } });
    const body = deployment(2, 'web:1');
    body.spec!.progressDeadlineSeconds = 60;
    await c.apps.createNamespacedDeployment({ namespace: NS, body });

    // Act
    c.timers.advance(59_000);
    const before = await c.apps.readNamespacedDeployment({ name: 'web', namespace: NS });
    c.timers.advance(1_000);
    const after = await c.apps.readNamespacedDeployment({ name: 'web', namespace: NS });

    // Assess
    const progressing = (d: typeof after) => d.status?.conditions?.find((x) => x.type === 'Progressing');
    expect(progressing(before)).toMatchObject({ status: 'True', reason: 'ReplicaSetUpdated' });
    expect(progressing(after)).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    expect(progressing(after)?.message).toMatch(/^ReplicaSet "web-[a-z0-9]+" has timed out progressing\.$/);
    expect(await rolloutStatus(c.apps)).toEqual({ done: false, message: 'exceeded its progress deadline' });
  });

  it('deleting the Deployment removes its ReplicaSets and pods (ownerReferences)', async () => {
    // Prepare
    c = await startTestCluster({ podTerminationMs: STOP });
    c.pools.set('system', { nodeCountPerZone: { 'us-central1-a': 1 } });
    await c.apps.createNamespacedDeployment({ namespace: NS, body: deployment(2, 'web:1') });
    await c.apps.patchNamespacedDeployment({
      name: 'web',
      namespace: NS,
      body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'web:2' }],
    });

    // Act
    await c.apps.deleteNamespacedDeployment({ name: 'web', namespace: NS });
    const rsRightAfter = (await c.apps.listNamespacedReplicaSet({ namespace: NS })).items;
    const terminating = await pods();
    c.timers.advance(STOP);
    const left = await pods();

    // Assess
    expect(rsRightAfter).toEqual([]);
    expect(terminating.length).toBeGreaterThan(0);
    expect(terminating.every((p) => p.metadata?.deletionTimestamp)).toBe(true);
    expect(left).toEqual([]);
  });
});
