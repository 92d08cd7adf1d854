/**
 * scaleOnAlert under a storm: 10,000 notifications (1,000 with --quick) over 50 targets (10),
 * with redeliveries of the same message, renotifications of open incidents, many incidents per
 * target, and open/close flapping, delivered one after another through the function's `invoke`
 * path (idempotency, handler, executor) against the local cloud, with a manual clock moving
 * 0.6 s per message and a schedules tick every 5 minutes.
 *
 * Figures: messages per second, against a same-run baseline of the same number of test
 * notifications through the same path (parse, log, a skipped event: the floor every delivery
 * pays); and the scaling plans applied and the cluster writes (GKE mutations, HPA bounds, scale
 * subresource) per target per cooldown window, whose goal is at most one plan.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodePubSubJson } from '../events/pubsub';
import { startLocalCloud } from '../infra/local/cloud';
import { LOCAL_ACCESS_TOKEN } from '../infra/local/credentials';
import { localStorageClient } from '../infra/local/storage/client';
import { MemoryEventPublisher } from '../shared/adapters/events-publisher';
import { buildScaleOnAlertDeps } from '../shared/alerts/deps';
import { scaleOnAlertFunction } from '../shared/alerts/function';
import type { ScaleOnAlertDeps } from '../shared/alerts/handler';
import { buildGpuNodePool } from '../shared/cluster/nodepool';
import { resolveGpuClass } from '../shared/gpu/catalog';
import { ManualClock } from '../shared/runtime/clock';
import { loadConfig } from '../shared/runtime/config';
import { type IncomingCloudEvent, invoke } from '../shared/runtime/function';
import { MemoryIdempotencyStore } from '../shared/runtime/idempotency';
import { createLogger } from '../shared/runtime/log';
import { scalingExecutor } from '../shared/scaling/deps';
import { type Bench, type Figure, figure } from './harness';

const COOLDOWN_SECONDS = 300;
const STEP_MS = 600;

/** A small deterministic PRNG (mulberry32), so every run replays the same storm. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function delivery(id: string, payload: unknown, publishTime: string): IncomingCloudEvent {
  return {
    id,
    source: '//pubsub.googleapis.com/projects/local-project/topics/alerts',
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    specversion: '1.0',
    data: { message: { data: encodePubSubJson(payload), messageId: id, publishTime } },
  };
}

function incident(pool: string, incidentId: string, state: 'open' | 'closed', condition: number): unknown {
  return {
    version: '1.2',
    incident: {
      incident_id: incidentId,
      state,
      started_at: 1,
      ended_at: state === 'closed' ? 2 : null,
      policy_name: 'triton queue',
      policy_user_labels: { action: 'scale-out', pool },
      condition: { name: `projects/local-project/alertPolicies/${condition}/conditions/1` },
    },
  };
}

const bench: Bench = async (ctx) => {
  const messages = ctx.quick ? 1_000 : 10_000;
  const targets = ctx.quick ? 10 : 50;
  const cloud = await startLocalCloud({
    operationPhaseMs: 0,
    hpaSyncPeriodMs: 3_600_000,
    scrapeIntervalMs: 3_600_000,
  });
  try {
    const storage = localStorageClient(cloud.endpoints.storage);
    await storage.createBucket('bench-alerts-state');
    const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-bench-alerts-'));
    const policyFile = path.join(dir, 'policy.yaml');
    await writeFile(
      policyFile,
      [
        'apiVersion: inferplane.dev/v1',
        'kind: ControlPlanePolicy',
        'cluster: { project: local-project, name: inference, namespace: triton,',
        '  repositoryBucket: bench-alerts-state, incomingBucket: bench-alerts-state }',
        'alertRules:',
        `  - { name: queue, match: { userLabels: { action: scale-out } }, action: scale-out, cooldownSeconds: ${COOLDOWN_SECONDS}, maxSteps: 3, maxScaleOutMinutes: 20 }`,
        'guardrails: { maxGpusTotal: 1000, maxGpusPerPool: 100, maxNodes: 1000, maxDollarsPerHour: 100000 }',
        '',
      ].join('\n'),
    );
    const config = loadConfig({
      INFERPLANE_PROJECT: 'local-project',
      INFERPLANE_CLUSTER: 'inference',
      INFERPLANE_REPOSITORY_BUCKET: 'bench-alerts-state',
      INFERPLANE_POLICY: policyFile,
      INFERPLANE_STORAGE_ENDPOINT: cloud.endpoints.storage,
      INFERPLANE_GKE_ENDPOINT: cloud.endpoints.gke,
      INFERPLANE_MONITORING_ENDPOINT: cloud.endpoints.monitoring,
      INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
      INFERPLANE_LOG_LEVEL: 'ERROR',
    });
    const built = await buildScaleOnAlertDeps(config);
    const clock = new ManualClock(Date.now());
    const log = createLogger({ minSeverity: 'ERROR' });
    const deps: ScaleOnAlertDeps = {
      ...built,
      clock,
      log,
      publisher: new MemoryEventPublisher(),
      idempotency: new MemoryIdempotencyStore(),
      executor: scalingExecutor({ log, clock, objects: built.objects, ports: built.ports }, 60_000),
    };

    // The targets: a node pool, a Deployment and an HPA of one name each (no Triton in them).
    ctx.log(`creating ${targets} targets`);
    const pools = Array.from({ length: targets }, (_, i) => `bench-${String(i).padStart(2, '0')}`);
    await deps.ports.kube.apply(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'triton' } } as never,
      {
        fieldManager: 'bench',
        force: true,
      },
    );
    const l4 = resolveGpuClass('l4');
    for (const name of pools) {
      const pool = buildGpuNodePool({ gpuClass: l4, size: { autoscaling: true, minNodes: 1, maxNodes: 2 } });
      await deps.ports.nodePools.create({ ...pool, name });
      const labels = { app: name };
      await deps.ports.kube.apply(
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name, namespace: 'triton' },
          spec: {
            replicas: 1,
            selector: { matchLabels: labels },
            template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'busybox' }] } },
          },
        } as never,
        { fieldManager: 'bench', force: true },
      );
      await deps.ports.kube.apply(
        {
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          metadata: { name, namespace: 'triton' },
          spec: {
            scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
            minReplicas: 1,
            maxReplicas: 2,
          },
        } as never,
        { fieldManager: 'bench', force: true },
      );
    }

    // Baseline: the same number of test notifications through the same path.
    const now = () => new Date(clock.nowMs()).toISOString();
    const baselineCount = Math.min(messages, 2_000);
    let started = performance.now();
    for (let i = 0; i < baselineCount; i++) {
      await invoke(
        scaleOnAlertFunction,
        deps,
        delivery(`base-${i}`, { version: 'test', incident: { incident_id: '1', state: 'OPEN' } }, now()),
      );
    }
    const baselinePerSecond = baselineCount / ((performance.now() - started) / 1000);

    // The storm.
    const random = prng(11);
    const state = pools.map(() => ({
      open: [] as string[],
      next: 0,
      last: undefined as IncomingCloudEvent | undefined,
    }));
    const writesOf = () => ({
      gke: cloud.gke.requestLog.length,
      kube: cloud.kubernetes.requestLog.length,
    });
    const perWindow = new Map<string, { plans: number; writes: number }>();
    const t0 = clock.nowMs();
    const countWrites = (from: { gke: number; kube: number }) =>
      cloud.gke.requestLog.slice(from.gke).filter((r) => r.method !== 'GET' && !r.url.startsWith('/__'))
        .length +
      cloud.kubernetes.requestLog
        .slice(from.kube)
        .filter(
          (r) =>
            r.method !== 'GET' &&
            !r.url.includes('dryRun=') &&
            (r.url.includes('fieldManager=inferplane-scaling') || /\/scale(\?|$)/.test(r.url)),
        ).length;
    const kinds = { open: 0, renotify: 0, redeliver: 0, close: 0 };
    let ticks = 0;
    let nextTick = t0 + COOLDOWN_SECONDS * 1000;
    ctx.log(`storm: ${messages} notifications over ${targets} targets`);
    started = performance.now();
    for (let i = 0; i < messages; i++) {
      clock.advance(STEP_MS);
      if (clock.nowMs() >= nextTick) {
        nextTick += COOLDOWN_SECONDS * 1000;
        ticks += 1;
        const from = writesOf();
        const outcome = await invoke(
          scaleOnAlertFunction,
          deps,
          delivery(
            `tick-${ticks}`,
            { apiVersion: 'inferplane.dev/scheduler/v1', command: 'reconcile-schedules' },
            now(),
          ),
        );
        const targetsActed = outcome.status === 'applied' ? outcome.details?.targets : undefined;
        for (const t of (targetsActed as { pool: string; outcome: string }[] | undefined) ?? []) {
          if (t.outcome !== 'applied') continue;
          const key = `${t.pool}/${Math.floor((clock.nowMs() - t0) / (COOLDOWN_SECONDS * 1000))}`;
          const entry = perWindow.get(key) ?? { plans: 0, writes: 0 };
          entry.plans += 1;
          perWindow.set(key, entry);
        }
        // Writes of a tick are spread over its targets; counted per target below by plan only.
        void countWrites(from);
      }
      const t = Math.floor(random() * targets);
      const s = state[t] as (typeof state)[number];
      const pool = pools[t] as string;
      const roll = random();
      let event: IncomingCloudEvent;
      // A redelivery answers from the idempotency record: its "applied" is not a new plan.
      let redelivery = false;
      if (roll < 0.15 && s.last) {
        kinds.redeliver += 1;
        redelivery = true;
        event = s.last;
      } else if (roll < 0.55 && s.open.length > 0) {
        kinds.renotify += 1;
        const id = s.open[Math.floor(random() * s.open.length)] as string;
        event = delivery(`m-${i}`, incident(pool, id, 'open', t), now());
      } else if (roll < 0.75 && s.open.length > 0) {
        kinds.close += 1;
        const id = s.open.shift() as string;
        event = delivery(`m-${i}`, incident(pool, id, 'closed', t), now());
      } else {
        kinds.open += 1;
        const id = `${pool}-${s.next++}`;
        s.open.push(id);
        event = delivery(`m-${i}`, incident(pool, id, 'open', t), now());
      }
      s.last = event;
      const from = writesOf();
      const outcome = await invoke(scaleOnAlertFunction, deps, event);
      const key = `${pool}/${Math.floor((clock.nowMs() - t0) / (COOLDOWN_SECONDS * 1000))}`;
      const entry = perWindow.get(key) ?? { plans: 0, writes: 0 };
      entry.writes += countWrites(from);
      if (outcome.status === 'applied' && !redelivery) entry.plans += 1;
      perWindow.set(key, entry);
    }
    const seconds = (performance.now() - started) / 1000;
    const perSecond = (messages + ticks) / seconds;
    const windows = [...perWindow.values()];
    const acted = windows.filter((w) => w.plans > 0);
    const maxPlans = Math.max(0, ...windows.map((w) => w.plans));
    const maxWrites = Math.max(0, ...windows.map((w) => w.writes));
    const meanWrites = acted.length > 0 ? acted.reduce((n, w) => n + w.writes, 0) / acted.length : 0;
    ctx.log(
      `storm mix: ${JSON.stringify(kinds)}, ${ticks} ticks, ${Math.ceil((messages * STEP_MS) / 1000 / COOLDOWN_SECONDS)} windows of ${COOLDOWN_SECONDS} s; ${acted.length} target-windows with a plan`,
    );
    const figures: Figure[] = [
      figure(
        `storm messages per second (${messages} + ${ticks} ticks, ${targets} targets)`,
        perSecond,
        'msg/s',
        baselinePerSecond,
      ),
      figure('scaling plans per target per cooldown window (max; goal <= 1)', maxPlans, 'plans'),
      figure('cluster writes per target per cooldown window (max)', maxWrites, 'writes'),
      figure('cluster writes per target per cooldown window with a plan (mean)', meanWrites, 'writes'),
    ];
    return figures;
  } finally {
    await cloud.close();
  }
};

export default bench;
