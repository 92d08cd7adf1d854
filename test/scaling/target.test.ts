import { describe, expect, it } from 'vitest';
import type { NodePool, WriteStorageObjectAction } from '../../shared/domain/plan';
import {
  emptyTargetRecord,
  parseTargetRecord,
  type TargetRecord,
  type TargetSettings,
} from '../../shared/domain/target';
import {
  type ObservedTarget,
  planTarget,
  restoreSettings,
  SCALING_FIELD_MANAGER,
  wantedSettings,
} from '../../shared/scaling/target';

const NOW = '2026-12-01T22:00:00.000Z';
const ctx = { stateBucket: 'state', cluster: 'inference', now: NOW, reason: 'test' };

function pool(autoscaling: NodePool['autoscaling']): NodePool {
  return {
    name: 'triton-l4',
    locations: ['us-central1-a'],
    config: {
      machineType: 'g2-standard-8',
      accelerators: [{ acceleratorCount: '1', acceleratorType: 'nvidia-l4' }],
    },
    autoscaling,
  };
}

function observed(over: Partial<ObservedTarget> = {}, record: TargetRecord | null = null): ObservedTarget {
  return {
    pool: 'triton-l4',
    namespace: 'triton',
    deployment: {
      name: 'triton-l4',
      replicas: 2,
      readyReplicas: 2,
      generation: 3,
      annotations: {},
      createdAt: null,
    },
    hpa: {
      name: 'triton-l4',
      minReplicas: 1,
      maxReplicas: 4,
      currentReplicas: 2,
      desiredReplicas: 2,
      generation: 2,
    },
    nodePool: pool({ enabled: true, totalMinNodeCount: 1, totalMaxNodeCount: 4, locationPolicy: 'BALANCED' }),
    nodeCountPerZone: 2,
    zones: 1,
    record: record ? { record, generation: '7' } : null,
    ...over,
  };
}

const DOWN: TargetSettings = {
  replicas: 0,
  hpa: null,
  nodePool: {
    autoscaling: { enabled: true, totalMinNodeCount: 0, totalMaxNodeCount: 4 },
    nodeCountPerZone: null,
    zones: 1,
  },
};

function withDowntime(record: TargetRecord): TargetRecord {
  return { ...record, downtime: { schedule: 'nights', since: NOW, until: null, settings: DOWN } };
}

describe('planTarget', () => {
  it('records the baseline in the first write, before scaling down', () => {
    const o = observed();
    const plan = planTarget(o, withDowntime(emptyTargetRecord('triton-l4', 'triton', NOW)), ctx);
    expect(plan.actions.map((a) => a.kind)).toEqual([
      'writeStorageObject',
      'scaleWorkload',
      'setNodePoolAutoscaling',
    ]);
    const write = plan.actions[0] as WriteStorageObjectAction;
    expect(write.before).toBeNull();
    const stored = parseTargetRecord(write.after.text);
    expect(stored.ok && stored.record.baseline?.settings.replicas).toBe(2);
    expect(stored.ok && stored.record.baseline?.generations).toEqual({ deployment: 3, hpa: 2 });
  });

  it('plans nothing for a target with no record and no claim', () => {
    expect(planTarget(observed(), emptyTargetRecord('triton-l4', 'triton', NOW), ctx).actions).toEqual([]);
  });

  it('restores exactly, nodes before replicas, then forgets the baseline once back', () => {
    const first = planTarget(
      observed(),
      withDowntime(emptyTargetRecord('triton-l4', 'triton', NOW)),
      ctx,
    ).record;
    const down = observed(
      {
        deployment: {
          name: 'triton-l4',
          replicas: 0,
          readyReplicas: 0,
          generation: 4,
          annotations: {},
          createdAt: null,
        },
        nodePool: pool({
          enabled: true,
          totalMinNodeCount: 0,
          totalMaxNodeCount: 4,
          locationPolicy: 'BALANCED',
        }),
        nodeCountPerZone: 0,
      },
      first,
    );
    const up = planTarget(down, { ...first, downtime: null }, ctx);
    expect(up.actions.map((a) => a.kind)).toEqual([
      'writeStorageObject',
      'setNodePoolAutoscaling',
      'setNodePoolSize',
      'scaleWorkload',
    ]);
    expect(up.actions[2]).toMatchObject({ after: { nodeCountPerZone: 2 } });
    expect(up.actions[3]).toMatchObject({ before: { replicas: 0 }, after: { replicas: 2 } });
    // Back at the baseline: the next plan only drops it.
    const back = planTarget(observed({}, up.record), up.record, ctx);
    expect(back.actions.map((a) => a.kind)).toEqual(['writeStorageObject']);
    expect(back.record.baseline).toBeNull();
  });

  it('applies a scale-out to the HPA bounds under its own field manager', () => {
    const record: TargetRecord = {
      ...emptyTargetRecord('triton-l4', 'triton', NOW),
      scaleOut: {
        rules: ['queue'],
        level: 1,
        since: NOW,
        lastActionAt: NOW,
        expiresAt: NOW,
        settings: {
          replicas: null,
          hpa: { minReplicas: 2, maxReplicas: 6 },
          nodePool: {
            autoscaling: { enabled: true, totalMinNodeCount: 1, totalMaxNodeCount: 6 },
            nodeCountPerZone: null,
            zones: 1,
          },
        },
      },
    };
    const plan = planTarget(observed(), record, ctx);
    expect(plan.actions.map((a) => a.kind)).toEqual([
      'writeStorageObject',
      'setNodePoolAutoscaling',
      'applyObject',
    ]);
    expect(plan.actions[2]).toMatchObject({
      fieldManager: SCALING_FIELD_MANAGER,
      after: { kind: 'HorizontalPodAutoscaler', spec: { minReplicas: 2, maxReplicas: 6 } },
      before: { spec: { minReplicas: 1, maxReplicas: 4 } },
    });
  });
});

