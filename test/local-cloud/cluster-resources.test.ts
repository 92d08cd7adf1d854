/**
 * The kinds the controllers add to the apiserver, through the official client: PodMonitoring
 * (Managed Prometheus), ReplicaSets and Nodes by kind, and the status subresources.
 */
import {
  ApiException,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { l4Pool, startTestCluster, type TestCluster } from './cluster-support';
import { raw } from './kubernetes-support';

describe('local cluster: served kinds and status subresources', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await startTestCluster();
    c.pools.set('triton-l4', l4Pool(1));
  });
  afterAll(async () => {
    await c?.close();
  });

  it('stores PodMonitorings (monitoring.googleapis.com/v1) with generation, and lists them by kind', async () => {
    // Prepare
    const objects = KubernetesObjectApi.makeApiClient(c.kc);
    const custom = c.kc.makeApiClient(CustomObjectsApi);
    const body = {
      apiVersion: 'monitoring.googleapis.com/v1',
      kind: 'PodMonitoring',
      metadata: { name: 'triton', namespace: 'default' },
      spec: {
        selector: { matchLabels: { app: 'triton' } },
        endpoints: [{ port: 'metrics', interval: '30s' }],
      },
    };

    // Act
    const created = (await objects.create(body)) as { metadata?: { generation?: number } };
    const patched = await custom.patchNamespacedCustomObject(
      {
        group: 'monitoring.googleapis.com',
        version: 'v1',
        namespace: 'default',
        plural: 'podmonitorings',
        name: 'triton',
        body: { spec: { endpoints: [{ port: 'metrics', interval: '15s' }] } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const list = await objects.list('monitoring.googleapis.com/v1', 'PodMonitoring', 'default');

    // Assess
    expect(created.metadata?.generation).toBe(1);
    expect((patched as { metadata: { generation: number } }).metadata.generation).toBe(2);
    expect(list.items.map((i) => i.metadata?.name)).toEqual(['triton']);
  });

  it('lists Nodes and ReplicaSets by kind, and discovery names their status subresources', async () => {
    // Act
    const objects = KubernetesObjectApi.makeApiClient(c.kc);
    const nodes = await objects.list('v1', 'Node');
    const rs = await objects.list('apps/v1', 'ReplicaSet', 'default');
    const core = (await raw(c.server, '/api/v1')).json() as {
      resources: { name: string; namespaced: boolean }[];
    };
    const apps = (await raw(c.server, '/apis/apps/v1')).json() as {
      resources: { name: string }[];
    };

    // Assess
    expect(nodes.items).toHaveLength(1);
    expect(rs.items).toEqual([]);
    expect(core.resources.filter((r) => r.name.startsWith('nodes'))).toEqual([
      expect.objectContaining({ name: 'nodes', namespaced: false }),
      expect.objectContaining({ name: 'nodes/status', namespaced: false }),
    ]);
    expect(apps.resources.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'replicasets',
        'replicasets/status',
        'deployments/status',
        'deployments/scale',
      ]),
    );
  });

  it('writes only status through /status, and ignores status in main-resource writes', async () => {
    // Prepare
    const [node] = (await c.core.listNode()).items;
    const name = node!.metadata!.name!;

    // Act
    const viaMain = await c.core.patchNode(
      { name, body: { metadata: { labels: { extra: 'yes' } }, status: { capacity: { cpu: '999' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const viaStatus = await c.core.patchNodeStatus(
      { name, body: { metadata: { labels: { ignored: 'yes' } }, status: { phase: 'Running' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    let missing = 0;
    try {
      await c.core.readNodeStatus({ name: 'gke-nope' });
    } catch (err) {
      if (err instanceof ApiException) missing = err.code;
    }

    // Assess
    expect(viaMain.metadata?.labels?.extra).toBe('yes');
    expect(viaMain.status?.capacity?.cpu).toBe('8');
    expect(viaStatus.metadata?.labels?.ignored).toBeUndefined();
    expect(viaStatus.status?.phase).toBe('Running');
    expect(missing).toBe(404);
  });
});
