/**
 * The product's central promise, proven over the wire: what a dry run prints is exactly what
 * apply runs. A deploy is planned with INFERPLANE_DRY_RUN, then run for real; the mutating requests
 * the local servers received (GKE, Kubernetes, Cloud Storage, every Triton pod) are mapped back to
 * plan actions and must equal the dry run's actions, in order. Reads and the apiserver's
 * `dryRun=All` validations are not mutations and are left out.
 */

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { localStorageClient } from '../../infra/local/storage/client';
import { deployModelFunction } from '../../shared/deploy/function';
import type { DeployModelDeps } from '../../shared/deploy/handler';
import type { Plan, PlanAction } from '../../shared/domain/plan';
import { invoke } from '../../shared/runtime/function';
import { localDeployHarness } from '../support/deploy-harness';

const INCOMING = 'pea-incoming';
const REPO = 'pea-repo';

/** Kubernetes kinds the deploy applies, by the path segment the apiserver serves them under. */
const PLURALS: Record<string, string> = {
  Namespace: 'namespaces',
  ServiceAccount: 'serviceaccounts',
  Secret: 'secrets',
  ConfigMap: 'configmaps',
  Service: 'services',
  Deployment: 'deployments',
  HorizontalPodAutoscaler: 'horizontalpodautoscalers',
  PodDisruptionBudget: 'poddisruptionbudgets',
  NetworkPolicy: 'networkpolicies',
  PodMonitoring: 'podmonitorings',
};

/** What one action writes on the wire, as `server verb resource`. */
function expectedWrite(action: PlanAction): string {
  switch (action.kind) {
    case 'createNodePool':
      return `gke create ${action.after.name}`;
    case 'setNodePoolAutoscaling':
      return `gke setAutoscaling ${action.target.split('/')[1]}`;
    case 'setNodePoolSize':
      return `gke setSize ${action.target.split('/')[1]}`;
    case 'updateNodePool':
    case 'setNodePoolLocations':
      return `gke update ${action.target.split('/')[1]}`;
    case 'deleteNodePool':
      return `gke delete ${action.target.split('/')[1]}`;
    case 'applyObject': {
      const { kind, metadata } = action.after;
      return `kube apply ${PLURALS[kind] ?? kind}/${metadata.namespace ?? ''}/${metadata.name}`;
    }
    case 'deleteObject':
      return `kube delete ${PLURALS[action.before.kind] ?? action.before.kind}/${action.before.metadata.namespace ?? ''}/${action.before.metadata.name}`;
    case 'copyStorageObject':
      return `storage copy gs://${action.after.destination.bucket}/${action.after.destination.name}`;
    case 'writeStorageObject':
      return `storage write gs://${action.after.object.bucket}/${action.after.object.name}`;
    case 'deleteStorageObject':
      return `storage delete gs://${action.before.bucket}/${action.before.name}`;
    case 'loadModel':
      return `triton load ${action.after.pod}/${action.after.model}`;
    case 'unloadModel':
      return `triton unload ${action.before.pod}/${action.before.model}`;
    case 'scaleWorkload':
      return `kube scale ${action.target}`;
  }
}

const LEASE_PREFIX = '_inferplane/leases/';

function decode(s: string): string {
  return decodeURIComponent(s);
}

