/**
 * rotateSecurity end to end, in-process (`invoke`), against the wired local cloud: a model deployed
 * by deployModel, then security ticks and bundles. Covers the apply-then-prune ordering (and a
 * failure between), rejected bundles, a key rotation through a full rolling restart with Triton
 * calls all along, both exposures (built, drift found and repaired), posture findings against the
 * live cluster, and the no-secrets rule over every log line and event of the file.
 */
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, NetworkingV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOutboundEvent } from '../../events/outbound';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { localContainerClient } from '../../infra/local/gke/client';
import { localKubeConfig } from '../../infra/local/kubernetes/client';
import { localStorageClient } from '../../infra/local/storage/client';
import { tritonPodsFinder } from '../../shared/adapters/triton-pods';
import { tritonSelectorLabels } from '../../shared/cluster/triton';
import { deployModelFunction } from '../../shared/deploy/function';
import { KEY_HEADERS, POD_KEY_ANNOTATIONS } from '../../shared/domain/keys';
import { invoke, type RecordedOutcome } from '../../shared/runtime/function';
import { ACTIVE_BUNDLE_OBJECT } from '../../shared/security/bundle';
import { rotateSecurityFunction } from '../../shared/security/function';
import { keyRingOf } from '../../shared/security/keys';
import { NETWORK_POLICY_SET_LABEL } from '../../shared/security/network';
import {
  localSecurityHarness,
  objectFinalized,
  type SecurityHarness,
  schedulerTick,
} from '../support/security-harness';

const FIXTURE = path.join(import.meta.dirname, '..', 'fixtures', 'onnx', 'add-dynamic-batch.onnx');
const BUCKETS = { incoming: 'sec-incoming', repository: 'sec-repo', security: 'sec-bundles' };
const NS = 'triton';
const POOL = 'triton-l4';
const BASE_SECURITY = '  networkPolicy: { allowNamespaces: [gateway], allowCidrs: ["10.8.0.0/28"] }';

let cloud: LocalCloud;
let h: SecurityHarness;
let stopWatch: () => void;
let version = 0;

const kc = () => localKubeConfig(cloud.kubernetes);
const core = () => kc().makeApiClient(CoreV1Api);
const apps = () => kc().makeApiClient(AppsV1Api);
const net = () => kc().makeApiClient(NetworkingV1Api);
const custom = () => kc().makeApiClient(CustomObjectsApi);

async function deployVersion(model: string): Promise<RecordedOutcome> {
  version += 1;
  const name = `${model}/${version}/model.onnx`;
  const storage = localStorageClient(cloud.endpoints.storage);
  const file = storage.bucket(BUCKETS.incoming).file(name);
  await file.save(await readFile(FIXTURE));
  const [meta] = await file.getMetadata();
  const event = objectFinalized({
    bucket: BUCKETS.incoming,
    name,
    generation: String(meta.generation),
    size: String(meta.size),
  });
  // The pool's first pod may still be starting: the platform redelivers until it serves.
  for (let attempt = 0; ; attempt++) {
    try {
      return await invoke(deployModelFunction, h.deploy, event);
    } catch (err) {
      if (attempt >= 10) throw err;
      await cloud.settled();
    }
  }
}

async function tick(payload: Record<string, unknown> = {}): Promise<RecordedOutcome> {
  const outcome = await invoke(rotateSecurityFunction, h.rotate, schedulerTick(payload));
  await cloud.settled();
  return outcome;
}

function lastRotated() {
  const events = h.ledger.events.filter((e) => e.type === 'dev.inferplane.security.v1.rotated');
  return events.at(-1)?.data as {
    networkPolicySet: string;
    networkPolicies: string[];
    pruned: string[];
    findings: Array<{ check: string; target: string }>;
    pools: Array<{ pool: string; activeKeyIds: string[]; rotated: string[]; retired: string[] }>;
    exposure: { mode: string; repaired: string[] };
    bundle?: string;
  };
}

