/**
 * How a pool's Triton is reached, as a production GKE inference architecture has it, pure:
 *
 * - `internal`: an internal passthrough Network Load Balancer (`Service` of type LoadBalancer with
 *   `networking.gke.io/load-balancer-type: Internal`): reachable inside the VPC only.
 * - `gateway`: a ClusterIP Service behind the GKE Gateway (Gateway, HTTPRoute), a HealthCheckPolicy
 *   on Triton's readiness endpoint and a GCPBackendPolicy attaching the Cloud Armor security policy.
 *   The route admits the inference, metadata and health paths only: the model-repository API
 *   (`/v2/repository/...`) is never routed.
 *
 * `exposureDrift` compares the live objects with what the policy says and reports what differs.
 */

import { K8S_LABELS, MANAGED_BY } from '../cluster/names';
import { planObjectChanges } from '../cluster/objects';
import { buildTritonService, TRITON_PORTS, type TritonInstanceInput, tritonLabels } from '../cluster/triton';
import {
  type DeleteObjectAction,
  type KubernetesObject,
  objectTarget,
  type PlanAction,
} from '../domain/plan';
import type { Finding } from './findings';

export type ExposureMode = 'internal' | 'gateway';

export interface ExposurePolicy {
  mode: ExposureMode;
  gateway?:
    | { className: string; hostname?: string | undefined; cloudArmorPolicy?: string | undefined }
    | undefined;
  onDrift: 'repair' | 'report';
}

export const GATEWAY_NAME = 'inferplane-triton';
const INTERNAL_LB = 'networking.gke.io/load-balancer-type';

/** Paths the Gateway routes to Triton: inference and model metadata, health. Never `/v2/repository`. */
export const ROUTED_PATH_PREFIXES: readonly string[] = ['/v2/models/', '/v2/health/'];

type Named = KubernetesObject & {
  metadata: { name: string; namespace: string; labels: Record<string, string> };
};

function meta(input: TritonInstanceInput, name: string) {
  return { name, namespace: input.cluster.namespace, labels: tritonLabels(input) };
}

/** The Gateway shared by the pools of a namespace (one listener; routes pick pools by hostname). */
export function buildGateway(namespace: string, className: string): Named {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      name: GATEWAY_NAME,
      namespace,
      labels: { [K8S_LABELS.managedBy]: MANAGED_BY, [K8S_LABELS.component]: 'gateway' },
    },
    spec: {
      gatewayClassName: className,
      listeners: [
        { name: 'http', protocol: 'HTTP', port: 80, allowedRoutes: { namespaces: { from: 'Same' } } },
      ],
    },
  } as Named;
}

export function buildHttpRoute(input: TritonInstanceInput, hostname: string | undefined): Named {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: meta(input, input.pool),
    spec: {
      parentRefs: [{ name: GATEWAY_NAME }],
      ...(hostname ? { hostnames: [hostname.replaceAll('{pool}', input.pool)] } : {}),
      rules: [
        {
          matches: ROUTED_PATH_PREFIXES.map((value) => ({ path: { type: 'PathPrefix', value } })),
          backendRefs: [{ name: input.pool, port: TRITON_PORTS.http }],
        },
      ],
    },
  } as Named;
}

/** The load balancer's health check follows Triton's readiness, not the Service's default `/`. */
export function buildHealthCheckPolicy(input: TritonInstanceInput): Named {
  return {
    apiVersion: 'networking.gke.io/v1',
    kind: 'HealthCheckPolicy',
    metadata: meta(input, input.pool),
    spec: {
      default: {
        checkIntervalSec: 10,
        timeoutSec: 5,
        healthyThreshold: 1,
        unhealthyThreshold: 3,
        config: {
          type: 'HTTP',
          httpHealthCheck: { port: TRITON_PORTS.http, requestPath: '/v2/health/ready' },
        },
      },
      targetRef: { group: '', kind: 'Service', name: input.pool },
    },
  } as Named;
}

export function buildBackendPolicy(input: TritonInstanceInput, cloudArmorPolicy: string): Named {
  return {
    apiVersion: 'networking.gke.io/v1',
    kind: 'GCPBackendPolicy',
    metadata: meta(input, input.pool),
    spec: {
      default: { securityPolicy: cloudArmorPolicy, timeoutSec: 300 },
      targetRef: { group: '', kind: 'Service', name: input.pool },
    },
  } as Named;
}

/** A pool's exposure objects, Service first. */
export function buildExposure(input: TritonInstanceInput, policy: ExposurePolicy): KubernetesObject[] {
  if (policy.mode === 'internal') return [buildTritonService(input, { exposure: 'InternalLoadBalancer' })];
  const gateway = policy.gateway;
  const objects: KubernetesObject[] = [
    buildTritonService(input, { exposure: 'ClusterIP' }),
    buildGateway(input.cluster.namespace, gateway?.className ?? 'gke-l7-global-external-managed'),
    buildHttpRoute(input, gateway?.hostname),
    buildHealthCheckPolicy(input),
  ];
  // The policy file's checks require a Cloud Armor policy in gateway mode; without one no backend
  // policy is built and the tick reports CLOUD_ARMOR_MISSING.
  if (gateway?.cloudArmorPolicy) objects.push(buildBackendPolicy(input, gateway.cloudArmorPolicy));
  return objects;
}

/** Kinds that carry exposure, gateway mode's and internal mode's together. */
export const EXPOSURE_KINDS: ReadonlyArray<{ apiVersion: string; kind: string }> = [
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway' },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute' },
  { apiVersion: 'networking.gke.io/v1', kind: 'HealthCheckPolicy' },
  { apiVersion: 'networking.gke.io/v1', kind: 'GCPBackendPolicy' },
];

