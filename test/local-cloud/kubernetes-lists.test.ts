/**
 * List features of the local apiserver through client-node: `limit`/`continue` paging from one
 * consistent snapshot, `remainingItemCount`, expired continue tokens (410), and the field
 * selectors each kind supports.
 */
import { ApiException, AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Clock,
  type KubernetesServer,
  localKubeConfig,
  startKubernetesServer,
} from '../../infra/local/kubernetes/index';
import { deploymentBody } from './kubernetes-support';

class TestClock implements Clock {
  ms = Date.UTC(2026, 0, 1);
  nowMs(): number {
    return this.ms;
  }
}

async function failure(call: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    return { code: err.code, body: JSON.parse(String(err.body)) as Record<string, unknown> };
  }
  throw new Error('expected the call to fail');
}

let server: KubernetesServer;
let core: CoreV1Api;
let apps: AppsV1Api;
const clock = new TestClock();
let counter = 0;

async function freshNamespace(): Promise<string> {
  counter += 1;
  const name = `l${counter}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

beforeAll(async () => {
  server = await startKubernetesServer({ port: 0, clock });
  const kc = localKubeConfig(server);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
});

afterAll(async () => {
  await server.close();
});

describe('paging with limit and continue', () => {
  it('pages in name order with an opaque token and remainingItemCount, unaffected by writes in between', async () => {
    // Prepare
    const ns = await freshNamespace();
    for (const n of ['a', 'b', 'c', 'd', 'e']) {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: n } } });
    }

    // Act
    const first = await core.listNamespacedConfigMap({ namespace: ns, limit: 2 });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'aa' } } });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'd' });
    const second = await core.listNamespacedConfigMap({
      namespace: ns,
      limit: 2,
      _continue: first.metadata?._continue ?? '',
    });
    const third = await core.listNamespacedConfigMap({
      namespace: ns,
      limit: 2,
      _continue: second.metadata?._continue ?? '',
    });
    const fresh = await core.listNamespacedConfigMap({ namespace: ns });

    // Assess
    expect(first.items.map((c) => c.metadata?.name)).toEqual(['a', 'b']);
    expect(first.metadata?.remainingItemCount).toBe(3);
    expect(first.metadata?._continue).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(second.items.map((c) => c.metadata?.name)).toEqual(['c', 'd']);
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    expect(second.metadata?.remainingItemCount).toBe(1);
    expect(third.items.map((c) => c.metadata?.name)).toEqual(['e']);
    expect(third.metadata?._continue).toBeUndefined();
    expect(third.metadata?.remainingItemCount).toBeUndefined();
    expect(fresh.items.map((c) => c.metadata?.name)).toEqual(['a', 'aa', 'b', 'c', 'e']);
  });

  it('omits remainingItemCount for a filtered list and pages across namespaces', async () => {
    // Prepare
    const ns = await freshNamespace();
    for (const n of ['a', 'b', 'c']) {
      await core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: n, labels: { pick: 'yes' } } },
      });
    }

    // Act
    const filtered = await core.listNamespacedConfigMap({
      namespace: ns,
      limit: 1,
      labelSelector: 'pick=yes',
    });
    const everywhere = await core.listConfigMapForAllNamespaces({ limit: 1 });

    // Assess
    expect(filtered.items).toHaveLength(1);
    expect(filtered.metadata?._continue).toBeDefined();
    expect(filtered.metadata?.remainingItemCount).toBeUndefined();
    expect(everywhere.items).toHaveLength(1);
    expect(everywhere.metadata?.remainingItemCount).toBeGreaterThanOrEqual(2);
  });

  it('answers 410 Expired for a continue token older than five minutes, and 400 for a garbled one', async () => {
    // Prepare
    const ns = await freshNamespace();
    for (const n of ['a', 'b']) {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: n } } });
    }
    const first = await core.listNamespacedConfigMap({ namespace: ns, limit: 1 });
    clock.ms += 5 * 60 * 1000 + 1;

    // Act
    const expired = await failure(
      core.listNamespacedConfigMap({ namespace: ns, limit: 1, _continue: first.metadata?._continue ?? '' }),
    );
    const garbled = await failure(
      core.listNamespacedConfigMap({ namespace: ns, limit: 1, _continue: 'nope' }),
    );

    // Assess
    expect(expired.code).toBe(410);
    expect(expired.body).toMatchObject({ reason: 'Expired', code: 410 });
    expect(String(expired.body.message)).toContain('The provided continue parameter is too old');
    expect(garbled.code).toBe(400);
  });
});

describe('field selectors', () => {
  it.each([
    ['status.phase=Running', 2],
    ['status.phase!=Running', 0],
    ['status.phase==Pending', 0],
    // Without node pools every pod is bound at once to the controllers' one roomy node.
    ['spec.nodeName=', 0],
    ['spec.nodeName=local-node', 2],
    ['status.phase=Running,spec.nodeName!=node-1', 2],
  ])('pods: %s selects %i', async (selector, count) => {
    // Prepare
    const ns = await freshNamespace();
    await apps.createNamespacedDeployment({ namespace: ns, body: deploymentBody('web', 2) });

    // Act
    const pods = await core.listNamespacedPod({ namespace: ns, fieldSelector: selector });

    // Assess
    expect(pods.items).toHaveLength(count);
  });

  it('secrets by type, namespaces by status.phase', async () => {
    // Prepare
    const ns = await freshNamespace();
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'opaque' } } });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': '', 'tls.key': '' } },
    });

    // Act
    const tls = await core.listNamespacedSecret({ namespace: ns, fieldSelector: 'type=kubernetes.io/tls' });
    const notOpaque = await core.listNamespacedSecret({ namespace: ns, fieldSelector: 'type!=Opaque' });
    const active = await core.listNamespace({ fieldSelector: `status.phase=Active,metadata.name=${ns}` });

    // Assess
    expect(tls.items.map((s) => s.metadata?.name)).toEqual(['tls']);
    expect(notOpaque.items.map((s) => s.metadata?.name)).toEqual(['tls']);
    expect(active.items.map((n) => n.metadata?.name)).toEqual([ns]);
  });

  it.each([
    [
      'a field the kind does not have',
      () => core.listNamespacedConfigMap({ namespace: 'default', fieldSelector: 'status.phase=Running' }),
      'field label not supported: status.phase',
    ],
    [
      'type on something other than secrets',
      () => core.listNamespacedService({ namespace: 'default', fieldSelector: 'type=ClusterIP' }),
      'field label not supported: type',
    ],
    [
      'a pod field on deployments',
      () => apps.listNamespacedDeployment({ namespace: 'default', fieldSelector: 'spec.nodeName=x' }),
      'field label not supported: spec.nodeName',
    ],
  ])('answers 400 BadRequest for %s', async (_name, call, message) => {
    // Act
    const err = await failure(call());

    // Assess
    expect(err.code).toBe(400);
    expect(err.body).toMatchObject({ reason: 'BadRequest', message });
  });
});
