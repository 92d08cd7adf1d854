/**
 * applySchedules at the handler, on the local cloud's apiserver, GKE and Storage servers (no
 * deployModel: two bare targets). A fixed-size pool (autoscaling off) and a Kubernetes-only target
 * share a nightly window that the real clock is not in: every tick carries `at`.
 *
 * - A tick's `at` decides the schedules, while the savings' metric points carry the real time
 *   (Monitoring refuses points more than 5 minutes ahead: points dated `at` would be lost).
 * - The restore of a fixed-size pool raises its size: the guardrails refuse one that would exceed
 *   them (maxNodes lowered during the downtime), with the numbers; that target stays down (record,
 *   replicas, pool) while the other target is restored; once the limit allows it, the next tick
 *   restores it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { type GkeServer, startGkeServer } from '../../infra/local/gke';
import { type KubernetesServer, startKubernetesServer } from '../../infra/local/kubernetes';
import { type MonitoringServer, startMonitoringServer } from '../../infra/local/monitoring';
import { type StorageServer, startStorageServer } from '../../infra/local/storage';
import { localStorageClient } from '../../infra/local/storage/client';
import type { KubernetesObject } from '../../shared/domain/plan';
import { observeTarget } from '../../shared/execute/targets';
import { loadConfig } from '../../shared/runtime/config';
import { invoke } from '../../shared/runtime/function';
import { MemoryIdempotencyStore } from '../../shared/runtime/idempotency';
import { buildApplySchedulesDeps } from '../../shared/schedules/deps';
import { applySchedulesFunction } from '../../shared/schedules/function';
import { type ApplySchedulesDeps, METRIC_PREFIX } from '../../shared/schedules/handler';

const MIN = 60_000;
const NOW = Math.floor(Date.now() / MIN) * MIN;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
// Two hours from now, for two hours (it may cross midnight): the real clock is outside it.
const WINDOW_START = NOW + 120 * MIN;
const WINDOW_END = WINDOW_START + 120 * MIN;
const iso = (ms: number) => new Date(ms).toISOString();
const FIXED = 'fixed-l4';
const PLAIN = 'plain';
const NS = 'triton';

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

function hpa(name: string): KubernetesObject {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace: NS },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: 1,
      maxReplicas: 3,
    },
  } as KubernetesObject;
}

type TargetDetail = { pool: string; outcome: string; action: string; error?: string };
const targetsOf = (o: unknown) => (o as { details?: { targets?: TargetDetail[] } }).details?.targets ?? [];

describe('applySchedules: a tick at `at`, and the guardrails on the way up (fixed-size pool)', () => {
  let dir: string;
  let kubernetes: KubernetesServer;
  let gke: GkeServer;
  let storage: StorageServer;
  let monitoring: MonitoringServer;
  let deps: ApplySchedulesDeps;
  let ticks = 0;

  const tick = (at: number) => {
    const id = `guard-tick-${++ticks}`;
    const command = {
      apiVersion: 'inferplane.dev/scheduler/v1',
      command: 'reconcile-schedules',
      at: iso(at),
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
  const nodes = async () => {
    const pool = await deps.ports.nodePools.get(FIXED);
    return pool ? deps.ports.nodePools.nodeCountPerZone(pool) : undefined;
  };
  const setMaxNodes = (maxNodes: number) => {
    deps.policy = { ...deps.policy, guardrails: { ...deps.policy.guardrails, maxNodes } };
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'inferplane-sched-guard-'));
    storage = await startStorageServer({ dir: path.join(dir, 'storage') });
    gke = await startGkeServer({
      dir: path.join(dir, 'gke'),
      project: 'local-project',
      location: 'us-central1',
      cluster: 'inference',
      operationPhaseMs: 0,
    });
    // Nodes from the GKE pools: a pool's live size is its Node objects, as on GKE.
    kubernetes = await startKubernetesServer({
      tokens: [LOCAL_ACCESS_TOKEN],
      controllers: { nodePools: gke, cluster: 'inference', project: 'local-project' },
    });
    gke.setKubernetesEndpoint({
      endpoint: kubernetes.endpoint,
      caCertificate: kubernetes.caCertificateBase64,
    });
    monitoring = await startMonitoringServer({ project: 'local-project', scrapePollMs: 0 });
    const bucket = 'sched-guard-repo';
    await localStorageClient(storage.url).createBucket(bucket);
    const policyFile = path.join(dir, 'policy.yaml');
    await writeFile(
      policyFile,
      [
        'apiVersion: inferplane.dev/v1',
        'kind: ControlPlanePolicy',
        `cluster: { project: local-project, name: inference, namespace: ${NS}, repositoryBucket: ${bucket}, incomingBucket: sched-guard-in }`,
        'guardrails: { maxGpusTotal: 100, maxGpusPerPool: 100, maxNodes: 10, maxDollarsPerHour: 10000 }',
        'schedules:',
        `  - name: nights`,
        `    target: { pools: [${FIXED}, ${PLAIN}] }`,
        `    downtime: ["Sun-Sat ${hhmm(WINDOW_START)}-${hhmm(WINDOW_END)} UTC"]`,
        '    gracePeriodMinutes: 0',
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
    deps = { ...(await buildApplySchedulesDeps(config)), idempotency: new MemoryIdempotencyStore() };
    await deps.ports.kube.apply(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      { fieldManager: 'test' },
    );
    for (const name of [FIXED, PLAIN]) {
      await deps.ports.kube.apply(deployment(name), { fieldManager: 'test' });
      await deps.ports.kube.apply(hpa(name), { fieldManager: 'test' });
    }
    let op = await deps.ports.nodePools.create({
      name: FIXED,
      initialNodeCount: 2,
      locations: ['us-central1-a'],
      config: {
        machineType: 'g2-standard-8',
        accelerators: [{ acceleratorCount: '1', acceleratorType: 'nvidia-l4' }],
      },
      autoscaling: { enabled: false },
    });
    while (op.status !== 'DONE') op = await deps.ports.nodePools.getOperation(op.name ?? '');
  }, 120_000);

  afterAll(async () => {
    await Promise.all([storage?.close(), gke?.close(), kubernetes?.close(), monitoring?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("decides as of the tick's `at`, and dates the savings' points by the real clock", async () => {
    // The real clock is outside the window: without `at` nothing is due.
    const plain = await tick(NOW);
    expect(targetsOf(plain).map((t) => t.action)).toEqual(['none', 'none']);
    expect(await replicas(FIXED)).toBe(1);

    const before = Date.now();
    const down = await tick(WINDOW_START + 30 * MIN);
    const after = Date.now();
    expect(down.status).toBe('applied');
    expect(targetsOf(down).map((t) => [t.pool, t.outcome])).toEqual([
      [FIXED, 'applied'],
      [PLAIN, 'applied'],
    ]);
    expect(await replicas(FIXED)).toBe(0);
    expect(await replicas(PLAIN)).toBe(0);
    expect(await nodes()).toBe(0);
    const record = (await observeTarget(deps.ports, deps.location, FIXED)).record?.record;
    expect(record?.downtime).toMatchObject({
      schedule: 'nights',
      since: iso(WINDOW_START),
      until: iso(WINDOW_END),
    });
    expect(record?.baseline?.settings.nodePool).toMatchObject({ nodeCountPerZone: 2 });

    const series = await deps.metrics.readSeries({
      filter: `metric.type = "${METRIC_PREFIX}/gpu_hours_saved" AND metric.labels.pool = "${FIXED}"`,
      startTime: iso(NOW - 10 * MIN),
      endTime: iso(Date.now() + 4 * MIN),
    });
    const times = series.flatMap((s) => s.points.map((p) => Date.parse(p.time)));
    expect(times).toHaveLength(1);
    // Whole seconds on the wire.
    expect(times[0]).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(times[0]).toBeLessThanOrEqual(after);
  }, 60_000);

  it('refuses a fixed-size pool restore over the guardrails with the numbers, keeps it down, restores the other', async () => {
    // In downtime (the test before may have done it: a doubled tick then changes nothing).
    await tick(WINDOW_START + 30 * MIN);
    expect(await nodes()).toBe(0);
    const downRecord = (await observeTarget(deps.ports, deps.location, FIXED)).record;

    setMaxNodes(1);
    // Inside the lead time (10 min) before the window ends: the warm restore is due.
    const refused = await tick(WINDOW_END - 5 * MIN);
    expect(refused.status).toBe('applied');
    const [fixed, other] = targetsOf(refused);
    expect(fixed).toMatchObject({ pool: FIXED, action: 'warm-restore', outcome: 'failed' });
    expect(fixed?.error).toContain('maxNodes: plan would allow 2 nodes, limit 1');
    expect(other).toMatchObject({ pool: PLAIN, action: 'warm-restore', outcome: 'applied' });
    // Left down: the pool, the replicas and the record as they were.
    expect(await nodes()).toBe(0);
    expect(await replicas(FIXED)).toBe(0);
    const kept = (await observeTarget(deps.ports, deps.location, FIXED)).record;
    expect(kept?.generation).toBe(downRecord?.generation);
    expect(kept?.record.downtime).not.toBeNull();
    // The other target is back.
    expect(await replicas(PLAIN)).toBe(1);

    // Once the limit allows it, the next tick restores it: nodes to the recorded count, then replicas.
    setMaxNodes(10);
    const restored = await tick(WINDOW_END - 4 * MIN);
    expect(targetsOf(restored).find((t) => t.pool === FIXED)).toMatchObject({
      action: 'warm-restore',
      outcome: 'applied',
    });
    expect(await nodes()).toBe(2);
    expect(await replicas(FIXED)).toBe(1);
    expect((await observeTarget(deps.ports, deps.location, FIXED)).record?.record.downtime).toBeNull();
  }, 60_000);
});
