/**
 * Watches on the local apiserver, driven by client-node's own `Watch` and `makeInformer`: events
 * after a resourceVersion, synthetic ADDED for current objects, selectors, bookmarks, timeouts,
 * 410 Expired for versions older than the kept history, and an informer that re-lists on 410.
 */
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  makeInformer,
  type V1ConfigMap,
  Watch,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KubernetesServer,
  localKubeConfig,
  startKubernetesServer,
} from '../../infra/local/kubernetes/index';
import { deploymentBody, eventually } from './kubernetes-support';

interface Seen {
  type: string;
  name: string | undefined;
  object: KubernetesObject & { code?: number; reason?: string; message?: string };
}

/** A running watch whose events and end are recorded. */
class Recorder {
  readonly events: Seen[] = [];
  done: unknown = 'open';
  controller: AbortController | undefined;

  static async start(kc: KubeConfig, path: string, params: Record<string, string | boolean | number>) {
    const r = new Recorder();
    r.controller = await new Watch(kc).watch(
      path,
      params,
      (type, object: Seen['object']) => {
        r.events.push({ type, name: object.metadata?.name, object });
      },
      (err) => {
        r.done = err ?? null;
      },
    );
    return r;
  }

  names(type?: string): (string | undefined)[] {
    return this.events.filter((e) => type === undefined || e.type === type).map((e) => e.name);
  }

  stop(): void {
    this.controller?.abort();
  }
}

let server: KubernetesServer;
let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let counter = 0;

