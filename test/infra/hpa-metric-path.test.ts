/**
 * Follows every External metric of a pool's HPA to what produces it, on the local cloud, with
 * nothing applied by hand: deployModel applies the pool's objects; the queue-time metric's `job`
 * names the pool's PodMonitoring, which selects the Deployment's pods on a port Triton serves its
 * metrics on; Managed Prometheus (the local Monitoring server's scraper) writes the series the
 * HPA's selector matches; and the HPA controller, reading it as the Custom Metrics Stackdriver
 * Adapter would, scales the Deployment. The duty-cycle metric is produced by GKE itself (system
 * metrics, resource `k8s_container`): its selector must name that resource's labels and the
 * Deployment's container.
 */
import path from 'node:path';
import { AppsV1Api, AutoscalingV2Api, CustomObjectsApi, type V2MetricSpec } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { localKubeConfig } from '../../infra/local/kubernetes/client';
import { localMonitoringClients } from '../../infra/local/monitoring/client';
import { localStorageClient } from '../../infra/local/storage/client';
import { generateLoad } from '../../infra/local/triton/load';
import { desiredPool } from '../../shared/cluster/desired';
import { deployModelFunction } from '../../shared/deploy/function';
import { loadPolicy } from '../../shared/policy/load';
import { invoke } from '../../shared/runtime/function';
import { localDeployHarness } from '../support/deploy-harness';

const INCOMING = 'hpa-incoming';
const REPO = 'hpa-repo';
const POOL = 'triton-l4';
const NAMESPACE = 'triton';

interface PodMonitoringJson {
  metadata: { name: string; namespace: string };
  spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path?: string }[] };
}

function externalMetrics(metrics: readonly V2MetricSpec[] | undefined) {
  return (metrics ?? []).flatMap((m) => (m.type === 'External' && m.external ? [m.external.metric] : []));
}

