/**
 * What the scaling functions (scaleOnAlert, applySchedules) share, built once per instance: the
 * cluster's ports, the one executor with every runner a target plan needs, and where targets'
 * records live. Each function's deps extend this.
 */
import { clusterTargetOf, lazyCluster } from '../deploy/deps';
import { PlanExecutor } from '../execute/executor';
import { KubeApplier, KubeRunner } from '../execute/kube-applier';
import { NodePoolExecutor, NodePoolRunner } from '../execute/nodepool-executor';
import { StorageRunner } from '../execute/storage-runner';
import type { TargetLocation, TargetPorts } from '../execute/targets';
import { WorkloadRunner } from '../execute/workload-runner';
import type { Metrics } from '../ports/metrics';
import type { Config } from '../runtime/config';
import { lazy, lazyPort, type PortMethods } from '../wiring/lazy';
import { buildSharedDeps, type SharedDeps } from '../wiring/shared-deps';

export interface ScalingDeps extends SharedDeps {
  ports: TargetPorts;
  /** Cloud Monitoring: metric reads (confirm before scale-in) and custom metric writes (savings). */
  metrics: Metrics;
  location: TargetLocation;
  executor: PlanExecutor;
}

const METRICS_METHODS: PortMethods<Metrics> = { readSeries: true, writePoints: true };

/**
 * Cloud Monitoring, loaded by its first read or write: the adapter imports google-auth-library
 * (about 0.4 MiB with gcp-metadata, bignumber.js and jws), which an event that reads no metric
 * (a test notification, a tick with nothing to confirm) must not evaluate at cold start.
 */
export function lazyMetrics(config: Config): Metrics {
  const metrics = lazy(async () =>
    (await import('../adapters/monitoring')).createMonitoringMetrics({
      project: config.project,
      endpoint: config.endpoints.monitoring,
      accessToken: config.accessToken,
    }),
  );
  return lazyPort(metrics, METRICS_METHODS, {});
}

/** The executor for target plans: node pools, Kubernetes objects, workload scale, records. */
export function scalingExecutor(
  deps: Pick<SharedDeps, 'log' | 'clock' | 'objects'> & { ports: TargetPorts },
  operationDeadlineMs: number,
): PlanExecutor {
  const { nodePools, kube } = deps.ports;
  return new PlanExecutor(
    [
      new NodePoolRunner(
        new NodePoolExecutor({
          nodePools,
          log: deps.log,
          clock: deps.clock,
          deadlineMs: operationDeadlineMs,
        }),
      ),
      new KubeRunner(new KubeApplier({ objects: kube, clock: deps.clock, logger: deps.log })),
      new WorkloadRunner(kube, deps.log),
      new StorageRunner(deps.objects),
    ],
    deps.log,
  );
}

export async function buildScalingDeps(config: Config): Promise<ScalingDeps> {
  // The cluster's clients load on the first call a plan makes (shared/wiring/lazy.ts).
  const cluster = lazyCluster(clusterTargetOf(config));
  const shared = await buildSharedDeps(config);
  const ports: TargetPorts = {
    kube: cluster.kubeObjects,
    nodePools: cluster.nodePools,
    store: shared.objects,
  };
  return {
    ...shared,
    ports,
    metrics: lazyMetrics(config),
    location: {
      cluster: config.cluster,
      namespace: config.namespace,
      stateBucket: config.stateBucket,
      zones: async () => (await cluster.connection()).zones,
    },
    executor: scalingExecutor({ ...shared, ports }, config.operationDeadlineSeconds * 1000),
  };
}
