import { describe, expect, it } from 'vitest';
import { tritonPodsFinder } from '../../shared/adapters/triton-pods';
import {
  keyForPod,
  LEGACY_ADMIN_KEY_ID,
  makeKeyId,
  POD_KEY_ANNOTATIONS,
  parseKeyId,
} from '../../shared/domain/keys';
import type { KubeObjects, LiveObject } from '../../shared/ports/kubernetes';
import {
  buildKeySecret,
  decidePoolKeys,
  type FreshKeys,
  keyRingOf,
  type PoolKeysInput,
} from '../../shared/security/keys';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1, 12);
const OLD = makeKeyId('admin', T0, 'aaaaaa');
const NEW = makeKeyId('admin', T0 + 31 * DAY, 'bbbbbb');
const FRESH: FreshKeys = {
  admin: { id: NEW, value: 'fresh-admin-value-1234' },
  inference: { id: makeKeyId('inference', T0 + 31 * DAY, 'cccccc'), value: 'fresh-inference-value-1234' },
};

function secretOf(keys: Record<string, string>, active: string, inference?: string): LiveObject {
  return buildKeySecret('triton-l4-admin', 'triton', {
    keys,
    active: { admin: active, ...(inference ? { inference } : {}) },
  }) as LiveObject;
}

function podOn(...ids: string[]): LiveObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `p-${ids.join('-')}`, annotations: { [POD_KEY_ANNOTATIONS.admin]: ids[0] ?? '' } },
  };
}

function deploymentOn(id: string): unknown {
  return { spec: { template: { metadata: { annotations: { [POD_KEY_ANNOTATIONS.admin]: id } } } } };
}

function input(over: Partial<PoolKeysInput>): PoolKeysInput {
  return {
    pool: 'triton-l4',
    secret: secretOf({ [OLD]: 'old-admin-value-1234' }, OLD),
    deployment: deploymentOn(OLD),
    pods: [podOn(OLD)],
    policy: { rotateEveryDays: 30, overlapMinutes: 60, inferenceKey: false },
    nowMs: T0 + DAY,
    fresh: FRESH,
    force: false,
    ...over,
  };
}

describe('key ids', () => {
  it('record purpose and creation time, and nothing else parses', () => {
    expect(OLD).toBe('admin-20261101T120000Z-aaaaaa');
    expect(parseKeyId(OLD)).toEqual({ purpose: 'admin', createdAtMs: T0 });
    expect(parseKeyId(LEGACY_ADMIN_KEY_ID)).toBeUndefined();
    expect(parseKeyId('admin-20261301T120000Z-aaaaaa')?.createdAtMs).not.toBe(T0);
  });

  it.each([
    ['the id its annotation names', { [POD_KEY_ANNOTATIONS.admin]: OLD }, 'old'],
    ['the legacy key when it has no annotation', {}, 'legacy'],
    [
      'nothing when the Secret no longer holds its key',
      { [POD_KEY_ANNOTATIONS.admin]: 'admin-gone' },
      undefined,
    ],
  ])('a pod gets %s', (_name, annotations, expected) => {
    const ring = {
      keys: { [OLD]: 'old', [NEW]: 'new', [LEGACY_ADMIN_KEY_ID]: 'legacy' },
      active: { admin: NEW },
    };
    expect(keyForPod(ring, annotations)).toBe(expected);
  });

  it('a ring round-trips through its Secret, ids in the annotation, values only in data', () => {
    const secret = secretOf({ [OLD]: 'old-admin-value-1234', [NEW]: 'new-admin-value-1234' }, NEW);
    expect(keyRingOf(secret)).toEqual({
      keys: { [OLD]: 'old-admin-value-1234', [NEW]: 'new-admin-value-1234' },
      active: { admin: NEW },
    });
    expect(JSON.stringify((secret as { metadata: unknown }).metadata)).not.toContain('value-1234');
  });
});