describe('restoreSettings (drift)', () => {
  const baseline: TargetSettings = {
    replicas: 2,
    hpa: { minReplicas: 1, maxReplicas: 4 },
    nodePool: {
      autoscaling: { enabled: true, totalMinNodeCount: 1, totalMaxNodeCount: 4 },
      nodeCountPerZone: 2,
      zones: 1,
    },
  };
  const applied: TargetSettings = {
    replicas: 0,
    hpa: { minReplicas: 1, maxReplicas: 4 },
    nodePool: {
      autoscaling: { enabled: true, totalMinNodeCount: 0, totalMaxNodeCount: 4 },
      nodeCountPerZone: 0,
      zones: 1,
    },
  };
  it.each([
    {
      name: 'nothing edited: everything restored',
      live: applied,
      expected: baseline,
      drift: [],
    },
    {
      name: 'a human raised the HPA maximum during downtime: their maximum stays, the rest is restored',
      live: { ...applied, hpa: { minReplicas: 1, maxReplicas: 9 } },
      expected: { ...baseline, hpa: { minReplicas: 1, maxReplicas: 9 } },
      drift: [{ field: 'hpa.maxReplicas', applied: 4, live: 9 }],
    },
    {
      name: 'a human scaled the Deployment up during downtime: replicas left to the HPA',
      live: { ...applied, replicas: 3 },
      expected: { ...baseline, replicas: 3 },
      drift: [{ field: 'replicas', applied: 0, live: 3 }],
    },
  ])('$name', ({ live, expected, drift }) => {
    const restored = restoreSettings(baseline, applied, live);
    expect(restored.settings).toEqual(expected);
    expect(restored.drift).toEqual(drift);
  });

  it('a field still at what an earlier, unfinished plan set is not drift', () => {
    const half = { ...applied, hpa: { minReplicas: 3, maxReplicas: 8 } };
    const restored = restoreSettings(baseline, applied, half, {
      ...applied,
      hpa: { minReplicas: 3, maxReplicas: 8 },
    });
    expect(restored.drift).toEqual([]);
    expect(restored.settings.hpa).toEqual(baseline.hpa);
  });
});

describe('wantedSettings precedence', () => {
  const base = emptyTargetRecord('triton-l4', 'triton', NOW);
  const live: TargetSettings = { replicas: 2, hpa: { minReplicas: 1, maxReplicas: 4 }, nodePool: null };
  it.each([
    { name: 'downtime', record: withDowntime(base), source: 'downtime', replicas: 0 },
    {
      name: 'woken downtime',
      record: { ...withDowntime(base), wakeUntil: '2026-12-01T23:00:00.000Z' },
      source: 'live',
      replicas: 2,
    },
    {
      name: 'expired wake',
      record: { ...withDowntime(base), wakeUntil: '2026-12-01T21:00:00.000Z' },
      source: 'downtime',
      replicas: 0,
    },
  ])('$name', ({ record, source, replicas }) => {
    const wanted = wantedSettings(record, live, Date.parse(NOW));
    expect(wanted.source).toBe(source);
    expect(wanted.settings.replicas).toBe(replicas);
  });
});

describe('a downtime leaves a drained pool drained', () => {
  it('plans no setSize while the autoscaler has removed the idle nodes of a pool in downtime', () => {
    const first = planTarget(observed(), withDowntime(emptyTargetRecord('triton-l4', 'triton', NOW)), ctx);
    const drained = observed(
      {
        deployment: {
          name: 'triton-l4',
          replicas: 0,
          readyReplicas: 0,
          generation: 4,
          annotations: {},
          createdAt: null,
        },
        nodePool: pool({
          enabled: true,
          totalMinNodeCount: 0,
          totalMaxNodeCount: 4,
          locationPolicy: 'BALANCED',
        }),
        nodeCountPerZone: 0,
      },
      first.record,
    );
    const hold = planTarget(drained, first.record, { ...ctx, now: '2026-12-01T23:00:00.000Z' });
    expect(hold.actions).toEqual([]);
    expect(hold.wanted.settings.nodePool?.nodeCountPerZone).toBe(0);
  });
});