/** The mutating requests a server log holds, as `server verb resource`; reads are dropped. */
function observedWrites(cloud: LocalCloud, marks: Marks): { ordered: string[]; triton: string[] } {
  const ordered: string[] = [];
  for (const r of cloud.gke.requestLog.slice(marks.gke)) {
    if (r.method === 'GET') continue;
    const u = new URL(r.url, 'http://x');
    const pool = /\/nodePools\/([^/:]+)(?::(\w+))?$/.exec(u.pathname);
    if (r.method === 'POST' && /\/nodePools$/.test(u.pathname)) ordered.push(`gke create ${'?'}`);
    else if (pool && pool[2] === 'setAutoscaling') ordered.push(`gke setAutoscaling ${pool[1]}`);
    else if (pool && pool[2] === 'setSize') ordered.push(`gke setSize ${pool[1]}`);
    else if (pool && r.method === 'PUT') ordered.push(`gke update ${pool[1]}`);
    else if (pool && r.method === 'DELETE') ordered.push(`gke delete ${pool[1]}`);
    else ordered.push(`gke ${r.method} ${u.pathname}`);
  }
  for (const r of cloud.kubernetes.requestLog.slice(marks.kube)) {
    if (r.method === 'GET') continue;
    const u = new URL(r.url, 'http://x');
    if (u.searchParams.get('dryRun') === 'All') continue;
    const parts = u.pathname.split('/').filter(Boolean);
    const ns = parts.indexOf('namespaces');
    const namespace = ns >= 0 && parts.length > ns + 2 ? (parts[ns + 1] ?? '') : '';
    const plural = parts.length > ns + 2 && ns >= 0 ? (parts[ns + 2] ?? '') : (parts[parts.length - 2] ?? '');
    const name = parts[parts.length - 1] ?? '';
    const verb = r.method === 'PATCH' ? 'apply' : r.method === 'DELETE' ? 'delete' : r.method;
    ordered.push(
      `kube ${verb} ${plural === 'namespaces' && ns === parts.length - 2 ? 'namespaces' : plural}/${namespace}/${name}`,
    );
  }
  for (const r of cloud.storage.requests().slice(marks.storage)) {
    if (r.method === 'GET') continue;
    // Leases coordinate deploys (taken, renewed, released): they change nothing a plan describes.
    if (decode(r.url).includes(LEASE_PREFIX)) continue;
    const u = new URL(r.url, 'http://x');
    const rewrite = /\/rewriteTo\/b\/([^/]+)\/o\/(.+)$/.exec(u.pathname);
    if (rewrite) ordered.push(`storage copy gs://${rewrite[1]}/${decode(rewrite[2] ?? '')}`);
    else if (u.pathname.startsWith('/upload/')) {
      const bucket = /\/b\/([^/]+)\/o/.exec(u.pathname)?.[1];
      ordered.push(`storage write gs://${bucket}/${u.searchParams.get('name')}`);
    } else if (r.method === 'DELETE') {
      const m = /\/b\/([^/]+)\/o\/(.+)$/.exec(u.pathname);
      ordered.push(`storage delete gs://${m?.[1]}/${decode(m?.[2] ?? '')}`);
    } else ordered.push(`storage ${r.method} ${u.pathname}`);
  }
  const triton: string[] = [];
  for (const r of cloud.triton.requestLog.slice(marks.triton)) {
    const m = /\/pools\/[^/]+\/pods\/([^/]+)\/v2\/repository\/models\/([^/]+)\/(load|unload)$/.exec(r.url);
    if (m) triton.push(`triton ${m[3]} ${m[1]}/${decode(m[2] ?? '')}`);
  }
  return { ordered, triton: triton.sort() };
}

interface Marks {
  gke: number;
  kube: number;
  storage: number;
  triton: number;
}

function mark(cloud: LocalCloud): Marks {
  return {
    gke: cloud.gke.requestLog.length,
    kube: cloud.kubernetes.requestLog.length,
    storage: cloud.storage.requests().length,
    triton: cloud.triton.requestLog.length,
  };
}

/** The plan's writes, split as the servers log them: ordered ones, and the concurrent Triton loads. */
function plannedWrites(plan: Plan): { ordered: string[]; triton: string[] } {
  const all = plan.actions.map(expectedWrite).map((w) => (w.startsWith('gke create') ? 'gke create ?' : w));
  return {
    ordered: all.filter((w) => !w.startsWith('triton ')),
    triton: all.filter((w) => w.startsWith('triton ')).sort(),
  };
}

