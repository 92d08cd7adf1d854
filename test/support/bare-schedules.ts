/**
 * applySchedules over bare targets on the local cloud's apiserver (with nodes from the GKE pools),
 * GKE, Storage and Monitoring servers: Deployments with HPAs and node pools created directly, no
 * deployModel, the production deps (`buildApplySchedulesDeps`) with the real clock. Ticks carry
 * `at`, so a test picks the instant the schedules are decided at.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { startGkeServer } from '../../infra/local/gke';
import { startKubernetesServer } from '../../infra/local/kubernetes';
import { startMonitoringServer } from '../../infra/local/monitoring';
import { startStorageServer } from '../../infra/local/storage';
import { localStorageClient } from '../../infra/local/storage/client';
import { MemoryEventPublisher } from '../../shared/adapters/events-publisher';
import type { KubernetesObject, NodePoolAutoscaling } from '../../shared/domain/plan';
import { loadConfig } from '../../shared/runtime/config';
import { invoke } from '../../shared/runtime/function';
import { MemoryIdempotencyStore } from '../../shared/runtime/idempotency';
import { createMemoryLogger } from '../../shared/runtime/log';
import { scalingExecutor } from '../../shared/scaling/deps';
import { buildApplySchedulesDeps } from '../../shared/schedules/deps';
import { applySchedulesFunction } from '../../shared/schedules/function';
import type { ApplySchedulesDeps } from '../../shared/schedules/handler';

export const NS = 'triton';

export interface BareTarget {
  name: string;
  /** The target's GPU node pool (same name), if it has one. */
  pool?: { nodes: number; autoscaling: NodePoolAutoscaling };
}

export interface BareSchedules {
  deps: ApplySchedulesDeps;
  /** The events the ticks published. */
  publisher: MemoryEventPublisher;
  /** Log entries of the ticks (the handler's warnings and notices). */
  entries: Record<string, unknown>[];
  /** A Pub/Sub delivery of `reconcile-schedules` deciding as of `atMs`. */
  tick(atMs: number): ReturnType<typeof invoke>;
  replicas(name: string): Promise<number | undefined>;
  close(): Promise<void>;
}

export type TargetDetail = {
  pool: string;
  outcome: string;
  action: string;
  error?: string;
  drift?: string[];
  /** `<kind> <target>: <reason>` per planned action. */
  plan?: string[];
};
export const targetsOf = (o: unknown) =>
  (o as { details?: { targets?: TargetDetail[] } }).details?.targets ?? [];

function deployment(name: string): KubernetesObject {
  const labels = {
    'app.kubernetes.io/name': 'triton',
    'app.kubernetes.io/instance': name,
    'app.kubernetes.io/managed-by': 'inferplane',
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'server', image: 'busybox' }] } },
    },
  } as KubernetesObject;
}

export function hpa(name: string, minReplicas = 1, maxReplicas = 3): KubernetesObject {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace: NS },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name }, minReplicas, maxReplicas },
  } as KubernetesObject;
}

