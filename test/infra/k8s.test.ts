// biome-ignore-all lint/suspicious/noTemplateCurlyInString: HCL expressions, not templates
/**
 * infra/k8s, held to what the control plane does and what Terraform creates: the functions' RBAC is
 * namespaced except for reading Nodes and patching the Triton Namespace; deployModel's Role covers
 * every object a pool's desired state holds, with the verbs server-side apply needs; no rule grants
 * `update`, wildcards, ConfigMaps or Secrets outside the namespace; every subject is one of
 * Terraform's function accounts; and the metrics adapter runs as Terraform's account, under the
 * Kubernetes name its Workload Identity binding names, serving the API the HPA controller reads.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseHcl } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { desiredPool } from '../../shared/cluster/desired';
import { loadPolicy } from '../../shared/policy/load';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const K8S = path.join(ROOT, 'infra', 'k8s');

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
  spec?: Record<string, unknown>;
}

async function docs(file: string): Promise<Doc[]> {
  const text = await readFile(path.join(K8S, file), 'utf8');
  return parseAllDocuments(text).map((d) => d.toJS() as Doc);
}

const plural = (kind: string) => (kind.endsWith('y') ? `${kind.slice(0, -1)}ies` : `${kind}s`).toLowerCase();
const group = (apiVersion: string): string =>
  apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '';

function allows(
  rules: readonly Rule[],
  apiGroup: string,
  resource: string,
  verb: string,
  name?: string,
): boolean {
  return rules.some(
    (r) =>
      r.apiGroups.includes(apiGroup) &&
      r.resources.includes(resource) &&
      r.verbs.includes(verb) &&
      (r.resourceNames === undefined || (name !== undefined && r.resourceNames.includes(name))),
  );
}

let rbac: Doc[];
let adapter: Doc[];
let accountIds: Record<string, string>;
let terraformText: string;

beforeAll(async () => {
  rbac = await docs('rbac.yaml');
  adapter = await docs('custom-metrics-adapter.yaml');
  terraformText = await readFile(path.join(ROOT, 'infra', 'terraform', 'iam.tf'), 'utf8');
  const hcl = (await parseHcl('iam.tf', terraformText)) as {
    locals: { account_ids?: Record<string, string> }[];
  };
  const ids = hcl.locals.find((l) => l.account_ids)?.account_ids ?? {};
  // With the default name_prefix, as the manifests are written.
  accountIds = Object.fromEntries(
    Object.entries(ids).map(([fn, id]) => [fn, id.replace('${var.name_prefix}', 'inferplane')]),
  );
});

const email = (id: string) => `${id}@PROJECT_ID.iam.gserviceaccount.com`;
const roleOf = (name: string) => rbac.find((d) => d.kind === 'Role' && d.metadata.name === name);
const rulesFor = (subject: string, kind: 'Role' | 'ClusterRole'): Rule[] =>
  rbac
    .filter(
      (b) =>
        b.kind === (kind === 'Role' ? 'RoleBinding' : 'ClusterRoleBinding') &&
        b.roleRef?.kind === kind &&
        b.subjects?.some((s) => s.name === subject),
    )
    .flatMap((b) => rbac.find((r) => r.kind === kind && r.metadata.name === b.roleRef?.name)?.rules ?? []);

describe('infra/k8s/rbac.yaml', () => {
  it('is namespaced to triton, except a ClusterRole that lists Nodes and touches the Triton Namespace only', () => {
    // Prepare
    const clusterRoles = rbac.filter((d) => d.kind === 'ClusterRole');
    const namespaced = rbac.filter((d) => d.kind === 'Role' || d.kind === 'RoleBinding');

    // Assess
    for (const d of namespaced) expect(d.metadata.namespace).toBe('triton');
    expect(clusterRoles.flatMap((c) => c.rules ?? [])).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['list'] },
      { apiGroups: [''], resources: ['namespaces'], resourceNames: ['triton'], verbs: ['get', 'patch'] },
    ]);
    expect(rbac.some((d) => d.roleRef?.name === 'cluster-admin')).toBe(false);
    for (const b of rbac.filter((d) => d.kind === 'ClusterRoleBinding'))
      expect(clusterRoles.map((c) => c.metadata.name)).toContain(b.roleRef?.name);
  });

  it('grants no update (but on the Scale subresource), no wildcard, no ConfigMaps', () => {
    for (const rule of rbac.flatMap((d) => d.rules ?? [])) {
      // The Scale subresource is replaced (PUT), conditionally on the resourceVersion read.
      if (!(rule.resources.length === 1 && rule.resources[0] === 'deployments/scale'))
        expect(rule.verbs).not.toContain('update');
      expect(rule.verbs).not.toContain('*');
      expect(rule.resources).not.toContain('*');
      expect(rule.apiGroups).not.toContain('*');
      expect(rule.resources).not.toContain('configmaps');
    }
  });

  it("lets deployModel apply every object of a pool's desired state, and read its pods and nodes", () => {
    // Prepare
    const policy = loadPolicy(
      [
        'apiVersion: inferplane.dev/v1',
        'kind: ControlPlanePolicy',
        'cluster: { project: p, name: inference, namespace: triton, repositoryBucket: r-b, incomingBucket: i-b }',
        'guardrails: { maxGpusTotal: 8, maxGpusPerPool: 8, maxNodes: 8, maxDollarsPerHour: 100 }',
        '',
      ].join('\n'),
    );
    const pool = desiredPool({ policy, gpuClassId: 'l4', models: [policy.modelDefaults], adminKey: 'k' });
    const subject = email(accountIds.deployModel ?? '');
    const namespaced = rulesFor(subject, 'Role');
    const cluster = rulesFor(subject, 'ClusterRole');

    // Assess
    for (const o of pool.objects) {
      const rules = o.kind === 'Namespace' ? cluster : namespaced;
      const verbs = o.kind === 'Namespace' ? ['get', 'patch'] : ['get', 'create', 'patch'];
      for (const verb of verbs)
        expect(
          allows(rules, group(o.apiVersion), plural(o.kind), verb, o.metadata.name),
          `${verb} ${o.kind}`,
        ).toBe(true);
    }
    expect(allows(namespaced, '', 'pods', 'list')).toBe(true);
    expect(allows(cluster, '', 'nodes', 'list')).toBe(true);
  });

  it.each([
    ['scaleOnAlert', 'apps', 'deployments/scale', 'get'],
    ['scaleOnAlert', 'apps', 'deployments/scale', 'update'],
    ['applySchedules', 'apps', 'deployments/scale', 'update'],
    ['scaleOnAlert', 'autoscaling', 'horizontalpodautoscalers', 'patch'],
    ['applySchedules', 'apps', 'deployments', 'patch'],
    ['rotateSecurity', '', 'secrets', 'patch'],
    ['rotateSecurity', 'networking.k8s.io', 'networkpolicies', 'patch'],
    ['rotateSecurity', 'gateway.networking.k8s.io', 'gateways', 'patch'],
    ['rotateSecurity', 'gateway.networking.k8s.io', 'httproutes', 'patch'],
  ])('lets %s %4$s %3$s in the Triton namespace', (fn, apiGroup, resource, verb) => {
    expect(allows(rulesFor(email(accountIds[fn] ?? ''), 'Role'), apiGroup, resource, verb)).toBe(true);
  });

  it('gives Secrets only to deployModel and rotateSecurity, and binds only Terraform accounts', () => {
    // Prepare
    const subjects = rbac.flatMap((d) => d.subjects ?? []).map((s) => s.name);
    const withSecrets = Object.entries(accountIds)
      .filter(([, id]) => allows(rulesFor(email(id), 'Role'), '', 'secrets', 'get'))
      .map(([fn]) => fn);

    // Assess
    expect(withSecrets.sort()).toEqual(['deployModel', 'rotateSecurity']);
    for (const s of subjects) expect(Object.values(accountIds).map(email)).toContain(s);
    for (const id of Object.values(accountIds)) expect(subjects).toContain(email(id));
    expect(roleOf('inferplane-deploy')).toBeDefined();
  });
});

describe('infra/k8s/custom-metrics-adapter.yaml', () => {
  it('runs as the Terraform account its Workload Identity binding names', () => {
    // Prepare
    const sa = adapter.find((d) => d.kind === 'ServiceAccount');
    const deployment = adapter.find((d) => d.kind === 'Deployment');
    const template = (deployment?.spec?.template ?? {}) as { spec?: { serviceAccountName?: string } };

    // Assess
    expect(sa?.metadata.annotations?.['iam.gke.io/gcp-service-account']).toBe(email('inferplane-metrics'));
    expect(terraformText).toContain('account_id   = "${var.name_prefix}-metrics"');
    expect(terraformText).toContain(`[${sa?.metadata.namespace}/${sa?.metadata.name}]`);
    expect(template.spec?.serviceAccountName).toBe(sa?.metadata.name);
  });

  it('serves external.metrics.k8s.io and lets the HPA controller read it', () => {
    // Prepare
    const api = adapter.find((d) => d.kind === 'APIService');
    const service = adapter.find((d) => d.kind === 'Service');
    const binding = adapter.find(
      (d) =>
        d.kind === 'ClusterRoleBinding' && d.subjects?.some((s) => s.name === 'horizontal-pod-autoscaler'),
    );
    const role = adapter.find((d) => d.kind === 'ClusterRole' && d.metadata.name === binding?.roleRef?.name);

    // Assess
    expect(api?.spec).toMatchObject({
      group: 'external.metrics.k8s.io',
      service: { name: service?.metadata.name, namespace: service?.metadata.namespace },
    });
    expect(binding?.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'horizontal-pod-autoscaler', namespace: 'kube-system' },
    ]);
    expect(allows(role?.rules ?? [], 'external.metrics.k8s.io', '*', 'get')).toBe(true);
  });
});

describe('infra/k8s/namespace.yaml', () => {
  it("creates Terraform's default namespace", async () => {
    const [ns] = await docs('namespace.yaml');
    const variables = await readFile(path.join(ROOT, 'infra', 'terraform', 'variables.tf'), 'utf8');
    expect(ns?.kind).toBe('Namespace');
    expect(variables).toMatch(
      new RegExp(`variable "namespace" \\{[^}]*default\\s+=\\s+"${ns?.metadata.name}"`),
    );
  });
});
