/**
 * Garbage collection by ownerReferences and finalizers on the local apiserver, through
 * client-node: background, foreground and orphan propagation, objects whose owners never existed,
 * and deletions held by finalizers (with what a watch sees of them).
 */
import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  type V1ConfigMap,
  type V1OwnerReference,
  Watch,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KubernetesServer,
  localKubeConfig,
  startKubernetesServer,
} from '../../infra/local/kubernetes/index';
import { eventually } from './kubernetes-support';

let server: KubernetesServer;
let kc: KubeConfig;
let core: CoreV1Api;
let counter = 0;

async function freshNamespace(): Promise<string> {
  counter += 1;
  const name = `g${counter}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

async function exists(ns: string, name: string): Promise<boolean> {
  try {
    await core.readNamespacedConfigMap({ namespace: ns, name });
    return true;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return false;
    throw err;
  }
}

function ownerRef(owner: V1ConfigMap, blockOwnerDeletion?: boolean): V1OwnerReference {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    name: owner.metadata?.name ?? '',
    uid: owner.metadata?.uid ?? '',
    ...(blockOwnerDeletion === undefined ? {} : { blockOwnerDeletion }),
  };
}

async function make(ns: string, name: string, extra: Partial<NonNullable<V1ConfigMap['metadata']>> = {}) {
  return core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, ...extra } } });
}

beforeAll(async () => {
  server = await startKubernetesServer({ port: 0 });
  kc = localKubeConfig(server);
  core = kc.makeApiClient(CoreV1Api);
});

afterAll(async () => {
  await server.close();
});

describe('ownerReferences', () => {
  it('background (default): the owner goes at once, its dependents after it, other owners keep theirs', async () => {
    // Prepare
    const ns = await freshNamespace();
    const owner = await make(ns, 'owner');
    const other = await make(ns, 'other');
    await make(ns, 'child', { ownerReferences: [ownerRef(owner)] });
    await make(ns, 'grandchild', {
      ownerReferences: [ownerRef(await core.readNamespacedConfigMap({ namespace: ns, name: 'child' }))],
    });
    await make(ns, 'shared', { ownerReferences: [ownerRef(owner), ownerRef(other)] });

    // Act
    const status = await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner' });
    await eventually('the child to go', async () => ((await exists(ns, 'child')) ? undefined : true));
    await eventually('the grandchild to go', async () =>
      (await exists(ns, 'grandchild')) ? undefined : true,
    );
    const shared = await eventually('the dangling reference to go', async () => {
      const s = await core.readNamespacedConfigMap({ namespace: ns, name: 'shared' });
      return s.metadata?.ownerReferences?.length === 1 ? s : undefined;
    });

    // Assess
    expect(status).toMatchObject({ status: 'Success' });
    expect(shared.metadata?.ownerReferences?.map((r) => r.name)).toEqual(['other']);
  });

  it('orphan: dependents stay, without the reference to the deleted owner', async () => {
    // Prepare
    const ns = await freshNamespace();
    const owner = await make(ns, 'owner');
    await make(ns, 'child', { ownerReferences: [ownerRef(owner)] });

    // Act
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner', propagationPolicy: 'Orphan' });
    const child = await core.readNamespacedConfigMap({ namespace: ns, name: 'child' });

    // Assess
    expect(await exists(ns, 'owner')).toBe(false);
    expect(child.metadata?.ownerReferences).toBeUndefined();
  });

  it('foreground: the owner stays terminating with foregroundDeletion until blocking dependents are gone', async () => {
    // Prepare
    const ns = await freshNamespace();
    const owner = await make(ns, 'owner');
    await make(ns, 'held', { ownerReferences: [ownerRef(owner, true)], finalizers: ['example.com/hold'] });

    // Act
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner', propagationPolicy: 'Foreground' });
    const terminating = await core.readNamespacedConfigMap({ namespace: ns, name: 'owner' });
    const held = await core.readNamespacedConfigMap({ namespace: ns, name: 'held' });
    await core.patchNamespacedConfigMap({
      namespace: ns,
      name: 'held',
      body: [{ op: 'remove', path: '/metadata/finalizers' }],
    });
    await eventually('the owner to go', async () => ((await exists(ns, 'owner')) ? undefined : true));

    // Assess
    expect(terminating.metadata?.deletionTimestamp).toBeDefined();
    expect(terminating.metadata?.finalizers).toEqual(['foregroundDeletion']);
    expect(held.metadata?.deletionTimestamp).toBeDefined();
    expect(await exists(ns, 'held')).toBe(false);
  });

  it('foreground with dependents that do not block: the owner goes once they are deleted', async () => {
    // Prepare
    const ns = await freshNamespace();
    const owner = await make(ns, 'owner');
    await make(ns, 'child', { ownerReferences: [ownerRef(owner, true)] });

    // Act
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner', propagationPolicy: 'Foreground' });

    // Assess
    expect(await exists(ns, 'owner')).toBe(false);
    expect(await exists(ns, 'child')).toBe(false);
  });

  it('collects an object whose owners do not exist', async () => {
    // Prepare
    const ns = await freshNamespace();

    // Act
    await make(ns, 'stray', {
      ownerReferences: [
        { apiVersion: 'v1', kind: 'ConfigMap', name: 'gone', uid: '00000000-0000-0000-0000-000000000000' },
      ],
    });
    await eventually('the stray to be collected', async () =>
      (await exists(ns, 'stray')) ? undefined : true,
    );

    // Assess
    expect(server.objects('ConfigMap').some((c) => c.metadata.namespace === ns)).toBe(false);
  });

  it('answers 422 for an unknown propagationPolicy', async () => {
    // Prepare
    const ns = await freshNamespace();
    await make(ns, 'x');

    // Act
    const code = await core
      .deleteNamespacedConfigMap({ namespace: ns, name: 'x', propagationPolicy: 'Sometimes' })
      .then(
        () => 200,
        (err: unknown) => (err instanceof ApiException ? err.code : -1),
      );

    // Assess
    expect(code).toBe(422);
    expect(await exists(ns, 'x')).toBe(true);
  });
});

describe('finalizers', () => {
  it('keeps a deleted object with deletionTimestamp until its finalizers are removed; a watch sees MODIFIED then DELETED', async () => {
    // Prepare
    const ns = await freshNamespace();
    await make(ns, 'held', { finalizers: ['example.com/a', 'example.com/b'] });
    const rv = (await core.listNamespacedConfigMap({ namespace: ns })).metadata?.resourceVersion ?? '';
    const events: [string, string[] | undefined, boolean][] = [];
    const controller = await new Watch(kc).watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { resourceVersion: rv },
      (type, obj: V1ConfigMap) => {
        events.push([type, obj.metadata?.finalizers, obj.metadata?.deletionTimestamp !== undefined]);
      },
      () => {},
    );

    // Act
    const first = await core.deleteNamespacedConfigMap({ namespace: ns, name: 'held' });
    const marked = await core.readNamespacedConfigMap({ namespace: ns, name: 'held' });
    await core.patchNamespacedConfigMap({
      namespace: ns,
      name: 'held',
      body: [{ op: 'replace', path: '/metadata/finalizers', value: ['example.com/b'] }],
    });
    await core.patchNamespacedConfigMap({
      namespace: ns,
      name: 'held',
      body: [{ op: 'replace', path: '/metadata/finalizers', value: [] }],
    });
    await eventually('three events', () => (events.length >= 3 ? true : undefined));

    // Assess
    // 202 with the object itself (client-node reads it through its V1Status type).
    expect(first.kind).toBe('ConfigMap');
    expect(marked.metadata?.deletionTimestamp).toBeDefined();
    expect(marked.metadata?.deletionGracePeriodSeconds).toBe(0);
    expect(await exists(ns, 'held')).toBe(false);
    expect(events).toEqual([
      ['MODIFIED', ['example.com/a', 'example.com/b'], true],
      ['MODIFIED', ['example.com/b'], true],
      ['DELETED', undefined, true],
    ]);
    controller.abort();
  });

  it('refuses new finalizers on an object being deleted (422) and keeps its deletionTimestamp', async () => {
    // Prepare
    const ns = await freshNamespace();
    await make(ns, 'held', { finalizers: ['example.com/a'] });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'held' });
    const marked = await core.readNamespacedConfigMap({ namespace: ns, name: 'held' });

    // Act
    const err = await core
      .patchNamespacedConfigMap({
        namespace: ns,
        name: 'held',
        body: [{ op: 'add', path: '/metadata/finalizers/-', value: 'example.com/new' }],
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const again = await core.deleteNamespacedConfigMap({ namespace: ns, name: 'held' });
    const after = await core.readNamespacedConfigMap({ namespace: ns, name: 'held' });

    // Assess
    expect(err).toBeInstanceOf(ApiException);
    const body = JSON.parse(String((err as ApiException<string>).body)) as {
      code: number;
      details: { causes: unknown[] };
    };
    expect(body.code).toBe(422);
    expect(body.details.causes).toEqual([
      {
        reason: 'FieldValueForbidden',
        message:
          'Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/new"}',
        field: 'metadata.finalizers',
      },
    ]);
    expect(again.kind).toBe('ConfigMap');
    expect(after.metadata?.deletionTimestamp).toEqual(marked.metadata?.deletionTimestamp);
    expect(after.metadata?.resourceVersion).toBe(marked.metadata?.resourceVersion);
  });
});
