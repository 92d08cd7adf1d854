/**
 * A deploy during its pool's scheduled downtime (pure parts): the version is published and
 * recorded as deferred instead of the event being redelivered until the window ends; the tick that
 * finds every ready pod serving it completes the record.
 */
import { describe, expect, it } from 'vitest';
import { desiredPool } from '../../shared/cluster/desired';
import { deferralFor, planDeployment } from '../../shared/deploy/plan';
import type { PublishFile } from '../../shared/deploy/publish';
import {
  deferredVersionOf,
  indexDeferred,
  indexServing,
  poolIndexFromRecords,
  recordDeferred,
  recordDeferredServes,
  recordServing,
} from '../../shared/deploy/records';
import type { KubernetesObject } from '../../shared/domain/plan';
import {
  type ModelRecord,
  modelRecordSchema,
  type PoolIndex,
  poolIndexSchema,
} from '../../shared/domain/registry';
import { emptyTargetRecord, type TargetRecord } from '../../shared/domain/target';
import { loadPolicy, resolveModelPolicy } from '../../shared/policy';
import { ManualClock } from '../../shared/runtime/clock';
import {
  deferredServed,
  servedOn,
  servingFromIndexes,
  servingFromRecords,
} from '../../shared/schedules/drift';

const T0 = '2026-12-01T23:00:00.000Z';
const T1 = '2026-12-02T06:30:00.000Z';
const POOL = 'triton-l4';

const policy = loadPolicy(
  [
    'apiVersion: inferplane.dev/v1',
    'kind: ControlPlanePolicy',
    'cluster: { project: p, name: c, repositoryBucket: repo, incomingBucket: incoming }',
    'modelDefaults: { gpuClass: l4, replicas: { min: 1, max: 2 } }',
    'guardrails: { maxGpusTotal: 4, maxGpusPerPool: 4, maxNodes: 4, maxDollarsPerHour: 50 }',
    '',
  ].join('\n'),
);

const facts = (version: number) => ({
  model: 'm',
  version,
  backend: 'onnxruntime',
  gpuClass: 'l4',
  source: { bucket: 'incoming', name: `m/${version}/model.onnx`, generation: String(10 + version) },
  fingerprint: `f${version}`,
  files: { 'model.onnx': { size: '100', crc32c: 'AAAAAA==' } },
});

const servingV1: ModelRecord = recordServing(undefined, facts(1), ['stable'], T0);
const deferredV2 = recordDeferred(servingV1, facts(2), ['stable'], { pool: POOL, until: T1 }, T0);

function downtime(record: TargetRecord, wakeUntil: string | null = null): TargetRecord {
  return {
    ...record,
    wakeUntil,
    downtime: {
      schedule: 'nights',
      since: T0,
      until: T1,
      settings: { replicas: 0, hpa: null, nodePool: null },
    },
  };
}

describe('deferralFor', () => {
  const base = emptyTargetRecord(POOL, 'triton', T0);
  const now = Date.parse('2026-12-02T01:00:00.000Z');
  it.each([
    { name: 'no target record (never scaled)', record: undefined, want: undefined },
    { name: 'no downtime claim', record: base, want: undefined },
    { name: 'in a downtime', record: downtime(base), want: { pool: POOL, until: T1 } },
    { name: 'woken until later', record: downtime(base, '2026-12-02T02:00:00.000Z'), want: undefined },
    {
      name: 'woken, but the wake has passed',
      record: downtime(base, '2026-12-02T00:30:00.000Z'),
      want: { pool: POOL, until: T1 },
    },
  ])('$name', ({ record, want }) => {
    expect(deferralFor(POOL, record, now)).toEqual(want);
  });
});

