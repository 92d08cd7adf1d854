import { describe, expect, it } from 'vitest';
import type { KubernetesObject } from '../../shared/domain/plan';
import {
  buildNetworkPolicySet,
  GOOGLE_HEALTH_CHECK_CIDRS,
  NETWORK_POLICY_SET_LABEL,
  type NetworkPolicySpec,
  planNetworkPolicies,
} from '../../shared/security/network';

const SPEC: NetworkPolicySpec = {
  allowNamespaces: ['gateway'],
  allowCidrs: ['10.8.0.0/28'],
  allowPodLabels: {},
  monitoringNamespace: 'gmp-system',
  googleApiCidrs: ['199.36.153.8/30'],
};

type Np = KubernetesObject & { spec: Record<string, unknown> };
const byRole = (objects: KubernetesObject[], role: string) =>
  objects.find((o) => o.metadata.name.startsWith(`inferplane-${role}-`)) as Np;

describe('buildNetworkPolicySet', () => {
  const set = buildNetworkPolicySet({ namespace: 'triton', spec: SPEC, source: 'policy' });

  it('denies everything by default, in and out', () => {
    expect(byRole(set.objects, 'default-deny').spec).toEqual({
      podSelector: {},
      policyTypes: ['Ingress', 'Egress'],
    });
  });

  it('lets the allowed peers reach HTTP/gRPC, and the monitoring namespace the metrics port only', () => {
    const ingress = byRole(set.objects, 'triton-ingress').spec.ingress as Array<{
      from: unknown[];
      ports: Array<{ port: number }>;
    }>;
    expect(ingress.map((r) => r.ports.map((p) => p.port))).toEqual([[8000, 8001], [8002]]);
    expect(ingress[0]?.from).toEqual([
      {
        namespaceSelector: {
          matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['gateway'] }],
        },
      },
      { ipBlock: { cidr: '10.8.0.0/28' } },
    ]);
    expect(ingress[1]?.from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'gmp-system' } } },
    ]);
  });

  it('lets pods out to DNS, the metadata server and the Google API ranges only', () => {
    const egress = byRole(set.objects, 'egress').spec.egress as Array<{
      to: unknown[];
      ports: Array<{ protocol: string; port: number }>;
    }>;
    expect(egress.map((r) => r.ports.map((p) => `${p.protocol}/${p.port}`))).toEqual([
      ['UDP/53', 'TCP/53'],
      ['TCP/988'],
      ['TCP/80'],
      ['TCP/443'],
    ]);
    expect(egress[3]?.to).toEqual([{ ipBlock: { cidr: '199.36.153.8/30' } }]);
  });

  it('has no serving rule when nothing is allowed (a rule without peers would admit everyone)', () => {
    const closed = buildNetworkPolicySet({
      namespace: 'triton',
      spec: { ...SPEC, allowNamespaces: [], allowCidrs: [] },
      source: 'policy',
    });
    const ingress = byRole(closed.objects, 'triton-ingress').spec.ingress as Array<{
      ports: Array<{ port: number }>;
    }>;
    expect(ingress.map((r) => r.ports.map((p) => p.port))).toEqual([[8002]]);
  });

  it('versions the set by content: same spec same names, another spec other names', () => {
    const again = buildNetworkPolicySet({ namespace: 'triton', spec: { ...SPEC }, source: 'elsewhere' });
    const other = buildNetworkPolicySet({
      namespace: 'triton',
      spec: { ...SPEC, allowCidrs: ['10.9.0.0/28'] },
      source: 'policy',
    });
    const gateway = buildNetworkPolicySet({
      namespace: 'triton',
      spec: SPEC,
      healthCheckCidrs: GOOGLE_HEALTH_CHECK_CIDRS,
      source: 'policy',
    });
    expect(again.version).toBe(set.version);
    expect(other.version).not.toBe(set.version);
    expect(gateway.version).not.toBe(set.version);
    for (const o of set.objects) expect(o.metadata.labels?.[NETWORK_POLICY_SET_LABEL]).toBe(set.version);
  });
});

describe('planNetworkPolicies', () => {
  const set = buildNetworkPolicySet({ namespace: 'triton', spec: SPEC, source: 'policy' });
  const old = buildNetworkPolicySet({
    namespace: 'triton',
    spec: { ...SPEC, allowCidrs: [] },
    source: 'policy',
  });
  const foreign = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'theirs', namespace: 'triton' },
  };
  const perPool = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: 'triton-l4',
      namespace: 'triton',
      labels: { 'app.kubernetes.io/managed-by': 'inferplane' },
    },
  };

  it('applies every new object before it prunes any old one, and prunes only managed ones', () => {
    const actions = planNetworkPolicies(set, [...old.objects, foreign, perPool]);
    const kinds = actions.map((a) => a.kind);
    expect(kinds).toEqual([
      'applyObject',
      'applyObject',
      'applyObject',
      'deleteObject',
      'deleteObject',
      'deleteObject',
      'deleteObject',
    ]);
    expect(actions.filter((a) => a.kind === 'deleteObject').map((a) => a.target)).not.toContain(
      'NetworkPolicy/triton/theirs',
    );
    expect(actions.map((a) => a.target)).toContain('NetworkPolicy/triton/triton-l4');
  });

  it('plans nothing once the set is in place and nothing else is managed', () => {
    expect(planNetworkPolicies(set, [...set.objects, foreign])).toEqual([]);
  });
});