async function freshNamespace(): Promise<string> {
  counter += 1;
  const name = `w${counter}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

function configMap(
  name: string,
  labels: Record<string, string> = {},
  data: Record<string, string> = {},
): V1ConfigMap {
  return { metadata: { name, labels }, data };
}

beforeAll(async () => {
  server = await startKubernetesServer({ port: 0, watchBookmarkIntervalMs: 20 });
  kc = localKubeConfig(server);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
});

afterAll(async () => {
  await server.close();
});

describe('watch with client-node Watch', () => {
  it('streams ADDED, MODIFIED and DELETED after the list resourceVersion, in order', async () => {
    // Prepare
    const ns = await freshNamespace();
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap('before') });
    const list = await core.listNamespacedConfigMap({ namespace: ns });
    const w = await Recorder.start(kc, `/api/v1/namespaces/${ns}/configmaps`, {
      resourceVersion: list.metadata?.resourceVersion ?? '',
    });

    // Act
    const created = await core.createNamespacedConfigMap({ namespace: ns, body: configMap('a') });
    await core.patchNamespacedConfigMap({
      namespace: ns,
      name: 'a',
      body: [{ op: 'add', path: '/data', value: { k: 'v' } }],
    });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'a' });
    await eventually('three events', () => (w.events.length >= 3 ? true : undefined));

    // Assess
    expect(w.events.map((e) => [e.type, e.name])).toEqual([
      ['ADDED', 'a'],
      ['MODIFIED', 'a'],
      ['DELETED', 'a'],
    ]);
    const versions = w.events.map((e) => Number(e.object.metadata?.resourceVersion));
    expect(versions[0]).toBe(Number(created.metadata?.resourceVersion));
    expect([...versions].sort((x, y) => x - y)).toEqual(versions);
    expect(new Set(versions).size).toBe(3);
    w.stop();
  });

  it('without a resourceVersion starts with ADDED for every current object', async () => {
    // Prepare
    const ns = await freshNamespace();
    for (const n of ['x', 'y']) await core.createNamespacedConfigMap({ namespace: ns, body: configMap(n) });

    // Act
    const w = await Recorder.start(kc, `/api/v1/namespaces/${ns}/configmaps`, {});
    await eventually('two ADDED', () => (w.events.length >= 2 ? true : undefined));
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap('z') });
    await eventually('the live event', () => (w.events.length >= 3 ? true : undefined));

    // Assess
    expect(w.events.map((e) => [e.type, e.name])).toEqual([
      ['ADDED', 'x'],
      ['ADDED', 'y'],
      ['ADDED', 'z'],
    ]);
    w.stop();
  });

  it('turns label changes into ADDED/DELETED for a label-selected watch, and honours a field selector', async () => {
    // Prepare
    const ns = await freshNamespace();
    const rv = (await core.listNamespacedConfigMap({ namespace: ns })).metadata?.resourceVersion ?? '';
    const byLabel = await Recorder.start(kc, `/api/v1/namespaces/${ns}/configmaps`, {
      resourceVersion: rv,
      labelSelector: 'tier=gpu',
    });
    const byName = await Recorder.start(kc, `/api/v1/namespaces/${ns}/configmaps`, {
      resourceVersion: rv,
      fieldSelector: 'metadata.name=b',
    });

    // Act
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap('a', { tier: 'cpu' }) });
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap('b', { tier: 'gpu' }) });
    await core.patchNamespacedConfigMap({
      namespace: ns,
      name: 'a',
      body: [{ op: 'replace', path: '/metadata/labels/tier', value: 'gpu' }],
    });
    await core.patchNamespacedConfigMap({
      namespace: ns,
      name: 'b',
      body: [{ op: 'replace', path: '/metadata/labels/tier', value: 'cpu' }],
    });
    await eventually('label events', () => (byLabel.events.length >= 3 ? true : undefined));
    await eventually('name events', () => (byName.events.length >= 2 ? true : undefined));

    // Assess
    expect(byLabel.events.map((e) => [e.type, e.name])).toEqual([
      ['ADDED', 'b'],
      ['ADDED', 'a'],
      ['DELETED', 'b'],
    ]);
    expect(byName.events.map((e) => [e.type, e.name])).toEqual([
      ['ADDED', 'b'],
      ['MODIFIED', 'b'],
    ]);
    byLabel.stop();
    byName.stop();
  });

  it('watches across namespaces on the all-namespaces path', async () => {
    // Prepare
    const a = await freshNamespace();
    const b = await freshNamespace();
    const rv = (await core.listConfigMapForAllNamespaces()).metadata?.resourceVersion ?? '';
    const w = await Recorder.start(kc, '/api/v1/configmaps', { resourceVersion: rv });

    // Act
    await core.createNamespacedConfigMap({ namespace: a, body: configMap('in-a') });
    await core.createNamespacedConfigMap({ namespace: b, body: configMap('in-b') });
    await eventually('both', () => (w.events.length >= 2 ? true : undefined));

    // Assess
    expect(w.events.map((e) => [e.object.metadata?.namespace, e.name])).toEqual([
      [a, 'in-a'],
      [b, 'in-b'],
    ]);
    w.stop();
  });

  it('sends BOOKMARK events with the current resourceVersion when allowWatchBookmarks is set', async () => {
    // Prepare
    const ns = await freshNamespace();
    const rv = (await core.listNamespacedConfigMap({ namespace: ns })).metadata?.resourceVersion ?? '';

    // Act
    const w = await Recorder.start(kc, `/api/v1/namespaces/${ns}/configmaps`, {
      resourceVersion: rv,
      allowWatchBookmarks: true,
    });
    const bookmark = await eventually('a bookmark', () => w.events.find((e) => e.type === 'BOOKMARK'));
    const plain = await Recorder.start(kc, `/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: rv });
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap('after') });
    await eventually('the event', () => (plain.events.length >= 1 ? true : undefined));

    // Assess
    expect(bookmark.object).toEqual({
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: { resourceVersion: expect.stringMatching(/^\d+$/) },
    });
    expect(plain.names()).toEqual(['after']);
    w.stop();
    plain.stop();
  });

  it('ends the stream after timeoutSeconds', async () => {
    // Prepare
    const ns = await freshNamespace();

    // Act
    const w = await Recorder.start(kc, `/api/v1/namespaces/${ns}/configmaps`, { timeoutSeconds: 1 });
    const done = await eventually('the watch to end', () => (w.done === 'open' ? undefined : w.done), 400);

    // Assess
    expect(done).toBeNull();
  });

  it('answers a resourceVersion older than the kept history with an ERROR 410 Expired event, then ends', async () => {
    // Prepare
    const small = await startKubernetesServer({ port: 0, watchHistorySize: 3 });
    const skc = localKubeConfig(small);
    const score = skc.makeApiClient(CoreV1Api);
    const old =
      (await score.listNamespacedConfigMap({ namespace: 'default' })).metadata?.resourceVersion ?? '';
    for (const n of ['a', 'b', 'c', 'd', 'e']) {
      await score.createNamespacedConfigMap({ namespace: 'default', body: configMap(n) });
    }

    // Act
    const w = await Recorder.start(skc, '/api/v1/namespaces/default/configmaps', { resourceVersion: old });
    await eventually('the watch to end', () => (w.done === 'open' ? undefined : true));
    const recent =
      (await score.listNamespacedConfigMap({ namespace: 'default' })).metadata?.resourceVersion ?? '';
    const fresh = await Recorder.start(skc, '/api/v1/namespaces/default/configmaps', {
      resourceVersion: recent,
    });

    // Assess
    expect(w.events).toHaveLength(1);
    expect(w.events[0]?.type).toBe('ERROR');
    expect(w.events[0]?.object).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Expired',
      code: 410,
      message: expect.stringContaining('too old resource version'),
    });
    expect(fresh.done).toBe('open');
    fresh.stop();
    await small.close();
  });

  it('answers an unsupported field selector with 400 before any stream starts', async () => {
    // Act
    const w = await Recorder.start(kc, '/api/v1/namespaces/default/configmaps', {
      fieldSelector: 'status.phase=Running',
    });
    const done = await eventually('the watch to fail', () => (w.done === 'open' ? undefined : w.done));

    // Assess
    expect(done).toMatchObject({ statusCode: 400 });
    expect(w.events).toEqual([]);
  });

  it('streams the pods the ReplicaSet controller creates for a Deployment as it scales', async () => {
    // Prepare
    const ns = await freshNamespace();
    await apps.createNamespacedDeployment({ namespace: ns, body: deploymentBody('web', 1) });
    const w = await Recorder.start(kc, `/api/v1/namespaces/${ns}/pods`, {});
    await eventually('the first pod', () => (w.events.length >= 1 ? true : undefined));

    // Act
    await apps.patchNamespacedDeploymentScale({
      namespace: ns,
      name: 'web',
      body: [{ op: 'replace', path: '/spec/replicas', value: 3 }],
    });
    await eventually('two more pods', () => (w.names('ADDED').length >= 3 ? true : undefined));

    // Assess
    // ADDED in creation order; server.pods in name order.
    expect([...w.names('ADDED')].sort()).toEqual(server.pods(ns).map((p) => p.metadata.name));
    w.stop();
  });
});

