/**
 * deployModel's dependencies, built once per instance from the configuration: the same adapters
 * in production and against the local cloud; only endpoints and credentials differ.
 */
import { type ClusterTarget, connectCluster } from '../adapters/cluster';
import { GcsLeaseStore } from '../adapters/lease-gcs';
import { tritonPodsFinder } from '../adapters/triton-pods';
import { clusterPath } from '../cluster/names';
import { DEFAULT_ADMIN_HEADER, tritonSelectorLabels } from '../cluster/triton';
import { KubeApplier } from '../execute/kube-applier';
import { NodePoolExecutor } from '../execute/nodepool-executor';
import type { Config } from '../runtime/config';
import { Leases } from '../runtime/lease';
import { buildSharedDeps } from '../wiring/shared-deps';
import type { DeployModelDeps } from './handler';
import { deployLimits } from './limits';
import { ModelRegistry } from './registry';

/** The cluster this instance drives, from the configuration (see `connectCluster`). */
export function clusterTargetOf(config: Config): ClusterTarget {
  return {
    name: clusterPath({ project: config.project, location: config.location, name: config.cluster }),
    namespace: config.namespace,
    gkeEndpoint: config.endpoints.gke,
    accessToken: config.accessToken,
  };
}

export async function buildDeployModelDeps(config: Config): Promise<DeployModelDeps> {
  // One cold start, one cluster read (zones, the apiserver's endpoint and CA), while the shared
  // deps read the policy file.
  const [shared, cluster] = await Promise.all([
    buildSharedDeps(config),
    connectCluster(clusterTargetOf(config)),
  ]);
  const { nodePools, kubeObjects } = cluster;
  const findTritonPods = tritonPodsFinder({
    kubeObjects,
    urlTemplate: config.tritonUrl,
    adminHeader: DEFAULT_ADMIN_HEADER,
  });
  return {
    ...shared,
    nodePools,
    nodePoolExecutor: new NodePoolExecutor({
      nodePools,
      log: shared.log,
      clock: shared.clock,
      deadlineMs: config.operationDeadlineSeconds * 1000,
    }),
    kubeObjects,
    kube: new KubeApplier({ objects: kubeObjects, clock: shared.clock, logger: shared.log }),
    // The pool's Deployment selects its pods by these labels (shared/cluster/triton.ts).
    tritonPods: ({ pool, namespace, keys }) =>
      findTritonPods({ pool, namespace, keys, selector: tritonSelectorLabels({ pool }) }),
    registry: new ModelRegistry(shared.objects, config.stateBucket),
    // Renewed every 20 s while a deploy runs; a crashed holder's lease is free a minute later.
    leases: new Leases({
      store: new GcsLeaseStore({ objects: shared.objects, bucket: config.stateBucket }),
      clock: shared.clock,
    }),
    limits: deployLimits(),
    zones: cluster.zones,
  };
}
