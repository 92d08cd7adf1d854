/**
 * KubeApplier with the official `@kubernetes/client-node` client (through the KubeObjects
 * adapter) against the local Kubernetes apiserver, in-process. The applier runs on a ManualClock,
 * so retries and backoff take no real time.
 */

import { KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import {
  type KubeObject,
  type KubernetesServer,
  startKubernetesServer,
} from '../../infra/local/kubernetes/index';
import { createKubeConfig, createKubeObjects } from '../../shared/adapters/kubernetes';
import { APPLY_ORDER, FIELD_MANAGER } from '../../shared/cluster/objects';
import {
  buildApiKeySecret,
  buildTritonDeployment,
  buildTritonHpa,
  buildTritonNetworkPolicy,
  buildTritonPdb,
  buildTritonService,
  type TritonInstanceInput,
} from '../../shared/cluster/triton';
import type { KubernetesObject } from '../../shared/domain/plan';
import { KubeApplier } from '../../shared/execute/kube-applier';
import { resolveGpuClass } from '../../shared/gpu/catalog';
import type { KubeObjects } from '../../shared/ports/kubernetes';
import { ManualClock } from '../../shared/runtime/clock';
import { PermanentError, RetryableError } from '../../shared/runtime/errors';
import { createMemoryLogger } from '../../shared/runtime/log';

const NS = 'triton';
/** The Triton stack has no ConfigMap. */
const STACK_KINDS = APPLY_ORDER.filter((k) => k !== 'ConfigMap');

function instance(overrides: Partial<TritonInstanceInput> = {}): TritonInstanceInput {
  return {
    cluster: {
      name: 'inference',
      namespace: NS,
      repositoryBucket: 'acme-models',
      tritonImage: 'nvcr.io/nvidia/tritonserver:25.10-py3',
    },
    pool: 'triton-l4',
    gpuClass: resolveGpuClass('l4'),
    repositoryPrefix: 'pools/triton-l4',
    ...overrides,
  };
}

interface StackOptions {
  maxReplicas?: number;
  replicas?: number;
  image?: string;
}

/** The whole Triton stack, deliberately listed out of dependency order. */
function tritonStack(opts: StackOptions = {}): KubernetesObject[] {
  const input = instance({
    ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }),
    ...(opts.image === undefined ? {} : { cluster: { ...instance().cluster, tritonImage: opts.image } }),
  });
  const scaling = {
    replicas: { min: 1, max: opts.maxReplicas ?? 4 },
    autoscaling: { metric: 'queue-time' as const, target: 50_000 },
  };
  return [
    buildTritonNetworkPolicy(input, { allowedNamespaces: ['serving'], allowedCidrs: ['10.8.0.0/28'] }),
    buildTritonHpa(input, scaling),
    buildTritonDeployment(input),
    buildTritonPdb(input),
    buildTritonService(input),
    buildApiKeySecret('triton-l4-admin', { 'admin-key': 'a-very-secret-admin-key' }, { namespace: NS }),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'triton', namespace: NS } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
  ];
}

function withHpaMinReplicas(stack: KubernetesObject[], minReplicas: number): KubernetesObject[] {
  return stack.map((o) => {
    if (o.kind !== 'HorizontalPodAutoscaler') return o;
    const hpa = o as KubernetesObject & { spec: Record<string, unknown> };
    return { ...hpa, spec: { ...hpa.spec, minReplicas } } as KubernetesObject;
  });
}

let server: KubernetesServer;
let objects: KubeObjects;
let clock: ManualClock;

function applier(logger = createMemoryLogger().logger): KubeApplier {
  return new KubeApplier({ objects, clock, logger, random: () => 0.5 });
}

/** kind/namespace/name -> resourceVersion of everything stored in the test namespace. */
function versions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of server.objects()) {
    // ReplicaSets and Pods are the controllers', written whenever the Deployment scales.
    if (o.kind === 'ReplicaSet' || o.kind === 'Pod') continue;
    if (o.metadata.namespace === NS || (o.kind === 'Namespace' && o.metadata.name === NS)) {
      out[`${o.kind}/${o.metadata.name}`] = o.metadata.resourceVersion;
    }
  }
  return out;
}