describe('decidePoolKeys', () => {
  it.each<
    [
      string,
      Partial<PoolKeysInput>,
      { change: boolean; rotated?: string[]; retired?: string[]; rolls?: boolean; keys?: string[] },
    ]
  >([
    ['a key within its period: nothing', {}, { change: false }],
    [
      'a key past its period: a new active key and a roll',
      { nowMs: T0 + 31 * DAY },
      { change: true, rotated: ['admin'], retired: [], rolls: true, keys: [NEW, OLD] },
    ],
    [
      'force: a rotation whatever the age',
      { force: true },
      { change: true, rotated: ['admin'], rolls: true },
    ],
    [
      'due again while the previous rotation still rolls: no second rotation',
      {
        nowMs: T0 + 62 * DAY,
        secret: secretOf({ [OLD]: 'o-1234567', [NEW]: 'n-1234567' }, NEW),
        deployment: deploymentOn(NEW),
        pods: [podOn(OLD), podOn(NEW)],
      },
      { change: false },
    ],
    [
      'the replaced key while a pod still runs with it: kept',
      {
        nowMs: T0 + 32 * DAY,
        secret: secretOf({ [OLD]: 'o-1234567', [NEW]: 'n-1234567' }, NEW),
        deployment: deploymentOn(NEW),
        pods: [podOn(OLD), podOn(NEW)],
      },
      { change: false },
    ],
    [
      'the replaced key inside the overlap period: kept',
      {
        nowMs: T0 + 31 * DAY + 30 * 60_000,
        secret: secretOf({ [OLD]: 'o-1234567', [NEW]: 'n-1234567' }, NEW),
        deployment: deploymentOn(NEW),
        pods: [podOn(NEW)],
      },
      { change: false },
    ],
    [
      'the replaced key no pod uses, after the overlap: retired',
      {
        nowMs: T0 + 31 * DAY + 61 * 60_000,
        secret: secretOf({ [OLD]: 'o-1234567', [NEW]: 'n-1234567' }, NEW),
        deployment: deploymentOn(NEW),
        pods: [podOn(NEW)],
      },
      { change: true, rotated: [], retired: [OLD], rolls: false, keys: [NEW] },
    ],
    [
      'the inference key turned on: added and rolled out',
      { policy: { rotateEveryDays: 30, overlapMinutes: 60, inferenceKey: true } },
      { change: true, rotated: ['inference'], rolls: true },
    ],
  ])('%s', (_name, over, want) => {
    const d = decidePoolKeys(input(over));
    expect(d.change).toBe(want.change);
    if (!d.change) return;
    if (want.rotated) expect(d.rotated).toEqual(want.rotated);
    if (want.retired) expect(d.retired).toEqual(want.retired);
    if (want.rolls !== undefined) expect(d.rolls).toBe(want.rolls);
    if (want.keys) expect(Object.keys(d.ring.keys).sort()).toEqual(want.keys.sort());
  });

  it('a legacy Secret (one admin-key, pods without annotations) rotates and keeps the legacy key for the old pods', () => {
    const legacy = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'triton-l4-admin', creationTimestamp: new Date(T0).toISOString() },
      data: { [LEGACY_ADMIN_KEY_ID]: Buffer.from('legacy-value-1234').toString('base64') },
    };
    const d = decidePoolKeys(
      input({
        secret: legacy,
        deployment: { spec: { template: {} } },
        pods: [{ metadata: {} }],
        nowMs: T0 + 31 * DAY,
      }),
    );
    expect(d.change && d.ring.active.admin).toBe(NEW);
    expect(d.change && Object.keys(d.ring.keys).sort()).toEqual([LEGACY_ADMIN_KEY_ID, NEW].sort());
  });

  it('no Secret: left to deployModel', () => {
    expect(decidePoolKeys(input({ secret: undefined }))).toMatchObject({ change: false });
  });
});

describe('the control plane picks the key of each pod', () => {
  it('gives each ready pod a client with the key its annotation names', async () => {
    const pod = (name: string, id: string, ip: string): LiveObject => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, annotations: { [POD_KEY_ANNOTATIONS.admin]: id } },
      status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
    });
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
      list: async () => [
        pod('a', OLD, '10.0.0.1'),
        pod('b', NEW, '10.0.0.2'),
        pod('c', 'admin-gone', '10.0.0.3'),
      ],
    };
    const find = tritonPodsFinder({
      kubeObjects: kube,
      urlTemplate: 'http://{podIP}:8000',
      adminHeader: 'h',
    });
    const pods = await find({
      pool: 'p',
      namespace: 'triton',
      selector: { pool: 'p' },
      keys: { keys: { [OLD]: 'old-key', [NEW]: 'new-key' }, active: { admin: NEW } },
    });
    expect(pods.map((p) => [p.pod, (p.triton as unknown as { adminKey: string }).adminKey])).toEqual([
      ['a', 'old-key'],
      ['b', 'new-key'],
    ]);
  });
});
