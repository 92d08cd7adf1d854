/**
 * The in-process write API for controllers (`server.store`): writes behave as API requests and
 * reach watchers; status updates leave spec and generation alone. Also namespace deletion and
 * sendInitialEvents as watchers see them.
 */
import {
  AutoscalingV2Api,
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  Watch,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError } from '../../infra/local/kubernetes/errors';
import {
  type KubernetesServer,
  localKubeConfig,
  startKubernetesServer,
} from '../../infra/local/kubernetes/index';
import { eventually } from './kubernetes-support';

let server: KubernetesServer;
let kc: KubeConfig;
let core: CoreV1Api;
let autoscaling: AutoscalingV2Api;

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
  autoscaling = kc.makeApiClient(AutoscalingV2Api);
});

afterAll(async () => {
  await server.close();
});

describe('server.store (in-process writes for controllers)', () => {
  it('creates, updates status and deletes with the API semantics, and watchers see each change', async () => {
    // Prepare: an HPA, whose status no in-process controller of this server writes (the
    // Deployment controller owns Deployment status).
    const rv =
      (await autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace: 'default' })).metadata
        ?.resourceVersion ?? '';
    const w = await record('/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers', {
      resourceVersion: rv,
    });

    // Act
    const created = server.store.create(
      {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'ctl', namespace: 'default' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'ctl' },
          minReplicas: 1,
          maxReplicas: 3,
        },
      },
      'controller',
    );
    const status = server.store.updateStatus('HorizontalPodAutoscaler', 'default', 'ctl', {
      currentReplicas: 2,
      desiredReplicas: 1,
      observedGeneration: 1,
    });
    const stale = (() => {
      try {
        server.store.updateStatus(
          'HorizontalPodAutoscaler',
          'default',
          'ctl',
          {},
          created.metadata.resourceVersion,
        );
        return undefined;
      } catch (err) {
        return err instanceof KubeApiError ? err.code : -1;
      }
    })();
    const read = await autoscaling.readNamespacedHorizontalPodAutoscaler({
      namespace: 'default',
      name: 'ctl',
    });
    server.store.delete('HorizontalPodAutoscaler', 'default', 'ctl');
    await eventually('three events', () => (w.events.length >= 3 ? true : undefined));

    // Assess
    expect(created.metadata.generation).toBe(1);
    expect(Number(status.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion));
    expect(status.metadata.generation).toBe(1);
    expect(stale).toBe(409);
    expect(read.status?.desiredReplicas).toBe(1);
    expect(w.events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    expect(server.store.get('HorizontalPodAutoscaler', 'default', 'ctl')).toBeUndefined();
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
