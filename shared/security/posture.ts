/**
 * Posture checks, pure: each reads observed state and returns the findings of one rule.
 *
 * - images of every container and init container in the namespace are pinned by digest and come
 *   from the allowlist (and, with `enforce`, a Deployment rollout that breaks either is refused);
 * - Triton's Kubernetes service account is bound to a Google service account through Workload
 *   Identity (`iam.gke.io/gcp-service-account`), unless the policy says a direct principal binding
 *   is used (IAM grants on `principal://.../subject/ns/<ns>/sa/<name>`, invisible from the cluster);
 * - GPU node pools run the GKE metadata server (`workloadMetadataConfig.mode: GKE_METADATA`);
 * - Binary Authorization is enforced on the cluster;
 * - no managed key Secret holds an active key older than its rotation period.
 */
import { LABELS, MANAGED_BY } from '../cluster/names';
import { KEY_PURPOSES } from '../domain/keys';
import { type KubernetesObject, nodePoolTarget, objectTarget, type Plan } from '../domain/plan';
import { PermanentError } from '../runtime/errors';
import type { Finding } from './findings';
import { keyCreatedAtMs, keyRingOf } from './keys';

export interface PosturePolicy {
  imageAllowlist: readonly string[];
  requireDigest: boolean;
  enforce: boolean;
  directPrincipalBinding: boolean;
  requireBinaryAuthorization: boolean;
}

type Json = Record<string, unknown>;
const rec = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const DIGEST = /@sha256:[0-9a-f]{64}$/;

