/**
 * The inference namespace's NetworkPolicies as one versioned set, pure.
 *
 * - `default-deny`: every pod of the namespace, Ingress and Egress, no rule: nothing is allowed
 *   that another policy of the set does not allow.
 * - `triton-ingress`: Triton's HTTP and gRPC ports from the allowed namespaces, pod labels and
 *   CIDRs (the gateway, the control plane's egress range); the metrics port from the monitoring
 *   namespace only.
 * - `egress`: DNS (kube-dns), the GKE metadata server (Workload Identity tokens) and the Google API
 *   ranges, nothing else.
 *
 * The version is a digest of the set's content and is part of every name, so a new set never
 * replaces an old one in place: it is applied first, and the previous set is pruned after
 * (NetworkPolicies add up, so for a moment both allow; never does nothing). Only objects labelled
 * as this product's set are ever pruned.
 */
import { createHash } from 'node:crypto';
import { K8S_LABELS, LABEL_PREFIX, MANAGED_BY } from '../cluster/names';
import { planObjectChanges } from '../cluster/objects';
import { TRITON_PORTS } from '../cluster/triton';
import {
  type DeleteObjectAction,
  type KubernetesObject,
  objectTarget,
  type PlanAction,
} from '../domain/plan';

/** Label on every object of a set: its version. */
export const NETWORK_POLICY_SET_LABEL = `${LABEL_PREFIX}network-policy-set`;

/** What a set is built from: the policy file's `security.networkPolicy`, or a bundle's. */
export interface NetworkPolicySpec {
  allowNamespaces: readonly string[];
  allowCidrs: readonly string[];
  allowPodLabels: Readonly<Record<string, string>>;
  monitoringNamespace: string;
  googleApiCidrs: readonly string[];
}

export interface NetworkPolicySetInput {
  namespace: string;
  spec: NetworkPolicySpec;
  /**
   * Extra CIDRs let in to Triton's HTTP port: the Google front ends' health-check and proxy ranges
   * when Triton is exposed through the GKE Gateway.
   */
  healthCheckCidrs?: readonly string[];
  /** Where the set comes from, recorded on each object (a bundle's `gs://` URI, or `policy`). */
  source: string;
}

export interface NetworkPolicySet {
  version: string;
  objects: KubernetesObject[];
}

/** The GKE metadata server that Workload Identity pods reach (Dataplane V2 and legacy). */
const METADATA_SERVER = [
  { cidr: '169.254.169.252/32', ports: [988] },
  { cidr: '169.254.169.254/32', ports: [80] },
];

/** Google front ends: health checks and the external Application Load Balancer's proxies. */
export const GOOGLE_HEALTH_CHECK_CIDRS: readonly string[] = ['35.191.0.0/16', '130.211.0.0/22'];

const sortedUnique = (xs: readonly string[]) => [...new Set(xs)].sort();

