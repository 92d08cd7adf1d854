import { describe, expect, it } from 'vitest';
import { placementFor, tritonInstanceFor } from '../../shared/cluster/desired';
import { buildTritonDeployment } from '../../shared/cluster/triton';
import { makeKeyId } from '../../shared/domain/keys';
import { loadPolicy } from '../../shared/policy';
import type { LiveObject } from '../../shared/ports/kubernetes';
import { decideSecurity, type SecurityObservation } from '../../shared/security/decide';
import { buildKeySecret } from '../../shared/security/keys';
import { buildNetworkPolicySet } from '../../shared/security/network';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1);
const text = (security = '') =>
  [
    'apiVersion: inferplane.dev/v1',
    'kind: ControlPlanePolicy',
    'cluster: { project: p, name: c, repositoryBucket: repo, incomingBucket: incoming }',
    'guardrails: { maxGpusTotal: 4, maxGpusPerPool: 4, maxNodes: 4, maxDollarsPerHour: 50 }',
    security,
    '',
  ].join('\n');
const policy = loadPolicy(text());
const OLD = makeKeyId('admin', T0, 'aaaaaa');
const instance = tritonInstanceFor(policy, placementFor(policy, 'l4'), { admin: OLD });
const deployment = buildTritonDeployment(instance) as unknown as LiveObject;
const secret = buildKeySecret('triton-l4-admin', 'triton', {
  keys: { [OLD]: 'old-value-123456' },
  active: { admin: OLD },
}) as LiveObject;
const oldSet = buildNetworkPolicySet({
  namespace: 'triton',
  spec: { ...policy.security.networkPolicy, allowCidrs: ['10.1.0.0/16'] },
  source: 'policy',
});

function observed(over: Partial<SecurityObservation> = {}): SecurityObservation {
  return {
    deployments: [deployment],
    pods: [],
    secrets: { 'triton-l4': secret },
    networkPolicies: oldSet.objects as LiveObject[],
    exposure: [],
    serviceAccounts: [],
    nodePools: [],
    cluster: { name: 'c', binaryAuthorizationMode: 'PROJECT_SINGLETON_POLICY_ENFORCE' },
    ...over,
  };
}

const fresh = () => ({
  admin: { id: makeKeyId('admin', T0 + 31 * DAY, 'bbbbbb'), value: 'new-value-123456' },
  inference: { id: makeKeyId('inference', T0 + 31 * DAY, 'cccccc'), value: 'new-inference-123456' },
});

describe('decideSecurity', () => {
  it('orders the plan: new set, exposure, Secret then Deployment, then the bundle record, prunes last', () => {
    const d = decideSecurity({
      policy,
      observed: observed(),
      nowMs: T0 + 31 * DAY,
      fresh,
      force: false,
      recordBundle: {
        object: { bucket: 'state', name: '_inferplane/security/active-bundle.json' },
        before: null,
        record: { bucket: 's', name: 'bundles/x.yaml', generation: '1', appliedAt: 'now' },
      },
    });
    const steps = d.plan.actions.map((a) => `${a.kind} ${a.target.split('/').slice(0, 1).join('')}`);
    expect(steps).toEqual([
      'applyObject NetworkPolicy',
      'applyObject NetworkPolicy',
      'applyObject NetworkPolicy',
      'applyObject Service',
      'applyObject Secret',
      'applyObject Deployment',
      'writeStorageObject gs:',
      'deleteObject NetworkPolicy',
      'deleteObject NetworkPolicy',
      'deleteObject NetworkPolicy',
    ]);
    // Secret values never enter the plan.
    expect(JSON.stringify(d.plan)).not.toContain('new-value-123456');
    expect(JSON.stringify(d.plan)).not.toContain('old-value-123456');
    expect(d.keys[0]).toMatchObject({ pool: 'triton-l4', rolls: true, rotated: [fresh().admin.id] });
  });

  it('refuses the rollout of a rotation onto images the policy forbids, and keeps the keys as they are', () => {
    const enforcing = loadPolicy(text('security: { posture: { enforce: true } }'));
    const d = decideSecurity({
      policy: enforcing,
      observed: observed(),
      nowMs: T0 + 31 * DAY,
      fresh,
      force: false,
    });
    expect(
      d.plan.actions.filter((a) => a.kind === 'applyObject' && /Secret|Deployment/.test(a.target)),
    ).toEqual([]);
    expect(d.findings.map((f) => f.check)).toContain('ROLLOUT_REFUSED');
  });

  it('leaves pools whose GPU class the policy no longer knows, saying so', () => {
    const stray = {
      ...deployment,
      metadata: {
        ...deployment.metadata,
        labels: { ...deployment.metadata.labels, 'inferplane.dev/gpu-class': 'tpu' },
      },
    };
    const d = decideSecurity({
      policy,
      observed: observed({ deployments: [stray as LiveObject] }),
      nowMs: T0,
      fresh,
      force: false,
    });
    expect(d.keys).toEqual([]);
    expect(d.notes.join(' ')).toContain('GPU class tpu');
  });
});
