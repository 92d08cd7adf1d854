/**
 * Alert policies in the local Cloud Monitoring server: the AlertPolicyService and
 * NotificationChannelService REST surfaces through the official clients, and the evaluator
 * opening and closing incidents against the stored series and publishing schema-1.2
 * notifications to the channel's Pub/Sub topic. Time is a ManualClock and each evaluation is an
 * explicit call, so nothing here waits on wall time.
 */
import { protos } from '@google-cloud/monitoring';
import { PubSub } from '@google-cloud/pubsub';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LocalMonitoringClients, localMonitoringClients } from '../../infra/local/monitoring/client';
import {
  type MonitoringServer,
  pubsubPublisher,
  startMonitoringServer,
} from '../../infra/local/monitoring/index';
import { ManualClock } from '../../shared/runtime/clock';
import { type Emulator, emulatorAbsentReason, startPubSubEmulator } from '../support/pubsub-emulator';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const PROJECT = 'local-project';
const P = `projects/${PROJECT}`;
const TOPIC = `${P}/topics/inferplane-alerts`;
const QUEUE = 'custom.googleapis.com/inferplane/queue_us';
/** Repeated enums are typed as the enum only (names are accepted on the wire). */
const { OPENED, CLOSED } = protos.google.monitoring.v3.AlertPolicy.AlertStrategy.NotificationPrompt;
type Prompt = protos.google.monitoring.v3.AlertPolicy.AlertStrategy.NotificationPrompt;
const CONTAINER = {
  project_id: PROJECT,
  location: 'us-central1',
  cluster_name: 'inference',
  namespace_name: 'triton',
  pod_name: 'triton-0',
  container_name: 'triton',
};

interface Published {
  topic: string;
  message: Record<string, unknown> & { version: string; incident: Record<string, unknown> };
  attributes: Record<string, string>;
}

interface ApiError {
  code?: unknown;
  message?: unknown;
}

async function failure(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (err) {
    return err as ApiError;
  }
  throw new Error('expected the call to fail');
}

