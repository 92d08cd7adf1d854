/**
 * What a GPU pool should look like, from the policy file and the models placed on it: the GKE
 * node pool and the Triton serving stack (Kubernetes objects). Pure: deployModel and
 * `inferctl plan` both derive their plans from it.
 */

import type { KubernetesObject, NodePool } from '../domain/plan';
import type { RepositoryLocation } from '../domain/repository';
import { type GpuClass, resolveGpuClass } from '../gpu/catalog';
import type { ModelPolicy, Policy } from '../policy';
import { buildGpuNodePool, nodePoolName } from './nodepool';
import {
  buildApiKeySecret,
  buildTritonDeployment,
  buildTritonHpa,
  buildTritonNetworkPolicy,
  buildTritonPdb,
  buildTritonPodMonitoring,
  buildTritonService,
  poolScalingFromModels,
  type TritonInstanceInput,
  tritonAdminSecretRef,
} from './triton';

/** Repository folder of a pool's models: Triton runs with `--load-model=*`, one repository per pool. */
export const REPOSITORY_ROOT = 'models';

export interface PoolPlacement {
  pool: string;
  gpuClass: GpuClass;
  spot: boolean;
  repository: RepositoryLocation;
}

export function placementFor(policy: Policy, gpuClassId: string): PoolPlacement {
  const gpuClass = resolveGpuClass(gpuClassId, policy.gpuClasses);
  const pool = nodePoolName(gpuClass.id, gpuClass.spot);
  return {
    pool,
    gpuClass,
    spot: gpuClass.spot,
    repository: { bucket: policy.cluster.repositoryBucket, prefix: `${REPOSITORY_ROOT}/${pool}` },
  };
}

/** The Secret holding a pool's Triton admin key (the header value repository API calls carry). */
export function tritonAdminSecretRefFor(pool: string): { name: string; key: string } {
  return tritonAdminSecretRef({ pool } as TritonInstanceInput);
}

export interface PoolDesired extends PoolPlacement {
  nodePool: NodePool;
  /** In apply order. */
  objects: KubernetesObject[];
  adminSecret: { name: string; key: string };
}

export interface DesiredPoolInput {
  policy: Policy;
  gpuClassId: string;
  /** Policies of the models served by this pool (at least one). */
  models: readonly ModelPolicy[];
  /** The Triton admin key: the live one when it exists, a new one otherwise. */
  adminKey: string;
  /** Zones of the pool (regional clusters: usually 3). */
  zones?: number;
}

export function desiredPool(input: DesiredPoolInput): PoolDesired {
  const { policy } = input;
  const placement = placementFor(policy, input.gpuClassId);
  const scaling = poolScalingFromModels(input.models);
  const instance: TritonInstanceInput = {
    cluster: {
      name: policy.cluster.name,
      namespace: policy.cluster.namespace,
      repositoryBucket: policy.cluster.repositoryBucket,
      tritonImage: policy.cluster.tritonImage,
    },
    pool: placement.pool,
    gpuClass: placement.gpuClass,
    repositoryPrefix: placement.repository.prefix,
    serviceAccountName: 'triton',
  };
  // One Triton pod per node, using every GPU of the machine: node bounds follow replica bounds.
  const nodePool = buildGpuNodePool({
    gpuClass: placement.gpuClass,
    spot: placement.spot,
    size: { autoscaling: true, minNodes: scaling.replicas.min, maxNodes: scaling.replicas.max },
    ...(input.zones === undefined ? {} : { zones: input.zones }),
  });
  const adminSecret = tritonAdminSecretRef(instance);
  const namespace = policy.cluster.namespace;
  const objects: KubernetesObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: 'triton',
        namespace,
        annotations: {
          // Workload Identity: Triton reads the repository as this Google service account.
          'iam.gke.io/gcp-service-account':
            policy.cluster.tritonServiceAccount ??
            `inferplane-triton@${policy.cluster.project}.iam.gserviceaccount.com`,
        },
      },
    },
    buildApiKeySecret(adminSecret.name, { [adminSecret.key]: input.adminKey }, { namespace }),
    // Reachable from the functions (Direct VPC egress), not from the internet.
    buildTritonService(instance, { exposure: 'InternalLoadBalancer' }),
    buildTritonDeployment(instance),
    buildTritonHpa(instance, scaling),
    buildTritonPdb(instance),
    buildTritonNetworkPolicy(instance, {
      allowedNamespaces: policy.security.networkPolicy.allowNamespaces,
      allowedCidrs: policy.security.networkPolicy.allowCidrs,
    }),
    // Managed Prometheus scrapes only what a PodMonitoring selects; its name is the HPA metric's `job`.
    buildTritonPodMonitoring(instance),
  ] as KubernetesObject[];
  return { ...placement, nodePool, objects, adminSecret };
}