describe('deferred registry records', () => {
  it('a deferred version is PUBLISHED, marked with its pool, and what served still serves', () => {
    expect(modelRecordSchema.parse(deferredV2)).toEqual(deferredV2);
    expect(deferredV2.serving).toBe(1);
    expect(deferredV2.versions['2']).toMatchObject({
      state: 'PUBLISHED',
      deferred: { pool: POOL, since: T0, until: T1, aliases: ['stable'] },
    });
  });

  it('a second deferral of the same version keeps when it was first deferred', () => {
    const again = recordDeferred(
      deferredV2,
      facts(2),
      [],
      { pool: POOL, until: T1 },
      '2026-12-02T01:00:00.000Z',
    );
    expect(again.versions['2']?.deferred?.since).toBe(T0);
  });

  it.each([
    { name: 'the deferred version on its pool', record: deferredV2, pool: POOL, want: 2 },
    { name: 'another pool', record: deferredV2, pool: 'triton-a100', want: undefined },
    { name: 'nothing deferred', record: servingV1, pool: POOL, want: undefined },
    {
      name: 'the newest of two deferred versions',
      record: recordDeferred(deferredV2, facts(3), [], { pool: POOL, until: T1 }, T0),
      pool: POOL,
      want: 3,
    },
    {
      name: 'a deferred version older than what serves now',
      record: recordServing(deferredV2, facts(3), [], T0),
      pool: POOL,
      want: undefined,
    },
  ])('deferredVersionOf: $name', ({ record, pool, want }) => {
    expect(deferredVersionOf(record, pool)?.version).toBe(want);
  });

  it('completing: READY, the previous SUPERSEDED, the aliases moved, the mark gone', () => {
    const done = recordDeferredServes(deferredV2, 2, T1);
    expect(done).toBeDefined();
    expect(modelRecordSchema.parse(done)).toEqual(done);
    expect(done?.serving).toBe(2);
    expect(done?.aliases).toEqual({ stable: 2 });
    expect(done?.versions['1']?.state).toBe('SUPERSEDED');
    expect(done?.versions['2']).toMatchObject({ state: 'READY', readyAt: T1 });
    expect(done?.versions['2']?.deferred).toBeUndefined();
    // The input is not changed.
    expect(deferredV2.versions['2']?.state).toBe('PUBLISHED');
  });

  it.each([
    { name: 'a version that is not deferred', record: servingV1, version: 1 },
    { name: 'an unknown version', record: deferredV2, version: 9 },
  ])('completing $name changes nothing', ({ record, version }) => {
    expect(recordDeferredServes(record, version, T1)).toBeUndefined();
  });
});

describe("the pool's index", () => {
  const index: PoolIndex = {
    apiVersion: 'inferplane.dev/registry-pool/v1',
    pool: POOL,
    models: { m: { version: 1, gpuClass: 'l4' } },
    updatedAt: T0,
  };

  it('a deferral is listed beside what serves, and the completion moves it', () => {
    const deferred = indexDeferred(index, 'm', 2, T0);
    expect(deferred?.deferred).toEqual({ m: 2 });
    expect(deferred?.models).toEqual(index.models);
    expect(indexDeferred(deferred as PoolIndex, 'm', 2, T0)).toBeUndefined();
    const served = indexServing(deferred as PoolIndex, 'm', 2, 'l4', T1);
    expect(served?.models).toEqual({ m: { version: 2, gpuClass: 'l4' } });
    expect(served?.deferred).toBeUndefined();
    expect(poolIndexSchema.parse(served)).toEqual(served);
  });

  it('a deploy of an older version keeps a newer deferral listed', () => {
    const deferred = indexDeferred(index, 'm', 3, T0) as PoolIndex;
    expect(indexServing(deferred, 'm', 1, 'l4', T1)).toBeUndefined();
    expect(indexServing(deferred, 'm', 2, 'l4', T1)?.deferred).toEqual({ m: 3 });
  });

  it('an index built from the records lists deferred versions', () => {
    expect(poolIndexFromRecords(POOL, 'l4', [deferredV2], T1)).toMatchObject({
      models: { m: { version: 1, gpuClass: 'l4' } },
      deferred: { m: 2 },
    });
    expect(poolIndexFromRecords(POOL, 'l4', [servingV1], T1).deferred).toBeUndefined();
  });
});

