/**
 * deployModel's dependencies, built once per instance from the configuration: the same adapters
 * in production and against the local cloud; only endpoints and credentials differ.
 *
 * Cold start (shared/wiring/lazy.ts): what every event needs (Cloud Storage, the policy) is built
 * here; the cluster (the GKE client, one GetCluster read, the apiserver's client) is connected by
 * the first call a plan makes on `nodePools` or `kubeObjects`, so an event that is skipped or
 * rejected before planning never loads those clients.
 */
import type { ClusterConnection, ClusterTarget } from '../adapters/cluster';
import { GcsLeaseStore } from '../adapters/lease-gcs';
import { tritonPodsFinder } from '../adapters/triton-pods';
import { clusterPath } from '../cluster/names';
import { DEFAULT_ADMIN_HEADER, tritonSelectorLabels } from '../cluster/triton';
import { KubeApplier } from '../execute/kube-applier';
import { NodePoolExecutor } from '../execute/nodepool-executor';
import type { KubeObjects } from '../ports/kubernetes';
import type { NodePools } from '../ports/nodepools';
import type { Config } from '../runtime/config';
import { Leases } from '../runtime/lease';
import { lazy, lazyPort, type PortMethods } from '../wiring/lazy';
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

const NODE_POOLS_METHODS: PortMethods<NodePools> = {
  getCluster: true,
  list: true,
  get: true,
  nodeCountPerZone: true,
  create: true,
  setAutoscaling: true,
  setSize: true,
  update: true,
  delete: true,
  getOperation: true,
  listRunningOperations: true,
};

const KUBE_OBJECTS_METHODS: PortMethods<KubeObjects> = {
  get: true,
  apply: true,
  delete: true,
  list: true,
  getScale: true,
  setScale: true,
};

/** The cluster connection, made on first use: the GKE and Kubernetes clients load only then. */
export function lazyCluster(target: ClusterTarget): {
  connection: () => Promise<ClusterConnection>;
  nodePools: NodePools;
  kubeObjects: KubeObjects;
} {
  const connection = lazy(async () => (await import('../adapters/cluster')).connectCluster(target));
  return {
    connection,
    nodePools: lazyPort(async () => (await connection()).nodePools, NODE_POOLS_METHODS, {
      clusterName: target.name,
    }),
    kubeObjects: lazyPort(async () => (await connection()).kubeObjects, KUBE_OBJECTS_METHODS, {}),
  };
}

export async function buildDeployModelDeps(config: Config): Promise<DeployModelDeps> {
  const shared = await buildSharedDeps(config);
  const { connection, nodePools, kubeObjects } = lazyCluster(clusterTargetOf(config));
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
    zones: async () => (await connection()).zones,
  };
}
