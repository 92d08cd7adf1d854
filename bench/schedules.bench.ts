/**
 * applySchedules: one tick over 1,000 Triton Deployments with HPAs and 20 GPU node pools on the
 * local cloud, every API answering 20 ms late (the servers' own `latencyMs` fault), against the
 * same work done one object at a time, as kube-downscaler does it. Two sets of targets (a-*, b-*)
 * so both runs start from the same state in the same run. `--quick`: 100 Deployments and 4 pools.
 *
 * What each side does, per tick (the same handler, the same executor, the same guardrails):
 * - batched (set a): one LIST each of the namespace's Deployments, its HPAs, the target records
 *   and the cluster's node pools; then `concurrency` targets at a time (and as many with a node
 *   pool beside them): per target the record upload conditional on the listed generation, and
 *   the Scale PUT conditional on the listed resourceVersion; node-pool actions (a list of running
 *   operations, a GET of the pool, the change) one at a time per cluster, as GKE runs them.
 * - one at a time (set b): `observeEach` and concurrency 1, every API call waiting for the one
 *   before: per target a GET of its Deployment, its HPA and its record, then the same writes.
 *   That is kube-downscaler's shape (one object after the other, each write after the previous),
 *   with a read of each object first; it is not slowed in any other way.
 *
 * The apiserver runs its in-process controllers (Deployment, ReplicaSet, scheduler, kubelets:
 * each Deployment has a pod that the scale to zero removes), not the local cloud's HPA controller
 * or Triton pods. The API surface the tick uses (Deployments, HPAs, the scale subresource, node
 * pools and their operations, the state bucket) is the same servers'; their state directories are
 * on tmpfs where there is one (a disk's sync costs belong to the stand-ins, not to the control
 * plane; the apiserver keeps its state in memory for the same reason). The log shows each tick's
 * CPU time beside its wall time: on a shared machine a tick is CPU-bound long before it is
 * latency-bound.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LOCAL_ACCESS_TOKEN } from '../infra/local/credentials';
import { startGkeServer } from '../infra/local/gke';
import { startKubernetesServer } from '../infra/local/kubernetes';
import { startMonitoringServer } from '../infra/local/monitoring';
import { startStorageServer } from '../infra/local/storage';
import { localStorageClient } from '../infra/local/storage/client';
import type { KubernetesObject } from '../shared/domain/plan';
import type { TargetPorts } from '../shared/execute/targets';
import { loadConfig } from '../shared/runtime/config';
import { invoke } from '../shared/runtime/function';
import { MemoryIdempotencyStore } from '../shared/runtime/idempotency';
import { scalingExecutor } from '../shared/scaling/deps';
import { buildApplySchedulesDeps } from '../shared/schedules/deps';
import { applySchedulesFunction } from '../shared/schedules/function';
import type { ApplySchedulesDeps } from '../shared/schedules/handler';
import type { Bench, Figure } from './harness';

const LATENCY_MS = 20;

/** Every method call on `obj` waits for the previous one to finish: one object at a time. */
function serialised<T extends object>(obj: T, lock: { tail: Promise<unknown> }): T {
  return new Proxy(obj, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const run = lock.tail.then(() => (value as (...a: unknown[]) => unknown).apply(target, args));
        lock.tail = run.catch(() => undefined);
        return run;
      };
    },
  });
}

function deployment(name: string): KubernetesObject {
  const labels = {
    'app.kubernetes.io/name': 'triton',
    'app.kubernetes.io/instance': name,
    'app.kubernetes.io/managed-by': 'inferplane',
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'triton', labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'server', image: 'busybox' }] } },
    },
  } as KubernetesObject;
}

function hpa(name: string): KubernetesObject {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace: 'triton' },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: 1,
      maxReplicas: 3,
    },
  } as KubernetesObject;
}

async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

