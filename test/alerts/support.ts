/**
 * scaleOnAlert aimed at a served pool on the local cloud (test/support/served-pool.ts): its deps
 * as production builds them, but with a manual clock (cooldowns and expiry without waiting), a
 * memory log, memory events and memory idempotency; and deliveries shaped as Eventarc hands a
 * Pub/Sub message to the function.
 */

import { encodePubSubJson } from '../../events/pubsub';
import { SCHEDULER_API_VERSION } from '../../events/scheduler';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { MemoryEventPublisher } from '../../shared/adapters/events-publisher';
import { createMonitoringMetrics } from '../../shared/adapters/monitoring';
import type { ScaleOnAlertDeps } from '../../shared/alerts/handler';
import { type AlertRule, policySchema } from '../../shared/policy';
import { ManualClock } from '../../shared/runtime/clock';
import type { IncomingCloudEvent } from '../../shared/runtime/function';
import { MemoryIdempotencyStore } from '../../shared/runtime/idempotency';
import { createMemoryLogger } from '../../shared/runtime/log';
import { scalingExecutor } from '../../shared/scaling/deps';
import type { ServedPool } from '../support/served-pool';

export interface AlertHarness {
  deps: ScaleOnAlertDeps;
  clock: ManualClock;
  entries: Record<string, unknown>[];
  publisher: MemoryEventPublisher;
}

/** Rules are given as in the policy file; defaults are filled in by the policy schema. */
export function parseRules(rules: readonly unknown[]): AlertRule[] {
  return policySchema.parse({
    apiVersion: 'inferplane.dev/v1',
    kind: 'ControlPlanePolicy',
    cluster: {
      project: 'local-project',
      name: 'inference',
      repositoryBucket: 'r-bucket',
      incomingBucket: 'i-bucket',
    },
    alertRules: rules,
    guardrails: { maxGpusTotal: 1, maxGpusPerPool: 1, maxNodes: 1, maxDollarsPerHour: 1 },
  }).alertRules;
}

export function alertHarness(
  served: ServedPool,
  rules: readonly unknown[],
  options: {
    clock?: ManualClock;
    dryRun?: boolean;
    guardrails?: Partial<ScaleOnAlertDeps['policy']['guardrails']>;
  } = {},
): AlertHarness {
  // Two hours back: the clock is moved past cooldowns and expiries, and Monitoring refuses points
  // written for the future.
  const clock = options.clock ?? new ManualClock(Date.now() - 2 * 3600_000);
  const memory = createMemoryLogger();
  const publisher = new MemoryEventPublisher();
  const base = served.deploy;
  const policy = {
    ...base.policy,
    alertRules: parseRules(rules),
    guardrails: { ...base.policy.guardrails, ...options.guardrails },
  };
  const deps: ScaleOnAlertDeps = {
    config: { ...base.config, dryRun: options.dryRun ?? false },
    policy,
    policySource: base.policySource,
    objects: base.objects,
    log: memory.logger,
    clock,
    idempotency: new MemoryIdempotencyStore(),
    publisher,
    projectId: base.projectId,
    lockMs: base.lockMs,
    idempotencyTtlSeconds: base.idempotencyTtlSeconds,
    ports: served.ports,
    location: served.location,
    metrics: createMonitoringMetrics({
      project: 'local-project',
      endpoint: served.cloud.endpoints.monitoring,
      accessToken: LOCAL_ACCESS_TOKEN,
    }),
    executor: scalingExecutor(
      { log: memory.logger, clock, objects: base.objects, ports: served.ports },
      60_000,
    ),
    sweepConcurrency: 4,
  };
  return { deps, clock, entries: memory.entries, publisher };
}

let sequence = 0;

/** A Pub/Sub messagePublished CloudEvent carrying `payload` (each call a new message id). */
export function pubsubDelivery(payload: unknown, topic = 'alerts'): IncomingCloudEvent {
  sequence += 1;
  const id = `${Date.now()}-${sequence}`;
  return {
    id,
    source: `//pubsub.googleapis.com/projects/local-project/topics/${topic}`,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    specversion: '1.0',
    data: {
      subscription: `projects/local-project/subscriptions/${topic}-sub`,
      message: { data: encodePubSubJson(payload), messageId: id, publishTime: new Date().toISOString() },
    },
  };
}

export interface IncidentInit {
  incidentId?: string;
  state?: 'open' | 'closed';
  labels?: Record<string, string>;
  policyName?: string;
  condition?: string;
}

/** A schema-1.2 notification as a Monitoring Pub/Sub channel publishes it. */
export function notification(init: IncidentInit = {}): unknown {
  const state = init.state ?? 'open';
  const nowSec = Math.floor(Date.now() / 1000);
  return {
    version: '1.2',
    incident: {
      incident_id: init.incidentId ?? '0.incident',
      scoping_project_id: 'local-project',
      scoping_project_number: 12345,
      url: 'https://console.cloud.google.com/monitoring/alerting/incidents/x?project=local-project',
      started_at: nowSec - 60,
      ended_at: state === 'closed' ? nowSec : null,
      state,
      summary: 'Triton queue time is above the threshold',
      resource: { type: 'prometheus_target', labels: { project_id: 'local-project', namespace: 'triton' } },
      metric: { type: 'prometheus.googleapis.com/nv_inference_queue_duration_us/counter', labels: {} },
      metadata: { system_labels: {}, user_labels: {} },
      policy_name: init.policyName ?? 'triton queue',
      policy_user_labels: init.labels ?? { action: 'scale-out', pool: 'triton-l4' },
      condition_name: 'queueing',
      threshold_value: '1',
      observed_value: '93',
      condition: {
        name: init.condition ?? 'projects/local-project/alertPolicies/101/conditions/202',
        displayName: 'queueing',
      },
      severity: 'Critical',
    },
  };
}

export function tick(): IncomingCloudEvent {
  return pubsubDelivery({ apiVersion: SCHEDULER_API_VERSION, command: 'reconcile-schedules' }, 'schedules');
}

/** The scaling writes the GKE and Kubernetes servers answered: node pool mutations, HPA bounds, scale. */
export function clusterWrites(served: ServedPool): number {
  const gke = served.cloud.gke.requestLog.filter((r) => r.method !== 'GET' && !r.url.startsWith('/__'));
  const kube = served.cloud.kubernetes.requestLog.filter(
    (r) =>
      r.method !== 'GET' &&
      !r.url.includes('dryRun=') &&
      (r.url.includes('fieldManager=inferplane-scaling') || /\/scale(\?|$)/.test(r.url)),
  );
  return gke.length + kube.length;
}
