/**
 * Pods of the local apiserver, synthesized from Deployments, through the official client: what
 * deployModel relies on to find every Triton replica of a pool.
 */
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubernetesObjectApi,
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

describe('local apiserver: Pods of Deployments (CoreV1Api)', () => {
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

  it('lists spec.replicas Running, Ready pods per Deployment, selected by label', async () => {
    // Act
    const a = await podsOf('pool-a');
    const b = await podsOf('pool-b');

    // Assess
    expect(a.map((p) => p.metadata?.name)).toEqual([
      expect.stringMatching(/^pool-a-[a-z0-9]+-0$/),
      expect.stringMatching(/^pool-a-[a-z0-9]+-1$/),
    ]);
    expect(b).toHaveLength(1); // replicas unset: the apiserver's default of 1
    for (const pod of [...a, ...b]) {
      expect(pod.status?.phase).toBe('Running');
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(pod.status?.podIP).toMatch(/^10\.244\.\d{1,3}\.\d{1,3}$/);
      expect(pod.metadata?.labels?.tier).toBe('gpu');
      expect(pod.spec?.containers[0]?.name).toBe('triton');
    }
    const ips = [...a, ...b].map((p) => p.status?.podIP);
    expect(new Set(ips).size).toBe(3);
  });

  it('keeps pod names and IPs stable, and follows the scale subresource', async () => {
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
    expect(scaledUp.slice(0, 2).map((p) => [p.metadata?.name, p.status?.podIP])).toEqual(
      before.map((p) => [p.metadata?.name, p.status?.podIP]),
    );
    expect(scaledUp).toHaveLength(3);
    expect(scaledDown).toEqual([]);
    expect(server.pods(NS).map((p) => p.metadata.name)).toEqual(
      (await podsOf('pool-b')).map((p) => p.metadata?.name),
    );
  });

  it('reads one pod by name, answers 404 for an unknown one, and refuses writes (405)', async () => {
    // Prepare
    const [pod] = await podsOf('pool-b');
    const name = pod!.metadata!.name!;

    // Act
    const read = await core.readNamespacedPod({ name, namespace: NS });
    const missing = await codeOf(core.readNamespacedPod({ name: 'pool-b-nope-0', namespace: NS }));
    const deleted = await codeOf(core.deleteNamespacedPod({ name, namespace: NS }));
    const created = await codeOf(
      core.createNamespacedPod({
        namespace: NS,
        body: { metadata: { name: 'mine' }, spec: { containers: [] } },
      }),
    );

    // Assess
    expect(read.metadata?.name).toBe(name);
    expect(read.status?.podIP).toBe(pod!.status?.podIP);
    expect([missing, deleted, created]).toEqual([404, 405, 405]);
    expect((await podsOf('pool-b')).map((p) => p.metadata?.name)).toEqual([name]);
  });

  it('is discoverable: KubernetesObjectApi lists Pods by kind, and discovery says get, list and watch only', async () => {
    // Act
    const objects = localKubeConfig(server).makeApiClient(KubernetesObjectApi);
    const list = await objects.list('v1', 'Pod', NS);
    const discovery = await core.getAPIResources();

    // Assess
    expect(list.items.map((p) => p.metadata?.name)).toEqual(server.pods(NS).map((p) => p.metadata.name));
    expect(discovery.resources.find((r) => r.name === 'pods')).toEqual(
      expect.objectContaining({ kind: 'Pod', namespaced: true, verbs: ['get', 'list', 'watch'] }),
    );
  });

  it('drops the pods of a deleted Deployment and tells subscribers that something changed', async () => {
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
    expect(changes).toBeGreaterThan(0);
  });
});