function specBody(input: NetworkPolicySetInput) {
  const { spec } = input;
  const triton = { matchLabels: { [K8S_LABELS.name]: 'triton' } };
  const namespaces = sortedUnique(spec.allowNamespaces);
  const podLabels = Object.fromEntries(
    Object.entries(spec.allowPodLabels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const hasLabels = Object.keys(podLabels).length > 0;
  const peers: Record<string, unknown>[] = [];
  if (namespaces.length > 0) {
    const namespaceSelector = {
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: namespaces }],
    };
    peers.push(
      hasLabels ? { namespaceSelector, podSelector: { matchLabels: podLabels } } : { namespaceSelector },
    );
  }
  // Labels alone: pods of this namespace with those labels.
  if (hasLabels && namespaces.length === 0) peers.push({ podSelector: { matchLabels: podLabels } });
  for (const cidr of sortedUnique([...spec.allowCidrs, ...(input.healthCheckCidrs ?? [])]))
    peers.push({ ipBlock: { cidr } });

  const ingress: Record<string, unknown>[] = [];
  // A rule with ports and no peers would admit everyone: left out when nothing is allowed.
  if (peers.length > 0) {
    ingress.push({
      from: peers,
      ports: [
        { protocol: 'TCP', port: TRITON_PORTS.http },
        { protocol: 'TCP', port: TRITON_PORTS.grpc },
      ],
    });
  }
  ingress.push({
    from: [
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': spec.monitoringNamespace } } },
    ],
    ports: [{ protocol: 'TCP', port: TRITON_PORTS.metrics }],
  });

  const egress: Record<string, unknown>[] = [
    {
      to: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
          podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
        },
      ],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    },
    ...METADATA_SERVER.map((m) => ({
      to: [{ ipBlock: { cidr: m.cidr } }],
      ports: m.ports.map((port) => ({ protocol: 'TCP', port })),
    })),
  ];
  const google = sortedUnique(spec.googleApiCidrs);
  if (google.length > 0) {
    egress.push({
      to: google.map((cidr) => ({ ipBlock: { cidr } })),
      ports: [{ protocol: 'TCP', port: 443 }],
    });
  }
  return {
    'default-deny': { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    'triton-ingress': { podSelector: triton, policyTypes: ['Ingress'], ingress },
    egress: { podSelector: {}, policyTypes: ['Egress'], egress },
  };
}

/** The set for a namespace: names `inferplane-<role>-<version>`, labelled with the version. */
export function buildNetworkPolicySet(input: NetworkPolicySetInput): NetworkPolicySet {
  const bodies = specBody(input);
  const version = createHash('sha256').update(JSON.stringify(bodies)).digest('hex').slice(0, 10);
  const objects = Object.entries(bodies).map(
    ([role, spec]) =>
      ({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: {
          name: `inferplane-${role}-${version}`,
          namespace: input.namespace,
          labels: {
            [K8S_LABELS.managedBy]: MANAGED_BY,
            [K8S_LABELS.component]: 'network-policy',
            [NETWORK_POLICY_SET_LABEL]: version,
          },
          annotations: { [`${LABEL_PREFIX}source`]: input.source },
        },
        spec,
      }) as KubernetesObject,
  );
  return { version, objects };
}

/** The label selector that lists every NetworkPolicy this product manages (any version, any era). */
export const MANAGED_NETWORK_POLICIES = `${K8S_LABELS.managedBy}=${MANAGED_BY}`;

type Live = KubernetesObject & { metadata: { labels?: Record<string, string> } };

/** Which live NetworkPolicies this product manages: its label, set label or not (the per-pool era). */
export function isManagedNetworkPolicy(obj: Live): boolean {
  return obj.kind === 'NetworkPolicy' && obj.metadata.labels?.[K8S_LABELS.managedBy] === MANAGED_BY;
}

/**
 * Apply the set (only what differs), then prune every managed NetworkPolicy that is not in it.
 * Prunes come after every apply in the plan, so a failure between leaves old and new in place.
 */
export function planNetworkPolicies(set: NetworkPolicySet, live: readonly Live[]): PlanAction[] {
  const managed = live.filter(isManagedNetworkPolicy);
  const applies = planObjectChanges(set.objects, managed).map((a) => ({
    ...a,
    reason: `${a.reason}; network policy set ${set.version}`,
  }));
  const keep = new Set(set.objects.map(objectTarget));
  const prunes: DeleteObjectAction[] = managed
    .filter((o) => !keep.has(objectTarget(o)))
    .sort((a, b) => objectTarget(a).localeCompare(objectTarget(b)))
    .map((o) => ({
      kind: 'deleteObject',
      target: objectTarget(o),
      costDeltaPerHour: 0,
      reason: `not in network policy set ${set.version} (previous set ${o.metadata.labels?.[NETWORK_POLICY_SET_LABEL] ?? 'per-pool'}); pruned after the new set is applied`,
      before: {
        apiVersion: o.apiVersion,
        kind: o.kind,
        metadata: { name: o.metadata.name, namespace: o.metadata.namespace ?? '' },
      },
      after: null,
    }));
  return [...applies, ...prunes];
}