async function networkPolicies(): Promise<Map<string, string>> {
  const list = await net().listNamespacedNetworkPolicy({ namespace: NS });
  return new Map(
    list.items.map((p) => [p.metadata?.name ?? '', p.metadata?.labels?.[NETWORK_POLICY_SET_LABEL] ?? '']),
  );
}

async function secret() {
  return core().readNamespacedSecret({ name: `${POOL}-admin`, namespace: NS });
}

async function pods() {
  const list = await core().listNamespacedPod({
    namespace: NS,
    labelSelector: Object.entries(tritonSelectorLabels({ pool: POOL }))
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  });
  return list.items;
}

async function setReplicas(replicas: number): Promise<void> {
  await apps().replaceNamespacedDeploymentScale({
    name: POOL,
    namespace: NS,
    body: { metadata: { name: POOL, namespace: NS }, spec: { replicas } },
  });
  await cloud.settled();
}

beforeAll(async () => {
  cloud = await startLocalCloud();
  h = await localSecurityHarness(cloud, { buckets: BUCKETS, security: BASE_SECURITY });
  stopWatch = h.ledger.watchKubernetes(cloud.kubernetes);
  const outcome = await deployVersion('add');
  expect(outcome.status).toBe('applied');
  await cloud.settled();
}, 60_000);

afterAll(async () => {
  stopWatch?.();
  await cloud?.close();
});