describe('planDeployment during a downtime', () => {
  const pool = desiredPool({
    policy,
    gpuClassId: 'l4',
    models: [resolveModelPolicy(policy, 'm')],
    adminKey: 'k'.repeat(20),
  });
  const file: PublishFile = {
    source: { bucket: 'incoming', name: 'm/2/model.onnx', generation: '12' },
    size: '100',
    crc32c: 'AAAAAA==',
    relative: 'model.onnx',
  };
  const input = (over: Partial<Parameters<typeof planDeployment>[0]>) =>
    planDeployment({
      publish: {
        repository: pool.repository,
        model: 'm',
        version: 2,
        files: [file],
        configText: 'name: "m"\n',
        emptyVersionDir: false,
      },
      config: { name: 'm', platform: 'onnxruntime_onnx' },
      facts: facts(2),
      aliases: ['stable'],
      readinessTimeoutSeconds: 60,
      pool,
      observedPools: [pool.nodePool],
      liveObjects: pool.objects as KubernetesObject[],
      repository: { config: { text: 'name: "m" # v1\n', generation: '5' }, versionFiles: [] },
      registry: { object: { bucket: 'state', name: 'r/m.json' }, record: servingV1, generation: '8' },
      poolIndex: {
        object: { bucket: 'state', name: 'p/triton-l4.json' },
        index: {
          apiVersion: 'inferplane.dev/registry-pool/v1',
          pool: POOL,
          models: { m: { version: 1, gpuClass: 'l4' } },
          updatedAt: T0,
        },
        generation: '3',
      },
      pods: [],
      zones: 1,
      guardrails: policy.guardrails,
      clock: new ManualClock(),
      ...over,
    });

  it('no ready pod and a downtime: publish, then the index and the record say deferred', () => {
    const plan = input({ deferral: { pool: POOL, until: T1 } });
    expect(plan.actions.map((a) => a.kind)).toEqual([
      'copyStorageObject',
      'writeStorageObject',
      'writeStorageObject',
      'writeStorageObject',
    ]);
    expect(plan.reason).toContain('scheduled downtime until');
    const [, , index, record] = plan.actions;
    if (index?.kind !== 'writeStorageObject' || record?.kind !== 'writeStorageObject')
      throw new Error('writes');
    expect(index.before).toEqual({ generation: '3' });
    expect(JSON.parse(index.after.text).deferred).toEqual({ m: 2 });
    expect(record.before).toEqual({ generation: '8' });
    expect(JSON.parse(record.after.text).versions['2']).toMatchObject({
      state: 'PUBLISHED',
      deferred: { pool: POOL },
    });
  });

  it('no downtime: the plan stops at the repository (the event is redelivered)', () => {
    expect(input({}).actions.map((a) => a.kind)).toEqual(['copyStorageObject', 'writeStorageObject']);
  });

  it('a ready pod (woken): loads and READY, the deferral does not apply', () => {
    const plan = input({
      deferral: { pool: POOL, until: T1 },
      pods: [{ pod: 'triton-l4-a', model: { state: 'READY', version: '1' } }],
    });
    expect(plan.actions.map((a) => a.kind).slice(-3)).toEqual([
      'loadModel',
      'writeStorageObject',
      'writeStorageObject',
    ]);
    const record = plan.actions.at(-1);
    if (record?.kind !== 'writeStorageObject') throw new Error('write');
    expect(JSON.parse(record.after.text).versions['2'].state).toBe('READY');
  });
});

describe('the tick after the restore', () => {
  const entries = servingFromRecords([deferredV2], () => POOL);
  const served = () => servedOn(POOL, entries, (m) => resolveModelPolicy(policy, m).readinessTimeoutSeconds);
  const pod = (name: string, version: string, state = 'READY') => ({
    pod: name,
    index: [{ name: 'm', version, state }],
  });

  it('expects the deferred version on the pool', () => {
    expect(served()).toEqual([expect.objectContaining({ model: 'm', version: 2 })]);
  });

  it.each([
    { name: 'every pod serves it', pods: [pod('a', '2'), pod('b', '2')], want: [{ model: 'm', version: 2 }] },
    { name: 'one pod still on v1', pods: [pod('a', '2'), pod('b', '1')], want: [] },
    { name: 'one pod still loading it', pods: [pod('a', '2'), pod('b', '2', 'LOADING')], want: [] },
    { name: 'no ready pod', pods: [], want: [] },
  ])('completes when $name', ({ pods, want }) => {
    expect(deferredServed(POOL, entries, pods)).toEqual(want);
  });

  it("the pool's index says the same as the records", () => {
    const index = indexDeferred(poolIndexFromRecords(POOL, 'l4', [servingV1], T0), 'm', 2, T0) as PoolIndex;
    expect(servingFromIndexes([index])).toEqual(entries);
    expect(entries).toEqual([{ model: 'm', pool: POOL, serving: 1, deferred: 2 }]);
  });
});
