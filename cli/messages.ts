/**
 * The messages inferctl publishes, as their real producers send them: Cloud Scheduler's command
 * payloads (events/scheduler.ts) and Cloud Monitoring's schema-1.2 incident notifications
 * (events/monitoring.ts, shared/reference/events.md). Pure: tests parse them with the same
 * parsers the functions use.
 */
import { createHash } from 'node:crypto';
import { SCHEDULER_API_VERSION, type SchedulerCommandInput } from '../events/scheduler';

export const DEFAULT_TOPICS = {
  alerts: 'inferplane-alerts',
  ticks: 'inferplane-ticks',
  securityTicks: 'inferplane-security-ticks',
} as const;

export function reconcileSchedulesCommand(at?: string): SchedulerCommandInput & { apiVersion: string } {
  return {
    apiVersion: SCHEDULER_API_VERSION,
    command: 'reconcile-schedules',
    ...(at === undefined ? {} : { at }),
  };
}

export function rotateSecurityCommand(): SchedulerCommandInput & { apiVersion: string } {
  return { apiVersion: SCHEDULER_API_VERSION, command: 'rotate-security' };
}

export interface IncidentInput {
  state: 'open' | 'closed';
  policy: string;
  /** The alert policy's user labels (`policy_user_labels`), which the alert rules match on. */
  labels: Record<string, string>;
  incidentId: string;
  project: string;
  location: string;
  cluster: string;
  namespace: string;
  nowMs: number;
  /** Epoch ms the incident opened (a close keeps its open time); default nowMs. */
  startedAtMs?: number;
}

/** A stable numeric id from text, as the policy and condition ids are numbers in real names. */
function numericId(text: string): string {
  return BigInt(`0x${createHash('sha256').update(text).digest('hex').slice(0, 15)}`).toString();
}

/** A new incident id in Cloud Monitoring's form (`0.` and 12 base-36 characters). */
export function newIncidentId(random: () => number = Math.random): string {
  let id = '';
  for (let i = 0; i < 12; i++) id += Math.floor(random() * 36).toString(36);
  return `0.${id}`;
}

const QUEUE_METRIC = 'prometheus.googleapis.com/nv_inference_queue_duration_us/counter';

/** A schema-1.2 notification of a threshold incident on Triton's queue time. */
export function monitoringIncident(i: IncidentInput): Record<string, unknown> {
  const policyId = numericId(`policy:${i.policy}`);
  const condition = 'queue time above threshold';
  const conditionName = `projects/${i.project}/alertPolicies/${policyId}/conditions/${numericId(`condition:${i.policy}`)}`;
  const startedAt = Math.floor((i.startedAtMs ?? i.nowMs) / 1000);
  const open = i.state === 'open';
  const model = i.labels.model;
  return {
    version: '1.2',
    incident: {
      incident_id: i.incidentId,
      scoping_project_id: i.project,
      scoping_project_number: Number(numericId(`project:${i.project}`).slice(0, 12)),
      url: `https://console.cloud.google.com/monitoring/alerting/incidents/${i.incidentId}?project=${i.project}`,
      started_at: startedAt,
      ended_at: open ? null : Math.floor(i.nowMs / 1000),
      state: i.state,
      summary: open
        ? `Triton queue time${model ? ` of ${model}` : ''} is above the threshold of 50000.000 (sent by inferctl alert).`
        : `Triton queue time${model ? ` of ${model}` : ''} returned to normal (sent by inferctl alert).`,
      apigee_proxy_name: '',
      resource_id: '',
      resource_name: `${i.project} ${i.cluster}`,
      resource_display_name: i.cluster,
      resource_type_display_name: 'Prometheus Target',
      resource: {
        type: 'prometheus_target',
        labels: {
          project_id: i.project,
          location: i.location,
          cluster: i.cluster,
          namespace: i.namespace,
          job: 'triton',
          instance: '',
        },
      },
      metric: {
        type: QUEUE_METRIC,
        displayName: 'Triton queue time',
        labels: model ? { model } : {},
      },
      metadata: { system_labels: {}, user_labels: {} },
      policy_name: i.policy,
      policy_user_labels: i.labels,
      condition_name: condition,
      threshold_value: '50000',
      observed_value: open ? '93000' : '12000',
      condition: {
        name: conditionName,
        displayName: condition,
        conditionThreshold: {
          filter: `metric.type="${QUEUE_METRIC}" resource.type="prometheus_target"`,
          comparison: 'COMPARISON_GT',
          thresholdValue: 50000,
          duration: '60s',
          trigger: { count: 1 },
          aggregations: [{ alignmentPeriod: '60s', perSeriesAligner: 'ALIGN_RATE' }],
        },
      },
      documentation: {
        content: 'Published by inferctl alert.',
        mime_type: 'text/markdown',
        subject: `[${open ? 'ALERT' : 'RESOLVED'}] ${i.policy}`,
      },
      severity: 'Critical',
    },
  };
}

/** `k=v` of `--label`; throws with what to write instead. */
export function parseLabel(raw: string): [string, string] {
  const at = raw.indexOf('=');
  if (at <= 0)
    throw new Error(`--label needs key=value, got ${JSON.stringify(raw)} (e.g. --label action=scale-out)`);
  const key = raw.slice(0, at);
  if (!/^[a-z][a-z0-9_-]{0,62}$/.test(key)) {
    throw new Error(
      `--label key ${JSON.stringify(key)} is not a Cloud Monitoring user label key (lower-case letters, digits, _ and -, starting with a letter)`,
    );
  }
  return [key, raw.slice(at + 1)];
}