/** `schedule`: the policy's `schedules:` entries as YAML lines. */
export async function bareSchedules(
  targets: readonly BareTarget[],
  schedule: string[],
): Promise<BareSchedules> {
  const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-sched-bare-'));
  const storage = await startStorageServer({ dir: path.join(dir, 'storage') });
  const gke = await startGkeServer({
    dir: path.join(dir, 'gke'),
    project: 'local-project',
    location: 'us-central1',
    cluster: 'inference',
    operationPhaseMs: 0,
  });
  // Nodes from the GKE pools: a pool's live size is its Node objects, as on GKE.
  const kubernetes = await startKubernetesServer({
    tokens: [LOCAL_ACCESS_TOKEN],
    controllers: { nodePools: gke, cluster: 'inference', project: 'local-project' },
  });
  gke.setKubernetesEndpoint({ endpoint: kubernetes.endpoint, caCertificate: kubernetes.caCertificateBase64 });
  const monitoring = await startMonitoringServer({ project: 'local-project', scrapePollMs: 0 });
  const close = async () => {
    await Promise.all([storage.close(), gke.close(), kubernetes.close(), monitoring.close()]);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const bucket = 'sched-bare-repo';
    await localStorageClient(storage.url).createBucket(bucket);
    const policyFile = path.join(dir, 'policy.yaml');
    await writeFile(
      policyFile,
      [
        'apiVersion: inferplane.dev/v1',
        'kind: ControlPlanePolicy',
        `cluster: { project: local-project, name: inference, namespace: ${NS}, repositoryBucket: ${bucket}, incomingBucket: sched-bare-in }`,
        'guardrails: { maxGpusTotal: 100, maxGpusPerPool: 100, maxNodes: 10, maxDollarsPerHour: 10000 }',
        'schedules:',
        ...schedule,
        '',
      ].join('\n'),
    );
    const config = loadConfig({
      INFERPLANE_PROJECT: 'local-project',
      INFERPLANE_CLUSTER: 'inference',
      INFERPLANE_REPOSITORY_BUCKET: bucket,
      INFERPLANE_POLICY: policyFile,
      INFERPLANE_STORAGE_ENDPOINT: storage.url,
      INFERPLANE_GKE_ENDPOINT: gke.url,
      INFERPLANE_MONITORING_ENDPOINT: monitoring.url,
      INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
      INFERPLANE_TRITON_URL: 'http://127.0.0.1:1/{pod}',
      INFERPLANE_LOG_LEVEL: 'ERROR',
    });
    const memory = createMemoryLogger();
    const built = await buildApplySchedulesDeps(config);
    const publisher = new MemoryEventPublisher();
    const shared = { ...built, log: memory.logger, publisher, idempotency: new MemoryIdempotencyStore() };
    const deps: ApplySchedulesDeps = {
      ...shared,
      executor: scalingExecutor(shared, config.operationDeadlineSeconds * 1000),
    };
    await deps.ports.kube.apply(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      { fieldManager: 'test' },
    );
    for (const t of targets) {
      await deps.ports.kube.apply(deployment(t.name), { fieldManager: 'test' });
      await deps.ports.kube.apply(hpa(t.name), { fieldManager: 'test' });
      if (!t.pool) continue;
      let op = await deps.ports.nodePools.create({
        name: t.name,
        initialNodeCount: t.pool.nodes,
        locations: ['us-central1-a'],
        config: {
          machineType: 'g2-standard-8',
          accelerators: [{ acceleratorCount: '1', acceleratorType: 'nvidia-l4' }],
        },
        autoscaling: t.pool.autoscaling,
      });
      while (op.status !== 'DONE') op = await deps.ports.nodePools.getOperation(op.name ?? '');
    }
    let ticks = 0;
    const tick = (atMs: number) => {
      const id = `bare-tick-${++ticks}`;
      const command = {
        apiVersion: 'inferplane.dev/scheduler/v1',
        command: 'reconcile-schedules',
        at: new Date(atMs).toISOString(),
      };
      return invoke(applySchedulesFunction, deps, {
        id,
        specversion: '1.0',
        source: '//pubsub.googleapis.com/projects/local-project/topics/inferplane-scheduler',
        type: 'google.cloud.pubsub.topic.v1.messagePublished',
        data: {
          message: {
            data: Buffer.from(JSON.stringify(command)).toString('base64'),
            messageId: id,
            publishTime: new Date().toISOString(),
          },
          subscription: 'projects/local-project/subscriptions/scheduler',
        },
      });
    };
    const replicas = async (name: string) =>
      (await deps.ports.kube.getScale({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: NS, name }))
        ?.replicas;
    return { deps, publisher, entries: memory.entries, tick, replicas, close };
  } catch (err) {
    await close();
    throw err;
  }
}
