/**
 * What a GPU pool should look like, from the policy file and the models placed on it: the GKE
 * node pool and the Triton serving stack (Kubernetes objects). Pure: deployModel and
 * `inferctl plan` both derive their plans from it.
 */

import { type KeyRing, LEGACY_ADMIN_KEY_ID } from '../domain/keys';
import type { KubernetesObject, NodePool } from '../domain/plan';
import type { RepositoryLocation } from '../domain/repository';
import { type GpuClass, resolveGpuClass } from '../gpu/catalog';
import type { ModelPolicy, Policy } from '../policy';
import { buildExposure } from '../security/exposure';
import { buildKeySecret } from '../security/keys';
import { buildNetworkPolicySet, GOOGLE_HEALTH_CHECK_CIDRS } from '../security/network';
import { buildGpuNodePool, nodePoolName } from './nodepool';
import {
  buildTritonDeployment,
  buildTritonHpa,
  buildTritonPdb,
  buildTritonPodMonitoring,
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

/** The Triton instance of a pool, as deployModel and rotateSecurity both build it. */
export function tritonInstanceFor(
  policy: Policy,
  placement: PoolPlacement,
  keyIds?: { admin: string; inference?: string },
): TritonInstanceInput {
  return {
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
    ...(keyIds ? { keyIds } : {}),
  };
}

/** The namespace's NetworkPolicy set from the policy file (a security bundle may replace it). */
export function policyNetworkPolicySet(policy: Policy) {
  return buildNetworkPolicySet({
    namespace: policy.cluster.namespace,
    spec: policy.security.networkPolicy,
    ...(policy.security.exposure.mode === 'gateway' ? { healthCheckCidrs: GOOGLE_HEALTH_CHECK_CIDRS } : {}),
    source: 'policy',
  });
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
  /**
   * The Triton admin key (legacy: kept under the `admin-key` id). Ignored when `keys` is given.
   */
  adminKey?: string;
  /** Every key of the pool's Secret and the active ids: the live ring, or a new one. */
  keys?: KeyRing;
  /**
   * Include the namespace's NetworkPolicy set from the policy file (default). deployModel leaves
   * it out once a managed set exists: rotateSecurity owns the set from then on (it may come from a
   * bundle, and old sets are pruned), so a deploy never re-creates a pruned policy.
   */
  networkPolicies?: boolean;
  /** Zones of the pool (regional clusters: usually 3). */
  zones?: number;
}

export function desiredPool(input: DesiredPoolInput): PoolDesired {
  const { policy } = input;
  const placement = placementFor(policy, input.gpuClassId);
  const scaling = poolScalingFromModels(input.models);
  const ring: KeyRing = input.keys ?? {
    keys: { [LEGACY_ADMIN_KEY_ID]: input.adminKey ?? '' },
    active: { admin: LEGACY_ADMIN_KEY_ID },
  };
  const instance = tritonInstanceFor(policy, placement, ring.active);
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
    buildKeySecret(adminSecret.name, namespace, ring),
    // Internal: reachable from the functions (Direct VPC egress), not from the internet; or the
    // GKE Gateway with Cloud Armor, as `security.exposure` says.
    ...buildExposure(instance, policy.security.exposure),
    buildTritonDeployment(instance),
    buildTritonHpa(instance, scaling),
    buildTritonPdb(instance),
    ...(input.networkPolicies === false ? [] : policyNetworkPolicySet(policy).objects),
    // Managed Prometheus scrapes only what a PodMonitoring selects; its name is the HPA metric's `job`.
    buildTritonPodMonitoring(instance),
  ] as KubernetesObject[];
  return { ...placement, nodePool, objects, adminSecret };
}
