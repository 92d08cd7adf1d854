/**
 * What the scaling functions (scaleOnAlert, applySchedules) share, built once per instance: the
 * cluster's ports, the one executor with every runner a target plan needs, and where targets'
 * records live. Each function's deps extend this.
 */
import { createMonitoringMetrics } from '../adapters/monitoring';
import { clusterTargetOf, lazyCluster } from '../deploy/deps';
import { PlanExecutor } from '../execute/executor';
import { KubeApplier, KubeRunner } from '../execute/kube-applier';
import { NodePoolExecutor, NodePoolRunner } from '../execute/nodepool-executor';
import { StorageRunner } from '../execute/storage-runner';
import type { TargetLocation, TargetPorts } from '../execute/targets';
import { WorkloadRunner } from '../execute/workload-runner';
import type { Metrics } from '../ports/metrics';
import type { Config } from '../runtime/config';
import { buildSharedDeps, type SharedDeps } from '../wiring/shared-deps';

export interface ScalingDeps extends SharedDeps {
  ports: TargetPorts;
  /** Cloud Monitoring: metric reads (confirm before scale-in) and custom metric writes (savings). */
  metrics: Metrics;
  location: TargetLocation;
  executor: PlanExecutor;
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
    metrics: createMonitoringMetrics({
      project: config.project,
      endpoint: config.endpoints.monitoring,
      accessToken: config.accessToken,
    }),
    location: {
      cluster: config.cluster,
      namespace: config.namespace,
      stateBucket: config.stateBucket,
      zones: async () => (await cluster.connection()).zones,
    },
    executor: scalingExecutor({ ...shared, ports }, config.operationDeadlineSeconds * 1000),
  };
}