type Json = Record<string, unknown>;
const rec = (v: unknown): Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

type Live = KubernetesObject & {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
};

function isManaged(o: Live): boolean {
  return o.metadata.labels?.[K8S_LABELS.managedBy] === MANAGED_BY;
}

function selectsTriton(service: Live): boolean {
  return (
    rec(rec(service).spec).selector !== undefined &&
    rec(rec(rec(service).spec).selector)[K8S_LABELS.name] === 'triton'
  );
}

/** A Service that takes traffic from outside the VPC. */
export function isExternalService(service: Live): boolean {
  const type = rec(rec(service).spec).type;
  if (type === 'NodePort') return true;
  if (type !== 'LoadBalancer') return false;
  return service.metadata.annotations?.[INTERNAL_LB] !== 'Internal';
}

/** A route path that reaches the repository API: `/`, `/v2`, `/v2/repository...`, or a regex. */
function reachesRepository(match: unknown): boolean {
  const path = rec(rec(match).path);
  const type = path.type ?? 'PathPrefix';
  const value = typeof path.value === 'string' ? path.value : '/';
  if (type === 'RegularExpression') return true;
  if (type === 'Exact') return value.startsWith('/v2/repository');
  const trimmed = value.replace(/\/+$/, '');
  return trimmed === '' || '/v2/repository'.startsWith(trimmed) || value.startsWith('/v2/repository');
}

export interface ExposureInput {
  /** The desired exposure objects of every pool (from `buildExposure`), deduplicated. */
  desired: readonly KubernetesObject[];
  /** Live objects of the exposure kinds in the namespace (managed or not). */
  live: readonly Live[];
  policy: ExposurePolicy;
  /** Service names of the pools. */
  pools: readonly string[];
}

export interface ExposureDecision {
  findings: Finding[];
  /** Repairs (empty with `onDrift: report`): apply what differs, then delete managed leftovers. */
  actions: PlanAction[];
}

/**
 * Exposure drift: managed objects missing or different, managed objects of the other mode left
 * behind, a Service that reaches Triton from outside the VPC, a route that reaches the repository
 * API, a gateway backend without Cloud Armor.
 */
export function exposureDrift(input: ExposureInput): ExposureDecision {
  const findings: Finding[] = [];
  const desiredTargets = new Set(input.desired.map(objectTarget));
  const changes = planObjectChanges(input.desired, input.live);
  for (const change of changes) {
    findings.push({
      check: 'EXPOSURE_DRIFT',
      severity: 'error',
      target: change.target,
      message: `${change.target} is not as the policy's ${input.policy.mode} exposure says: ${change.reason}`,
    });
  }
  const leftovers = input.live.filter(
    (o) => isManaged(o) && o.kind !== 'Service' && !desiredTargets.has(objectTarget(o)),
  );
  for (const o of leftovers) {
    findings.push({
      check: 'EXPOSURE_DRIFT',
      severity: 'error',
      target: objectTarget(o),
      message: `${objectTarget(o)} belongs to an exposure the policy no longer has (mode ${input.policy.mode})`,
    });
  }
  for (const service of input.live.filter((o) => o.kind === 'Service' && selectsTriton(o))) {
    const target = objectTarget(service);
    if (isExternalService(service) && !(input.policy.mode === 'gateway' && desiredTargets.has(target))) {
      findings.push({
        check: 'EXTERNAL_EXPOSURE',
        severity: 'error',
        target,
        message: `${target} exposes Triton outside the VPC (type ${String(rec(rec(service).spec).type)}) without the Gateway and Cloud Armor`,
      });
    }
  }
  for (const route of input.live.filter((o) => o.kind === 'HTTPRoute')) {
    const rules = arr(rec(rec(route).spec).rules).map(rec);
    const toTriton = rules.filter((r) =>
      arr(r.backendRefs).some((b) => input.pools.includes(String(rec(b).name))),
    );
    const matches = toTriton.flatMap((r) => (arr(r.matches).length > 0 ? arr(r.matches) : [{}]));
    if (matches.some(reachesRepository)) {
      findings.push({
        check: 'REPOSITORY_API_EXPOSED',
        severity: 'critical',
        target: objectTarget(route),
        message: `${objectTarget(route)} routes paths that reach Triton's model-repository API`,
      });
    }
  }
  if (input.policy.mode === 'gateway') {
    const backendPolicies = input.live.filter((o) => o.kind === 'GCPBackendPolicy');
    for (const pool of input.pools) {
      const attached = backendPolicies.find((p) => rec(rec(rec(p).spec).targetRef).name === pool);
      const armor = rec(rec(rec(attached).spec).default).securityPolicy;
      if (typeof armor !== 'string' || armor === '') {
        findings.push({
          check: 'CLOUD_ARMOR_MISSING',
          severity: 'critical',
          target: `Service/${pool}`,
          message: `pool ${pool} is exposed through the Gateway without a Cloud Armor security policy attached`,
        });
      }
    }
  }
  if (input.policy.onDrift === 'report') return { findings, actions: [] };
  const deletes: DeleteObjectAction[] = leftovers.map((o) => ({
    kind: 'deleteObject',
    target: objectTarget(o),
    costDeltaPerHour: 0,
    reason: `managed ${o.kind} of an exposure the policy no longer has`,
    before: {
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata: { name: o.metadata.name, namespace: o.metadata.namespace ?? '' },
    },
    after: null,
  }));
  return {
    findings,
    actions: [...changes.map((c) => ({ ...c, reason: `exposure drift: ${c.reason}` })), ...deletes],
  };
}