describe('network policies', () => {
  it('applies a new set before pruning the old one, and a failure between leaves both in place', async () => {
    // Prepare: the set in force now, and a policy-era per-pool NetworkPolicy plus a foreign one.
    await tick();
    const before = await networkPolicies();
    const oldSet = lastRotated().networkPolicySet;
    await net().createNamespacedNetworkPolicy({
      namespace: NS,
      body: {
        metadata: { name: POOL, labels: { 'app.kubernetes.io/managed-by': 'inferplane' } },
        spec: { podSelector: {}, policyTypes: ['Ingress'] },
      },
    });
    await net().createNamespacedNetworkPolicy({
      namespace: NS,
      body: { metadata: { name: 'someone-elses' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } },
    });
    await h.setPolicy('  networkPolicy: { allowNamespaces: [gateway, batch], allowCidrs: ["10.8.0.0/28"] }');
    cloud.kubernetes.faults.set({ failNext: 1, failStatus: 403, match: 'DELETE /apis/networking.k8s.io' });

    // Act: the prune fails after the new set is applied...
    const failed = await tick();
    const between = await networkPolicies();
    cloud.kubernetes.faults.clear();
    // ...and the next tick prunes.
    const done = await tick();
    const after = await networkPolicies();

    // Assess
    expect(failed.status).toBe('rejected');
    const newSet = lastRotated().networkPolicySet;
    expect(newSet).not.toBe(oldSet);
    const versions = (m: Map<string, string>) => [...new Set(m.values())].filter(Boolean).sort();
    expect(versions(between)).toEqual([oldSet, newSet].sort());
    expect([...between.keys()]).toEqual(expect.arrayContaining([...before.keys()]));
    expect(done.status).toBe('applied');
    expect(versions(after)).toEqual([newSet]);
    expect(after.has(POOL)).toBe(false);
    expect(after.has('someone-elses')).toBe(true);
    expect([...after.keys()].filter((n) => n.startsWith('inferplane-')).sort()).toEqual([
      `inferplane-default-deny-${newSet}`,
      `inferplane-egress-${newSet}`,
      `inferplane-triton-ingress-${newSet}`,
    ]);
    await net().deleteNamespacedNetworkPolicy({ name: 'someone-elses', namespace: NS });
    await h.setPolicy(BASE_SECURITY);
  });

  it('refuses a bad bundle with every problem named and changes nothing; a good one replaces the set for good', async () => {
    // Prepare
    await tick();
    const storage = localStorageClient(cloud.endpoints.storage);
    const bad = storage.bucket(BUCKETS.security).file('bundles/bad.yaml');
    await bad.save(
      [
        'apiVersion: inferplane.dev/v1',
        'kind: SecurityBundle',
        'networkPolicy:',
        '  allowCidrs: ["10.0.0.0/33"]',
        '  allowNamespaces: ["Not_A_Namespace"]',
        '  colour: blue',
        '',
      ].join('\n'),
    );
    const [badMeta] = await bad.getMetadata();
    const before = await networkPolicies();
    const beforeVersions = (await net().listNamespacedNetworkPolicy({ namespace: NS })).items.map(
      (p) => p.metadata?.resourceVersion,
    );

    // Act
    const rejected = await invoke(
      rotateSecurityFunction,
      h.rotate,
      objectFinalized({
        bucket: BUCKETS.security,
        name: 'bundles/bad.yaml',
        generation: String(badMeta.generation),
        size: String(badMeta.size),
      }),
    );

    // Assess: rejected, every problem named, nothing changed, no record.
    expect(rejected.status).toBe('rejected');
    const message = rejected.status === 'rejected' ? rejected.message : '';
    expect(rejected.status === 'rejected' && rejected.reason).toBe('INVALID_BUNDLE');
    expect(message).toContain('networkPolicy.allowCidrs.0');
    expect(message).toContain('networkPolicy.allowNamespaces.0');
    expect(message).toContain('networkPolicy.colour');
    // Whoever uploaded it learns why from the event too, with every problem and the object.
    const refusal = h.ledger.events
      .map((e) => parseOutboundEvent(e))
      .filter((e) => e.type === 'dev.inferplane.security.v1.rejected')
      .at(-1);
    expect(refusal?.data).toMatchObject({
      reason: 'INVALID_BUNDLE',
      sourceObject: {
        bucket: BUCKETS.security,
        name: 'bundles/bad.yaml',
        generation: String(badMeta.generation),
      },
    });
    expect(
      refusal?.type === 'dev.inferplane.security.v1.rejected' && refusal.data.issues.map((i) => i.path),
    ).toEqual(
      expect.arrayContaining([expect.stringContaining('allowCidrs'), expect.stringContaining('colour')]),
    );
    expect(await networkPolicies()).toEqual(before);
    expect(
      (await net().listNamespacedNetworkPolicy({ namespace: NS })).items.map(
        (p) => p.metadata?.resourceVersion,
      ),
    ).toEqual(beforeVersions);
    const [recordExists] = await storage.bucket(BUCKETS.repository).file(ACTIVE_BUNDLE_OBJECT).exists();
    expect(recordExists).toBe(false);

    // Act: a good bundle, then a scheduled tick, then a deploy.
    const good = storage.bucket(BUCKETS.security).file('bundles/tight.yaml');
    await good.save(
      'apiVersion: inferplane.dev/v1\nkind: SecurityBundle\nmetadata: { name: tight }\nnetworkPolicy: { allowNamespaces: [gateway] }\n',
    );
    const [goodMeta] = await good.getMetadata();
    const applied = await invoke(
      rotateSecurityFunction,
      h.rotate,
      objectFinalized({
        bucket: BUCKETS.security,
        name: 'bundles/tight.yaml',
        generation: String(goodMeta.generation),
        size: String(goodMeta.size),
      }),
    );
    const bundleSet = lastRotated().networkPolicySet;
    const afterBundle = await networkPolicies();
    await tick();
    const tickSet = lastRotated().networkPolicySet;
    await deployVersion('add');
    const afterDeploy = await networkPolicies();

    // Assess: the bundle's set replaced the policy file's and stays, and a deploy re-creates nothing.
    expect(applied.status).toBe('applied');
    expect(lastRotated().bundle).toBe(`gs://${BUCKETS.security}/bundles/tight.yaml#${goodMeta.generation}`);
    expect([...new Set(afterBundle.values())]).toEqual([bundleSet]);
    expect(tickSet).toBe(bundleSet);
    expect(afterDeploy).toEqual(afterBundle);
    const [record] = await storage.bucket(BUCKETS.repository).file(ACTIVE_BUNDLE_OBJECT).download();
    expect(JSON.parse(record.toString())).toMatchObject({
      name: 'bundles/tight.yaml',
      generation: String(goodMeta.generation),
    });

    // Clean up: back to the policy file's set.
    await storage.bucket(BUCKETS.repository).file(ACTIVE_BUNDLE_OBJECT).delete();
    await tick();
  });

  it('acknowledges objects outside bundles/ without reading them', async () => {
    const outcome = await invoke(
      rotateSecurityFunction,
      h.rotate,
      objectFinalized({ bucket: BUCKETS.security, name: 'notes/readme.txt', generation: '1', size: '10' }),
    );
    expect(outcome).toMatchObject({
      status: 'skipped',
      message: expect.stringContaining('not under bundles/'),
    });
  });
});