function productionKubeConfig() {
  return createKubeConfig({
    cluster: { endpoint: server.endpoint, caCertificate: server.caCertificateBase64 },
    token: async () => LOCAL_ACCESS_TOKEN,
  });
}

function stored(kind: string): KubeObject | undefined {
  return server.objects(kind).find((o) => o.metadata.namespace === NS || o.metadata.name === NS);
}

beforeEach(async () => {
  // As production reaches GKE's apiserver: its endpoint, its CA, a bearer token.
  server = await startKubernetesServer({ port: 0, tokens: [LOCAL_ACCESS_TOKEN] });
  objects = createKubeObjects(productionKubeConfig());
  clock = new ManualClock();
});

afterEach(async () => {
  await server.close();
});

describe('applyAll against the local apiserver', () => {
  it('creates the whole Triton stack in dependency order', async () => {
    // Act
    const results = await applier().applyAll(tritonStack());

    // Assess
    expect(results.map((r) => r.object.kind)).toEqual(STACK_KINDS);
    expect(results.every((r) => r.result === 'created')).toBe(true);
    const rv = versions();
    const createdAt = STACK_KINDS.map((kind) => {
      const key = Object.keys(rv).find((k) => k.startsWith(`${kind}/`));
      return Number(rv[key ?? ''] ?? Number.NaN);
    });
    expect(createdAt.every((v, i) => i === 0 || v > (createdAt[i - 1] ?? 0))).toBe(true);
    // The NetworkPolicy keeps its peers (the client's typed serializer would drop `from`).
    const policy = stored('NetworkPolicy') as KubeObject & {
      spec: { ingress: { from: unknown[] }[] };
    };
    expect(policy.spec.ingress[0]?.from).toHaveLength(2);
    const deployment = stored('Deployment') as KubeObject;
    expect(deployment.metadata.managedFields?.map((m) => m.manager)).toEqual([FIELD_MANAGER]);
  });

  it('re-applying the same stack writes nothing: all unchanged, resourceVersions kept', async () => {
    // Prepare
    await applier().applyAll(tritonStack());
    const before = versions();
    // Any write would now fail: the test sees it instead of trusting the result labels.
    server.faults.set({ match: 'PATCH ', failNext: 1000, failStatus: 400 });
    const { logger, entries } = createMemoryLogger();

    // Act
    const results = await applier(logger).applyAll(tritonStack());

    // Assess
    expect(results.map((r) => r.result)).toEqual(Array(STACK_KINDS.length).fill('unchanged'));
    expect(server.faults.injected).toBe(0);
    expect(versions()).toEqual(before);
    const skips = entries.filter((e) => e.message === 'kubernetes object unchanged, no write');
    expect(skips).toHaveLength(STACK_KINDS.length);
    expect(skips[0]).toMatchObject({ target: 'Namespace/triton', reason: expect.any(String) });
  });

  it('updates only the objects whose fields changed (replicas, HPA max)', async () => {
    // Prepare
    await applier().applyAll(tritonStack());
    const before = versions();

    // Act
    const results = await applier().applyAll(tritonStack({ replicas: 2, maxReplicas: 8 }));

    // Assess
    const changed = results.filter((r) => r.result !== 'unchanged');
    expect(changed.map((r) => [r.object.kind, r.result])).toEqual([
      ['Deployment', 'updated'],
      ['HorizontalPodAutoscaler', 'updated'],
    ]);
    const hpaAction = changed[1]?.action;
    expect(hpaAction?.before).toMatchObject({ spec: { maxReplicas: 4 } });
    expect(hpaAction?.after).toMatchObject({ spec: { maxReplicas: 8 } });
    const after = versions();
    for (const key of Object.keys(before)) {
      const touched = key === 'Deployment/triton-l4' || key === 'HorizontalPodAutoscaler/triton-l4';
      if (touched) expect(after[key]).not.toBe(before[key]);
      else expect(after[key]).toBe(before[key]);
    }
    expect((stored('Deployment') as KubeObject & { spec: { replicas: number } }).spec.replicas).toBe(2);
  });

  it('releases a field it no longer sets (replicas handed back), then is unchanged', async () => {
    // Prepare: an explicit scale set replicas; the next desired state leaves them to the HPA.
    await applier().applyAll(tritonStack({ replicas: 0 }));

    // Act
    const released = await applier().applyAll(tritonStack());
    const again = await applier().applyAll(tritonStack());

    // Assess
    const deployment = released.find((r) => r.object.kind === 'Deployment');
    expect(deployment?.result).toBe('updated');
    expect(deployment?.action?.reason).toContain('spec.replicas (no longer set)');
    const owned = JSON.stringify(
      (stored('Deployment') as KubeObject).metadata.managedFields?.find((m) => m.manager === FIELD_MANAGER)
        ?.fieldsV1 ?? {},
    );
    expect(owned).not.toContain('"f:replicas"');
    expect(again.every((r) => r.result === 'unchanged')).toBe(true);
  });

  it('takes over a field another manager changed (force) and restores our value', async () => {
    // Prepare: a human edit through another field manager, with its own force.
    await applier().applyAll(tritonStack());
    const kc = productionKubeConfig();
    const client = KubernetesObjectApi.makeApiClient(kc);
    await client.patch(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'triton-l4', namespace: NS },
        spec: { template: { spec: { containers: [{ name: 'triton-l4', image: 'example/hotfix:1' }] } } },
      },
      undefined,
      undefined,
      'kubectl-edit',
      true,
      PatchStrategy.ServerSideApply,
    );
    const edited = stored('Deployment') as KubeObject & {
      spec: { template: { spec: { containers: { image: string }[] } } };
    };
    expect(edited.spec.template.spec.containers[0]?.image).toBe('example/hotfix:1');

    // Act
    const results = await applier().applyAll(tritonStack());

    // Assess
    expect(results.find((r) => r.object.kind === 'Deployment')?.result).toBe('updated');
    const restored = stored('Deployment') as typeof edited;
    expect(restored.spec.template.spec.containers[0]?.image).toBe('nvcr.io/nvidia/tritonserver:25.10-py3');
    const owners = restored.metadata.managedFields ?? [];
    const byManager = (m: string) => JSON.stringify(owners.find((o) => o.manager === m)?.fieldsV1 ?? {});
    expect(byManager(FIELD_MANAGER)).toContain('"f:image"');
    expect(byManager('kubectl-edit')).not.toContain('"f:image"');
  });

  const transient = [
    { name: '503 twice', faults: { failNext: 2, failStatus: 503 }, injected: 2 },
    { name: '429 once', faults: { failNext: 1, failStatus: 429 }, injected: 1 },
    { name: 'a dropped connection', faults: { dropNext: 1 }, injected: 1 },
  ];
  it.each(transient)('retries $name to success', async ({ faults, injected }) => {
    // Prepare
    server.faults.set({ ...faults, match: 'PATCH ' });
    const started = clock.nowMs();

    // Act
    const results = await applier().applyAll(tritonStack());

    // Assess
    expect(results.every((r) => r.result === 'created')).toBe(true);
    expect(server.faults.injected).toBe(injected);
    expect(clock.nowMs()).toBeGreaterThan(started);
    expect(server.objects('Deployment')).toHaveLength(1);
  });

  it('gives up on a lasting 503 with a RetryableError naming the object', async () => {
    // Prepare
    await applier().applyAll(tritonStack());
    server.faults.set({ match: 'GET /apis/apps/v1/namespaces/triton/deployments', failNext: 1000 });

    // Act
    const error = await applier()
      .applyAll(tritonStack({ maxReplicas: 9 }))
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as RetryableError).message).toMatch(
      /^apps\/v1 Deployment triton\/triton-l4: read failed after 5/,
    );
    expect(server.faults.injected).toBe(5);
  });

  it('a 422 anywhere in the set stops before the first write (dry-run first)', async () => {
    // Prepare: the stack exists; the new version changes the Deployment and breaks the HPA.
    await applier().applyAll(tritonStack());
    const before = versions();
    const broken = withHpaMinReplicas(tritonStack({ replicas: 3 }), 0);

    // Act
    const error = await applier()
      .applyAll(broken)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    const message = (error as PermanentError).message;
    expect(message).toMatch(/^autoscaling\/v2 HorizontalPodAutoscaler triton\/triton-l4: 422 Invalid: /);
    expect(message).toContain('spec.minReplicas');
    expect((error as PermanentError).reason).toBe('KUBE_INVALID');
    expect((error as PermanentError).details).toMatchObject({
      phase: 'dry-run',
      code: 422,
      causes: [expect.objectContaining({ field: 'spec.minReplicas' })],
    });
    expect(versions()).toEqual(before);
  });

  it('a 422 on a fresh cluster leaves only the new namespace behind', async () => {
    // Act
    const error = await applier()
      .applyAll(withHpaMinReplicas(tritonStack(), 0))
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect(Object.keys(versions())).toEqual(['Namespace/triton']);
  });

  it('a missing namespace is a PermanentError (404) naming the object', async () => {
    // Prepare
    const withoutNamespace = tritonStack().filter((o) => o.kind !== 'Namespace');

    // Act
    const error = await applier()
      .applyAll(withoutNamespace)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).reason).toBe('KUBE_NOT_FOUND');
    expect((error as PermanentError).message).toMatch(
      /^v1 ServiceAccount triton\/triton: 404 NotFound: .*namespaces "triton" not found/,
    );
  });

  it('dry-run on an empty cluster says what would be created and stores nothing', async () => {
    // Act
    const results = await applier().applyAll(tritonStack(), { dryRun: true });

    // Assess
    expect(results.map((r) => r.result)).toEqual(Array(STACK_KINDS.length).fill('created'));
    expect(results.every((r) => r.action?.before === null)).toBe(true);
    expect(versions()).toEqual({});
  });

  it('dry-run on an existing stack returns the change with before/after and writes nothing', async () => {
    // Prepare
    await applier().applyAll(tritonStack());
    const before = versions();

    // Act
    const results = await applier().applyAll(tritonStack({ maxReplicas: 6 }), { dryRun: true });

    // Assess
    const changed = results.filter((r) => r.result !== 'unchanged');
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({
      result: 'updated',
      target: 'HorizontalPodAutoscaler/triton/triton-l4',
      action: {
        kind: 'applyObject',
        before: { spec: { maxReplicas: 4 } },
        after: { spec: { maxReplicas: 6 } },
      },
      live: { spec: { maxReplicas: 6 } },
    });
    expect(versions()).toEqual(before);
  });
});

