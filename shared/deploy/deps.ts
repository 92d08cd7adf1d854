/**
 * deployModel's dependencies, built once per instance from the configuration: production clients
 * (ADC credentials, the GKE API over gRPC, the cluster's apiserver) unless local endpoints are set.
 */
import type { protos } from '@google-cloud/container';
import { createContainerClient, GkeNodePools, kubernetesNodeCount } from '../adapters/gke';
import { createKubeConfig, createKubeObjects } from '../adapters/kubernetes';
import { tritonPodsFinder } from '../adapters/triton-pods';
import { clusterPath } from '../cluster/names';
import { DEFAULT_ADMIN_HEADER, tritonSelectorLabels } from '../cluster/triton';
import { KubeApplier } from '../execute/kube-applier';
import { NodePoolExecutor } from '../execute/nodepool-executor';
import type { Config } from '../runtime/config';
import { ConfigurationError } from '../runtime/errors';
import { buildSharedDeps } from '../wiring/shared-deps';
import type { DeployModelDeps } from './handler';
import { deployLimits } from './limits';
import { ModelRegistry } from './registry';

type Cluster = protos.google.container.v1.ICluster;

/** The apiserver of a GKE cluster, from the cluster's endpoint and CA as the GKE API reports them. */
export function gkeKubeConfig(cluster: Cluster, namespace: string) {
  const endpoint = cluster.privateClusterConfig?.privateEndpoint || cluster.endpoint;
  const caCertificate = cluster.masterAuth?.clusterCaCertificate;
  if (!endpoint || !caCertificate) {
    throw new ConfigurationError(
      'CLUSTER_ENDPOINT_UNKNOWN',
      `cluster ${cluster.name ?? '(unnamed)'} has no endpoint or CA certificate`,
    );
  }
  return createKubeConfig({ cluster: { endpoint, caCertificate }, namespace });
}

export async function buildDeployModelDeps(config: Config): Promise<DeployModelDeps> {
  const ref = { project: config.project, location: config.location, name: config.cluster };
  const containerClient = createContainerClient(
    config.endpoints.gke ? { endpoint: config.endpoints.gke } : {},
  );
  const name = clusterPath(ref);
  // One cold start, one cluster read: it gives the zones and (in production) the apiserver's
  // endpoint and CA; it runs while the shared deps read the policy file.
  const [shared, [cluster]] = await Promise.all([
    buildSharedDeps(config),
    containerClient.getCluster({ name }),
  ]);
  const kc = config.endpoints.kubernetes
    ? createKubeConfig({ endpoint: config.endpoints.kubernetes, namespace: config.namespace })
    : gkeKubeConfig(cluster, config.namespace);
  const kubeObjects = createKubeObjects(kc);
  // A pool's live size: its Nodes, as GKE labels them (the v1 NodePool does not carry it).
  const nodePools = new GkeNodePools(containerClient, name, { nodeCount: kubernetesNodeCount(kubeObjects) });
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
    tritonPods: ({ pool, namespace, adminKey }) =>
      findTritonPods({ pool, namespace, adminKey, selector: tritonSelectorLabels({ pool }) }),
    registry: new ModelRegistry(shared.objects, config.stateBucket),
    limits: deployLimits(),
    zones: Math.max(1, cluster.locations?.length ?? 0),
  };
}
