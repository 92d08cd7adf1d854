import { describe, expect, it } from 'vitest';
import { makeKeyId } from '../../shared/domain/keys';
import { createPlan, type KubernetesObject } from '../../shared/domain/plan';
import { PermanentError } from '../../shared/runtime/errors';
import { buildKeySecret } from '../../shared/security/keys';
import {
  binaryAuthorizationFindings,
  checkRolloutPosture,
  imageFindings,
  imageName,
  nodePoolFindings,
  type PosturePolicy,
  secretAgeFindings,
  workloadIdentityFindings,
} from '../../shared/security/posture';

const POLICY: PosturePolicy = {
  imageAllowlist: ['nvcr.io/nvidia/tritonserver'],
  requireDigest: true,
  enforce: false,
  directPrincipalBinding: false,
  requireBinaryAuthorization: true,
};
const DIGEST = `@sha256:${'a'.repeat(64)}`;
const deployment = (containers: string[], init: string[] = []): KubernetesObject =>
  ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'triton-l4', namespace: 'triton' },
    spec: {
      template: {
        spec: {
          initContainers: init.map((image, i) => ({ name: `i${i}`, image })),
          containers: containers.map((image, i) => ({ name: `c${i}`, image })),
        },
      },
    },
  }) as KubernetesObject;

describe('images', () => {
  it.each([
    ['nvcr.io/nvidia/tritonserver:25.01-py3', 'nvcr.io/nvidia/tritonserver'],
    [`nvcr.io/nvidia/tritonserver:25.01-py3${DIGEST}`, 'nvcr.io/nvidia/tritonserver'],
    ['localhost:5000/triton', 'localhost:5000/triton'],
  ])('the name of %s is %s', (image, name) => expect(imageName(image)).toBe(name));

  it.each<[string, string[], string[], string[]]>([
    ['pinned and allowed: nothing', [`nvcr.io/nvidia/tritonserver:25.01-py3${DIGEST}`], [], []],
    ['a tag only', ['nvcr.io/nvidia/tritonserver:25.01-py3'], [], ['IMAGE_NOT_PINNED']],
    ['another registry', [`docker.io/evil/triton${DIGEST}`], [], ['IMAGE_NOT_ALLOWED']],
    [
      'a prefix that only looks alike',
      [`nvcr.io/nvidia/tritonserver-evil${DIGEST}`],
      [],
      ['IMAGE_NOT_ALLOWED'],
    ],
    [
      'an init container too',
      [`nvcr.io/nvidia/tritonserver${DIGEST}`],
      ['busybox'],
      ['IMAGE_NOT_PINNED', 'IMAGE_NOT_ALLOWED'],
    ],
  ])('%s', (_name, containers, init, want) => {
    expect(imageFindings([deployment(containers, init)], POLICY).map((f) => f.check)).toEqual(want);
  });

  it('refuses a rollout onto such images only when the policy enforces', () => {
    const plan = createPlan({ nowMs: () => 0 }, 'r', [
      {
        kind: 'applyObject',
        target: 't',
        costDeltaPerHour: 0,
        before: null,
        after: deployment(['busybox:1']),
      },
    ]);
    expect(() => checkRolloutPosture(plan, POLICY)).not.toThrow();
    const err = (() => {
      try {
        checkRolloutPosture(plan, { ...POLICY, enforce: true });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).reason).toBe('POSTURE_REFUSED');
    expect((err as PermanentError).message).toContain('busybox:1');
  });
});

describe('workload identity, node pools, Binary Authorization, secret age', () => {
  const sa = (annotations: Record<string, string>): KubernetesObject =>
    ({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'triton', namespace: 'triton', annotations },
    }) as KubernetesObject;

  it.each<[string, KubernetesObject[], Partial<PosturePolicy>, number]>([
    [
      'bound by annotation',
      [sa({ 'iam.gke.io/gcp-service-account': 'reader@p.iam.gserviceaccount.com' })],
      {},
      0,
    ],
    ['no annotation', [sa({})], {}, 1],
    ['a malformed one', [sa({ 'iam.gke.io/gcp-service-account': 'reader' })], {}, 1],
    ['no service account at all', [], {}, 1],
    ['a direct principal binding (invisible from the cluster)', [], { directPrincipalBinding: true }, 0],
  ])('Workload Identity: %s', (_name, accounts, over, count) => {
    expect(workloadIdentityFindings(accounts, ['triton'], 'triton', { ...POLICY, ...over })).toHaveLength(
      count,
    );
  });

  it.each([
    ['GKE_METADATA by name', { mode: 'GKE_METADATA' }, 0],
    ['GKE_METADATA as the REST enum number', { mode: 2 }, 0],
    ['GCE_METADATA', { mode: 'GCE_METADATA' }, 1],
    ['unset', undefined, 1],
  ])('GPU node pool metadata: %s', (_name, wmc, count) => {
    const pools = [
      { name: 'gpu', config: { accelerators: [{}], ...(wmc ? { workloadMetadataConfig: wmc } : {}) } },
      { name: 'system', config: { accelerators: [] } },
    ];
    expect(nodePoolFindings(pools)).toHaveLength(count);
  });

  it.each<[string, unknown, boolean | undefined, boolean, number]>([
    ['enforced', 'PROJECT_SINGLETON_POLICY_ENFORCE', undefined, true, 0],
    ['enforced, as a number', 2, undefined, true, 0],
    ['disabled', 'DISABLED', undefined, true, 1],
    ['absent', undefined, undefined, true, 1],
    ['the deprecated enabled flag', undefined, true, true, 0],
    ['not required by the policy', 'DISABLED', undefined, false, 0],
  ])('Binary Authorization %s', (_name, mode, enabled, required, count) => {
    const cluster = {
      name: 'c',
      ...(mode === undefined ? {} : { binaryAuthorizationMode: mode }),
      ...(enabled === undefined ? {} : { binaryAuthorizationEnabled: enabled }),
    };
    expect(
      binaryAuthorizationFindings(cluster, { ...POLICY, requireBinaryAuthorization: required }),
    ).toHaveLength(count);
  });

  it('a managed key Secret older than its rotation period', () => {
    const t0 = Date.UTC(2026, 0, 1);
    const id = makeKeyId('admin', t0, 'abcdef');
    const secret = buildKeySecret('triton-l4-admin', 'triton', {
      keys: { [id]: 'value-1234567' },
      active: { admin: id },
    });
    expect(secretAgeFindings([secret], 30, t0 + 29 * 86_400_000)).toEqual([]);
    const old = secretAgeFindings([secret], 30, t0 + 31 * 86_400_000);
    expect(old.map((f) => f.check)).toEqual(['SECRET_TOO_OLD']);
    expect(old[0]?.message).toContain('31 day(s) old');
    expect(JSON.stringify(old)).not.toContain('value-1234567');
  });
});
