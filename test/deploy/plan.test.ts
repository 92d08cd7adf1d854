import { describe, expect, it } from 'vitest';
import { desiredPool } from '../../shared/cluster/desired';
import { planDeployment, planRollback } from '../../shared/deploy/plan';
import type { PublishFile } from '../../shared/deploy/publish';
import { recordServing } from '../../shared/deploy/records';
import type { KubernetesObject } from '../../shared/domain/plan';
import { loadPolicy, resolveModelPolicy } from '../../shared/policy';
import type { ObjectInfo } from '../../shared/ports/storage';
import { ManualClock } from '../../shared/runtime/clock';
import { PermanentError } from '../../shared/runtime/errors';

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
const pool = desiredPool({
  policy,
  gpuClassId: 'l4',
  models: [resolveModelPolicy(policy, 'm')],
  adminKey: 'k'.repeat(20),
});
const file: PublishFile = {
  source: { bucket: 'incoming', name: 'm/2/model.onnx', generation: '7' },
  size: '100',
  crc32c: 'AAAAAA==',
  relative: 'model.onnx',
};
const facts = {
  model: 'm',
  version: 2,
  backend: 'onnxruntime',
  gpuClass: 'l4',
  source: { bucket: 'incoming', name: 'm/2/model.onnx', generation: '7' },
  fingerprint: 'f',
  files: { 'model.onnx': { size: '100', crc32c: 'AAAAAA==' } },
};
const registryObject = { bucket: 'state', name: '_inferplane/registry/models/m.json' };
const poolIndexObject = { bucket: 'state', name: '_inferplane/registry/pools/triton-l4.json' };
const copied: ObjectInfo = {
  bucket: 'repo',
  name: 'models/triton-l4/m/2/model.onnx',
  generation: '11',
  metageneration: '1',
  size: 100n,
  crc32c: 'AAAAAA==',
};

function plan(overrides: Partial<Parameters<typeof planDeployment>[0]> = {}) {
  return planDeployment({
    publish: {
      repository: pool.repository,
      model: 'm',
      version: 2,
      files: [file],
      configText: 'name: "m"\n',
      emptyVersionDir: false,
    },
    config: { name: 'm', platform: 'onnxruntime_onnx' },
    facts,
    aliases: [],
    readinessTimeoutSeconds: 60,
    pool,
    observedPools: [],
    liveObjects: [],
    repository: { config: { text: 'name: "m" # v1\n', generation: '5' }, versionFiles: [] },
    registry: { object: registryObject, record: undefined, generation: undefined },
    // The pool's index already lists the version: the cases below are about everything else.
    poolIndex: {
      object: poolIndexObject,
      index: {
        apiVersion: 'inferplane.dev/registry-pool/v1',
        pool: pool.pool,
        models: { m: { version: 2, gpuClass: 'l4' } },
        updatedAt: '2026-01-01T00:00:00.000Z',
      },
      generation: '3',
    },
    pods: [
      { pod: 'triton-l4-a', model: { state: 'READY', version: '1' } },
      { pod: 'triton-l4-b', model: null },
    ],
    zones: 1,
    guardrails: policy.guardrails,
    clock: new ManualClock(),
    ...overrides,
  });
}

const kinds = (p: ReturnType<typeof plan>) => p.actions.map((a) => a.kind);

describe('planDeployment', () => {
  it('on an empty cluster: create the pool, apply every object, copy, config last, load, record', () => {
    const k = kinds(plan());
    expect(k[0]).toBe('createNodePool');
    expect(k.filter((x) => x === 'applyObject')).toHaveLength(pool.objects.length);
    expect(k.slice(-5)).toEqual([
      'copyStorageObject',
      'writeStorageObject',
      'loadModel',
      'loadModel',
      'writeStorageObject',
    ]);
  });

  it.each([
    {
      name: 'pool and stack match: only the repository, the loads and the record',
      overrides: { observedPools: [pool.nodePool], liveObjects: pool.objects as KubernetesObject[] },
      want: ['copyStorageObject', 'writeStorageObject', 'loadModel', 'loadModel', 'writeStorageObject'],
    },
    {
      name: 'files already copied (a redelivery): no copy',
      overrides: {
        observedPools: [pool.nodePool],
        liveObjects: pool.objects as KubernetesObject[],
        repository: { config: { text: 'name: "m"\n', generation: '6' }, versionFiles: [copied] },
      },
      want: ['loadModel', 'loadModel', 'writeStorageObject'],
    },
    {
      name: 'no ready pod yet: the plan stops at the repository',
      overrides: {
        observedPools: [pool.nodePool],
        liveObjects: pool.objects as KubernetesObject[],
        pods: [],
      },
      want: ['copyStorageObject', 'writeStorageObject'],
    },
  ])('$name', ({ overrides, want }) => {
    expect(kinds(plan(overrides))).toEqual(want);
  });

  it('conditions every write on what it observed', () => {
    const p = plan({
      observedPools: [pool.nodePool],
      liveObjects: pool.objects as KubernetesObject[],
      registry: { object: registryObject, record: undefined, generation: '42' },
    });
    const [copy, config, loadA, , record] = p.actions;
    expect(copy).toMatchObject({ kind: 'copyStorageObject', before: null, after: { source: file.source } });
    expect(config).toMatchObject({
      kind: 'writeStorageObject',
      before: { generation: '5' },
      after: { object: { bucket: 'repo', name: 'models/triton-l4/m/config.pbtxt' }, text: 'name: "m"\n' },
    });
    expect(loadA).toMatchObject({
      before: { state: 'READY', version: '1' },
      after: { pod: 'triton-l4-a', model: 'm', version: 2 },
    });
    expect(record).toMatchObject({ before: { generation: '42' }, after: { object: registryObject } });
    const written = JSON.parse((record as { after: { text: string } }).after.text) as {
      serving: number;
      versions: Record<string, { state: string }>;
    };
    expect(written.serving).toBe(2);
    expect(written.versions['2']?.state).toBe('READY');
  });

  it('refuses a plan over a guardrail, naming it and the numbers', () => {
    const act = () => plan({ guardrails: { ...policy.guardrails, maxNodes: 1 } });
    expect(act).toThrow(PermanentError);
    expect(act).toThrow(/maxNodes/);
  });
});

