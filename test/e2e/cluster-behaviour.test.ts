/**
 * The local cloud behaves like a cluster between the API calls, as one wired whole: a model
 * deployed by deployModel serves inference on its pod; load on it moves Triton's metrics; the
 * PodMonitoring the pool gets is scraped into Managed Prometheus series; the HPA controller reads
 * them as an External metric and wants more replicas; and an alert policy on them opens a
 * schema-1.2 incident on its Pub/Sub channel. Everything is driven through the official clients,
 * except the two ticks (scrape, evaluate) that the servers otherwise run on timers.
 */

import path from 'node:path';
import { AutoscalingV2Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { localKubeConfig } from '../../infra/local/kubernetes/client';
import { localMonitoringClients } from '../../infra/local/monitoring/client';
import { localStorageClient } from '../../infra/local/storage/client';
import { generateLoad } from '../../infra/local/triton/load';
import { createKubeObjects } from '../../shared/adapters/kubernetes';
import { tritonSelectorLabels } from '../../shared/cluster/triton';
import { deployModelFunction } from '../../shared/deploy/function';
import { invoke } from '../../shared/runtime/function';
import { localDeployHarness } from '../support/deploy-harness';

const INCOMING = 'cb-incoming';
const REPO = 'cb-repo';
const POOL = 'triton-l4';
const QUEUE = 'prometheus.googleapis.com/nv_inference_queue_duration_us/counter';

describe('the local cloud as a cluster: load, metrics, HPA, alert', () => {
  let cloud: LocalCloud;
  const published: Array<{ topic: string; data: Buffer }> = [];

  beforeAll(async () => {
    // One Triton instance computing 20 ms per request: 100 requests per second queue up.
    cloud = await startLocalCloud({
      operationPhaseMs: 0,
      repositoryBucket: REPO,
      tritonComputeMs: 20,
      hpaSyncPeriodMs: 3_600_000,
      scrapeIntervalMs: 3_600_000,
    });
    cloud.monitoring.setPublisher(async (topic, data) => {
      published.push({ topic, data });
    });
    const storage = localStorageClient(cloud.endpoints.storage);
    const { deps } = await localDeployHarness(cloud, { incoming: INCOMING, repository: REPO });
    await storage
      .bucket(INCOMING)
      .upload(path.join(import.meta.dirname, '..', 'fixtures', 'onnx', 'add-dynamic-batch.onnx'), {
        destination: 'add/1/model.onnx',
      });
    const [meta] = await storage.bucket(INCOMING).file('add/1/model.onnx').getMetadata();
    // Delivered until served, as Eventarc redelivers a retryable failure.
    for (let attempt = 0; attempt < 5; attempt++) {
      const outcome = await invoke(deployModelFunction, deps, {
        id: `cb-${attempt}`,
        specversion: '1.0',
        source: `//storage.googleapis.com/projects/_/buckets/${INCOMING}`,
        type: 'google.cloud.storage.object.v1.finalized',
        subject: 'objects/add/1/model.onnx',
        data: meta,
      }).catch(() => undefined);
      if (outcome?.status === 'applied') break;
      await cloud.settled();
    }
    // Managed Prometheus scrapes what a PodMonitoring selects (the pool's own, as the builder makes it).
    await createKubeObjects(localKubeConfig(cloud.kubernetes, { token: LOCAL_ACCESS_TOKEN })).apply(
      {
        apiVersion: 'monitoring.googleapis.com/v1',
        kind: 'PodMonitoring',
        metadata: { name: POOL, namespace: 'triton' },
        spec: {
          selector: { matchLabels: tritonSelectorLabels({ pool: POOL }) },
          endpoints: [{ port: 'metrics', path: '/metrics', interval: '15s' }],
        },
      } as never,
      { fieldManager: 'test', force: true },
    );
  });
  afterAll(async () => {
    await cloud?.close();
  });

  it('load moves the metrics, the HPA wants more replicas, and an incident opens', async () => {
    // Prepare: a scrape before the load (a counter's first sample is its reset point)
    const [pod] = cloud.triton.pods(POOL);
    expect(pod).toBeDefined();
    const base = cloud.endpoints.triton.replace('{pool}', POOL).replace('{pod}', pod ?? '');
    await cloud.monitoring.scrape();
    const clients = localMonitoringClients(cloud.endpoints.monitoring);

    // Act: twice the pod's capacity for a second and a half, then the ticks
    const load = await generateLoad({
      url: base,
      model: 'add',
      rps: 100,
      durationMs: 1_500,
      concurrency: 16,
    });
    await cloud.monitoring.scrape();
    try {
      const now = Math.floor(Date.now() / 1000);
      const [series] = await clients.metrics.listTimeSeries({
        name: 'projects/local-project',
        filter: `metric.type = "${QUEUE}" AND metric.labels.model = "add"`,
        interval: { startTime: { seconds: now - 600 }, endTime: { seconds: now + 60 } },
        aggregation: { alignmentPeriod: { seconds: 600 }, perSeriesAligner: 'ALIGN_DELTA' },
      });
      const [channel] = await clients.notificationChannels.createNotificationChannel({
        name: 'projects/local-project',
        notificationChannel: { type: 'pubsub', labels: { topic: 'projects/local-project/topics/alerts' } },
      });
      await clients.alertPolicies.createAlertPolicy({
        name: 'projects/local-project',
        alertPolicy: {
          displayName: 'triton queue time',
          userLabels: { pool: POOL, action: 'scale-out' },
          combiner: 'OR',
          conditions: [
            {
              displayName: 'queueing',
              conditionThreshold: {
                filter: `metric.type = "${QUEUE}" AND resource.type = "prometheus_target"`,
                comparison: 'COMPARISON_GT',
                thresholdValue: 1,
                duration: { seconds: 0 },
                aggregations: [{ alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_RATE' }],
              },
            },
          ],
          notificationChannels: [channel.name ?? ''],
        },
      });
      await cloud.monitoring.evaluateAlerts();
      await cloud.hpa.sync();
      const hpa = await localKubeConfig(cloud.kubernetes, { token: LOCAL_ACCESS_TOKEN })
        .makeApiClient(AutoscalingV2Api)
        .readNamespacedHorizontalPodAutoscaler({ name: POOL, namespace: 'triton' });

      // Assess: Triton counted real queueing...
      expect(load.succeeded).toBeGreaterThan(0);
      const queued = Number(
        series[0]?.points?.[0]?.value?.int64Value ?? series[0]?.points?.[0]?.value?.doubleValue ?? 0,
      );
      expect(queued).toBeGreaterThan(0);
      // ...the HPA read it through the External metric and wants more than the one replica...
      expect(hpa.status?.currentMetrics?.[0]?.external?.current?.averageValue).toBeDefined();
      expect(hpa.status?.desiredReplicas ?? 0).toBeGreaterThan(1);
      // ...and the alert policy opened an incident on its channel, in the schema-1.2 shape.
      const notification = JSON.parse(published.at(-1)?.data.toString('utf8') ?? '{}') as {
        version?: string;
        incident?: {
          state?: string;
          policy_user_labels?: Record<string, string>;
          condition?: { name?: string };
        };
      };
      expect(published.at(-1)?.topic).toBe('projects/local-project/topics/alerts');
      expect(notification.version).toBe('1.2');
      expect(notification.incident?.state).toBe('open');
      expect(notification.incident?.policy_user_labels).toEqual({ pool: POOL, action: 'scale-out' });
      expect(notification.incident?.condition?.name).toMatch(
        /^projects\/local-project\/alertPolicies\/.+\/conditions\/.+$/,
      );
    } finally {
      await clients.close();
    }
  });
});