describe('informers (makeInformer: list, then watch)', () => {
  it('reports add, update and delete, and keeps its cache in step', async () => {
    // Prepare
    const ns = await freshNamespace();
    await apps.createNamespacedDeployment({ namespace: ns, body: deploymentBody('existing') });
    const informer = makeInformer(kc, `/apis/apps/v1/namespaces/${ns}/deployments`, () =>
      apps.listNamespacedDeployment({ namespace: ns }),
    );
    const log: string[] = [];
    informer.on('add', (d) => log.push(`add ${d.metadata?.name}`));
    // The deployment controller also writes status (updates too): log spec changes only.
    const replicas = new Map<string, number | undefined>();
    informer.on('add', (d) => replicas.set(d.metadata?.name ?? '', d.spec?.replicas));
    informer.on('update', (d) => {
      const name = d.metadata?.name ?? '';
      if (replicas.get(name) === d.spec?.replicas) return;
      replicas.set(name, d.spec?.replicas);
      log.push(`update ${name} ${d.spec?.replicas}`);
    });
    informer.on('delete', (d) => log.push(`delete ${d.metadata?.name}`));
    await informer.start();

    // Act
    await apps.createNamespacedDeployment({ namespace: ns, body: deploymentBody('new') });
    await apps.patchNamespacedDeploymentScale({
      namespace: ns,
      name: 'new',
      body: [{ op: 'replace', path: '/spec/replicas', value: 2 }],
    });
    await apps.deleteNamespacedDeployment({ namespace: ns, name: 'existing' });
    await eventually('four callbacks', () => (log.length >= 4 ? true : undefined));

    // Assess
    expect(log).toEqual(['add existing', 'add new', 'update new 2', 'delete existing']);
    expect(informer.list(ns).map((d) => d.metadata?.name)).toEqual(['new']);
    await informer.stop();
  });

  it('re-lists when its watch resumes from a resourceVersion that expired (410)', async () => {
    // Prepare
    const small = await startKubernetesServer({ port: 0, watchHistorySize: 2 });
    const skc = localKubeConfig(small);
    const score = skc.makeApiClient(CoreV1Api);
    let lists = 0;
    const informer = makeInformer(skc, '/api/v1/namespaces/default/configmaps', () => {
      lists += 1;
      return score.listNamespacedConfigMap({ namespace: 'default' });
    });
    const names: string[] = [];
    informer.on('add', (c) => names.push(String(c.metadata?.name)));
    await informer.start();
    // A dropped watch whose version is still in the history resumes without a re-list.
    await eventually('the watch to open', () => (small.closeWatches() === 0 ? undefined : true));
    await eventually('the watch to reopen', () => (small.closeWatches() === 0 ? undefined : true));
    const listsBefore = lists;

    // Act: the history moves on without events for configmaps, then the watch drops.
    await informerQuietWrites(score);
    await eventually('a watch to close', () => (small.closeWatches() > 0 ? true : undefined));
    await eventually('the re-list', () => (lists >= 2 ? true : undefined));
    await score.createNamespacedConfigMap({ namespace: 'default', body: configMap('later') });
    await eventually('the add', () => (names.includes('later') ? true : undefined));

    // Assess
    expect(listsBefore).toBe(1);
    expect(lists).toBe(2);
    expect(informer.list('default').map((c) => c.metadata?.name)).toEqual(['later']);
    await informer.stop();
    await small.close();
  });
});

/** Writes to other resources, so the event history moves past a configmap watcher's version. */
async function informerQuietWrites(score: CoreV1Api): Promise<void> {
  for (const n of ['s1', 's2', 's3', 's4']) {
    await score.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: n } } });
  }
}
