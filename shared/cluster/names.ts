/**
 * Names and labels shared by the node pool and Kubernetes builders, so the planner, the appliers and
 * the NetworkPolicy/HPA selectors all agree on one vocabulary.
 */

export const MANAGED_BY = 'inferplane';
export const LABEL_PREFIX = 'inferplane.dev/';

export const LABELS = {
  managedBy: `${LABEL_PREFIX}managed-by`,
  gpuClass: `${LABEL_PREFIX}gpu-class`,
  pool: `${LABEL_PREFIX}pool`,
  model: `${LABEL_PREFIX}model`,
  /** On an on-demand pool scaleOnAlert added beside a Spot pool after a stockout: that pool's name. */
  onDemandFor: `${LABEL_PREFIX}on-demand-for`,
} as const;

export const K8S_LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

/** Node label GKE sets on GPU nodes. */
export const GKE_ACCELERATOR_LABEL = 'cloud.google.com/gke-accelerator';

/** Plain cluster description, as the policy file states it. */
export interface ClusterRef {
  project: string;
  location: string;
  name: string;
  namespace: string;
  repositoryBucket: string;
  tritonImage: string;
}

export function clusterPath(cluster: Pick<ClusterRef, 'project' | 'location' | 'name'>): string {
  return `projects/${cluster.project}/locations/${cluster.location}/clusters/${cluster.name}`;
}

/**
 * A deterministic RFC 1035 label (lowercase letters, digits, '-', starts with a letter, ends with a
 * letter or digit) of at most `maxLength` characters. Too-long or altered inputs keep a short hash
 * of the original so two different inputs never collapse to the same name.
 */
export function rfc1035Name(raw: string, maxLength: number): string {
  let name = raw
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '');
  if (name === '') name = 'x';
  if (name === raw && name.length <= maxLength) return name;
  const suffix = `-${fnv1a32(raw).toString(36)}`;
  const head = name.slice(0, Math.max(1, maxLength - suffix.length)).replace(/-+$/, '');
  return `${head}${suffix}`;
}

/** Kubernetes label values: <= 63 chars of [A-Za-z0-9._-], alphanumeric at both ends. */
export function labelValue(raw: string): string {
  const cleaned = raw
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
  if (cleaned === raw && cleaned.length <= 63) return cleaned;
  const suffix = `-${fnv1a32(raw).toString(36)}`;
  const head = cleaned.slice(0, 63 - suffix.length).replace(/[^A-Za-z0-9]+$/, '');
  return head === '' ? suffix.slice(1) : `${head}${suffix}`;
}

function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}