describe('a dry run prints exactly what apply runs', () => {
  let cloud: LocalCloud;
  let deps: DeployModelDeps;
  let entries: Record<string, unknown>[];

  beforeAll(async () => {
    cloud = await startLocalCloud({ operationPhaseMs: 0, repositoryBucket: REPO });
    const harness = await localDeployHarness(cloud, { incoming: INCOMING, repository: REPO });
    deps = harness.deps;
    entries = harness.entries;
  });
  afterAll(async () => {
    await cloud?.close();
  });

  /** Uploads the ONNX fixture as `<model>/1/model.onnx` (once) and returns its finalize event. */
  async function event(id: string, model: string) {
    const bucket = localStorageClient(cloud.endpoints.storage).bucket(INCOMING);
    const name = `${model}/1/model.onnx`;
    const [exists] = await bucket.file(name).exists();
    if (!exists) {
      await bucket.upload(
        path.join(import.meta.dirname, '..', 'fixtures', 'onnx', 'add-dynamic-batch.onnx'),
        {
          destination: name,
        },
      );
    }
    const [meta] = await bucket.file(name).getMetadata();
    return {
      id,
      specversion: '1.0' as const,
      source: `//storage.googleapis.com/projects/_/buckets/${INCOMING}`,
      type: 'google.cloud.storage.object.v1.finalized',
      subject: `objects/${name}`,
      data: meta,
    };
  }

  /** The plan a dry run of this event logs. */
  async function dryRun(id: string, model: string): Promise<Plan> {
    const before = entries.length;
    const dry = { ...deps, config: { ...deps.config, dryRun: true } };
    const outcome = await invoke(deployModelFunction, dry, await event(id, model));
    expect(outcome).toMatchObject({ status: 'skipped', message: 'dry run: nothing applied' });
    const planned = entries.slice(before).find((e) => e.message === 'deployment planned');
    return planned?.plan as Plan;
  }

  /** Runs the event for real; returns the writes the servers saw and how the run ended. */
  async function apply(id: string, model: string) {
    const marks = mark(cloud);
    const result = await invoke(deployModelFunction, deps, await event(id, model)).catch(
      (err: unknown) => err,
    );
    return { result, writes: observedWrites(cloud, marks) };
  }

  it('on a new cluster: the pool, the serving stack and the repository, then a retry for the first pod', async () => {
    // Prepare
    await event('pea-upload', 'first');
    const writesBefore = mark(cloud);
    const plan = await dryRun('pea-1-dry', 'first');
    expect(observedWrites(cloud, writesBefore)).toEqual({ ordered: [], triton: [] });

    // Act
    const { result, writes } = await apply('pea-1', 'first');

    // Assess
    expect(plan.actions.map((a) => a.kind)).toEqual(
      expect.arrayContaining(['createNodePool', 'applyObject', 'copyStorageObject', 'writeStorageObject']),
    );
    expect(plan.actions.some((a) => a.kind === 'loadModel')).toBe(false);
    expect(writes).toEqual(plannedWrites(plan));
    expect(result).toMatchObject({ reason: 'TRITON_NOT_READY' });
  });

  it('once pods are ready: the repository, a load on every pod, the registry record', async () => {
    // Prepare: a pool with ready pods (made by another model's deploy, retried as the platform would)
    for (let attempt = 0; attempt < 5; attempt++) {
      const setup = await apply(`pea-base-${attempt}`, 'base');
      if ((setup.result as { status?: string }).status === 'applied') break;
    }
    const plan = await dryRun('pea-2-dry', 'second');

    // Act
    const { result, writes } = await apply('pea-2', 'second');

    // Assess
    expect(plan.actions.map((a) => a.kind)).toEqual(
      expect.arrayContaining(['copyStorageObject', 'writeStorageObject', 'loadModel']),
    );
    expect(writes).toEqual(plannedWrites(plan));
    expect(writes.triton.length).toBeGreaterThan(0);
    expect(result).toMatchObject({ status: 'applied' });
  });
});