describe('API keys', () => {
  it('rotates through a full rolling restart while the control plane calls every pod, none failing', async () => {
    // Prepare: two replicas, and a caller that does what deployModel does on every call: read the
    // Secret, list the ready pods, call each with the key of that pod.
    await setReplicas(2);
    const before = keyRingOf(await secret());
    const oldId = before?.active.admin ?? '';
    const find = tritonPodsFinder({
      kubeObjects: h.deploy.kubeObjects,
      urlTemplate: cloud.endpoints.triton,
      adminHeader: KEY_HEADERS.admin,
    });
    const seenIds = new Set<string>();
    const failures: string[] = [];
    let calls = 0;
    let running = true;
    const caller = (async () => {
      while (running) {
        const ring = keyRingOf(await secret());
        if (!ring) continue;
        const list = await core().listNamespacedPod({ namespace: NS });
        for (const p of list.items) {
          const id = p.metadata?.annotations?.[POD_KEY_ANNOTATIONS.admin];
          if (id) seenIds.add(id);
        }
        const found = await find({
          pool: POOL,
          namespace: NS,
          selector: tritonSelectorLabels({ pool: POOL }),
          keys: ring,
        }).catch(() => []);
        await Promise.all(
          found.map(async ({ pod, triton }) => {
            calls += 1;
            await triton.index().catch((err: unknown) => {
              // A pod deleted between the list and the call is gone, not refused: only count refusals.
              const text = String((err as Error).message);
              if (!/did not answer/.test(text)) failures.push(`${pod}: ${text}`);
            });
          }),
        );
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    // Act: 31 days later the tick finds the key due and rotates.
    h.clock.advanceDays(31);
    const rotated = await tick();
    await cloud.settled();
    await new Promise((r) => setTimeout(r, 50));
    running = false;
    await caller;

    // Assess: a rolling restart onto the new key, old key still held, no call refused.
    expect(rotated.status).toBe('applied');
    const after = keyRingOf(await secret());
    const newId = after?.active.admin ?? '';
    expect(newId).not.toBe(oldId);
    expect(Object.keys(after?.keys ?? {}).sort()).toEqual([newId, oldId].sort());
    const podsNow = await pods();
    expect(podsNow).toHaveLength(2);
    expect(podsNow.map((p) => p.metadata?.annotations?.[POD_KEY_ANNOTATIONS.admin])).toEqual([newId, newId]);
    expect(seenIds).toEqual(new Set([oldId, newId]));
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(2);
    // The new pods enforce the new key: the old one is refused.
    const pod = podsNow[0]?.metadata?.name ?? '';
    const url = cloud.endpoints.triton.replace('{pool}', POOL).replace('{pod}', pod);
    const old = await fetch(`${url}/v2/repository/index`, {
      method: 'POST',
      headers: { [KEY_HEADERS.admin]: before?.keys[oldId] ?? '' },
      body: '{}',
    });
    expect(old.status).toBe(403);
    expect(lastRotated().pools[0]).toMatchObject({ pool: POOL, rotated: [newId], activeKeyIds: [newId] });

    // A deploy after the rotation keeps it: same key ids on the template and in the Secret.
    expect((await deployVersion('add')).status).toBe('applied');
    const deployment = await apps().readNamespacedDeployment({ name: POOL, namespace: NS });
    expect(deployment.spec?.template.metadata?.annotations?.[POD_KEY_ANNOTATIONS.admin]).toBe(newId);
    expect(Object.keys(keyRingOf(await secret())?.keys ?? {}).sort()).toEqual([newId, oldId].sort());

    // The old key stays through the overlap period, then goes.
    await tick();
    expect(Object.keys(keyRingOf(await secret())?.keys ?? {}).sort()).toEqual([newId, oldId].sort());
    h.clock.advanceMinutes(61);
    await tick();
    expect(Object.keys(keyRingOf(await secret())?.keys ?? {})).toEqual([newId]);
    expect(lastRotated().pools[0]?.retired).toEqual([oldId]);
    await setReplicas(1);
  }, 60_000);
});

describe('exposure', () => {
  const GATEWAY =
    '  exposure: { mode: gateway, gateway: { hostname: "{pool}.inference.example.com", cloudArmorPolicy: triton-armor } }';

  it('builds the Gateway exposure with Cloud Armor, finds drift, reports or repairs it, and goes back to internal', async () => {
    try {
      // Act: gateway mode
      await h.setPolicy(`${BASE_SECURITY}\n${GATEWAY}`);
      await tick();
      const switched = lastRotated();
      await tick();

      // Assess: the switch was drift (found and repaired); the objects
      const service = await core().readNamespacedService({ name: POOL, namespace: NS });
      expect(service.spec?.type).toBe('ClusterIP');
      const route = (await custom().getNamespacedCustomObject({
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        namespace: NS,
        plural: 'httproutes',
        name: POOL,
      })) as { spec: { hostnames: string[]; rules: Array<{ matches: Array<{ path: { value: string } }> }> } };
      expect(route.spec.hostnames).toEqual([`${POOL}.inference.example.com`]);
      const paths = route.spec.rules.flatMap((r) => r.matches.map((m) => m.path.value));
      expect(paths).toEqual(['/v2/models/', '/v2/health/']);
      const backend = (await custom().getNamespacedCustomObject({
        group: 'networking.gke.io',
        version: 'v1',
        namespace: NS,
        plural: 'gcpbackendpolicies',
        name: POOL,
      })) as { spec: { default: { securityPolicy: string }; targetRef: { kind: string; name: string } } };
      expect(backend.spec.default.securityPolicy).toBe('triton-armor');
      expect(backend.spec.targetRef).toMatchObject({ kind: 'Service', name: POOL });
      const health = (await custom().getNamespacedCustomObject({
        group: 'networking.gke.io',
        version: 'v1',
        namespace: NS,
        plural: 'healthcheckpolicies',
        name: POOL,
      })) as { spec: { default: { config: { httpHealthCheck: { requestPath: string } } } } };
      expect(health.spec.default.config.httpHealthCheck.requestPath).toBe('/v2/health/ready');
      expect(switched.exposure.repaired).toEqual(
        expect.arrayContaining([
          `Service/${NS}/${POOL}`,
          `GCPBackendPolicy/${NS}/${POOL}`,
          `HTTPRoute/${NS}/${POOL}`,
        ]),
      );
      expect(switched.findings.map((f) => f.check)).toContain('EXPOSURE_DRIFT');
      expect(
        lastRotated().findings.filter((f) => f.check.includes('ARMOR') || f.check.includes('EXPOSURE')),
      ).toEqual([]);
      expect(lastRotated().exposure.repaired).toEqual([]);

      // Prepare drift: Cloud Armor detached, a route to the repository API.
      await custom().deleteNamespacedCustomObject({
        group: 'networking.gke.io',
        version: 'v1',
        namespace: NS,
        plural: 'gcpbackendpolicies',
        name: POOL,
      });
      await custom().createNamespacedCustomObject({
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        namespace: NS,
        plural: 'httproutes',
        body: {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'HTTPRoute',
          metadata: { name: 'debug', namespace: NS },
          spec: {
            parentRefs: [{ name: 'inferplane-triton' }],
            rules: [{ backendRefs: [{ name: POOL, port: 8000 }] }],
          },
        },
      });

      // Act: report only
      await h.setPolicy(`${BASE_SECURITY}\n${GATEWAY.replace('} }', '}, onDrift: report }')}`);
      await tick();
      const reported = lastRotated().findings.map((f) => `${f.check} ${f.target}`);

      // Assess: found, not repaired
      expect(reported).toEqual(
        expect.arrayContaining([
          `CLOUD_ARMOR_MISSING Service/${POOL}`,
          `EXPOSURE_DRIFT GCPBackendPolicy/${NS}/${POOL}`,
          `REPOSITORY_API_EXPOSED HTTPRoute/${NS}/debug`,
        ]),
      );
      expect(lastRotated().exposure.repaired).toEqual([]);
      await expect(
        custom().getNamespacedCustomObject({
          group: 'networking.gke.io',
          version: 'v1',
          namespace: NS,
          plural: 'gcpbackendpolicies',
          name: POOL,
        }),
      ).rejects.toThrow();

      // Act: repair
      await h.setPolicy(`${BASE_SECURITY}\n${GATEWAY}`);
      await tick();

      // Assess: Cloud Armor is back; the foreign route is reported, never deleted.
      expect(lastRotated().exposure.repaired).toContain(`GCPBackendPolicy/${NS}/${POOL}`);
      const repaired = (await custom().getNamespacedCustomObject({
        group: 'networking.gke.io',
        version: 'v1',
        namespace: NS,
        plural: 'gcpbackendpolicies',
        name: POOL,
      })) as { spec: { default: { securityPolicy: string } } };
      expect(repaired.spec.default.securityPolicy).toBe('triton-armor');
      expect(lastRotated().findings.map((f) => f.check)).toContain('REPOSITORY_API_EXPOSED');
      await custom().deleteNamespacedCustomObject({
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        namespace: NS,
        plural: 'httproutes',
        name: 'debug',
      });
    } finally {
      // Act: back to internal
      await h.setPolicy(BASE_SECURITY);
      await tick();
    }

    // Assess: the internal load balancer, the gateway objects gone.
    const service = await core().readNamespacedService({ name: POOL, namespace: NS });
    expect(service.spec?.type).toBe('LoadBalancer');
    expect(service.metadata?.annotations?.['networking.gke.io/load-balancer-type']).toBe('Internal');
    const routes = (await custom().listNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace: NS,
      plural: 'httproutes',
    })) as { items: unknown[] };
    expect(routes.items).toEqual([]);
  });

  it('finds an internal Service turned external and puts it back', async () => {
    // Prepare
    await tick();
    const service = await core().readNamespacedService({ name: POOL, namespace: NS });
    await core().replaceNamespacedService({
      name: POOL,
      namespace: NS,
      body: { ...service, metadata: { ...service.metadata, annotations: {} } },
    });

    // Act
    await tick();

    // Assess
    const findings = lastRotated().findings.map((f) => `${f.check} ${f.target}`);
    expect(findings).toEqual(
      expect.arrayContaining([
        `EXTERNAL_EXPOSURE Service/${NS}/${POOL}`,
        `EXPOSURE_DRIFT Service/${NS}/${POOL}`,
      ]),
    );
    const now = await core().readNamespacedService({ name: POOL, namespace: NS });
    expect(now.metadata?.annotations?.['networking.gke.io/load-balancer-type']).toBe('Internal');
  });
});

describe('posture, against the live cluster', () => {
  it('reports each check that fails and stops reporting it once fixed', async () => {
    // Prepare: a GPU pool without the GKE metadata server, Binary Authorization off (the default),
    // the Triton service account without its Google service account.
    const gke = localContainerClient(cloud.endpoints.gke);
    const opName = (o: { name?: string | null }) =>
      `${cloud.endpoints.cluster.replace(/\/clusters\/.*/, '')}/operations/${String(o.name).split('/').pop()}`;
    const [created] = await gke.createNodePool({
      parent: cloud.endpoints.cluster,
      nodePool: {
        name: 'legacy-gpu',
        initialNodeCount: 0,
        config: {
          machineType: 'g2-standard-4',
          accelerators: [{ acceleratorCount: 1, acceleratorType: 'nvidia-l4' }],
          workloadMetadataConfig: { mode: 'GCE_METADATA' },
        },
      },
    });
    // GKE runs one operation per cluster at a time: the delete below must not meet this create.
    for (let i = 0; i < 50; i++) {
      const [o] = await gke.getOperation({ name: opName(created) });
      if (o.status === 'DONE' || o.status === 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await apps().createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: 'sidecar' },
        spec: {
          selector: { matchLabels: { app: 'sidecar' } },
          template: {
            metadata: { labels: { app: 'sidecar' } },
            spec: {
              initContainers: [
                { name: 'init', image: `nvcr.io/nvidia/tritonserver@sha256:${'0'.repeat(64)}` },
              ],
              containers: [{ name: 'c', image: 'docker.io/library/busybox:1.36' }],
            },
          },
        },
      },
    });
    const sa = await core().readNamespacedServiceAccount({ name: 'triton', namespace: NS });
    await core().replaceNamespacedServiceAccount({
      name: 'triton',
      namespace: NS,
      body: { ...sa, metadata: { ...sa.metadata, annotations: {} } },
    });

    // Act
    await tick({ dryRun: true });
    const found = lastRotated().findings.map((f) => `${f.check} ${f.target}`);
    cloud.gke.setSecurity({ binaryAuthorization: 'PROJECT_SINGLETON_POLICY_ENFORCE' });
    const [op] = await gke.deleteNodePool({ name: `${cloud.endpoints.cluster}/nodePools/legacy-gpu` });
    for (let i = 0; i < 50; i++) {
      const [o] = await gke.getOperation({
        name: `${cloud.endpoints.cluster.replace(/\/clusters\/.*/, '')}/operations/${String(op.name).split('/').pop()}`,
      });
      if (o.status === 'DONE' || o.status === 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const current = await core().readNamespacedServiceAccount({ name: 'triton', namespace: NS });
    await core().replaceNamespacedServiceAccount({
      name: 'triton',
      namespace: NS,
      body: { ...current, metadata: { ...current.metadata, annotations: sa.metadata?.annotations ?? {} } },
    });
    await tick({ dryRun: true });
    const fixed = lastRotated().findings.map((f) => `${f.check} ${f.target}`);
    cloud.gke.setSecurity({ binaryAuthorization: 'DISABLED' });
    await apps().deleteNamespacedDeployment({ name: 'sidecar', namespace: NS });

    // Assess
    expect(found).toEqual(
      expect.arrayContaining([
        'NODE_METADATA_NOT_GKE nodePool/legacy-gpu',
        'BINARY_AUTHORIZATION_NOT_ENFORCED cluster/inference',
        `WORKLOAD_IDENTITY_MISSING ServiceAccount/${NS}/triton`,
        `IMAGE_NOT_PINNED Deployment/${NS}/${POOL}`,
        // Every Deployment of the namespace, not only ours; the pinned, allowed init image passes.
        `IMAGE_NOT_PINNED Deployment/${NS}/sidecar`,
        `IMAGE_NOT_ALLOWED Deployment/${NS}/sidecar`,
      ]),
    );
    expect(found.filter((f) => f.includes('sidecar'))).toHaveLength(2);
    expect(found.filter((f) => f.startsWith('NODE_METADATA_NOT_GKE'))).toEqual([
      'NODE_METADATA_NOT_GKE nodePool/legacy-gpu',
    ]);
    for (const gone of [
      'NODE_METADATA_NOT_GKE',
      'BINARY_AUTHORIZATION_NOT_ENFORCED',
      'WORKLOAD_IDENTITY_MISSING',
    ]) {
      expect(fixed.filter((f) => f.startsWith(gone))).toEqual([]);
    }
  });

  it('refuses a rotation rollout onto unpinned images when the policy enforces, and says so', async () => {
    try {
      await h.setPolicy(`${BASE_SECURITY}\n  posture: { enforce: true }`);
      const before = keyRingOf(await secret());
      h.clock.advanceDays(31);
      await tick();
      const after = keyRingOf(await secret());
      expect(after?.active.admin).toBe(before?.active.admin);
      expect(lastRotated().findings.map((f) => f.check)).toContain('ROLLOUT_REFUSED');
      expect(lastRotated().findings.map((f) => f.check)).toContain('SECRET_TOO_OLD');
    } finally {
      await h.setPolicy(BASE_SECURITY);
    }
  });
});

describe('posture enforcement in deployModel', () => {
  it('refuses a deploy that would roll Triton onto an unpinned image, and deploys once allowed', async () => {
    // Prepare: the pool's Deployment is gone, so the next deploy creates it (a rollout).
    await apps().deleteNamespacedDeployment({ name: POOL, namespace: NS });
    await cloud.settled();
    let refused: RecordedOutcome | undefined;
    try {
      await h.setPolicy(`${BASE_SECURITY}\n  posture: { enforce: true }`);

      // Act
      refused = await deployVersion('add');
    } finally {
      await h.setPolicy(BASE_SECURITY);
    }
    const restored = await deployVersion('add');

    // Assess
    expect(refused).toMatchObject({ status: 'rejected', reason: 'POSTURE_REFUSED' });
    expect(refused?.status === 'rejected' && refused.message).toContain('not pinned by digest');
    expect(restored.status).toBe('applied');
    expect((await pods()).length).toBeGreaterThan(0);
  });
});

describe('the production entry', () => {
  it('functions/rotateSecurity answers a Scheduler tick delivered over HTTP, as Eventarc delivers it', async () => {
    // Prepare: the entry reads process.env at its first event; its log lines go to stdout, which
    // the ledger reads too.
    Object.assign(process.env, {
      INFERPLANE_PROJECT: 'local-project',
      INFERPLANE_CLUSTER: 'inference',
      INFERPLANE_REPOSITORY_BUCKET: BUCKETS.repository,
      INFERPLANE_POLICY: h.policyPath,
      INFERPLANE_STORAGE_ENDPOINT: cloud.endpoints.storage,
      INFERPLANE_GKE_ENDPOINT: cloud.endpoints.gke,
      INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
      INFERPLANE_TRITON_URL: cloud.endpoints.triton,
      INFERPLANE_SECURITY_BUCKET: BUCKETS.security,
      METADATA_SERVER_DETECTION: 'none',
    });
    await import('../../functions/rotateSecurity/index');
    const server = getTestServer('rotateSecurity');
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const event = schedulerTick({ dryRun: true });
    const write = process.stdout.write.bind(process.stdout);
    const lines: string[] = [];
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      return write(chunk, ...rest);
    }) as typeof process.stdout.write;

    // Act
    let status = 0;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'ce-id': event.id,
          'ce-source': event.source,
          'ce-type': event.type,
          'ce-specversion': '1.0',
        },
        body: JSON.stringify(event.data),
      });
      status = res.status;
      await res.arrayBuffer();
    } finally {
      process.stdout.write = write;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    h.ledger.lines.push(...lines);

    // Assess: acknowledged, the dry run's plan logged and the event published (to the log).
    expect(status).toBeLessThan(300);
    const messages = lines.map((l) => (JSON.parse(l) as { message?: string }).message ?? '');
    expect(messages).toContain('security plan');
    expect(lines.some((l) => l.includes('dev.inferplane.security.v1.rotated'))).toBe(true);
  });
});

describe('no secrets', () => {
  it('no key generated in this file appears in any log line or event captured so far', () => {
    expect(h.ledger.keys.size).toBeGreaterThan(0);
    expect(h.ledger.lines.length).toBeGreaterThan(0);
    expect(h.ledger.leaks()).toEqual([]);
  });
});

afterAll(() => {
  // The rule holds over the whole file, whichever tests ran.
  expect(h.ledger.leaks()).toEqual([]);
});
