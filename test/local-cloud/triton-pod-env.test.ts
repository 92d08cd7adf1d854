/**
 * What the kubelet would run for a pod's Triton container: `$(VAR)` expansion from the
 * container's env (values, Secrets, ConfigMaps), and pods that cannot start yet.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../infra/local/kubernetes';
import { expandVars, tritonProcesses } from '../../infra/local/pod-triton';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function object(kind: string, name: string, data: Record<string, string>, namespace = 'triton'): KubeObject {
  return {
    apiVersion: 'v1',
    kind,
    metadata: { name, namespace, uid: `${kind}-${name}`, resourceVersion: '1', creationTimestamp: '' },
    data,
  };
}

function pod(env: unknown[], args: string[], labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'triton-l4-0a1b2c3d4e-0',
      namespace: 'triton',
      uid: 'pod-uid-1',
      resourceVersion: '1',
      creationTimestamp: '',
      labels,
    },
    spec: {
      containers: [
        { name: 'sidecar', image: 'busybox', args: ['sleep', '1d'] },
        { name: 'triton-l4', image: 'tritonserver', args, env },
      ],
    },
  };
}

const objects = [
  object('Secret', 'admin', { 'admin-key': b64('s3cret') }),
  object('Secret', 'admin', { 'admin-key': b64('other-namespace') }, 'default'),
  object('ConfigMap', 'settings', { mode: 'explicit' }),
];
const lookup = (kind: string) => objects.filter((o) => o.kind === kind);

describe('tritonProcesses', () => {
  const cases: Array<[string, unknown[], string[], string[]]> = [
    [
      'a Secret key',
      [{ name: 'KEY', valueFrom: { secretKeyRef: { name: 'admin', key: 'admin-key' } } }],
      [
        'tritonserver',
        '--model-repository=gs://b/models/p',
        '--http-restricted-api=model-repository:h=$(KEY)',
      ],
      [
        'tritonserver',
        '--model-repository=gs://b/models/p',
        '--http-restricted-api=model-repository:h=s3cret',
      ],
    ],
    [
      'a ConfigMap key and a value referring to an earlier variable',
      [
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
        { name: 'FLAG', value: '--model-control-mode=$(MODE)' },
      ],
      ['tritonserver', '--model-repository=gs://b/m', '$(FLAG)'],
      ['tritonserver', '--model-repository=gs://b/m', '--model-control-mode=explicit'],
    ],
    [
      'an escaped and an undefined reference',
      [{ name: 'A', value: 'a' }],
      ['tritonserver', '--model-repository=gs://b/m', '$$(A)', '$(NOPE)'],
      ['tritonserver', '--model-repository=gs://b/m', '$(A)', '$(NOPE)'],
    ],
    [
      'an optional missing Secret',
      [{ name: 'K', valueFrom: { secretKeyRef: { name: 'absent', key: 'k', optional: true } } }],
      ['tritonserver', '--model-repository=gs://b/m', 'k=$(K)'],
      ['tritonserver', '--model-repository=gs://b/m', 'k=$(K)'],
    ],
  ];
  it.each(cases)('expands %s', (_name, env, args, expected) => {
    // Act
    const procs = tritonProcesses([pod(env, args, { 'app.kubernetes.io/instance': 'triton-l4' })], lookup);
    // Assess
    expect(procs).toEqual([
      {
        uid: 'pod-uid-1',
        name: 'triton-l4-0a1b2c3d4e-0',
        namespace: 'triton',
        pool: 'triton-l4',
        args: expected,
      },
    ]);
  });

  it.each([
    ['a missing Secret', { name: 'absent', key: 'admin-key' }],
    ['a missing key', { name: 'admin', key: 'nope' }],
  ])('does not start a pod whose env refers to %s', (_name, ref) => {
    const procs = tritonProcesses(
      [
        pod(
          [{ name: 'K', valueFrom: { secretKeyRef: ref } }],
          ['tritonserver', '--model-repository=gs://b/m'],
        ),
      ],
      lookup,
    );
    expect(procs).toEqual([]);
  });

  it('derives the pool from the pod name without the instance label, and skips non-Triton pods', () => {
    const notTriton: KubeObject = { ...pod([], []), spec: { containers: [{ name: 'x', args: ['sleep'] }] } };
    const procs = tritonProcesses(
      [pod([], ['tritonserver', '--model-repository=gs://b/m']), notTriton],
      lookup,
    );
    expect(procs.map((p) => p.pool)).toEqual(['triton-l4']);
  });
});

describe('expandVars', () => {
  it.each([
    ['$(A)-$(B)', 'x-y'],
    ['$$(A)', '$(A)'],
    ['$(C)', '$(C)'],
    ['$A', '$A'],
  ])('%s -> %s', (text, expected) => {
    expect(
      expandVars(
        text,
        new Map([
          ['A', 'x'],
          ['B', 'y'],
        ]),
      ),
    ).toBe(expected);
  });
});