describe('the HPA metric path on the local cloud', () => {
  let cloud: LocalCloud;

  beforeAll(async () => {
    // One Triton instance computing 20 ms per request: 100 requests per second queue up.
    cloud = await startLocalCloud({
      operationPhaseMs: 0,
      repositoryBucket: REPO,
      tritonComputeMs: 20,
      hpaSyncPeriodMs: 3_600_000,
      scrapeIntervalMs: 3_600_000,
    });
    const storage = localStorageClient(cloud.endpoints.storage);
    const { deps } = await localDeployHarness(cloud, { incoming: INCOMING, repository: REPO });
    await storage
      .bucket(INCOMING)
      .upload(path.join(import.meta.dirname, '..', 'fixtures', 'onnx', 'add-dynamic-batch.onnx'), {
        destination: 'add/1/model.onnx',
      });
    const [meta] = await storage.bucket(INCOMING).file('add/1/model.onnx').getMetadata();
    // Delivered until served, as Eventarc redelivers a retryable failure (no ready pod yet).
    for (let attempt = 0; attempt < 5; attempt++) {
      const outcome = await invoke(deployModelFunction, deps, {
        id: `hpa-${attempt}`,
        specversion: '1.0',
        source: `//storage.googleapis.com/projects/_/buckets/${INCOMING}`,
        type: 'google.cloud.storage.object.v1.finalized',
        subject: 'objects/add/1/model.onnx',
        data: meta,
      }).catch(() => undefined);
      if (outcome?.status === 'applied') break;
      await cloud.settled();
    }
  });
  afterAll(async () => {
    await cloud?.close();
  });

  it('the queue-time metric leads to the pool PodMonitoring, its series, and a scale-out', async () => {
    // Prepare: what deployModel applied, read back through the official client
    const kc = localKubeConfig(cloud.kubernetes, { token: LOCAL_ACCESS_TOKEN });
    const hpa = await kc
      .makeApiClient(AutoscalingV2Api)
      .readNamespacedHorizontalPodAutoscaler({ name: POOL, namespace: NAMESPACE });
    const apps = kc.makeApiClient(AppsV1Api);
    const target = await apps.readNamespacedDeployment({
      name: hpa.spec?.scaleTargetRef.name ?? '',
      namespace: NAMESPACE,
    });
    const [metric] = externalMetrics(hpa.spec?.metrics);
    const labels = metric?.selector?.matchLabels ?? {};
    const job = labels['resource.labels.job'] ?? '';
    const podMonitoring = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group: 'monitoring.googleapis.com',
      version: 'v1',
      namespace: labels['resource.labels.namespace'] ?? '',
      plural: 'podmonitorings',
      name: job,
    })) as PodMonitoringJson;
    const podLabels = target.spec?.template.metadata?.labels ?? {};
    const containerPorts = (target.spec?.template.spec?.containers ?? []).flatMap((c) => c.ports ?? []);
    const [, promName, promKind] = (metric?.name ?? '').split('|');

    // Act: a scrape before the load (a counter's first sample is its reset point), the load, a scrape
    const [pod] = cloud.triton.pods(POOL);
    const base = cloud.endpoints.triton.replace('{pool}', POOL).replace('{pod}', pod ?? '');
    const exposition = await (
      await fetch(cloud.triton.metricsUrlTemplate.replace('{pool}', POOL).replace('{pod}', pod ?? ''))
    ).text();
    await cloud.monitoring.scrape();
    const load = await generateLoad({
      url: base,
      model: 'add',
      rps: 100,
      durationMs: 1_500,
      concurrency: 16,
    });
    await cloud.monitoring.scrape();
    const clients = localMonitoringClients(cloud.endpoints.monitoring);
    let series: unknown[];
    try {
      const now = Math.floor(Date.now() / 1000);
      const filter = [
        `metric.type = "${(metric?.name ?? '').replaceAll('|', '/')}"`,
        ...Object.entries(labels).map(([k, v]) => `${k} = "${v}"`),
      ].join(' AND ');
      [series] = await clients.metrics.listTimeSeries({
        name: 'projects/local-project',
        filter,
        interval: { startTime: { seconds: now - 600 }, endTime: { seconds: now + 60 } },
      });
    } finally {
      await clients.close();
    }
    await cloud.hpa.sync();
    const after = await apps.readNamespacedDeployment({ name: POOL, namespace: NAMESPACE });

    // Assess: the metric is Managed Prometheus' name for a counter Triton exposes...
    expect(metric?.name).toMatch(/^prometheus\.googleapis\.com\|/);
    expect(exposition).toContain(`# TYPE ${promName} ${promKind}`);
    // ...selected by this cluster, namespace and the PodMonitoring that selects the target's pods...
    expect(labels['resource.labels.cluster']).toBe('inference');
    expect(podMonitoring.metadata.name).toBe(job);
    expect(Object.entries(podMonitoring.spec.selector.matchLabels).length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(podMonitoring.spec.selector.matchLabels))
      expect(podLabels[k]).toBe(v);
    for (const e of podMonitoring.spec.endpoints) expect(containerPorts.map((p) => p.name)).toContain(e.port);
    // ...its scrape wrote the series the selector matches...
    expect(load.succeeded).toBeGreaterThan(0);
    expect(series.length).toBeGreaterThan(0);
    // ...and the HPA controller scaled the Deployment on it.
    expect(after.spec?.replicas ?? 0).toBeGreaterThan(target.spec?.replicas ?? 1);
  });
});

describe('the HPA duty-cycle metric', () => {
  it('the duty-cycle metric selects GKE system metric labels and the Deployment container', () => {
    // Prepare
    const policy = loadPolicy(
      [
        'apiVersion: inferplane.dev/v1',
        'kind: ControlPlanePolicy',
        'cluster: { project: p, name: inference, namespace: triton, repositoryBucket: r-b, incomingBucket: i-b }',
        'modelDefaults: { autoscaling: { metric: gpu-duty-cycle, target: 85 } }',
        'guardrails: { maxGpusTotal: 8, maxGpusPerPool: 8, maxNodes: 8, maxDollarsPerHour: 100 }',
        '',
      ].join('\n'),
    );

    // Act
    const pool = desiredPool({ policy, gpuClassId: 'l4', models: [policy.modelDefaults], adminKey: 'k' });
    const hpa = pool.objects.find((o) => o.kind === 'HorizontalPodAutoscaler') as unknown as {
      spec: { metrics: V2MetricSpec[] };
    };
    const deployment = pool.objects.find((o) => o.kind === 'Deployment') as unknown as {
      spec: { template: { spec: { containers: { name: string }[] } } };
    };
    const [metric] = externalMetrics(hpa.spec.metrics);

    // Assess: `kubernetes.io/container/accelerator/duty_cycle` on resource k8s_container
    expect(metric?.name).toBe('kubernetes.io|container|accelerator|duty_cycle');
    expect(metric?.selector?.matchLabels).toEqual({
      'resource.labels.cluster_name': 'inference',
      'resource.labels.namespace_name': 'triton',
      'resource.labels.container_name': deployment.spec.template.spec.containers[0]?.name,
    });
    expect(pool.objects.some((o) => o.kind === 'PodMonitoring')).toBe(true);
  });
});
