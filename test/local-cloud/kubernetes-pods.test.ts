/**
 * Pods of the local apiserver through the official client: stored objects that the controllers
 * create for Deployments (through ReplicaSets), and that clients may create, read, patch status of
 * and delete. With the default (instant) timings they are Running and Ready by the time the write
 * that caused them has answered: what deployModel relies on to find every Triton replica.
 */
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localKubeConfig } from '../../infra/local/kubernetes/client';
import { type KubernetesServer, startKubernetesServer } from '../../infra/local/kubernetes/index';

const NS = 'pods-test';

function deployment(name: string, replicas?: number): V1Deployment {
  const labels = { 'app.kubernetes.io/name': 'triton', 'app.kubernetes.io/instance': name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      ...(replicas === undefined ? {} : { replicas }),
      selector: { matchLabels: labels },
      template: {
        metadata: { labels: { ...labels, tier: 'gpu' } },
        spec: { containers: [{ name: 'triton', image: 'nvcr.io/nvidia/tritonserver:24.08-py3' }] },
      },
    },
  };
}

async function codeOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('local apiserver: Pods (CoreV1Api)', () => {
  let server: KubernetesServer;
  let core: CoreV1Api;
  let apps: AppsV1Api;

  const podsOf = async (instance: string) =>
    (
      await core.listNamespacedPod({
        namespace: NS,
        labelSelector: `app.kubernetes.io/name=triton,app.kubernetes.io/instance=${instance}`,
      })
    ).items;

  beforeAll(async () => {
    server = await startKubernetesServer({ port: 0 });
    const kc = localKubeConfig(server);
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('pool-a', 2) });
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('pool-b') });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('lists spec.replicas Running, Ready pods per Deployment, owned by its ReplicaSet', async () => {
    // Act
    const a = await podsOf('pool-a');
    const b = await podsOf('pool-b');
    const rs = await apps.listNamespacedReplicaSet({ namespace: NS });

    // Assess
    const rsA = rs.items.find((r) => r.metadata?.ownerReferences?.[0]?.name === 'pool-a');
    expect(rsA?.metadata?.name).toMatch(/^pool-a-[bcdfghjklmnpqrstvwxz2456789]{6,10}$/);
    expect(a.map((p) => p.metadata?.name)).toEqual([
      expect.stringMatching(new RegExp(`^${rsA?.metadata?.name}-[bcdfghjklmnpqrstvwxz2456789]{5}$`)),
      expect.stringMatching(new RegExp(`^${rsA?.metadata?.name}-[bcdfghjklmnpqrstvwxz2456789]{5}$`)),
    ]);
    expect(b).toHaveLength(1); // replicas unset: the apiserver's default of 1
    for (const pod of [...a, ...b]) {
      expect(pod.status?.phase).toBe('Running');
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(pod.status?.podIP).toMatch(/^10\.244\.\d{1,3}\.\d{1,3}$/);
      expect(pod.spec?.nodeName).toBe('local-node');
      expect(pod.metadata?.labels?.tier).toBe('gpu');
      expect(pod.metadata?.labels?.['pod-template-hash']).toBeDefined();
      expect(pod.metadata?.ownerReferences).toEqual([
        expect.objectContaining({ kind: 'ReplicaSet', controller: true, blockOwnerDeletion: true }),
      ]);
      expect(pod.spec?.containers[0]?.name).toBe('triton');
      expect(pod.status?.containerStatuses?.[0]).toMatchObject({
        name: 'triton',
        ready: true,
        started: true,
      });
    }
    const ips = [...a, ...b].map((p) => p.status?.podIP);
    expect(new Set(ips).size).toBe(3);
  });

  it('keeps pod names and IPs across a scale-up, and removes every pod at 0', async () => {
    // Prepare
    const before = await podsOf('pool-a');

    // Act
    await apps.replaceNamespacedDeploymentScale({
      name: 'pool-a',
      namespace: NS,
      body: { metadata: { name: 'pool-a', namespace: NS }, spec: { replicas: 3 } },
    });
    const scaledUp = await podsOf('pool-a');
    await apps.replaceNamespacedDeploymentScale({
      name: 'pool-a',
      namespace: NS,
      body: { metadata: { name: 'pool-a', namespace: NS }, spec: { replicas: 0 } },
    });
    const scaledDown = await podsOf('pool-a');

    // Assess
    const kept = scaledUp.filter((p) => before.some((b) => b.metadata?.name === p.metadata?.name));
    expect(kept.map((p) => [p.metadata?.name, p.status?.podIP])).toEqual(
      before.map((p) => [p.metadata?.name, p.status?.podIP]),
    );
    expect(scaledUp).toHaveLength(3);
    expect(scaledDown).toEqual([]);
    expect(server.pods(NS).map((p) => p.metadata.name)).toEqual(
      (await podsOf('pool-b')).map((p) => p.metadata?.name),
    );
  });

  it('creates, reads, writes status of and deletes a bare pod; 404 for an unknown one', async () => {
    // Act
    const created = await core.createNamespacedPod({
      namespace: NS,
      body: { metadata: { name: 'mine' }, spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] } },
    });
    const read = await core.readNamespacedPod({ name: 'mine', namespace: NS });
    // A pod for another scheduler: no kubelet runs it, so its status is what clients write.
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'elsewhere' },
        spec: { schedulerName: 'my-scheduler', containers: [{ name: 'c', image: 'busybox:1.36' }] },
      },
    });
    const patched = await core.patchNamespacedPodStatus(
      { name: 'elsewhere', namespace: NS, body: { status: { message: 'hello' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const invalid = await codeOf(
      core.createNamespacedPod({
        namespace: NS,
        body: { metadata: { name: 'bad' }, spec: { containers: [] } },
      }),
    );
    const missing = await codeOf(core.readNamespacedPod({ name: 'nope', namespace: NS }));
    await core.deleteNamespacedPod({ name: 'mine', namespace: NS });
    await core.deleteNamespacedPod({ name: 'elsewhere', namespace: NS });
    const gone = await codeOf(core.readNamespacedPod({ name: 'mine', namespace: NS }));

    // Assess
    expect(created.status?.phase).toBe('Running');
    expect(created.spec).toMatchObject({ restartPolicy: 'Always', schedulerName: 'default-scheduler' });
    expect(read.status?.podIP).toBe(created.status?.podIP);
    expect(patched.status).toMatchObject({ phase: 'Pending', message: 'hello' });
    expect(patched.spec?.nodeName).toBeUndefined();
    expect([invalid, missing, gone]).toEqual([422, 404, 404]);
  });

  it('is discoverable: KubernetesObjectApi lists Pods by kind, discovery names pods/status', async () => {
    // Act
    const objects = localKubeConfig(server).makeApiClient(KubernetesObjectApi);
    const list = await objects.list('v1', 'Pod', NS);
    const discovery = await core.getAPIResources();

    // Assess
    expect(list.items.map((p) => p.metadata?.name)).toEqual(server.pods(NS).map((p) => p.metadata.name));
    expect(discovery.resources.find((r) => r.name === 'pods')).toEqual(
      expect.objectContaining({
        kind: 'Pod',
        namespaced: true,
        verbs: expect.arrayContaining(['create', 'delete']),
      }),
    );
    expect(discovery.resources.find((r) => r.name === 'pods/status')?.verbs).toEqual([
      'get',
      'patch',
      'update',
    ]);
  });

  it('drops the pods and ReplicaSet of a deleted Deployment and tells subscribers', async () => {
    // Prepare
    let changes = 0;
    const unsubscribe = server.onChange(() => {
      changes += 1;
    });

    // Act
    await apps.deleteNamespacedDeployment({ name: 'pool-b', namespace: NS });
    unsubscribe();

    // Assess
    expect(await podsOf('pool-b')).toEqual([]);
    const rs = await apps.listNamespacedReplicaSet({ namespace: NS });
    expect(rs.items.filter((r) => r.metadata?.ownerReferences?.[0]?.name === 'pool-b')).toEqual([]);
    expect(changes).toBeGreaterThan(0);
  });
});
