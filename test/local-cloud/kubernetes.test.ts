/**
 * Contract tests of the local Kubernetes apiserver, driven only through the official
 * `@kubernetes/client-node` 1.4 client, as production adapters will drive a GKE cluster.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  type KubernetesObject,
  KubernetesObjectApi,
  NetworkingV1Api,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1Deployment,
  type V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { localKubeConfig } from '../../infra/local/kubernetes/client';
import { type KubernetesServer, startKubernetesServer } from '../../infra/local/kubernetes/index';

const StatusBody = z.object({
  kind: z.literal('Status'),
  apiVersion: z.literal('v1'),
  status: z.literal('Failure'),
  message: z.string(),
  reason: z.string(),
  code: z.number(),
  details: z
    .object({
      name: z.string().optional(),
      kind: z.string().optional(),
      causes: z
        .array(z.object({ reason: z.string(), message: z.string(), field: z.string().optional() }))
        .optional(),
    })
    .optional(),
});
type StatusBody = z.infer<typeof StatusBody>;

/** Runs a call that must fail and returns what client-node surfaces: ApiException code and Status body. */
async function apiError(call: Promise<unknown>): Promise<{ code: number; body: StatusBody }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    // client-node 1.4 keeps the raw response text as `body` on errors.
    const raw: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return { code: err.code, body: StatusBody.parse(raw) };
  }
  throw new Error('expected the call to fail');
}

const IMAGE = 'nvcr.io/nvidia/tritonserver:24.08-py3';

function deployment(
  namespace: string,
  name: string,
  replicas: number,
  labels: Record<string, string> = {},
): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name, ...labels } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'triton', image: IMAGE }] },
      },
    },
  };
}

let server: KubernetesServer;
let core: CoreV1Api;
let apps: AppsV1Api;
let autoscaling: AutoscalingV2Api;
let networking: NetworkingV1Api;
let policy: PolicyV1Api;
let objects: KubernetesObjectApi;
let nsCounter = 0;