describe('local Cloud Monitoring alerting', () => {
  let clock: ManualClock;
  let server: MonitoringServer;
  let clients: LocalMonitoringClients;
  let published: Published[];
  let exposition: string;

  beforeEach(async () => {
    clock = new ManualClock(T0);
    published = [];
    exposition = '';
    server = await startMonitoringServer({
      clock,
      evaluationIntervalMs: 0,
      scrapePollMs: 0,
      projectNumber: 424242,
      targets: () => [
        { namespace: 'triton', job: 'triton', instance: 'triton-0:metrics', fetch: async () => exposition },
      ],
      publish: async (topic, data, attributes) => {
        published.push({ topic, message: JSON.parse(data.toString('utf8')), attributes });
      },
    });
    clients = localMonitoringClients(server.url);
  });

  afterEach(async () => {
    await clients.close();
    await server.close();
  });

  const channel = async (topic = TOPIC) => {
    const [ch] = await clients.notificationChannels.createNotificationChannel({
      name: P,
      notificationChannel: { type: 'pubsub', displayName: 'alerts topic', labels: { topic } },
    });
    return ch.name ?? '';
  };

  const queuePolicy = async (channelName: string, prompts?: Prompt[]) => {
    const [policy] = await clients.alertPolicies.createAlertPolicy({
      name: P,
      alertPolicy: {
        displayName: 'triton-queue-high',
        userLabels: { action: 'scale-out', model: 'resnet50' },
        combiner: 'OR',
        conditions: [
          {
            displayName: 'queue time > 50ms',
            conditionThreshold: {
              filter: `metric.type = "${QUEUE}" AND resource.type = "k8s_container"`,
              comparison: 'COMPARISON_GT',
              thresholdValue: 50_000,
              duration: { seconds: 120 },
              trigger: { count: 1 },
              aggregations: [{ alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_MEAN' }],
            },
          },
        ],
        notificationChannels: [channelName],
        documentation: {
          content: 'Scale the pool out.',
          mimeType: 'text/markdown',
          subject: '[ALERT] queue high',
        },
        severity: 'CRITICAL',
        ...(prompts ? { alertStrategy: { notificationPrompts: prompts } } : {}),
      },
    });
    return policy;
  };

  /** Writes the queue gauge at now and evaluates once. */
  const step = async (value: number) => {
    server.writePoint({
      metricType: QUEUE,
      resourceType: 'k8s_container',
      resourceLabels: CONTAINER,
      metricLabels: { model: 'resnet50' },
      value,
    });
    await server.evaluateAlerts();
  };

  describe('REST surfaces', () => {
    it('creates, gets, lists, patches and deletes a pubsub notification channel', async () => {
      const name = await channel();
      expect(name).toMatch(/^projects\/local-project\/notificationChannels\/\d+$/);
      const [got] = await clients.notificationChannels.getNotificationChannel({ name });
      expect(got).toMatchObject({ type: 'pubsub', displayName: 'alerts topic', labels: { topic: TOPIC } });
      expect(got.enabled?.value ?? got.enabled).toBeTruthy();
      const [patched] = await clients.notificationChannels.updateNotificationChannel({
        notificationChannel: { name, displayName: 'renamed' },
        updateMask: { paths: ['display_name'] },
      });
      expect(patched).toMatchObject({ displayName: 'renamed', labels: { topic: TOPIC } });
      const [all] = await clients.notificationChannels.listNotificationChannels({ name: P });
      expect(all.map((c) => c.name)).toEqual([name]);
      await clients.notificationChannels.deleteNotificationChannel({ name });
      const gone = await failure(clients.notificationChannels.getNotificationChannel({ name }));
      expect(gone.code).toBe(5);
    });

    it('refuses a pubsub channel without a topic', async () => {
      const err = await failure(
        clients.notificationChannels.createNotificationChannel({
          name: P,
          notificationChannel: { type: 'pubsub', labels: {} },
        }),
      );
      expect(err.code).toBe(3);
      expect(String(err.message)).toContain('labels.topic');
    });

    it('creates, gets, lists, patches (with an update mask) and deletes an alert policy', async () => {
      const ch = await channel();
      const created = await queuePolicy(ch, [OPENED, CLOSED]);
      expect(created.name).toMatch(/^projects\/local-project\/alertPolicies\/\d+$/);
      expect(created.conditions?.[0]?.name).toMatch(new RegExp(`^${created.name}/conditions/\\d+$`));
      expect(created.conditions?.[0]?.conditionThreshold).toMatchObject({
        comparison: 'COMPARISON_GT',
        thresholdValue: 50_000,
        aggregations: [{ perSeriesAligner: 'ALIGN_MEAN' }],
      });
      expect(created.alertStrategy?.notificationPrompts).toEqual(['OPENED', 'CLOSED']);
      expect(created.combiner).toBe('OR');
      expect(created.severity).toBe('CRITICAL');

      const [patched] = await clients.alertPolicies.updateAlertPolicy({
        alertPolicy: { name: created.name, displayName: 'renamed' },
        updateMask: { paths: ['display_name'] },
      });
      expect(patched.displayName).toBe('renamed');
      expect(patched.conditions?.[0]?.name).toBe(created.conditions?.[0]?.name);
      expect(patched.userLabels).toEqual({ action: 'scale-out', model: 'resnet50' });

      const [listed] = await clients.alertPolicies.listAlertPolicies({ name: P });
      expect(listed.map((p) => p.name)).toEqual([created.name]);
      // A channel in use by a policy is not deleted without force.
      const inUse = await failure(clients.notificationChannels.deleteNotificationChannel({ name: ch }));
      expect(inUse.code).toBe(3);
      await clients.alertPolicies.deleteAlertPolicy({ name: created.name ?? '' });
      const gone = await failure(clients.alertPolicies.getAlertPolicy({ name: created.name ?? '' }));
      expect(gone.code).toBe(5);
    });

    const invalid: [string, Record<string, unknown>, string][] = [
      ['no condition', { displayName: 'x', conditions: [] }, 'at least one condition'],
      [
        'an unknown notification channel',
        {
          displayName: 'x',
          conditions: [
            {
              displayName: 'c',
              conditionThreshold: { filter: `metric.type = "${QUEUE}"`, comparison: 'COMPARISON_GT' },
            },
          ],
          notificationChannels: [`${P}/notificationChannels/404`],
        },
        'notification_channels[0]',
      ],
      [
        'a threshold without comparison',
        {
          displayName: 'x',
          conditions: [{ displayName: 'c', conditionThreshold: { filter: `metric.type = "${QUEUE}"` } }],
        },
        'comparison',
      ],
      [
        'a bad regular expression in a PromQL matcher',
        {
          displayName: 'x',
          conditions: [{ displayName: 'c', conditionPrometheusQueryLanguage: { query: 'up{job=~"("} > 0' } }],
        },
        'bad regular expression',
      ],
      [
        'a bad PromQL query',
        {
          displayName: 'x',
          conditions: [{ displayName: 'c', conditionPrometheusQueryLanguage: { query: 'rate(x[1m]' } }],
        },
        'Invalid PromQL query',
      ],
      [
        'two conditions without a combiner',
        {
          displayName: 'x',
          conditions: [
            { displayName: 'a', conditionPrometheusQueryLanguage: { query: 'up > 0' } },
            { displayName: 'b', conditionPrometheusQueryLanguage: { query: 'up > 1' } },
          ],
        },
        'combiner',
      ],
    ];
    it.each(invalid)('refuses a policy with %s', async (_name, alertPolicy, wording) => {
      const err = await failure(clients.alertPolicies.createAlertPolicy({ name: P, alertPolicy }));
      expect(err.code).toBe(3);
      expect(String(err.message)).toContain(wording);
    });
  });

  describe('threshold conditions', () => {
    it('opens an incident once the condition has held for its duration and publishes schema 1.2', async () => {
      const ch = await channel();
      const policy = await queuePolicy(ch);
      await step(93_000); // T0: violating since now
      clock.advance(60_000);
      await step(93_000);
      expect(server.incidents()).toHaveLength(0);
      expect(published).toHaveLength(0);
      clock.advance(60_000); // held for 120 s
      await step(93_000);
      expect(published).toHaveLength(1);
      const [n] = published;
      expect(n?.topic).toBe(TOPIC);
      expect(n?.attributes).toEqual({});
      const incident = n?.message.incident ?? {};
      expect(n?.message.version).toBe('1.2');
      expect(Object.keys(n?.message ?? {}).sort()).toEqual(['incident', 'version']);
      const id = String(incident.incident_id);
      expect(id).toMatch(/^0\.[0-9a-z]+$/);
      expect(incident).toEqual({
        incident_id: id,
        scoping_project_id: PROJECT,
        scoping_project_number: 424242,
        url: `https://console.cloud.google.com/monitoring/alerting/incidents/${id}?project=${PROJECT}`,
        started_at: (T0 + 120_000) / 1000,
        ended_at: null,
        state: 'open',
        summary: `${QUEUE} for triton-0 with metric labels {model=resnet50} is above the threshold of 50000.000 with a value of 93000.000.`,
        apigee_url: '',
        observed_value: '93000',
        resource_id: '',
        resource_name: `${PROJECT} triton-0`,
        resource_display_name: 'triton-0',
        resource_type_display_name: 'Kubernetes Container',
        resource: { type: 'k8s_container', labels: CONTAINER },
        metric: { type: QUEUE, displayName: QUEUE, labels: { model: 'resnet50' } },
        metadata: { system_labels: {}, user_labels: {} },
        policy_name: 'triton-queue-high',
        policy_user_labels: { action: 'scale-out', model: 'resnet50' },
        condition_name: 'queue time > 50ms',
        threshold_value: '50000',
        condition: {
          name: policy.conditions?.[0]?.name,
          displayName: 'queue time > 50ms',
          conditionThreshold: {
            filter: `metric.type = "${QUEUE}" AND resource.type = "k8s_container"`,
            comparison: 'COMPARISON_GT',
            thresholdValue: 50_000,
            duration: '120s',
            trigger: { count: 1 },
            aggregations: [{ alignmentPeriod: '60s', perSeriesAligner: 'ALIGN_MEAN' }],
          },
        },
        documentation: {
          content: 'Scale the pool out.',
          mime_type: 'text/markdown',
          subject: '[ALERT] queue high',
        },
        severity: 'Critical',
      });
      // Still violating: the open incident is not announced again.
      clock.advance(30_000);
      await step(95_000);
      expect(published).toHaveLength(1);
    });

    it('closes the incident when the value returns to normal, notifying only when CLOSED is a prompt', async () => {
      for (const prompts of [undefined, [OPENED, CLOSED]]) {
        published = [];
        const policy = await queuePolicy(await channel(), prompts);
        for (let i = 0; i <= 2; i++) {
          await step(93_000);
          clock.advance(60_000);
        }
        expect(published.map((p) => p.message.incident.state)).toEqual(['open']);
        // The 60 s mean falls below the threshold.
        await step(1_000);
        const closed = server.incidents().filter((i) => i.policyName === policy.name);
        expect(closed.map((i) => i.state)).toEqual(['closed']);
        if (!prompts) {
          expect(published).toHaveLength(1);
        } else {
          expect(published).toHaveLength(2);
          const close = published[1]?.message.incident ?? {};
          expect(close.state).toBe('closed');
          expect(close.incident_id).toBe(published[0]?.message.incident.incident_id);
          expect(close.ended_at).toBe(clock.nowMs() / 1000);
          expect(close.started_at).toBe(published[0]?.message.incident.started_at);
          expect(String(close.summary)).toContain('returned to normal with a value of 1000.000');
        }
        await clients.alertPolicies.deleteAlertPolicy({ name: policy.name ?? '' });
        clock.advance(60_000);
      }
    });

    it('does not open an incident for a violation shorter than the duration', async () => {
      await queuePolicy(await channel());
      await step(93_000);
      clock.advance(60_000);
      await step(93_000);
      clock.advance(60_000);
      await step(1_000); // the 60 s mean drops below: the streak ends
      clock.advance(60_000);
      await step(93_000);
      clock.advance(60_000);
      await step(93_000);
      expect(server.incidents()).toEqual([]);
      expect(published).toEqual([]);
    });

    it('closes an incident whose data stopped by alertStrategy.autoClose', async () => {
      const ch = await channel();
      const [policy] = await clients.alertPolicies.createAlertPolicy({
        name: P,
        alertPolicy: {
          displayName: 'autoclose',
          conditions: [
            {
              displayName: 'queue',
              conditionThreshold: {
                filter: `metric.type = "${QUEUE}"`,
                comparison: 'COMPARISON_GT',
                thresholdValue: 10,
                duration: { seconds: 0 },
              },
            },
          ],
          notificationChannels: [ch],
          alertStrategy: { autoClose: { seconds: 1800 }, notificationPrompts: [OPENED, CLOSED] },
        },
      });
      await step(93_000);
      expect(server.incidents().map((i) => i.state)).toEqual(['open']);
      // No more data: without evaluationMissingData the incident stays open...
      clock.advance(1_000_000);
      await server.evaluateAlerts();
      expect(server.incidents().map((i) => i.state)).toEqual(['open']);
      // ...until autoClose has passed since the last data.
      clock.advance(800_000);
      await server.evaluateAlerts();
      expect(server.incidents().map((i) => [i.policyName, i.state])).toEqual([[policy.name, 'closed']]);
      expect(published.map((p) => p.message.incident.state)).toEqual(['open', 'closed']);
    });

    const missing: [string, string, ('open' | 'closed')[]][] = [
      ['INACTIVE closes the incident when the data stops', 'EVALUATION_MISSING_DATA_INACTIVE', ['closed']],
      ['ACTIVE keeps it open while no data arrives', 'EVALUATION_MISSING_DATA_ACTIVE', ['open']],
      ['NO_OP leaves it as it was', 'EVALUATION_MISSING_DATA_NO_OP', ['open']],
    ];
    it.each(missing)('evaluationMissingData %s', async (_name, mode, states) => {
      await clients.alertPolicies.createAlertPolicy({
        name: P,
        alertPolicy: {
          displayName: 'missing data',
          conditions: [
            {
              displayName: 'queue',
              conditionThreshold: {
                filter: `metric.type = "${QUEUE}"`,
                comparison: 'COMPARISON_GT',
                thresholdValue: 10,
                duration: { seconds: 0 },
                aggregations: [{ alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_MAX' }],
                evaluationMissingData: mode as 'EVALUATION_MISSING_DATA_INACTIVE',
              },
            },
          ],
          notificationChannels: [await channel()],
        },
      });
      await step(93_000);
      expect(server.incidents().map((i) => i.state)).toEqual(['open']);
      clock.advance(120_000); // the last point has left the 60 s window
      await server.evaluateAlerts();
      expect(server.incidents().map((i) => i.state)).toEqual(states);
    });

    it('reports a condition that fails at evaluation and keeps evaluating the other policies', async () => {
      const ch = await channel();
      const [broken] = await clients.alertPolicies.createAlertPolicy({
        name: P,
        alertPolicy: {
          displayName: 'rate of a gauge',
          conditions: [
            {
              displayName: 'rate',
              conditionThreshold: {
                filter: `metric.type = "${QUEUE}"`,
                comparison: 'COMPARISON_GT',
                thresholdValue: 1,
                duration: { seconds: 0 },
                aggregations: [{ alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_RATE' }],
              },
            },
          ],
          notificationChannels: [ch],
        },
      });
      await queuePolicy(ch);
      for (let i = 0; i <= 2; i++) {
        await step(93_000);
        clock.advance(60_000);
      }
      expect(server.alerts.conditionErrors.get(broken.conditions?.[0]?.name ?? '')).toContain(
        'The aligner cannot be applied to metrics with kind GAUGE and value type DOUBLE.',
      );
      expect(published.map((p) => p.message.incident.policy_name)).toEqual(['triton-queue-high']);
    });

    it('with combiner AND opens only while every condition holds', async () => {
      const other = 'custom.googleapis.com/inferplane/gpu_util';
      const cond = (displayName: string, type: string, thresholdValue: number) => ({
        displayName,
        conditionThreshold: {
          filter: `metric.type = "${type}"`,
          comparison: 'COMPARISON_GT' as const,
          thresholdValue,
          duration: { seconds: 0 },
        },
      });
      await clients.alertPolicies.createAlertPolicy({
        name: P,
        alertPolicy: {
          displayName: 'queue and gpu',
          combiner: 'AND',
          conditions: [cond('queue', QUEUE, 10), cond('gpu', other, 0.8)],
          notificationChannels: [await channel()],
        },
      });
      server.writePoint({ metricType: other, value: 0.5 });
      await step(93_000); // queue high, GPU not busy
      expect(published).toHaveLength(0);
      clock.advance(30_000);
      server.writePoint({ metricType: other, value: 0.95 });
      await step(93_000);
      expect(published.map((p) => p.message.incident.condition_name).sort()).toEqual(['gpu', 'queue']);
    });

    it('renotifies an open incident every renotifyInterval', async () => {
      const ch = await channel();
      await clients.alertPolicies.createAlertPolicy({
        name: P,
        alertPolicy: {
          displayName: 'renotify',
          conditions: [
            {
              displayName: 'queue',
              conditionThreshold: {
                filter: `metric.type = "${QUEUE}"`,
                comparison: 'COMPARISON_GT',
                thresholdValue: 10,
                duration: { seconds: 0 },
              },
            },
          ],
          notificationChannels: [ch],
          alertStrategy: {
            notificationChannelStrategy: [
              { notificationChannelNames: [ch], renotifyInterval: { seconds: 1800 } },
            ],
          },
        },
      });
      await step(93_000);
      clock.advance(1_000_000);
      await step(93_000);
      expect(published).toHaveLength(1);
      clock.advance(800_000);
      await step(93_000);
      expect(published.map((p) => p.message.incident.state)).toEqual(['open', 'open']);
      expect(published[1]?.message.incident.incident_id).toBe(published[0]?.message.incident.incident_id);
    });

    it('evaluates a ratio of two filters (denominatorFilter) per matching series', async () => {
      const errors = 'custom.googleapis.com/inferplane/errors';
      const requests = 'custom.googleapis.com/inferplane/requests';
      await clients.alertPolicies.createAlertPolicy({
        name: P,
        alertPolicy: {
          displayName: 'error ratio',
          conditions: [
            {
              displayName: 'errors / requests > 10%',
              conditionThreshold: {
                filter: `metric.type = "${errors}"`,
                denominatorFilter: `metric.type = "${requests}"`,
                aggregations: [{ alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_RATE' }],
                denominatorAggregations: [
                  { alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_RATE' },
                ],
                comparison: 'COMPARISON_GT',
                thresholdValue: 0.1,
                duration: { seconds: 0 },
              },
            },
          ],
          notificationChannels: [await channel()],
        },
      });
      const write = (pod: string, errorCount: number, requestCount: number) => {
        const base = {
          resourceType: 'k8s_pod',
          resourceLabels: { pod_name: pod },
          metricKind: 'CUMULATIVE' as const,
          startMs: T0 - 1000,
        };
        server.writePoint({ ...base, metricType: errors, value: errorCount });
        server.writePoint({ ...base, metricType: requests, value: requestCount });
      };
      write('a', 0, 0);
      write('b', 0, 0);
      clock.advance(30_000);
      write('a', 30, 100); // 30% errors
      write('b', 5, 100); // 5% errors
      await server.evaluateAlerts();
      expect(published).toHaveLength(1);
      const incident = published[0]?.message.incident ?? {};
      expect(incident.resource).toEqual({ type: 'k8s_pod', labels: { pod_name: 'a' } });
      expect(incident.observed_value).toBe('0.3');
      expect(incident.threshold_value).toBe('0.1');
    });

    it('opens only when trigger.percent of the series violate', async () => {
      await clients.alertPolicies.createAlertPolicy({
        name: P,
        alertPolicy: {
          displayName: 'all pods',
          conditions: [
            {
              displayName: 'every pod busy',
              conditionThreshold: {
                filter: `metric.type = "${QUEUE}"`,
                comparison: 'COMPARISON_GE',
                thresholdValue: 10,
                duration: { seconds: 0 },
                trigger: { percent: 100 },
              },
            },
          ],
          notificationChannels: [await channel()],
        },
      });
      const write = (pod: string, value: number) =>
        server.writePoint({
          metricType: QUEUE,
          resourceType: 'k8s_container',
          resourceLabels: { ...CONTAINER, pod_name: pod },
          value,
        });
      write('p0', 20);
      write('p1', 5);
      await server.evaluateAlerts();
      expect(published).toHaveLength(0);
      clock.advance(30_000);
      write('p0', 20);
      write('p1', 10);
      await server.evaluateAlerts();
      expect(
        published
          .map((p) => (p.message.incident.resource as { labels: { pod_name: string } }).labels.pod_name)
          .sort(),
      ).toEqual(['p0', 'p1']);
    });
  });

  describe('PromQL conditions', () => {
    const QUERY =
      'sum by (model) (rate(nv_inference_queue_duration_us{namespace="triton"}[1m])) / sum by (model) (clamp_min(rate(nv_inference_compute_infer_duration_us[1m]), 1)) > 0.5';
    const expose = (queueUs: number, computeUs: number) => {
      exposition = [
        '# TYPE nv_inference_queue_duration_us counter',
        `nv_inference_queue_duration_us{model="resnet",version="1"} ${queueUs}`,
        '# TYPE nv_inference_compute_infer_duration_us counter',
        `nv_inference_compute_infer_duration_us{model="resnet",version="1"} ${computeUs}`,
        '',
      ].join('\n');
    };

    it('opens on the queue/compute ratio after the duration and closes when it drops', async () => {
      const [policy] = await clients.alertPolicies.createAlertPolicy({
        name: P,
        alertPolicy: {
          displayName: 'triton queue ratio',
          userLabels: { action: 'scale-out' },
          conditions: [
            {
              displayName: 'queue/compute > 0.5',
              conditionPrometheusQueryLanguage: {
                query: QUERY,
                duration: { seconds: 60 },
                evaluationInterval: { seconds: 30 },
              },
            },
          ],
          notificationChannels: [await channel()],
          alertStrategy: { notificationPrompts: [OPENED, CLOSED] },
        },
      });
      expect(policy.conditions?.[0]?.conditionPrometheusQueryLanguage?.query).toBe(QUERY);
      // Every 30 s: queue time grows 30 ms, compute time 20 ms -> ratio 1.5.
      let queue = 0;
      let compute = 0;
      const tick = async (dq: number, dc: number) => {
        queue += dq;
        compute += dc;
        expose(queue, compute);
        await server.scrape();
        await server.evaluateAlerts();
        clock.advance(30_000);
      };
      await tick(0, 0); // T0: reset point
      await tick(30_000, 20_000); // T0+30: one point, no rate yet
      await tick(30_000, 20_000); // T0+60: ratio 1.5, violating since now
      expect(published).toHaveLength(0);
      await tick(30_000, 20_000); // T0+90: held 30 s
      expect(published).toHaveLength(0);
      await tick(30_000, 20_000); // T0+120: held 60 s -> open
      expect(published).toHaveLength(1);
      const open = published[0]?.message.incident ?? {};
      expect(open).toMatchObject({
        state: 'open',
        started_at: (T0 + 120_000) / 1000,
        ended_at: null,
        policy_name: 'triton queue ratio',
        policy_user_labels: { action: 'scale-out' },
        condition_name: 'queue/compute > 0.5',
        observed_value: '1.5',
        threshold_value: '0.5',
        metric: { labels: { model: 'resnet' } },
        condition: {
          name: policy.conditions?.[0]?.name,
          displayName: 'queue/compute > 0.5',
          conditionPrometheusQueryLanguage: { query: QUERY, duration: '60s', evaluationInterval: '30s' },
        },
        severity: 'No severity',
      });
      // The queue drains: over the last minute (T0+90, T0+150] the ratio is 5/20 = 0.25.
      await tick(5_000, 20_000);
      expect(published.map((p) => p.message.incident.state)).toEqual(['open', 'closed']);
      expect(published[1]?.message.incident.ended_at).toBe((T0 + 150_000) / 1000);
      expect(published[1]?.message.incident.incident_id).toBe(open.incident_id);
    });

    it('honours evaluationInterval: a PromQL condition is not evaluated more often', async () => {
      await clients.alertPolicies.createAlertPolicy({
        name: P,
        alertPolicy: {
          displayName: 'slow',
          conditions: [
            {
              displayName: 'any queue',
              conditionPrometheusQueryLanguage: {
                query: 'sum(rate(nv_inference_queue_duration_us[5m])) > 0',
                duration: { seconds: 0 },
                evaluationInterval: { seconds: 300 },
              },
            },
          ],
          notificationChannels: [await channel()],
        },
      });
      expose(0, 0);
      await server.scrape();
      await server.evaluateAlerts(); // evaluated: nothing yet
      for (let i = 1; i <= 3; i++) {
        clock.advance(30_000);
        expose(i * 1000, 0);
        await server.scrape();
        await server.evaluateAlerts(); // within 300 s of the last evaluation: skipped
      }
      expect(published).toHaveLength(0);
      clock.advance(300_000 - 90_000);
      await server.evaluateAlerts();
      expect(published).toHaveLength(1);
    });
  });
});

describe('publishing incidents to the Pub/Sub emulator', () => {
  const absent = emulatorAbsentReason();
  let emulator: Emulator | undefined;

  beforeAll(async () => {
    if (absent) {
      console.warn(absent);
      return;
    }
    emulator = await startPubSubEmulator();
  }, 180_000);

  afterAll(async () => {
    await emulator?.stop();
  });

  it.skipIf(absent !== undefined)(
    'pubsubPublisher delivers the notification to the channel topic',
    async () => {
      const host = emulator?.host ?? '';
      const pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: host, emulatorMode: true });
      const [topic] = await pubsub.createTopic(`alerts-${Date.now()}`);
      const [subscription] = await topic.createSubscription(`alerts-sub-${Date.now()}`);
      const publisher = pubsubPublisher({ projectId: PROJECT, emulatorHost: host });
      const clock = new ManualClock(T0);
      const server = await startMonitoringServer({
        clock,
        evaluationIntervalMs: 0,
        publish: publisher.publish,
      });
      const clients = localMonitoringClients(server.url);
      try {
        const [ch] = await clients.notificationChannels.createNotificationChannel({
          name: P,
          notificationChannel: { type: 'pubsub', labels: { topic: topic.name } },
        });
        await clients.alertPolicies.createAlertPolicy({
          name: P,
          alertPolicy: {
            displayName: 'queue',
            conditions: [
              {
                displayName: 'queue > 10',
                conditionThreshold: {
                  filter: `metric.type = "${QUEUE}"`,
                  comparison: 'COMPARISON_GT',
                  thresholdValue: 10,
                  duration: { seconds: 0 },
                },
              },
            ],
            notificationChannels: [ch.name ?? ''],
          },
        });
        const received = new Promise<Record<string, unknown>>((resolve) => {
          subscription.on('message', (m: { data: Buffer; ack(): void }) => {
            m.ack();
            resolve(JSON.parse(m.data.toString('utf8')));
          });
        });
        server.writePoint({ metricType: QUEUE, value: 99 });
        await server.evaluateAlerts();
        expect(server.notifications().map((n) => [n.topic, n.delivered])).toEqual([[topic.name, true]]);
        const message = await received;
        expect(message.version).toBe('1.2');
        expect((message.incident as Record<string, unknown>).state).toBe('open');
        expect((message.incident as Record<string, unknown>).observed_value).toBe('99');
      } finally {
        await subscription.close();
        await clients.close();
        await server.close();
        await publisher.close();
        await pubsub.close();
      }
    },
  );
});