describe('KubeObjects adapter', () => {
  it('get answers undefined for a missing object and list fills apiVersion/kind', async () => {
    // Prepare
    await applier().applyAll(tritonStack());

    // Act
    const missing = await objects.get({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'nope',
      namespace: NS,
    });
    const listed = await objects.list('apps/v1', 'Deployment', NS, 'app.kubernetes.io/name=triton');
    const deleted = await objects.delete({
      apiVersion: 'v1',
      kind: 'Service',
      name: 'triton-l4',
      namespace: NS,
    });
    const deletedAgain = await objects.delete({
      apiVersion: 'v1',
      kind: 'Service',
      name: 'triton-l4',
      namespace: NS,
    });

    // Assess
    expect(missing).toBeUndefined();
    expect(listed.map((o) => [o.apiVersion, o.kind, o.metadata.name])).toEqual([
      ['apps/v1', 'Deployment', 'triton-l4'],
    ]);
    expect([deleted, deletedAgain]).toEqual([true, false]);
    expect(server.objects('Service')).toHaveLength(0);
  });

  it('builds a GKE KubeConfig with the cluster CA and a per-request bearer token', async () => {
    // Prepare
    let calls = 0;
    const kc = createKubeConfig({
      cluster: {
        endpoint: '34.1.2.3',
        caCertificate: Buffer.from('-----BEGIN CERTIFICATE-----').toString('base64'),
      },
      token: async () => `token-${++calls}`,
    });

    // Act
    const first = await kc.applyToFetchOptions({});
    const second = await kc.applyToFetchOptions({});

    // Assess
    expect(kc.getCurrentCluster()).toMatchObject({ server: 'https://34.1.2.3', skipTLSVerify: false });
    const header = (init: { headers?: unknown }) =>
      (init.headers as Record<string, string> | undefined)?.Authorization ??
      (init.headers as { get?: (k: string) => string } | undefined)?.get?.('Authorization');
    expect([header(first), header(second)]).toEqual(['Bearer token-1', 'Bearer token-2']);
  });
});
