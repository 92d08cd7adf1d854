import { describe, expect, it } from 'vitest';
import { desiredPool } from '../../shared/cluster/desired';
import { planDeployment } from '../../shared/deploy/plan';
import type { KubernetesObject } from '../../shared/domain/plan';
import { loadPolicy, resolveModelPolicy } from '../../shared/policy';
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

function plan(overrides: Partial<Parameters<typeof planDeployment>[0]> = {}) {
  return planDeployment({
    model: 'm',
    version: 2,
    fingerprint: 'f',
    incomingBucket: 'incoming',
    config: { name: 'm', platform: 'onnxruntime_onnx' },
    pool,
    observedPools: [],
    liveObjects: [],
    previousServing: 1,
    zones: 1,
    guardrails: policy.guardrails,
    clock: new ManualClock(),
    ...overrides,
  });
}

describe('planDeployment', () => {
  it('on an empty cluster: create the pool, apply every object, publish, load', () => {
    const kinds = plan().actions.map((a) => a.kind);
    expect(kinds[0]).toBe('createNodePool');
    expect(kinds.filter((k) => k === 'applyObject')).toHaveLength(pool.objects.length);
    expect(kinds.slice(-2)).toEqual(['publishModel', 'loadModel']);
  });

  it('when the pool and stack already match: only publish and load', () => {
    const actions = plan({
      observedPools: [pool.nodePool],
      liveObjects: pool.objects as KubernetesObject[],
    }).actions;
    expect(actions.map((a) => a.kind)).toEqual(['publishModel', 'loadModel']);
    expect(actions[0]).toMatchObject({
      before: { version: '1' },
      after: { version: '2', repository: 'gs://repo/models/triton-l4' },
    });
  });

  it('refuses a plan over a guardrail, naming it and the numbers', () => {
    const act = () => plan({ guardrails: { ...policy.guardrails, maxNodes: 1 } });
    expect(act).toThrow(PermanentError);
    expect(act).toThrow(/maxNodes/);
  });
});