/** The repository part of an image reference: no digest, no tag. */
export function imageName(image: string): string {
  const noDigest = image.split('@')[0] ?? image;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

export function isPinned(image: string): boolean {
  return DIGEST.test(image);
}

export function isAllowed(image: string, allowlist: readonly string[]): boolean {
  const name = imageName(image);
  return allowlist.some((p) => name === p || name.startsWith(p.endsWith('/') ? p : `${p}/`));
}

/** Every image of a pod spec: containers and init containers. */
export function podSpecImages(podSpec: unknown): string[] {
  const spec = rec(podSpec);
  return [...arr(spec.initContainers), ...arr(spec.containers)]
    .map((c) => rec(c).image)
    .filter((i): i is string => typeof i === 'string');
}

/** What is wrong with one image under the policy (empty: nothing). */
export function imageProblems(image: string, policy: PosturePolicy): Finding['check'][] {
  const out: Finding['check'][] = [];
  if (policy.requireDigest && !isPinned(image)) out.push('IMAGE_NOT_PINNED');
  if (!isAllowed(image, policy.imageAllowlist)) out.push('IMAGE_NOT_ALLOWED');
  return out;
}

function imageFinding(
  check: Finding['check'],
  image: string,
  target: string,
  policy: PosturePolicy,
): Finding {
  return {
    check,
    severity: policy.enforce ? 'error' : 'warning',
    target,
    message:
      check === 'IMAGE_NOT_PINNED'
        ? `${target} runs ${image}, which is not pinned by digest (@sha256:...)`
        : `${target} runs ${image}, which is not in the image allowlist (${policy.imageAllowlist.join(', ') || 'empty'})`,
  };
}

/** Image findings for Deployments (their pod template) and Pods of the namespace. */
export function imageFindings(workloads: readonly KubernetesObject[], policy: PosturePolicy): Finding[] {
  const out: Finding[] = [];
  for (const w of workloads) {
    const spec = w.kind === 'Pod' ? rec(w).spec : rec(rec(rec(w).spec).template).spec;
    // A pod owned by a ReplicaSet is covered by its Deployment's template.
    if (w.kind === 'Pod' && arr(rec(rec(w).metadata).ownerReferences).length > 0) continue;
    const target = objectTarget(w);
    for (const image of [...new Set(podSpecImages(spec))]) {
      for (const check of imageProblems(image, policy)) out.push(imageFinding(check, image, target, policy));
    }
  }
  return out;
}

/**
 * Why a rollout of this Deployment is refused (posture `enforce`), or [] when it may roll.
 * deployModel and rotateSecurity both ask before they change a Deployment.
 */
export function rolloutRefusals(deployment: KubernetesObject, policy: PosturePolicy): string[] {
  if (!policy.enforce) return [];
  const spec = rec(rec(rec(deployment).spec).template).spec;
  return [...new Set(podSpecImages(spec))].flatMap((image) =>
    imageProblems(image, policy).map((c) => imageFinding(c, image, objectTarget(deployment), policy).message),
  );
}

export function workloadIdentityFindings(
  serviceAccounts: readonly KubernetesObject[],
  names: readonly string[],
  namespace: string,
  policy: PosturePolicy,
): Finding[] {
  if (policy.directPrincipalBinding) return [];
  return [...new Set(names)].sort().flatMap((name): Finding[] => {
    const sa = serviceAccounts.find((s) => s.metadata.name === name);
    const gsa = rec(rec(rec(sa).metadata).annotations)['iam.gke.io/gcp-service-account'];
    if (typeof gsa === 'string' && /^[^@\s]+@[^@\s]+\.iam\.gserviceaccount\.com$/.test(gsa)) return [];
    return [
      {
        check: 'WORKLOAD_IDENTITY_MISSING',
        severity: 'error',
        target: `ServiceAccount/${namespace}/${name}`,
        message: sa
          ? `ServiceAccount ${namespace}/${name} has no iam.gke.io/gcp-service-account annotation naming a Google service account`
          : `ServiceAccount ${namespace}/${name}, which Triton runs as, does not exist`,
      },
    ];
  });
}

/** `GKE_METADATA` as a name or as the enum number (2) the REST client may return. */
function isGkeMetadata(mode: unknown): boolean {
  return mode === 'GKE_METADATA' || mode === 2;
}

export interface ObservedNodePool {
  name?: string | null;
  config?: {
    labels?: Record<string, string> | null;
    accelerators?: unknown[] | null;
    workloadMetadataConfig?: { mode?: unknown } | null;
  } | null;
}

export function nodePoolFindings(pools: readonly ObservedNodePool[]): Finding[] {
  return pools
    .filter(
      (p) => (p.config?.accelerators?.length ?? 0) > 0 || p.config?.labels?.[LABELS.managedBy] === MANAGED_BY,
    )
    .filter((p) => !isGkeMetadata(p.config?.workloadMetadataConfig?.mode))
    .map((p) => ({
      check: 'NODE_METADATA_NOT_GKE' as const,
      severity: 'error' as const,
      target: nodePoolTarget(p.name ?? ''),
      message: `GPU node pool ${p.name ?? ''} does not run the GKE metadata server (workloadMetadataConfig.mode is ${String(p.config?.workloadMetadataConfig?.mode ?? 'unset')}, want GKE_METADATA): its pods can read the node's credentials`,
    }));
}

export interface ObservedCluster {
  name: string;
  /** `binaryAuthorization.evaluationMode` as a name (or number), undefined when absent. */
  binaryAuthorizationMode?: unknown;
  /** The deprecated `binaryAuthorization.enabled`. */
  binaryAuthorizationEnabled?: boolean | undefined;
}

export function binaryAuthorizationFindings(cluster: ObservedCluster, policy: PosturePolicy): Finding[] {
  if (!policy.requireBinaryAuthorization) return [];
  const mode = cluster.binaryAuthorizationMode;
  const enforced =
    mode === 'PROJECT_SINGLETON_POLICY_ENFORCE' ||
    mode === 2 ||
    (mode === undefined && cluster.binaryAuthorizationEnabled === true);
  if (enforced) return [];
  return [
    {
      check: 'BINARY_AUTHORIZATION_NOT_ENFORCED',
      severity: 'error',
      target: `cluster/${cluster.name}`,
      message: `Binary Authorization is not enforced on cluster ${cluster.name} (evaluationMode ${String(mode ?? 'unset')}, want PROJECT_SINGLETON_POLICY_ENFORCE)`,
    },
  ];
}

export function secretAgeFindings(
  secrets: readonly KubernetesObject[],
  rotateEveryDays: number,
  nowMs: number,
): Finding[] {
  const out: Finding[] = [];
  for (const secret of secrets) {
    const ring = keyRingOf(secret);
    if (!ring) continue;
    for (const purpose of KEY_PURPOSES) {
      const id = ring.active[purpose];
      if (id === undefined) continue;
      const created = keyCreatedAtMs(id, secret);
      const ageDays = created === undefined ? undefined : Math.floor((nowMs - created) / 86_400_000);
      if (ageDays !== undefined && nowMs - (created ?? nowMs) < rotateEveryDays * 86_400_000) continue;
      out.push({
        check: 'SECRET_TOO_OLD',
        severity: 'error',
        target: objectTarget(secret),
        message: `${objectTarget(secret)}: ${purpose} key ${id} is ${ageDays === undefined ? 'of unknown age' : `${ageDays} day(s) old`}, older than the rotation period (${rotateEveryDays} days)`,
      });
    }
  }
  return out;
}

/**
 * The posture guardrail on a plan: with `enforce`, a plan that would roll a Deployment onto images
 * that are not pinned or not allowed is refused before anything runs.
 * @throws PermanentError POSTURE_REFUSED naming each image and rule.
 */
export function checkRolloutPosture(plan: Plan, policy: PosturePolicy): void {
  const problems = plan.actions.flatMap((a) =>
    a.kind === 'applyObject' && a.after.kind === 'Deployment' ? rolloutRefusals(a.after, policy) : [],
  );
  if (problems.length > 0) {
    throw new PermanentError(
      'POSTURE_REFUSED',
      `rollout refused by the posture policy: ${problems.join('; ')}`,
      {
        details: { problems },
      },
    );
  }
}
