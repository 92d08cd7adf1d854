/**
 * One GKE cluster, reached the same way in production and against the local cloud: the GKE API
 * over its REST transport (lighter at cold start than gRPC), one GetCluster read that gives the
 * zones and the apiserver's endpoint and CA, and the apiserver with a bearer token. Only the
 * endpoints and the credentials differ: Application Default Credentials, or a fixed access token.
 */
import type { protos } from '@google-cloud/container';
import type { KubeObjects } from '../ports/kubernetes';
import type { NodePools } from '../ports/nodepools';
import { ConfigurationError } from '../runtime/errors';
import { createContainerClient, GkeNodePools, kubernetesNodeCount } from './gke';
import { createKubeConfig, createKubeObjects } from './kubernetes';

type Cluster = protos.google.container.v1.ICluster;

export interface ClusterTarget {
  /** `projects/P/locations/L/clusters/C` */
  name: string;
  namespace: string;
  /** GKE API override (the local cloud); unset: container.googleapis.com. */
  gkeEndpoint?: string | undefined;
  /** A fixed OAuth access token; unset: Application Default Credentials. */
  accessToken?: string | undefined;
}

export interface ClusterConnection {
  nodePools: NodePools;
  kubeObjects: KubeObjects;
  /** Zones the cluster's node pools span (1 for a zonal cluster). */
  zones: number;
  close(): Promise<void>;
}

/** The apiserver of a GKE cluster, from the cluster's endpoint and CA as the GKE API reports them. */
export function gkeKubeConfig(cluster: Cluster, namespace: string, token?: () => Promise<string>) {
  const endpoint = cluster.privateClusterConfig?.privateEndpoint || cluster.endpoint;
  const caCertificate = cluster.masterAuth?.clusterCaCertificate;
  if (!endpoint || !caCertificate) {
    throw new ConfigurationError(
      'CLUSTER_ENDPOINT_UNKNOWN',
      `cluster ${cluster.name ?? '(unnamed)'} has no endpoint or CA certificate`,
    );
  }
  return createKubeConfig({ cluster: { endpoint, caCertificate }, namespace, ...(token ? { token } : {}) });
}

export async function connectCluster(target: ClusterTarget): Promise<ClusterConnection> {
  const client = createContainerClient({
    ...(target.gkeEndpoint ? { endpoint: target.gkeEndpoint } : {}),
    ...(target.accessToken ? { accessToken: target.accessToken } : {}),
  });
  try {
    const [cluster] = await client.getCluster({ name: target.name });
    const token = target.accessToken;
    const kubeObjects = createKubeObjects(
      gkeKubeConfig(cluster, target.namespace, token ? async () => token : undefined),
    );
    return {
      // A pool's live size: its Nodes, as GKE labels them (the v1 NodePool does not carry it).
      nodePools: new GkeNodePools(client, target.name, { nodeCount: kubernetesNodeCount(kubeObjects) }),
      kubeObjects,
      zones: Math.max(1, cluster.locations?.length ?? 0),
      close: () => client.close(),
    };
  } catch (err) {
    await client.close();
    throw err;
  }
}
