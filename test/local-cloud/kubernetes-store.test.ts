/**
 * The in-process write API for controllers (`server.store`): writes behave as API requests and
 * reach watchers; status updates leave spec and generation alone. Also namespace deletion and
 * sendInitialEvents as watchers see them.
 */
import { AppsV1Api, CoreV1Api, type KubeConfig, type KubernetesObject, Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError } from '../../infra/local/kubernetes/errors';
import {
  type KubernetesServer,
  localKubeConfig,
  startKubernetesServer,
} from '../../infra/local/kubernetes/index';
import { deploymentBody, eventually } from './kubernetes-support';

let server: KubernetesServer;
let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;

async function record(path: string, params: Record<string, string>) {
  const events: { type: string; object: KubernetesObject }[] = [];
  const controller = await new Watch(kc).watch(
    path,
    params,
    (type, object: KubernetesObject) => {
      events.push({ type, object });
    },
    () => {},
  );
  return { events, stop: () => controller.abort() };
}

beforeAll(async () => {
  server = await startKubernetesServer({ port: 0 });
  kc = localKubeConfig(server);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
});

afterAll(async () => {
  await server.close();
});

describe('server.store (in-process writes for controllers)', () => {
  it('creates, updates status and deletes with the API semantics, and watchers see each change', async () => {
    // Prepare
    const rv =
      (await apps.listNamespacedDeployment({ namespace: 'default' })).metadata?.resourceVersion ?? '';
    const w = await record('/apis/apps/v1/namespaces/default/deployments', { resourceVersion: rv });

    // Act
    const created = server.store.create(
      { ...deploymentBody('ctl', 2), metadata: { name: 'ctl', namespace: 'default' } },
      'controller',
    );
    const status = server.store.updateStatus('Deployment', 'default', 'ctl', {
      replicas: 2,
      readyReplicas: 1,
      observedGeneration: 1,
    });
    const stale = (() => {
      try {
        server.store.updateStatus('Deployment', 'default', 'ctl', {}, created.metadata.resourceVersion);
        return undefined;
      } catch (err) {
        return err instanceof KubeApiError ? err.code : -1;
      }
    })();
    const read = await apps.readNamespacedDeployment({ namespace: 'default', name: 'ctl' });
    server.store.delete('Deployment', 'default', 'ctl');
    await eventually('three events', () => (w.events.length >= 3 ? true : undefined));

    // Assess
    expect(created.metadata.generation).toBe(1);
    expect(Number(status.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
    expect(status.metadata.generation).toBe(1);
    expect(stale).toBe(409);
    expect(read.status?.readyReplicas).toBe(1);
    expect(w.events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    expect(server.store.get('Deployment', 'default', 'ctl')).toBeUndefined();
    w.stop();
  });

  it('refuses invalid objects as the API does (422)', () => {
    // Act
    const code = (() => {
      try {
        server.store.create({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'Bad_Name', namespace: 'default' },
        });
        return 201;
      } catch (err) {
        return err instanceof KubeApiError ? err.code : -1;
      }
    })();

    // Assess
    expect(code).toBe(422);
  });
});

describe('what watchers see', () => {
  it('deleting a namespace deletes its objects, each with a DELETED event', async () => {
    // Prepare
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    for (const n of ['a', 'b'])
      await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: n } } });
    const rv = (await core.listNamespacedConfigMap({ namespace: 'doomed' })).metadata?.resourceVersion ?? '';
    const w = await record('/api/v1/configmaps', { resourceVersion: rv });

    // Act
    await core.deleteNamespace({ name: 'doomed' });
    await eventually('two deletions', () => (w.events.length >= 2 ? true : undefined));

    // Assess
    expect(w.events.map((e) => [e.type, e.object.metadata?.name])).toEqual([
      ['DELETED', 'a'],
      ['DELETED', 'b'],
    ]);
    w.stop();
  });

  it('sendInitialEvents ends the initial ADDED events with an initial-events-end BOOKMARK', async () => {
    // Prepare
    await core.createNamespace({ body: { metadata: { name: 'initial' } } });
    await core.createNamespacedConfigMap({ namespace: 'initial', body: { metadata: { name: 'one' } } });

    // Act
    const w = await record('/api/v1/namespaces/initial/configmaps', {
      sendInitialEvents: 'true',
      resourceVersionMatch: 'NotOlderThan',
      allowWatchBookmarks: 'true',
    });
    await eventually('the bookmark', () => (w.events.length >= 2 ? true : undefined));

    // Assess
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'one' } } });
    expect(w.events[1]).toMatchObject({
      type: 'BOOKMARK',
      object: { metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } },
    });
    w.stop();
  });
});