describe('planRollback', () => {
  const clock = new ManualClock();
  const base = {
    unpublish: {
      repository: pool.repository,
      model: 'm',
      version: 2,
      publishedConfigText: 'new',
      previousConfigText: 'old' as string | undefined,
      keepVersionFiles: false,
    },
    repository: { config: { text: 'new', generation: '9' }, versionFiles: [copied] },
    registry: {
      object: registryObject,
      record: recordServing(undefined, { ...facts, version: 1 }, [], '2026-01-01T00:00:00Z'),
      generation: '3',
    },
    facts,
    failure: 'failed on 1 of 2 pods',
    pool: 'triton-l4',
    pods: ['triton-l4-a', 'triton-l4-b'],
    hadPrevious: true,
    clock,
  };

  it.each([
    {
      name: 'restores the previous config, removes the files, records the failure, reloads the pods',
      input: base,
      repository: ['writeStorageObject', 'deleteStorageObject', 'writeStorageObject'],
      pods: ['loadModel', 'loadModel'],
    },
    {
      name: 'a first version: deletes the config, pods unload',
      input: { ...base, unpublish: { ...base.unpublish, previousConfigText: undefined }, hadPrevious: false },
      repository: ['deleteStorageObject', 'deleteStorageObject', 'writeStorageObject'],
      pods: ['unloadModel', 'unloadModel'],
    },
    {
      name: 'someone published since: their config and files stand, only the record changes',
      input: {
        ...base,
        repository: { config: { text: 'theirs', generation: '10' }, versionFiles: [copied] },
      },
      repository: ['writeStorageObject'],
      pods: ['loadModel', 'loadModel'],
    },
    {
      name: 'a failed re-deploy of the serving version keeps its files',
      input: { ...base, unpublish: { ...base.unpublish, keepVersionFiles: true } },
      repository: ['writeStorageObject', 'writeStorageObject'],
      pods: ['loadModel', 'loadModel'],
    },
  ])('$name', ({ input, repository, pods }) => {
    const plans = planRollback(input);
    expect(plans.repository.actions.map((a) => a.kind)).toEqual(repository);
    expect(plans.pods.actions.map((a) => a.kind)).toEqual(pods);
    const record = plans.repository.actions.at(-1) as { before: unknown; after: { text: string } };
    expect(record.before).toEqual({ generation: '3' });
    const written = JSON.parse(record.after.text) as {
      serving: number;
      versions: Record<string, { state: string; reason?: string }>;
    };
    expect(written.serving).toBe(1);
    expect(written.versions['2']).toMatchObject({ state: 'FAILED', reason: 'failed on 1 of 2 pods' });
  });
});

describe('planDeployment: the pool index', () => {
  const index = (models: Record<string, { version: number; gpuClass: string }>, generation?: string) => ({
    object: poolIndexObject,
    index: {
      apiVersion: 'inferplane.dev/registry-pool/v1' as const,
      pool: pool.pool,
      models,
      updatedAt: '2026-01-01T00:00:00.000Z',
    },
    generation,
  });

  it.each([
    {
      name: 'absent (built from the records): created, before the record',
      observed: index({}),
      before: null,
    },
    {
      name: 'listing the previous version: rewritten on its generation, before the record',
      observed: index({ m: { version: 1, gpuClass: 'l4' }, other: { version: 4, gpuClass: 'l4' } }, '9'),
      before: { generation: '9' },
    },
  ])('$name', ({ observed, before }) => {
    // Act
    const p = plan({ poolIndex: observed });

    // Assess
    const writes = p.actions.filter((a) => a.kind === 'writeStorageObject');
    const [indexWrite, recordWrite] = writes.slice(-2);
    expect(indexWrite?.target).toBe(`gs://state/${poolIndexObject.name}`);
    expect(recordWrite?.target).toBe(`gs://state/${registryObject.name}`);
    expect(indexWrite?.before).toEqual(before);
    const written = indexWrite?.kind === 'writeStorageObject' ? JSON.parse(indexWrite.after.text) : undefined;
    expect(written.models).toEqual({ ...observed.index.models, m: { version: 2, gpuClass: 'l4' } });
  });

  it('no ready pod: the index is not written (nothing serves yet)', () => {
    const p = plan({ poolIndex: index({}), pods: [] });
    expect(p.actions.some((a) => a.target === `gs://state/${poolIndexObject.name}`)).toBe(false);
  });
});