const bench: Bench = async (ctx) => {
  const deployments = ctx.quick ? 100 : 1000;
  const pools = ctx.quick ? 4 : 20;
  const names = (set: string) =>
    Array.from({ length: deployments }, (_, i) => `${set}-${String(i).padStart(4, '0')}`);
  const sets = { a: names('a'), b: names('b') };

  // The servers' state on tmpfs where there is one: a file system's sync costs are the local
  // servers', not the control plane's (the apiserver keeps its state in memory for the same reason).
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = await mkdtemp(path.join(base, 'inferplane-bench-sched-'));
  const storage = await startStorageServer({ dir: path.join(dir, 'storage') });
  const gke = await startGkeServer({
    dir: path.join(dir, 'gke'),
    project: 'local-project',
    location: 'us-central1',
    cluster: 'inference',
    operationPhaseMs: 0,
  });
  // No state dir: the apiserver would rewrite its whole state file on every change.
  const kubernetes = await startKubernetesServer({ tokens: [LOCAL_ACCESS_TOKEN] });
  gke.setKubernetesEndpoint({ endpoint: kubernetes.endpoint, caCertificate: kubernetes.caCertificateBase64 });
  const monitoring = await startMonitoringServer({ project: 'local-project', scrapePollMs: 0 });
  const cloud = {
    kubernetes,
    gke,
    storage,
    endpoints: {
      storage: storage.url,
      gke: gke.url,
      monitoring: monitoring.url,
      triton: 'http://127.0.0.1:1/{pod}',
    },
    close: () => Promise.all([storage.close(), gke.close(), kubernetes.close(), monitoring.close()]),
  };
  try {
    const bucket = 'bench-sched-repo';
    await localStorageClient(cloud.endpoints.storage).createBucket(bucket);
    const policyFile = path.join(dir, 'policy.yaml');
    const schedule = (set: 'a' | 'b') =>
      `  - name: bench-${set}\n    target: { pools: [${sets[set].join(', ')}] }\n` +
      '    downtime: ["Sun-Sat 00:00-24:00 UTC"]\n    gracePeriodMinutes: 0\n';
    await writeFile(
      policyFile,
      [
        'apiVersion: inferplane.dev/v1',
        'kind: ControlPlanePolicy',
        `cluster: { project: local-project, name: inference, namespace: triton, repositoryBucket: ${bucket}, incomingBucket: bench-sched-in }`,
        'guardrails: { maxGpusTotal: 1000, maxGpusPerPool: 100, maxNodes: 1000, maxDollarsPerHour: 100000 }',
        'schedules:',
        schedule('a') + schedule('b'),
      ].join('\n'),
    );
    const config = loadConfig({
      INFERPLANE_PROJECT: 'local-project',
      INFERPLANE_CLUSTER: 'inference',
      INFERPLANE_REPOSITORY_BUCKET: bucket,
      INFERPLANE_POLICY: policyFile,
      INFERPLANE_STORAGE_ENDPOINT: cloud.endpoints.storage,
      INFERPLANE_GKE_ENDPOINT: cloud.endpoints.gke,
      INFERPLANE_MONITORING_ENDPOINT: cloud.endpoints.monitoring,
      INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
      INFERPLANE_TRITON_URL: cloud.endpoints.triton,
      INFERPLANE_LOG_LEVEL: 'ERROR',
    });
    const deps: ApplySchedulesDeps = {
      ...(await buildApplySchedulesDeps(config)),
      idempotency: new MemoryIdempotencyStore(),
    };

    ctx.log(`creating ${2 * deployments} Deployments, their HPAs and ${2 * pools} node pools`);
    const all = [...sets.a, ...sets.b];
    await deps.ports.kube.apply(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'triton' } },
      { fieldManager: 'bench' },
    );
    const setupStarted = performance.now();
    await inBatches(all, 8, async (name) => {
      await deps.ports.kube.apply(deployment(name), { fieldManager: 'bench' });
      await deps.ports.kube.apply(hpa(name), { fieldManager: 'bench' });
    });
    ctx.log(`objects created in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);
    for (const name of [...sets.a.slice(0, pools), ...sets.b.slice(0, pools)]) {
      let op = await deps.ports.nodePools.create({
        name,
        initialNodeCount: 1,
        locations: ['us-central1-a'],
        config: {
          machineType: 'g2-standard-8',
          accelerators: [{ acceleratorCount: '1', acceleratorType: 'nvidia-l4' }],
        },
        autoscaling: { enabled: true, totalMinNodeCount: 1, totalMaxNodeCount: 2, locationPolicy: 'ANY' },
      });
      while (op.status !== 'DONE') op = await deps.ports.nodePools.getOperation(op.name ?? '');
    }

    for (const server of [cloud.kubernetes, cloud.gke, cloud.storage])
      server.faults.set({ latencyMs: LATENCY_MS });
    const tick = async (d: ApplySchedulesDeps, scope: string, id: string) => {
      const started = performance.now();
      const cpu0 = process.cpuUsage();
      const outcome = await invoke(applySchedulesFunction, d, {
        id,
        specversion: '1.0',
        source: '//pubsub.googleapis.com/projects/local-project/topics/inferplane-scheduler',
        type: 'google.cloud.pubsub.topic.v1.messagePublished',
        data: {
          message: {
            data: Buffer.from(
              JSON.stringify({
                apiVersion: 'inferplane.dev/scheduler/v1',
                command: 'reconcile-schedules',
                scope: { schedules: [scope] },
              }),
            ).toString('base64'),
            messageId: id,
            publishTime: new Date().toISOString(),
          },
          subscription: 'projects/local-project/subscriptions/scheduler',
        },
      });
      const ms = performance.now() - started;
      const cpu = process.cpuUsage(cpu0);
      ctx.log(`${scope}: CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms over ${ms.toFixed(0)} ms`);
      const failedTargets = (
        (outcome as { details?: { targets?: { outcome: string; error?: string; pool: string }[] } }).details
          ?.targets ?? []
      ).filter((t) => t.outcome === 'failed');
      if (failedTargets.length > 0) ctx.log(`failed: ${JSON.stringify(failedTargets.slice(0, 3))}`);
      ctx.log(`${scope}: ${outcome.status} in ${(ms / 1000).toFixed(1)} s: ${outcome.message}`);
      return ms;
    };

    ctx.log(
      `one tick over set a (concurrency ${deps.concurrency}), ${LATENCY_MS} ms added to every API call`,
    );
    const batched = await tick(deps, 'bench-a', 'bench-tick-a');

    ctx.log('the same work over set b, one object at a time');
    const lock = { tail: Promise.resolve() as Promise<unknown> };
    const objects = serialised(deps.objects, lock);
    const ports: TargetPorts = {
      kube: serialised(deps.ports.kube, lock),
      nodePools: serialised(deps.ports.nodePools, lock),
      store: objects,
    };
    const oneByOne: ApplySchedulesDeps = {
      ...deps,
      objects,
      ports,
      concurrency: 1,
      observeEach: true,
      executor: scalingExecutor({ ...deps, objects, ports }, config.operationDeadlineSeconds * 1000),
    };
    const sequential = await tick(oneByOne, 'bench-b', 'bench-tick-b');

    for (const server of [cloud.kubernetes, cloud.gke, cloud.storage]) server.faults.clear();
    const live = await deps.ports.kube.list('apps/v1', 'Deployment', 'triton');
    const zero = (set: string) =>
      live.filter(
        (d) =>
          d.metadata.name.startsWith(`${set}-`) &&
          (d as { spec?: { replicas?: number } }).spec?.replicas === 0,
      ).length;

    return [
      {
        name: `tick, ${deployments} Deployments + HPAs, ${pools} node pools, ${LATENCY_MS} ms latency`,
        value: Math.round(batched),
        unit: 'ms',
        baseline: Math.round(sequential),
        ratio: Math.round((batched / sequential) * 1000) / 1000,
      },
      {
        name: 'speed-up over one object at a time',
        value: Math.round((sequential / batched) * 10) / 10,
        unit: 'x',
      },
      { name: 'Deployments at 0 after the tick (set a, batched)', value: zero('a'), unit: 'count' },
      { name: 'Deployments at 0 after the tick (set b, one at a time)', value: zero('b'), unit: 'count' },
    ] satisfies Figure[];
  } finally {
    await cloud.close();
    await rm(dir, { recursive: true, force: true });
  }
};

export default bench;