async function freshNamespace(): Promise<string> {
  nsCounter += 1;
  const name = `t${nsCounter}-${process.pid}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

beforeAll(async () => {
  server = await startKubernetesServer({ port: 0 });
  const kc = localKubeConfig(server);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  autoscaling = kc.makeApiClient(AutoscalingV2Api);
  networking = kc.makeApiClient(NetworkingV1Api);
  policy = kc.makeApiClient(PolicyV1Api);
  objects = KubernetesObjectApi.makeApiClient(kc);
});

afterAll(async () => {
  await server.close();
});

describe('discovery', () => {
  const resourceLists: Record<
    string,
    () => Promise<{ resources: { name: string; namespaced: boolean; kind: string; verbs: string[] }[] }>
  > = {
    v1: () => core.getAPIResources(),
    'apps/v1': () => apps.getAPIResources(),
    'autoscaling/v2': () => autoscaling.getAPIResources(),
    'networking.k8s.io/v1': () => networking.getAPIResources(),
    'policy/v1': () => policy.getAPIResources(),
  };

  it.each([
    ['v1', 'Namespace', 'namespaces', false],
    ['v1', 'Service', 'services', true],
    ['v1', 'Secret', 'secrets', true],
    ['v1', 'ConfigMap', 'configmaps', true],
    ['v1', 'ServiceAccount', 'serviceaccounts', true],
    ['apps/v1', 'Deployment', 'deployments', true],
    ['autoscaling/v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers', true],
    ['networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies', true],
    ['policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true],
  ])(
    '%s %s is listed as %s (namespaced=%s) and KubernetesObjectApi resolves it',
    async (apiVersion, kind, plural, namespaced) => {
      // Act
      const list = await resourceLists[apiVersion]!();
      const listed = await objects.list(apiVersion, kind);

      // Assess
      const entry = list.resources.find((r) => r.kind === kind);
      expect(entry?.name).toBe(plural);
      expect(entry?.namespaced).toBe(namespaced);
      expect(entry?.verbs).toEqual(
        expect.arrayContaining(['create', 'get', 'list', 'patch', 'update', 'delete']),
      );
      expect(listed.kind).toBe(`${kind}List`);
    },
  );

  it('lists the scale subresource, and a kind that is not served cannot be resolved', async () => {
    // Act
    const appsResources = await apps.getAPIResources();
    const unknown = await objects
      .read({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'x' } })
      .then(
        () => undefined,
        (err: unknown) => err,
      );

    // Assess
    const scale = appsResources.resources.find((r) => r.name === 'deployments/scale');
    expect(scale).toMatchObject({ kind: 'Scale', group: 'autoscaling', version: 'v1', namespaced: true });
    expect(String(unknown)).toContain('Unrecognized API version and kind: apps/v1 StatefulSet');
  });
});

describe('create, read, delete for every served kind', () => {
  const bodies: [string, (ns: string) => KubernetesObject & Record<string, unknown>][] = [
    [
      'Service',
      (ns) => ({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'svc', namespace: ns },
        spec: { ports: [{ port: 8000 }], selector: { app: 'a' } },
      }),
    ],
    [
      'Secret',
      (ns) => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's', namespace: ns },
        data: { k: Buffer.from('v').toString('base64') },
      }),
    ],
    [
      'ConfigMap',
      (ns) => ({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'cm', namespace: ns },
        data: { a: 'b' },
      }),
    ],
    [
      'ServiceAccount',
      (ns) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa', namespace: ns } }),
    ],
    ['Deployment', (ns) => ({ ...deployment(ns, 'd', 1) })],
    [
      'HorizontalPodAutoscaler',
      (ns) => ({
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'h', namespace: ns },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'd' },
          minReplicas: 1,
          maxReplicas: 4,
        },
      }),
    ],
    [
      'NetworkPolicy',
      (ns) => ({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'np', namespace: ns },
        spec: { podSelector: {}, policyTypes: ['Ingress'] },
      }),
    ],
    [
      'PodDisruptionBudget',
      (ns) => ({
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name: 'pdb', namespace: ns },
        spec: { minAvailable: 1, selector: { matchLabels: { app: 'd' } } },
      }),
    ],
  ];

  it.each(bodies)(
    '%s: create 201, duplicate 409 AlreadyExists, read, delete, read 404 NotFound',
    async (kind, make) => {
      // Prepare
      const ns = await freshNamespace();
      const body = make(ns);

      // Act
      const created = await objects.create(body);
      const duplicate = await apiError(objects.create(make(ns)));
      const read = await objects.read({
        apiVersion: body.apiVersion!,
        kind,
        metadata: { name: body.metadata!.name!, namespace: ns },
      });
      await objects.delete({
        apiVersion: body.apiVersion!,
        kind,
        metadata: { name: body.metadata!.name!, namespace: ns },
      });
      const gone = await apiError(
        objects.read({
          apiVersion: body.apiVersion!,
          kind,
          metadata: { name: body.metadata!.name!, namespace: ns },
        }),
      );
      const deleteAgain = await apiError(
        objects.delete({
          apiVersion: body.apiVersion!,
          kind,
          metadata: { name: body.metadata!.name!, namespace: ns },
        }),
      );

      // Assess
      expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number(created.metadata?.resourceVersion)).toBeGreaterThan(0);
      expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
      expect(read.metadata?.uid).toBe(created.metadata?.uid);
      expect(duplicate.code).toBe(409);
      expect(duplicate.body.reason).toBe('AlreadyExists');
      expect(gone.code).toBe(404);
      expect(gone.body.reason).toBe('NotFound');
      expect(gone.body.message).toContain(`"${body.metadata!.name}" not found`);
      expect(deleteAgain.code).toBe(404);
      expect(server.objects(kind)).toHaveLength(
        server.objects(kind).filter((o) => o.metadata.namespace !== ns).length,
      );
    },
  );

  it('refuses a namespaced object in a missing namespace with 404 namespaces "x" not found', async () => {
    // Act
    const err = await apiError(
      core.createNamespacedConfigMap({ namespace: 'nowhere', body: { metadata: { name: 'cm' } } }),
    );

    // Assess
    expect(err.code).toBe(404);
    expect(err.body.reason).toBe('NotFound');
    expect(err.body.message).toBe('namespaces "nowhere" not found');
  });

  it('deleting a namespace deletes what it holds', async () => {
    // Prepare
    const ns = await freshNamespace();
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cm' } } });

    // Act
    await core.deleteNamespace({ name: ns });

    // Assess
    expect((await apiError(core.readNamespace({ name: ns }))).code).toBe(404);
    expect(server.objects('ConfigMap').filter((o) => o.metadata.namespace === ns)).toEqual([]);
  });

  it('defaults Services (ClusterIP, protocol) and turns Secret stringData into base64 data', async () => {
    // Prepare
    const ns = await freshNamespace();

    // Act
    const svc = await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'triton' }, spec: { ports: [{ name: 'http', port: 8000 }] } },
    });
    const secret = await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'tok' }, stringData: { token: 'abc' } },
    });

    // Assess
    expect(svc.spec?.type).toBe('ClusterIP');
    expect(svc.spec?.clusterIP).toMatch(/^10\.96\./);
    expect(svc.spec?.ports?.[0]?.protocol).toBe('TCP');
    expect(secret.data?.token).toBe(Buffer.from('abc').toString('base64'));
    expect(secret.type).toBe('Opaque');
  });
});

describe('typed clients of each group', () => {
  it('NetworkingV1Api, PolicyV1Api and AutoscalingV2Api create, list, replace and delete', async () => {
    // Prepare
    const ns = await freshNamespace();

    // Act
    await networking.createNamespacedNetworkPolicy({
      namespace: ns,
      body: {
        metadata: { name: 'triton-ingress' },
        spec: { podSelector: { matchLabels: { app: 'triton' } }, policyTypes: ['Ingress'] },
      },
    });
    const pdb = await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: {
        metadata: { name: 'triton' },
        spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'triton' } } },
      },
    });
    const hpa = await autoscaling.createNamespacedHorizontalPodAutoscaler({
      namespace: ns,
      body: {
        metadata: { name: 'triton' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'triton' },
          maxReplicas: 4,
        },
      },
    });
    const replaced = await autoscaling.replaceNamespacedHorizontalPodAutoscaler({
      name: 'triton',
      namespace: ns,
      body: { ...hpa, spec: { ...hpa.spec!, maxReplicas: 8 } },
    });
    const policies = await networking.listNamespacedNetworkPolicy({ namespace: ns });
    await policy.deleteNamespacedPodDisruptionBudget({ name: 'triton', namespace: ns });
    const pdbGone = await apiError(
      policy.readNamespacedPodDisruptionBudget({ name: 'triton', namespace: ns }),
    );

    // Assess
    expect(pdb.metadata?.generation).toBe(1);
    expect(hpa.spec?.minReplicas).toBe(1);
    expect(replaced.spec?.maxReplicas).toBe(8);
    expect(replaced.metadata?.generation).toBe(2);
    expect(policies.items.map((p) => p.metadata?.name)).toEqual(['triton-ingress']);
    expect(pdbGone.code).toBe(404);
    expect(pdbGone.body.message).toBe('poddisruptionbudgets.policy "triton" not found');
  });

  it('applies a cluster-scoped Namespace and refuses to delete default (403)', async () => {
    // Act
    const applied = await objects.patch(
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'inferplane-applied', labels: { team: 'ml' } },
      },
      undefined,
      undefined,
      'inferplane',
      true,
      PatchStrategy.ServerSideApply,
    );
    const forbidden = await apiError(core.deleteNamespace({ name: 'default' }));

    // Assess
    expect(applied.metadata?.labels).toEqual({
      team: 'ml',
      'kubernetes.io/metadata.name': 'inferplane-applied',
    });
    expect(forbidden.code).toBe(403);
    expect(forbidden.body.reason).toBe('Forbidden');
  });

  it('delete honours a resourceVersion precondition (409 when stale)', async () => {
    // Prepare
    const ns = await freshNamespace();
    const cm = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'cm' }, data: { a: '1' } },
    });
    await core.replaceNamespacedConfigMap({ name: 'cm', namespace: ns, body: { ...cm, data: { a: '2' } } });

    // Act
    const stale = await apiError(
      core.deleteNamespacedConfigMap({
        name: 'cm',
        namespace: ns,
        body: { preconditions: { resourceVersion: cm.metadata!.resourceVersion! } },
      }),
    );

    // Assess
    expect(stale.code).toBe(409);
    expect(stale.body.reason).toBe('Conflict');
    expect(server.objects('ConfigMap').filter((o) => o.metadata.namespace === ns)).toHaveLength(1);
  });
});

describe('validation (422 Invalid with causes)', () => {
  const hpa = (min: number | undefined, max: number): V2HorizontalPodAutoscaler => ({
    metadata: { name: 'h' },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'd' },
      maxReplicas: max,
      ...(min === undefined ? {} : { minReplicas: min }),
    },
  });

  it.each([
    [
      'HPA minReplicas < 1',
      (ns: string) => autoscaling.createNamespacedHorizontalPodAutoscaler({ namespace: ns, body: hpa(0, 3) }),
      'spec.minReplicas',
    ],
    [
      'HPA maxReplicas < minReplicas',
      (ns: string) => autoscaling.createNamespacedHorizontalPodAutoscaler({ namespace: ns, body: hpa(4, 2) }),
      'spec.maxReplicas',
    ],
    [
      'Deployment selector not matching template labels',
      (ns: string) => {
        const d = deployment(ns, 'd', 1);
        d.spec!.template.metadata!.labels = { app: 'other' };
        return apps.createNamespacedDeployment({ namespace: ns, body: d });
      },
      'spec.template.metadata.labels',
    ],
    [
      'Secret data not base64',
      (ns: string) =>
        core.createNamespacedSecret({
          namespace: ns,
          body: { metadata: { name: 's' }, data: { k: 'not base64!' } },
        }),
      'data[k]',
    ],
    [
      'name not DNS-1123',
      (ns: string) =>
        core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'Bad_Name' } } }),
      'metadata.name',
    ],
    [
      'Service name not DNS-1035',
      (ns: string) =>
        core.createNamespacedService({
          namespace: ns,
          body: { metadata: { name: '1svc' }, spec: { ports: [{ port: 1 }] } },
        }),
      'metadata.name',
    ],
  ])('%s', async (_case, call, field) => {
    // Prepare
    const ns = await freshNamespace();

    // Act
    const err = await apiError(call(ns));

    // Assess
    expect(err.code).toBe(422);
    expect(err.body.reason).toBe('Invalid');
    expect(err.body.message).toContain('is invalid');
    expect(err.body.details?.causes?.map((c) => c.field)).toContain(field);
  });

  it('refuses a bad namespace name', async () => {
    // Act
    const err = await apiError(core.createNamespace({ body: { metadata: { name: 'a.b' } } }));

    // Assess
    expect(err.code).toBe(422);
    expect(err.body.details?.causes?.[0]?.field).toBe('metadata.name');
  });
});

describe('deployments', () => {
  it('status follows spec at once and generation moves only with spec', async () => {
    // Prepare
    const ns = await freshNamespace();
    const created = await apps.createNamespacedDeployment({ namespace: ns, body: deployment(ns, 'd', 2) });
    const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

    // Act
    const relabelled = await apps.patchNamespacedDeployment(
      { name: 'd', namespace: ns, body: { metadata: { labels: { extra: 'x' } } } },
      mergePatch,
    );
    const rescaled = await apps.patchNamespacedDeployment(
      { name: 'd', namespace: ns, body: { spec: { replicas: 3 } } },
      mergePatch,
    );
    const read = await apps.readNamespacedDeployment({ name: 'd', namespace: ns });

    // Assess
    expect(created.metadata?.generation).toBe(1);
    expect(created.status).toMatchObject({
      replicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
      updatedReplicas: 2,
      observedGeneration: 1,
    });
    expect(relabelled.metadata?.generation).toBe(1);
    expect(relabelled.metadata?.labels).toEqual({ app: 'd', extra: 'x' });
    expect(Number(relabelled.metadata?.resourceVersion)).toBeGreaterThan(
      Number(created.metadata?.resourceVersion),
    );
    expect(rescaled.metadata?.generation).toBe(2);
    expect(read.status).toMatchObject({ replicas: 3, readyReplicas: 3, observedGeneration: 2 });
    expect(read.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
  });

  it('replace with a stale resourceVersion is 409 Conflict; with the current one it succeeds', async () => {
    // Prepare
    const ns = await freshNamespace();
    const first = await apps.createNamespacedDeployment({ namespace: ns, body: deployment(ns, 'd', 1) });
    const current = await apps.replaceNamespacedDeployment({
      name: 'd',
      namespace: ns,
      body: { ...first, spec: { ...first.spec!, replicas: 2 } },
    });

    // Act
    const stale = await apiError(
      apps.replaceNamespacedDeployment({
        name: 'd',
        namespace: ns,
        body: { ...first, spec: { ...first.spec!, replicas: 5 } },
      }),
    );

    // Assess
    expect(current.spec?.replicas).toBe(2);
    expect(stale.code).toBe(409);
    expect(stale.body.reason).toBe('Conflict');
    expect(stale.body.message).toContain('the object has been modified');
    expect((await apps.readNamespacedDeployment({ name: 'd', namespace: ns })).spec?.replicas).toBe(2);
  });

  it('replace of a missing object is 404 and a name that differs from the URL is 400', async () => {
    // Prepare
    const ns = await freshNamespace();
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment(ns, 'd', 1) });

    // Act
    const missing = await apiError(
      apps.replaceNamespacedDeployment({ name: 'x', namespace: ns, body: deployment(ns, 'x', 1) }),
    );
    const renamed = await apiError(
      apps.replaceNamespacedDeployment({ name: 'd', namespace: ns, body: deployment(ns, 'e', 1) }),
    );

    // Assess
    expect(missing.code).toBe(404);
    expect(renamed.code).toBe(400);
    expect(renamed.body.reason).toBe('BadRequest');
  });

  it('the typed client patches with JSON Patch by default, and strategic merge merges containers by name', async () => {
    // Prepare
    const ns = await freshNamespace();
    const d = deployment(ns, 'd', 1);
    d.spec!.template.spec!.containers[0]!.args = ['--model-repository=/models'];
    await apps.createNamespacedDeployment({ namespace: ns, body: d });

    // Act
    const patched = await apps.patchNamespacedDeployment({
      name: 'd',
      namespace: ns,
      body: [{ op: 'replace', path: '/spec/replicas', value: 4 }],
    });
    const strategic = await apps.patchNamespacedDeployment(
      {
        name: 'd',
        namespace: ns,
        body: { spec: { template: { spec: { containers: [{ name: 'triton', image: 'triton:new' }] } } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    const failedTest = await apiError(
      apps.patchNamespacedDeployment({
        name: 'd',
        namespace: ns,
        body: [{ op: 'test', path: '/spec/replicas', value: 99 }],
      }),
    );

    // Assess
    expect(patched.spec?.replicas).toBe(4);
    expect(strategic.spec?.template.spec?.containers).toEqual([
      expect.objectContaining({ name: 'triton', image: 'triton:new', args: ['--model-repository=/models'] }),
    ]);
    expect(failedTest.code).toBe(422);
  });

  it('scale subresource reads and writes spec.replicas', async () => {
    // Prepare
    const ns = await freshNamespace();
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment(ns, 'd', 1) });

    // Act
    const before = await apps.readNamespacedDeploymentScale({ name: 'd', namespace: ns });
    const replaced = await apps.replaceNamespacedDeploymentScale({
      name: 'd',
      namespace: ns,
      body: { metadata: { name: 'd' }, spec: { replicas: 3 } },
    });
    const patched = await apps.patchNamespacedDeploymentScale(
      { name: 'd', namespace: ns, body: { spec: { replicas: 5 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const stale = await apiError(
      apps.replaceNamespacedDeploymentScale({
        name: 'd',
        namespace: ns,
        body: {
          metadata: { name: 'd', resourceVersion: before.metadata!.resourceVersion! },
          spec: { replicas: 1 },
        },
      }),
    );
    const negative = await apiError(
      apps.replaceNamespacedDeploymentScale({
        name: 'd',
        namespace: ns,
        body: { metadata: { name: 'd' }, spec: { replicas: -1 } },
      }),
    );
    const missing = await apiError(apps.readNamespacedDeploymentScale({ name: 'nope', namespace: ns }));
    const dep = await apps.readNamespacedDeployment({ name: 'd', namespace: ns });

    // Assess
    expect(before).toMatchObject({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      spec: { replicas: 1 },
      status: { replicas: 1, selector: 'app=d' },
    });
    expect(replaced.spec?.replicas).toBe(3);
    expect(patched.spec?.replicas).toBe(5);
    expect(stale.code).toBe(409);
    expect(negative.code).toBe(422);
    expect(missing.code).toBe(404);
    expect(dep.spec?.replicas).toBe(5);
    expect(dep.status?.readyReplicas).toBe(5);
    expect(dep.metadata?.generation).toBe(3);
  });
});

describe('list with selectors', () => {
  let ns: string;
  let other: string;

  beforeAll(async () => {
    ns = await freshNamespace();
    other = await freshNamespace();
    const labelled: [string, Record<string, string>][] = [
      ['a', { tier: 'gpu', model: 'resnet' }],
      ['b', { tier: 'gpu', model: 'bert' }],
      ['c', { tier: 'cpu' }],
    ];
    for (const [name, labels] of labelled) {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels } } });
    }
    await core.createNamespacedConfigMap({
      namespace: other,
      body: { metadata: { name: 'a', labels: { tier: 'gpu', model: 'resnet' } } },
    });
  });

  it.each([
    ['tier=gpu', ['a', 'b']],
    ['tier==gpu', ['a', 'b']],
    ['tier!=gpu', ['c']],
    ['model in (resnet,bert)', ['a', 'b']],
    ['model notin (resnet)', ['b', 'c']],
    ['model', ['a', 'b']],
    ['!model', ['c']],
    ['tier=gpu,model!=bert', ['a']],
    ['', ['a', 'b', 'c']],
  ])('labelSelector %j matches %j', async (selector, expected) => {
    // Act
    const list = await core.listNamespacedConfigMap({ namespace: ns, labelSelector: selector });

    // Assess
    expect(list.items.map((i) => i.metadata?.name)).toEqual(expected);
  });

  it('fieldSelector metadata.name and the all-namespaces list', async () => {
    // Act
    const byName = await core.listNamespacedConfigMap({ namespace: ns, fieldSelector: 'metadata.name=b' });
    const everywhere = await core.listConfigMapForAllNamespaces({ labelSelector: 'model=resnet' });
    const badField = await apiError(
      core.listNamespacedConfigMap({ namespace: ns, fieldSelector: 'spec.x=1' }),
    );
    const badLabel = await apiError(
      core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'a in (b' }),
    );

    // Assess
    expect(byName.items.map((i) => i.metadata?.name)).toEqual(['b']);
    expect(everywhere.items.map((i) => `${i.metadata?.namespace}/${i.metadata?.name}`)).toEqual([
      `${ns}/a`,
      `${other}/a`,
    ]);
    expect(Number(everywhere.metadata?.resourceVersion)).toBeGreaterThan(0);
    expect(badField.code).toBe(400);
    expect(badLabel.code).toBe(400);
  });
});

describe('server-side apply', () => {
  const apply = (obj: V1Deployment, manager: string | undefined, force?: boolean, dryRun?: string) =>
    objects.patch(obj, undefined, dryRun, manager, force, PatchStrategy.ServerSideApply);

  it('creates when absent, and an identical re-apply changes nothing', async () => {
    // Prepare
    const ns = await freshNamespace();

    // Act
    const created = await apply(deployment(ns, 'd', 2), 'inferplane');
    const again = await apply(deployment(ns, 'd', 2), 'inferplane');

    // Assess
    expect(created.metadata?.generation).toBe(1);
    expect(again.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
    expect(again.metadata?.generation).toBe(1);
    expect(created.metadata?.managedFields).toEqual([
      expect.objectContaining({ manager: 'inferplane', operation: 'Apply', fieldsType: 'FieldsV1' }),
    ]);
    const fields = created.metadata?.managedFields?.[0]?.fieldsV1 as Record<string, Record<string, unknown>>;
    expect(fields['f:spec']).toHaveProperty('f:replicas');
  });

  it('a change to a field owned by another manager is a 409 conflict without force and succeeds with force', async () => {
    // Prepare
    const ns = await freshNamespace();
    await apply(deployment(ns, 'd', 2), 'inferplane');

    // Act
    const conflict = await apiError(apply(deployment(ns, 'd', 5), 'other-manager'));
    const forced = await apply(deployment(ns, 'd', 5), 'other-manager', true);
    const backWithoutForce = await apiError(apply(deployment(ns, 'd', 2), 'inferplane'));

    // Assess
    expect(conflict.code).toBe(409);
    expect(conflict.body.reason).toBe('Conflict');
    expect(conflict.body.message).toBe(
      'Apply failed with 1 conflict: conflict with "inferplane": .spec.replicas',
    );
    expect(conflict.body.details?.causes).toEqual([
      { reason: 'FieldManagerConflict', message: 'conflict with "inferplane"', field: '.spec.replicas' },
    ]);
    expect(forced.spec).toMatchObject({ replicas: 5 });
    expect(forced.metadata?.generation).toBe(2);
    expect(backWithoutForce.body.message).toContain('conflict with "other-manager": .spec.replicas');
  });

  it('applying the same value another manager owns is shared, not a conflict', async () => {
    // Prepare
    const ns = await freshNamespace();
    await apply(deployment(ns, 'd', 2), 'inferplane');

    // Act
    const shared = await apply(deployment(ns, 'd', 2), 'second');

    // Assess
    expect(shared.metadata?.managedFields?.map((m) => m.manager).sort()).toEqual(['inferplane', 'second']);
  });

  it('fields the manager applied before and omits now are removed', async () => {
    // Prepare
    const ns = await freshNamespace();
    await apply(deployment(ns, 'd', 2, { team: 'ml' }), 'inferplane');
    const withSidecar = deployment(ns, 'd', 2);
    withSidecar.spec!.template.spec!.containers.push({ name: 'sidecar', image: 'busybox' });
    await apply(withSidecar, 'inferplane');

    // Act
    const after = await apply(deployment(ns, 'd', 2), 'inferplane');

    // Assess
    expect(after.metadata?.labels).toEqual({ app: 'd' });
    expect(after.spec?.template.spec?.containers.map((c) => c.name)).toEqual(['triton']);
  });

  it('a field written through the scale subresource is owned by that writer and conflicts', async () => {
    // Prepare
    const ns = await freshNamespace();
    await apply(deployment(ns, 'd', 2), 'inferplane');
    await apps.patchNamespacedDeploymentScale(
      { name: 'd', namespace: ns, body: { spec: { replicas: 6 } }, fieldManager: 'hpa-controller' },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

    // Act
    const conflict = await apiError(apply(deployment(ns, 'd', 2), 'inferplane'));

    // Assess
    expect(conflict.code).toBe(409);
    expect(conflict.body.message).toContain('"hpa-controller" using apps/v1: .spec.replicas');
  });

  it('a merge patch takes ownership from the applier', async () => {
    // Prepare
    const ns = await freshNamespace();
    await apply(deployment(ns, 'd', 2), 'inferplane');

    // Act
    const patched = await apps.patchNamespacedDeployment(
      { name: 'd', namespace: ns, body: { spec: { replicas: 3 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

    // Assess
    const managers = patched.metadata?.managedFields?.map((m) => `${m.manager}/${m.operation}`);
    expect(managers).toEqual(expect.arrayContaining(['inferplane/Apply', 'before-first-apply/Update']));
  });

  it('the typed client applies too, with the apply content type set through setHeaderOptions', async () => {
    // Prepare
    const ns = await freshNamespace();
    const ssa = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

    // Act
    const created = await apps.patchNamespacedDeployment(
      { name: 'd', namespace: ns, body: deployment(ns, 'd', 1), fieldManager: 'inferplane', force: true },
      ssa,
    );
    const conflict = await apiError(
      apps.patchNamespacedDeployment(
        { name: 'd', namespace: ns, body: deployment(ns, 'd', 4), fieldManager: 'other' },
        ssa,
      ),
    );

    // Assess
    expect(created.metadata?.managedFields?.[0]).toMatchObject({ manager: 'inferplane', operation: 'Apply' });
    expect(conflict.code).toBe(409);
  });

  it('requires a fieldManager (422) and refuses a body for another name (400)', async () => {
    // Prepare
    const ns = await freshNamespace();

    // Act
    const noManager = await apiError(apply(deployment(ns, 'd', 1), undefined));
    const invalidApply = await apiError(
      apply(
        {
          ...deployment(ns, 'd', 1),
          spec: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'y' } } } },
        } as KubernetesObject,
        'm',
      ),
    );

    // Assess
    expect(noManager.code).toBe(422);
    expect(invalidApply.code).toBe(422);
    expect(server.objects('Deployment').filter((o) => o.metadata.namespace === ns)).toEqual([]);
  });
});

describe('dryRun=All', () => {
  it('validates and answers without storing for create, apply, patch and delete', async () => {
    // Prepare
    const ns = await freshNamespace();
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'kept' }, data: { a: '1' } },
    });

    // Act
    const created = await core.createNamespacedConfigMap({
      namespace: ns,
      dryRun: 'All',
      body: { metadata: { name: 'dry' } },
    });
    const applied = await objects.patch(
      deployment(ns, 'dry', 1),
      undefined,
      'All',
      'm',
      undefined,
      PatchStrategy.ServerSideApply,
    );
    const patched = await core.patchNamespacedConfigMap(
      { name: 'kept', namespace: ns, dryRun: 'All', body: { data: { a: '2' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await core.deleteNamespacedConfigMap({ name: 'kept', namespace: ns, dryRun: 'All' });
    const invalid = await apiError(
      core.createNamespacedConfigMap({ namespace: ns, dryRun: 'All', body: { metadata: { name: 'Bad!' } } }),
    );

    // Assess
    expect(created.metadata?.name).toBe('dry');
    expect(applied.metadata?.name).toBe('dry');
    expect(patched.data).toEqual({ a: '2' });
    expect(invalid.code).toBe(422);
    const stored = server.objects('ConfigMap').filter((o) => o.metadata.namespace === ns);
    expect(stored.map((o) => [o.metadata.name, o.data])).toEqual([['kept', { a: '1' }]]);
    expect(server.objects('Deployment').filter((o) => o.metadata.namespace === ns)).toEqual([]);
  });
});

describe('fault injection', () => {
  it('failNext reaches the client as ApiException 503 with a Status body', async () => {
    // Prepare
    server.faults.set({ failNext: 1 });

    // Act
    const err = await apiError(core.listNamespace());
    const after = await core.listNamespace();

    // Assess
    expect(err.code).toBe(503);
    expect(err.body.reason).toBe('ServiceUnavailable');
    expect(after.items.length).toBeGreaterThan(0);
    server.faults.clear();
  });

  it('dropNext reaches the client as a connection error, not an ApiException', async () => {
    // Prepare
    server.faults.set({ dropNext: 1 });

    // Act
    const outcome = await core.listNamespace().then(
      () => 'resolved',
      (err: unknown) => err,
    );

    // Assess
    expect(outcome).toBeInstanceOf(Error);
    expect(outcome).not.toBeInstanceOf(ApiException);
    expect(server.faults.injected).toBe(1);
    server.faults.clear();
  });
});

describe('persistence', () => {
  it('keeps objects and the resourceVersion counter across a restart when dir is given', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'kube-'));
    const first = await startKubernetesServer({ dir });
    const kc1 = localKubeConfig(first);
    const api1 = kc1.makeApiClient(CoreV1Api);
    const created = await api1.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'kept' } },
    });
    const svc1 = await api1.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'a' }, spec: { ports: [{ port: 80 }] } },
    });
    await first.close();

    // Act
    const second = await startKubernetesServer({ dir });
    const api2 = localKubeConfig(second).makeApiClient(CoreV1Api);
    const read = await api2.readNamespacedConfigMap({ name: 'kept', namespace: 'default' });
    const next = await api2.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'next' } },
    });
    const svc2 = await api2.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'b' }, spec: { ports: [{ port: 80 }] } },
    });
    await second.close();
    rmSync(dir, { recursive: true, force: true });

    // Assess
    expect(read.metadata?.uid).toBe(created.metadata?.uid);
    expect(Number(next.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    expect(svc2.spec?.clusterIP).not.toBe(svc1.spec?.clusterIP);
  });
});
