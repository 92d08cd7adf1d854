/**
 * The pure pieces of the local Kubernetes apiserver: selectors, patches and the server-side-apply
 * ownership model. The wire behaviour is covered by kubernetes.test.ts through the real client.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KubeApiError } from '../../infra/local/kubernetes/errors';
import {
  applyConfig,
  deleteAt,
  fromFieldsV1,
  keyPath,
  leafValues,
  type Owner,
  recordUpdate,
  toFieldsV1,
} from '../../infra/local/kubernetes/fields';
import { jsonPatch, mergePatch, strategicMergePatch } from '../../infra/local/kubernetes/patch';
import {
  matchesRequirements,
  parseFieldSelector,
  parseLabelSelector,
  selectorString,
} from '../../infra/local/kubernetes/selectors';

describe('label selectors', () => {
  const labels = { app: 'triton', tier: 'gpu' };

  it.each([
    ['app=triton', true],
    ['app = triton', true],
    ['app!=triton', false],
    ['app in (triton, onnx)', true],
    ['app notin (triton)', false],
    ['missing notin (x)', true],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['app=triton,tier in (cpu)', false],
    ['example.com/owner', false],
  ])('%j matches {app: triton, tier: gpu}: %s', (selector, expected) => {
    // Act
    const result = matchesRequirements(parseLabelSelector(selector), labels);

    // Assess
    expect(result).toBe(expected);
  });

  it.each(['a in (b', 'bad key!=x', 'a=b,,c=d', 'a=in valid'])(
    'refuses %j with 400 BadRequest',
    (selector) => {
      // Act
      const act = () => parseLabelSelector(selector);

      // Assess
      expect(act).toThrow(KubeApiError);
      expect(() => parseLabelSelector(selector)).toThrow(expect.objectContaining({ code: 400 }));
    },
  );

  it('prints a structured selector as the string Scale.status.selector carries', () => {
    // Act
    const text = selectorString({
      matchLabels: { app: 'triton' },
      matchExpressions: [{ key: 'tier', operator: 'In', values: ['gpu', 'spot'] }],
    });

    // Assess
    expect(text).toBe('app=triton,tier in (gpu,spot)');
  });

  it('field selectors accept metadata.name and metadata.namespace only', () => {
    // Act
    const parsed = parseFieldSelector('metadata.name=a,metadata.namespace!=b');

    // Assess
    expect(parsed).toEqual([
      { field: 'metadata.name', equals: true, value: 'a' },
      { field: 'metadata.namespace', equals: false, value: 'b' },
    ]);
    expect(() => parseFieldSelector('status.phase=Running')).toThrow(expect.objectContaining({ code: 400 }));
  });
});

describe('patches', () => {
  it('JSON merge patch removes fields set to null and replaces lists', () => {
    // Act
    const out = mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { b: { c: null, e: 4 }, l: [3] });

    // Assess
    expect(out).toEqual({ a: 1, b: { d: 3, e: 4 }, l: [3] });
  });

  it('strategic merge patch merges name-keyed containers and appends new ones', () => {
    // Act
    const out = strategicMergePatch(
      { containers: [{ name: 'a', image: 'x', args: ['--v'] }] },
      {
        containers: [
          { name: 'a', image: 'y' },
          { name: 'b', image: 'z' },
        ],
      },
    );

    // Assess
    expect(out).toEqual({
      containers: [
        { name: 'a', image: 'y', args: ['--v'] },
        { name: 'b', image: 'z' },
      ],
    });
  });

  it.each([
    ['add', [{ op: 'add', path: '/l/1', value: 9 }], { a: { b: 1 }, l: [1, 9, 2] }],
    ['add to end', [{ op: 'add', path: '/l/-', value: 9 }], { a: { b: 1 }, l: [1, 2, 9] }],
    ['remove', [{ op: 'remove', path: '/a/b' }], { a: {}, l: [1, 2] }],
    ['replace', [{ op: 'replace', path: '/l/0', value: 7 }], { a: { b: 1 }, l: [7, 2] }],
    ['move', [{ op: 'move', from: '/a/b', path: '/c' }], { a: {}, l: [1, 2], c: 1 }],
    ['copy', [{ op: 'copy', from: '/a', path: '/d' }], { a: { b: 1 }, l: [1, 2], d: { b: 1 } }],
    [
      'test then replace',
      [
        { op: 'test', path: '/a/b', value: 1 },
        { op: 'replace', path: '/a/b', value: 2 },
      ],
      { a: { b: 2 }, l: [1, 2] },
    ],
  ])('JSON patch %s', (_op, ops, expected) => {
    // Act
    const out = jsonPatch({ a: { b: 1 }, l: [1, 2] }, ops);

    // Assess
    expect(out).toEqual(expected);
  });

  it.each([
    ['a failed test', [{ op: 'test', path: '/a', value: 2 }], 422],
    ['replacing a missing path', [{ op: 'replace', path: '/x/y', value: 1 }], 422],
    ['an unknown op', [{ op: 'frobnicate', path: '/a' }], 400],
    ['a body that is not a list', { op: 'add' }, 400],
  ])('JSON patch refuses %s', (_case, ops, code) => {
    // Act
    const act = () => jsonPatch({ a: 1 }, ops);

    // Assess
    expect(act).toThrow(expect.objectContaining({ code }));
  });
});

describe('field ownership', () => {
  const deployment = (replicas: number, containers: Record<string, unknown>[]) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', namespace: 'n', labels: { app: 'd' } },
    spec: { replicas, template: { spec: { containers } } },
  });

  it('leaf paths skip server-owned metadata and status and address containers by name', () => {
    // Act
    const leaves = [
      ...leafValues({ ...deployment(2, [{ name: 'triton', image: 'x' }]), status: { replicas: 2 } }).keys(),
    ];

    // Assess
    expect(leaves.map((k) => keyPath(k).join(' '))).toEqual([
      'f:metadata f:labels f:app',
      'f:spec f:replicas',
      'f:spec f:template f:spec f:containers k:{"name":"triton"} f:name',
      'f:spec f:template f:spec f:containers k:{"name":"triton"} f:image',
    ]);
  });

  it('FieldsV1 round-trips any set of leaf paths', () => {
    // Prepare
    const segment = fc.oneof(
      fc.stringMatching(/^[a-z]{1,6}$/).map((s) => `f:${s}`),
      fc.stringMatching(/^[a-z]{1,6}$/).map((s) => `k:${JSON.stringify({ name: s })}`),
    );
    const paths = fc.uniqueArray(fc.array(segment, { minLength: 1, maxLength: 4 }), { maxLength: 12 });

    fc.assert(
      fc.property(paths, (list) => {
        // Only sets where no path is a prefix of another are expressible as FieldsV1 leaves.
        const keys = list.map((p) => p.join('\u0000'));
        const prefixFree = keys.filter((k) => !keys.some((o) => o !== k && o.startsWith(`${k}\u0000`)));
        // Act
        const back = fromFieldsV1(toFieldsV1(prefixFree));
        // Assess
        expect([...back].sort()).toEqual([...new Set(prefixFree)].sort());
      }),
    );
  });

  it('two appliers can own different containers; dropping one removes only that container', () => {
    // Prepare
    const first = applyConfig(undefined, [], deployment(1, [{ name: 'triton', image: 'x' }]), 'a', false);
    const second = applyConfig(
      first.object,
      first.owners,
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'd' },
        spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'y' }] } } },
      },
      'b',
      false,
    );

    // Act
    const dropped = applyConfig(
      second.object,
      second.owners,
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } },
      'b',
      false,
    );

    // Assess
    expect(second.conflicts).toEqual([]);
    expect(second.object).toMatchObject({
      spec: { template: { spec: { containers: [{ name: 'triton' }, { name: 'sidecar' }] } } },
    });
    expect(dropped.object).toMatchObject({
      spec: { template: { spec: { containers: [{ name: 'triton', image: 'x' }] } } },
    });
    expect(
      (dropped.object.spec as { template: { spec: { containers: unknown[] } } }).template.spec.containers,
    ).toHaveLength(1);
  });

  it('a field omitted by its applier stays when another manager also owns it', () => {
    // Prepare
    const a = applyConfig(undefined, [], deployment(2, [{ name: 't', image: 'x' }]), 'a', false);
    const b = applyConfig(a.object, a.owners, deployment(2, [{ name: 't', image: 'x' }]), 'b', false);
    const withoutReplicas = deployment(2, [{ name: 't', image: 'x' }]);
    delete (withoutReplicas.spec as { replicas?: number }).replicas;

    // Act
    const result = applyConfig(b.object, b.owners, withoutReplicas, 'a', false);

    // Assess
    expect(result.object).toMatchObject({ spec: { replicas: 2 } });
  });

  it('conflicts list every differing field owned by someone else; force moves ownership', () => {
    // Prepare
    const a = applyConfig(undefined, [], deployment(2, [{ name: 't', image: 'x' }]), 'a', false);

    // Act
    const refused = applyConfig(a.object, a.owners, deployment(3, [{ name: 't', image: 'y' }]), 'b', false);
    const forced = applyConfig(a.object, a.owners, deployment(3, [{ name: 't', image: 'y' }]), 'b', true);

    // Assess
    expect(refused.conflicts.map((c) => c.path)).toEqual([
      '.spec.replicas',
      '.spec.template.spec.containers[name="t"].image',
    ]);
    expect(forced.conflicts).toEqual([]);
    const owner = (m: string): Owner | undefined => forced.owners.find((o) => o.manager === m);
    expect(owner('a')?.fields.has(['f:spec', 'f:replicas'].join('\u0000'))).toBe(false);
    expect(owner('b')?.fields.has(['f:spec', 'f:replicas'].join('\u0000'))).toBe(true);
  });

  it('an update takes the fields it changed from every other owner', () => {
    // Prepare
    const before = deployment(2, [{ name: 't', image: 'x' }]);
    const owners = applyConfig(undefined, [], before, 'a', false).owners;

    // Act
    const after = recordUpdate(
      owners,
      { manager: 'kubectl', operation: 'Update' },
      before,
      deployment(5, [{ name: 't', image: 'x' }]),
    );

    // Assess
    expect(after.find((o) => o.manager === 'kubectl')?.fields).toEqual(
      new Set([['f:spec', 'f:replicas'].join('\u0000')]),
    );
    expect(after.find((o) => o.manager === 'a')?.fields.has(['f:spec', 'f:replicas'].join('\u0000'))).toBe(
      false,
    );
  });

  it('deleting the last field of a map prunes the maps it leaves empty', () => {
    // Prepare
    const obj = { metadata: { labels: { a: '1' } }, spec: { x: 1 } };

    // Act
    deleteAt(obj, ['f:metadata', 'f:labels', 'f:a']);

    // Assess
    expect(obj).toEqual({ spec: { x: 1 } });
  });
});
