import { describe, expect, it } from 'vitest';
import {
  labelSelectorOf,
  readyPods,
  tritonPodsFinder,
  tritonPodUrl,
} from '../../shared/adapters/triton-pods';
import type { KubeObjects, LiveObject } from '../../shared/ports/kubernetes';
import { RetryableError } from '../../shared/runtime/errors';

function pod(name: string, status: Record<string, unknown>, meta: Record<string, unknown> = {}): LiveObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'triton', ...meta }, status };
}

const READY = [{ type: 'Ready', status: 'True' }];
const RING = { keys: { 'admin-key': 's' }, active: { admin: 'admin-key' } };

describe('readyPods', () => {
  it.each([
    [
      'Running, Ready=True, with an IP',
      pod('a', { phase: 'Running', conditions: READY, podIP: '10.0.0.1' }),
      true,
    ],
    ['Pending', pod('a', { phase: 'Pending', conditions: READY, podIP: '10.0.0.1' }), false],
    ['Succeeded', pod('a', { phase: 'Succeeded', conditions: READY, podIP: '10.0.0.1' }), false],
    [
      'Ready=False (probe failing, models loading)',
      pod('a', { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], podIP: '10.0.0.1' }),
      false,
    ],
    [
      'only ContainersReady',
      pod('a', {
        phase: 'Running',
        conditions: [{ type: 'ContainersReady', status: 'True' }],
        podIP: '10.0.0.1',
      }),
      false,
    ],
    ['no conditions', pod('a', { phase: 'Running', podIP: '10.0.0.1' }), false],
    ['no podIP', pod('a', { phase: 'Running', conditions: READY }), false],
    ['empty podIP', pod('a', { phase: 'Running', conditions: READY, podIP: '' }), false],
    ['no status', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a' } } as LiveObject, false],
    [
      'terminating',
      pod(
        'a',
        { phase: 'Running', conditions: READY, podIP: '10.0.0.1' },
        { deletionTimestamp: '2026-01-01T00:00:00Z' },
      ),
      false,
    ],
  ])('%s -> ready: %s', (_what, input, expected) => {
    // Act
    const ready = readyPods([input]);

    // Assess
    expect(ready.length === 1).toBe(expected);
  });

  it('keeps name and IP, sorted by name', () => {
    // Prepare
    const pods = [
      pod('b', { phase: 'Running', conditions: READY, podIP: '10.0.0.2' }),
      pod('c', { phase: 'Pending' }),
      pod('a', { phase: 'Running', conditions: READY, podIP: '10.0.0.1' }),
    ];

    // Act + Assess
    expect(readyPods(pods)).toEqual([
      { name: 'a', podIP: '10.0.0.1', annotations: {} },
      { name: 'b', podIP: '10.0.0.2', annotations: {} },
    ]);
  });
});

describe('tritonPodUrl and labelSelectorOf', () => {
  it.each([
    ['http://{podIP}:8000', 'http://10.1.2.3:8000'],
    ['http://127.0.0.1:9/pools/{pool}/pods/{pod}', 'http://127.0.0.1:9/pools/triton-l4/pods/triton-l4-x-0'],
    ['http://{pod}.{pool}.triton.svc:8000', 'http://triton-l4-x-0.triton-l4.triton.svc:8000'],
  ])('%s -> %s', (template, expected) => {
    expect(tritonPodUrl(template, { pool: 'triton-l4', pod: 'triton-l4-x-0', podIP: '10.1.2.3' })).toBe(
      expected,
    );
  });

  it('joins labels as a selector', () => {
    expect(labelSelectorOf({ 'app.kubernetes.io/name': 'triton', 'app.kubernetes.io/instance': 'p' })).toBe(
      'app.kubernetes.io/name=triton,app.kubernetes.io/instance=p',
    );
  });
});

describe('tritonPodsFinder', () => {
  function fakeKube(pods: LiveObject[]) {
    const calls: Array<{ kind: string; namespace?: string; selector?: string }> = [];
    const kube: KubeObjects = {
      get: async () => undefined,
      apply: async () => {
        throw new Error('not used');
      },
      delete: async () => false,
      getScale: async () => undefined,
      setScale: async () => {
        throw new Error('not used');
      },
      list: async (_v, kind, namespace, labelSelector) => {
        calls.push({
          kind,
          ...(namespace ? { namespace } : {}),
          ...(labelSelector ? { selector: labelSelector } : {}),
        });
        return pods;
      },
    };
    return { kube, calls };
  }

  it('lists pods by the selector in the namespace and gives each ready one a client', async () => {
    // Prepare
    const { kube, calls } = fakeKube([
      pod('p-1', { phase: 'Running', conditions: READY, podIP: '10.0.0.2' }),
      pod('p-0', { phase: 'Running', conditions: READY, podIP: '10.0.0.1' }),
      pod('p-2', { phase: 'Pending' }),
    ]);
    const find = tritonPodsFinder({
      kubeObjects: kube,
      urlTemplate: 'http://{podIP}:8000',
      adminHeader: 'k',
    });

    // Act
    const pods = await find({
      pool: 'p',
      namespace: 'triton',
      selector: { app: 'triton', pool: 'p' },
      keys: RING,
    });
    const again = await find({
      pool: 'p',
      namespace: 'triton',
      selector: { app: 'triton', pool: 'p' },
      keys: RING,
    });

    // Assess
    expect(calls[0]).toEqual({ kind: 'Pod', namespace: 'triton', selector: 'app=triton,pool=p' });
    expect(pods.map((p) => p.pod)).toEqual(['p-0', 'p-1']);
    expect(again[0]!.triton).toBe(pods[0]!.triton); // clients are reused while the key is the same
  });

  it('is TRITON_NOT_READY (retryable) when no pod is ready', async () => {
    // Prepare
    const { kube } = fakeKube([pod('p-0', { phase: 'Pending' })]);
    const find = tritonPodsFinder({
      kubeObjects: kube,
      urlTemplate: 'http://{podIP}:8000',
      adminHeader: 'k',
    });

    // Act
    const err = await find({ pool: 'p', namespace: 'triton', selector: { pool: 'p' }, keys: RING }).catch(
      (e: unknown) => e,
    );

    // Assess
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).reason).toBe('TRITON_NOT_READY');
  });
});
