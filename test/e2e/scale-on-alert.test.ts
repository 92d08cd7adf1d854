/**
 * scaleOnAlert end to end, through the production entry (functions/scaleOnAlert/index.ts) served
 * by the real Functions Framework: deliveries are raw Pub/Sub push bodies, which the framework
 * turns into messagePublished CloudEvents. Load on a model served by deployModel queues up in
 * Triton, Managed Prometheus scrapes it, the local Monitoring alert policy opens an incident on its
 * Pub/Sub channel, and capacity follows; when the load is gone the incident closes and the pool
 * returns to its baseline. Bad payloads are acknowledged and change nothing.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { protos } from '@google-cloud/monitoring';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { localMonitoringClients } from '../../infra/local/monitoring/client';
import { generateLoad } from '../../infra/local/triton/load';
import { tritonSelectorLabels } from '../../shared/cluster/triton';
import { targetRecordName } from '../../shared/domain/target';
import { observeTarget } from '../../shared/execute/targets';
import { SERVED_POOL, type ServedPool, servedPool } from '../support/served-pool';

const QUEUE = 'prometheus.googleapis.com/nv_inference_queue_duration_us/counter';
const TOPIC = 'projects/local-project/topics/alerts';
const Prompt = protos.google.monitoring.v3.AlertPolicy.AlertStrategy.NotificationPrompt;

describe('scaleOnAlert through the Functions Framework', () => {
  let served: ServedPool;
  let url = '';
  const server = { close: async () => {} };
  const published: Array<{ topic: string; data: Buffer }> = [];
  let sequence = 0;

  beforeAll(async () => {
    // One Triton instance computing 20 ms per request: 100 requests per second queue up.
    served = await servedPool('e2e-soa', {
      tritonComputeMs: 20,
      hpaSyncPeriodMs: 3_600_000,
      scrapeIntervalMs: 3_600_000,
    });
    served.cloud.monitoring.setPublisher(async (topic, data) => {
      published.push({ topic, data });
    });
    // The production entry reads its configuration from the environment on the first event.
    const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-soa-'));
    const policy = path.join(dir, 'policy.yaml');
    await writeFile(
      policy,
      [
        'apiVersion: inferplane.dev/v1',
        'kind: ControlPlanePolicy',
        'cluster: { project: local-project, name: inference, namespace: triton,',
        `  repositoryBucket: ${served.buckets.repository}, incomingBucket: ${served.buckets.incoming} }`,
        'alertRules:',
        '  - { name: queue, match: { userLabels: { action: scale-out } }, action: scale-out, cooldownSeconds: 0 }',
        'guardrails: { maxGpusTotal: 8, maxGpusPerPool: 8, maxNodes: 8, maxDollarsPerHour: 100 }',
        '',
      ].join('\n'),
    );
    Object.assign(process.env, {
      INFERPLANE_PROJECT: 'local-project',
      INFERPLANE_CLUSTER: 'inference',
      INFERPLANE_REPOSITORY_BUCKET: served.buckets.repository,
      INFERPLANE_POLICY: policy,
      INFERPLANE_STORAGE_ENDPOINT: served.cloud.endpoints.storage,
      INFERPLANE_GKE_ENDPOINT: served.cloud.endpoints.gke,
      INFERPLANE_MONITORING_ENDPOINT: served.cloud.endpoints.monitoring,
      INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
      INFERPLANE_LOG_LEVEL: 'WARNING',
    });
    await import('../../functions/scaleOnAlert/index');
    const http = getTestServer('scaleOnAlert');
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/${TOPIC}`;
    server.close = () => new Promise<void>((resolve) => http.close(() => resolve()));
    // Managed Prometheus scrapes what a PodMonitoring selects (the pool's own).
    await served.ports.kube.apply(
      {
        apiVersion: 'monitoring.googleapis.com/v1',
        kind: 'PodMonitoring',
        metadata: { name: SERVED_POOL, namespace: 'triton' },
        spec: {
          selector: { matchLabels: tritonSelectorLabels({ pool: SERVED_POOL }) },
          endpoints: [{ port: 'metrics', path: '/metrics', interval: '15s' }],
        },
      } as never,
      { fieldManager: 'test', force: true },
    );
  }, 180_000);
  afterAll(async () => {
    await server.close();
    await served?.cloud.close();
  });

  /** What a Pub/Sub push subscription POSTs to its endpoint. */
  async function push(data: Buffer): Promise<number> {
    sequence += 1;
    const id = `${Date.now()}${sequence}`;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        message: {
          data: data.toString('base64'),
          attributes: {},
          messageId: id,
          message_id: id,
          publishTime: new Date().toISOString(),
          publish_time: new Date().toISOString(),
        },
        subscription: 'projects/local-project/subscriptions/alerts-push',
      }),
    });
    return response.status;
  }

  const hpaMax = async () =>
    (
      (await served.ports.kube.get({
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        namespace: 'triton',
        name: SERVED_POOL,
      })) as { spec?: { maxReplicas?: number } }
    ).spec?.maxReplicas;

  it('load opens an incident, capacity follows; the close brings it back', async () => {
    // Prepare: the alert policy on the queue time, notifying its Pub/Sub channel on open and close.
    const before = await hpaMax();
    const poolBefore = (await served.ports.nodePools.get(SERVED_POOL))?.autoscaling?.totalMaxNodeCount;
    const clients = localMonitoringClients(served.cloud.endpoints.monitoring);
    try {
      const [channel] = await clients.notificationChannels.createNotificationChannel({
        name: 'projects/local-project',
        notificationChannel: { type: 'pubsub', labels: { topic: TOPIC } },
      });
      const condition = (thresholdValue: number) => ({
        displayName: 'queueing',
        conditionThreshold: {
          filter: `metric.type = "${QUEUE}" AND resource.type = "prometheus_target"`,
          comparison: 'COMPARISON_GT' as const,
          thresholdValue,
          duration: { seconds: 0 },
          aggregations: [{ alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_RATE' as const }],
        },
      });
      const [alertPolicy] = await clients.alertPolicies.createAlertPolicy({
        name: 'projects/local-project',
        alertPolicy: {
          displayName: 'triton queue time',
          userLabels: { pool: SERVED_POOL, action: 'scale-out' },
          combiner: 'OR',
          conditions: [condition(1)],
          alertStrategy: { notificationPrompts: [Prompt.OPENED, Prompt.CLOSED] },
          notificationChannels: [channel.name ?? ''],
        },
      });
      const [pod] = served.cloud.triton.pods(SERVED_POOL);
      const base = served.cloud.endpoints.triton.replace('{pool}', SERVED_POOL).replace('{pod}', pod ?? '');
      await served.cloud.monitoring.scrape();

      // Act: twice the pod's capacity, then the scrape and the alert evaluation.
      await generateLoad({ url: base, model: 'add', rps: 100, durationMs: 1_500, concurrency: 16 });
      await served.cloud.monitoring.scrape();
      await served.cloud.monitoring.evaluateAlerts();
      const opened = published.at(-1);
      expect(opened?.topic).toBe(TOPIC);
      expect(JSON.parse(opened?.data.toString('utf8') ?? '{}').incident?.state).toBe('open');
      expect(await push(opened?.data ?? Buffer.alloc(0))).toBe(204);

      // Assess: the HPA may go further, and the pool has room for it.
      expect(await hpaMax()).toBe((before ?? 0) + 1);
      expect((await served.ports.nodePools.get(SERVED_POOL))?.autoscaling?.totalMaxNodeCount).toBe(
        Number(poolBefore) + 1,
      );
      const record = (await observeTarget(served.ports, served.location, SERVED_POOL)).record?.record;
      expect(record?.scaleOut?.level).toBe(1);
      expect(record?.incidents).toHaveLength(1);

      // The pressure is gone (here: the threshold is raised above it, as the 60 s rate window
      // would take a real minute to forget the burst): the incident closes, capacity goes back.
      await clients.alertPolicies.updateAlertPolicy({
        alertPolicy: {
          name: alertPolicy.name ?? '',
          // The same condition (by name), so its open incident is the one that closes.
          conditions: [{ ...condition(1e12), name: alertPolicy.conditions?.[0]?.name ?? '' }],
        },
        updateMask: { paths: ['conditions'] },
      });
      await served.cloud.monitoring.evaluateAlerts();
      const closed = published.at(-1);
      expect(JSON.parse(closed?.data.toString('utf8') ?? '{}').incident?.state).toBe('closed');
      expect(await push(closed?.data ?? Buffer.alloc(0))).toBe(204);
      expect(await hpaMax()).toBe(before);
      expect(
        (await observeTarget(served.ports, served.location, SERVED_POOL)).record?.record.scaleOut,
      ).toBeNull();
    } finally {
      await clients.close();
    }
  }, 120_000);

  it.each([
    ['not JSON', Buffer.from('not json')],
    ['an unknown notification version', Buffer.from(JSON.stringify({ version: '3', incident: {} }))],
    ['a test notification', Buffer.from(JSON.stringify({ version: 'test', incident: { state: 'OPEN' } }))],
  ])(
    'acknowledges %s and changes nothing',
    async (_name, data) => {
      const recordRef = {
        bucket: served.location.stateBucket,
        name: targetRecordName(served.location.cluster, SERVED_POOL),
      };
      const before = (await served.ports.store.readText(recordRef))?.info.generation ?? null;
      const max = await hpaMax();
      expect(await push(data)).toBe(204);
      expect((await served.ports.store.readText(recordRef))?.info.generation ?? null).toBe(before);
      expect(await hpaMax()).toBe(max);
    },
    60_000,
  );
});
