import { describe, expect, it } from 'vitest';
import { placementFor, tritonInstanceFor } from '../../shared/cluster/desired';
import type { KubernetesObject } from '../../shared/domain/plan';
import { loadPolicy } from '../../shared/policy';
import { buildExposure, type ExposurePolicy, exposureDrift } from '../../shared/security/exposure';

const policy = loadPolicy(
  [
    'apiVersion: inferplane.dev/v1',
    'kind: ControlPlanePolicy',
    'cluster: { project: p, name: c, repositoryBucket: repo, incomingBucket: incoming }',
    'guardrails: { maxGpusTotal: 4, maxGpusPerPool: 4, maxNodes: 4, maxDollarsPerHour: 50 }',
    '',
  ].join('\n'),
);
const instance = tritonInstanceFor(policy, placementFor(policy, 'l4'));
const INTERNAL: ExposurePolicy = { mode: 'internal', onDrift: 'repair' };
const GATEWAY: ExposurePolicy = {
  mode: 'gateway',
  gateway: {
    className: 'gke-l7-global-external-managed',
    hostname: '{pool}.example.com',
    cloudArmorPolicy: 'armor',
  },
  onDrift: 'repair',
};
type Any = KubernetesObject & Record<string, unknown>;
const kinds = (objects: KubernetesObject[]) => objects.map((o) => o.kind);

describe('buildExposure', () => {
  it('internal: one internal passthrough load balancer Service', () => {
    const [service] = buildExposure(instance, INTERNAL) as Any[];
    expect(kinds(buildExposure(instance, INTERNAL))).toEqual(['Service']);
    expect(service?.metadata).toMatchObject({
      annotations: { 'networking.gke.io/load-balancer-type': 'Internal' },
    });
    expect(((service as Any).spec as { type: string }).type).toBe('LoadBalancer');
  });

  it('gateway: ClusterIP Service, Gateway, HTTPRoute without the repository API, health check, Cloud Armor', () => {
    const objects = buildExposure(instance, GATEWAY) as Any[];
    expect(kinds(objects)).toEqual([
      'Service',
      'Gateway',
      'HTTPRoute',
      'HealthCheckPolicy',
      'GCPBackendPolicy',
    ]);
    const route = objects[2]?.spec as {
      hostnames: string[];
      rules: Array<{ matches: Array<{ path: { value: string } }> }>;
    };
    expect(route.hostnames).toEqual(['triton-l4.example.com']);
    const paths = route.rules.flatMap((r) => r.matches.map((m) => m.path.value));
    expect(paths.some((p) => p.startsWith('/v2/repository') || p === '/' || p === '/v2')).toBe(false);
    expect(((objects[4] as Any).spec as { default: { securityPolicy: string } }).default.securityPolicy).toBe(
      'armor',
    );
  });
});

describe('exposureDrift', () => {
  const desired = buildExposure(instance, GATEWAY);
  const service = (type: string, annotations: Record<string, string> = {}): Any =>
    ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'legacy', namespace: 'triton', annotations },
      spec: { type, selector: { 'app.kubernetes.io/name': 'triton' } },
    }) as Any;
  const route = (matches: unknown[]): Any => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'other', namespace: 'triton' },
    spec: { rules: [{ matches, backendRefs: [{ name: 'triton-l4' }] }] },
  });

  it.each<[string, Any[], ExposurePolicy, string[]]>([
    ['everything as desired: nothing', [], GATEWAY, []],
    [
      'a public LoadBalancer Service selecting Triton',
      [service('LoadBalancer')],
      GATEWAY,
      ['EXTERNAL_EXPOSURE Service/triton/legacy'],
    ],
    ['a NodePort Service', [service('NodePort')], GATEWAY, ['EXTERNAL_EXPOSURE Service/triton/legacy']],
    [
      'an internal one is fine',
      [service('LoadBalancer', { 'networking.gke.io/load-balancer-type': 'Internal' })],
      GATEWAY,
      [],
    ],
    ['a catch-all route', [route([])], GATEWAY, ['REPOSITORY_API_EXPOSED HTTPRoute/triton/other']],
    [
      'a /v2 prefix',
      [route([{ path: { type: 'PathPrefix', value: '/v2' } }])],
      GATEWAY,
      ['REPOSITORY_API_EXPOSED HTTPRoute/triton/other'],
    ],
    [
      'a regex',
      [route([{ path: { type: 'RegularExpression', value: '.*' } }])],
      GATEWAY,
      ['REPOSITORY_API_EXPOSED HTTPRoute/triton/other'],
    ],
    [
      'an inference prefix is fine',
      [route([{ path: { type: 'PathPrefix', value: '/v2/models/' } }])],
      GATEWAY,
      [],
    ],
  ])('%s', (_name, extra, policy, want) => {
    const result = exposureDrift({ desired, live: [...desired, ...extra], policy, pools: ['triton-l4'] });
    expect(result.findings.map((f) => `${f.check} ${f.target}`)).toEqual(want);
  });

  it('finds Cloud Armor missing, and repairs or only reports as the policy says', () => {
    const live = desired.filter((o) => o.kind !== 'GCPBackendPolicy');
    const repair = exposureDrift({ desired, live, policy: GATEWAY, pools: ['triton-l4'] });
    const report = exposureDrift({
      desired,
      live,
      policy: { ...GATEWAY, onDrift: 'report' },
      pools: ['triton-l4'],
    });
    expect(repair.findings.map((f) => f.check).sort()).toEqual(['CLOUD_ARMOR_MISSING', 'EXPOSURE_DRIFT']);
    expect(repair.actions.map((a) => `${a.kind} ${a.target}`)).toEqual([
      'applyObject GCPBackendPolicy/triton/triton-l4',
    ]);
    expect(report.findings).toEqual(repair.findings);
    expect(report.actions).toEqual([]);
  });

  it('going internal deletes the managed gateway objects, never the ones it does not manage', () => {
    const internal = buildExposure(instance, INTERNAL);
    const result = exposureDrift({
      desired: internal,
      live: [...desired, route([{ path: { value: '/v2/models/' } }])],
      policy: INTERNAL,
      pools: ['triton-l4'],
    });
    expect(result.actions.filter((a) => a.kind === 'deleteObject').map((a) => a.target)).toEqual([
      'Gateway/triton/inferplane-triton',
      'HTTPRoute/triton/triton-l4',
      'HealthCheckPolicy/triton/triton-l4',
      'GCPBackendPolicy/triton/triton-l4',
    ]);
  });
});
