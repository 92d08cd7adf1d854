import { describe, expect, it } from 'vitest';
import { assembleStatus, type ObservedState, savingsOf } from '../../cli/status-data';
import type { NodePool } from '../../shared/domain/plan';
import type { ModelRecord } from '../../shared/domain/registry';
import { emptyTargetRecord, type TargetRecord } from '../../shared/domain/target';
import { BUILTIN_GPU_CLASSES } from '../../shared/gpu/catalog';

const NOW = Date.parse('2026-12-02T06:00:00Z');
const L4 = BUILTIN_GPU_CLASSES.l4;

function pool(name: string, machineType: string, spot: boolean): NodePool {
  return {
    name,
    config: { machineType, spot },
    autoscaling: { enabled: true, totalMinNodeCount: 1, totalMaxNodeCount: 4 },
  };
}

function downTarget(
  name: string,
  since: string,
  nodeCountPerZone: number | null,
  zones = 1,
  min = 1,
): TargetRecord {
  const settings = {
    replicas: 2,
    hpa: { minReplicas: 2, maxReplicas: 4 },
    nodePool: {
      autoscaling: { enabled: true, totalMinNodeCount: min, totalMaxNodeCount: 4 },
      nodeCountPerZone,
      zones,
    },
  };
  return {
    ...emptyTargetRecord(name, 'triton', since),
    baseline: { recordedAt: since, settings, generations: { deployment: 1, hpa: 1 } },
    downtime: { schedule: 'nights', since, until: null, settings: { ...settings, replicas: 0 } },
  };
}

describe('savingsOf', () => {
  it.each([
    {
      name: '8 hours of a 2-node g2-standard-8 spot pool',
      targets: [downTarget('triton-l4-spot', '2026-12-01T22:00:00Z', 2)],
      pools: [pool('triton-l4-spot', 'g2-standard-8', true)],
      gpuHours: 16,
      dollars: 16 * L4.spotPerGpuHour,
    },
    {
      name: 'an on-demand pool across 3 zones, 30 minutes',
      targets: [downTarget('p', '2026-12-02T05:30:00Z', 1, 3)],
      pools: [pool('p', 'g2-standard-8', false)],
      gpuHours: 1.5,
      dollars: 1.5 * L4.onDemandPerGpuHour,
    },
    {
      name: 'no live count recorded: the autoscaling minimum',
      targets: [downTarget('p', '2026-12-02T04:00:00Z', null, 1, 3)],
      pools: [pool('p', 'g2-standard-8', true)],
      gpuHours: 6,
      dollars: 6 * L4.spotPerGpuHour,
    },
    {
      name: 'a pool GKE no longer has: hours counted, no price known',
      targets: [downTarget('gone', '2026-12-02T04:00:00Z', 1)],
      pools: [],
      gpuHours: 0,
      dollars: 0,
    },
    {
      name: 'a downtime that starts later than now saves nothing',
      targets: [downTarget('p', '2026-12-02T07:00:00Z', 2)],
      pools: [pool('p', 'g2-standard-8', true)],
      gpuHours: 0,
      dollars: 0,
    },
    {
      name: 'a night reached by a tick as of a later time: counted up to that tick',
      targets: [
        {
          ...downTarget('p', '2026-12-02T22:00:00Z', 2),
          decisions: [
            {
              time: '2026-12-02T23:30:00.000Z',
              function: 'applySchedules',
              action: 'scale-down',
              reason: 'in the downtime of nights',
            },
          ],
        },
      ],
      pools: [pool('p', 'g2-standard-8', true)],
      gpuHours: 3,
      dollars: 3 * L4.spotPerGpuHour,
    },
    {
      name: 'a target without a downtime claim',
      targets: [emptyTargetRecord('p', 'triton', '2026-12-01T00:00:00Z')],
      pools: [pool('p', 'g2-standard-8', true)],
      gpuHours: 0,
      dollars: 0,
    },
  ])('$name', ({ targets, pools, gpuHours, dollars }) => {
    // Act
    const saved = savingsOf(targets, pools, NOW);

    // Assess
    expect(saved.gpuHours).toBeCloseTo(gpuHours, 3);
    expect(saved.dollars).toBeCloseTo(dollars, 2);
  });

  it('takes the policy price overrides', () => {
    // Act
    const saved = savingsOf(
      [downTarget('p', '2026-12-01T22:00:00Z', 1)],
      [pool('p', 'g2-standard-8', true)],
      NOW,
      { l4: { spotPerGpuHour: 1 } },
    );

    // Assess
    expect(saved).toEqual({ gpuHours: 8, dollars: 8 });
  });
});

const RECORD: ModelRecord = {
  apiVersion: 'inferplane.dev/registry/v1',
  model: 'add',
  serving: 2,
  aliases: {},
  updatedAt: '2026-12-02T01:00:00Z',
  versions: {
    '2': {
      version: 2,
      state: 'READY',
      backend: 'onnxruntime',
      gpuClass: 'l4',
      source: { bucket: 'in', name: 'add/2/model.onnx', generation: '2' },
      fingerprint: 'f2',
      files: {},
      publishedAt: '2026-12-02T01:00:00Z',
      readyAt: '2026-12-02T01:00:30Z',
    },
    '1': {
      version: 1,
      state: 'SUPERSEDED',
      backend: 'onnxruntime',
      gpuClass: 'l4',
      source: { bucket: 'in', name: 'add/1/model.onnx', generation: '1' },
      fingerprint: 'f1',
      files: {},
      publishedAt: '2026-12-01T01:00:00Z',
    },
  },
};

function observed(overrides: Partial<ObservedState> = {}): ObservedState {
  const target = {
    ...downTarget('triton-l4-spot', '2026-12-01T22:00:00Z', 1),
    decisions: [
      {
        time: '2026-12-01T22:00:05Z',
        function: 'applySchedules',
        action: 'scale-down',
        reason: 'nights window',
      },
      { time: '2026-12-01T21:00:00Z', function: 'scaleOnAlert', action: 'scale-out', reason: 'queue-high' },
    ],
  };
  return {
    registry: [RECORD],
    nodePools: [pool('triton-l4-spot', 'g2-standard-8', true), pool('a-pool', 'g2-standard-8', true)],
    nodeCountPerZone: { 'triton-l4-spot': 0 },
    clusterZones: 1,
    deployments: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'triton-l4-spot', namespace: 'triton' },
        spec: { replicas: 0 },
      },
    ],
    hpas: [
      {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'triton-l4-spot', namespace: 'triton' },
        spec: { minReplicas: 1, maxReplicas: 4 },
      },
    ],
    networkPolicies: [
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'triton-l4-spot', namespace: 'triton' },
      },
    ],
    targets: [target],
    gpuClasses: {},
    ...overrides,
  } as ObservedState;
}

describe('assembleStatus', () => {
  it('has exactly the documented top-level keys, in order', () => {
    // Act
    const report = assembleStatus(observed(), NOW);

    // Assess
    expect(Object.keys(report)).toEqual([
      'models',
      'nodePools',
      'deployments',
      'hpas',
      'networkPolicies',
      'decisions',
      'savings',
    ]);
    expect(Object.keys(report.decisions[0] ?? {})).toEqual([
      'time',
      'function',
      'target',
      'action',
      'reason',
    ]);
  });

  it('lists versions by number, pools by name, and a pool whose size cannot be told as null', () => {
    // Act
    const report = assembleStatus(observed(), NOW);

    // Assess
    expect(report.models).toEqual([
      {
        name: 'add',
        versions: [
          { version: 1, state: 'SUPERSEDED' },
          { version: 2, state: 'READY' },
        ],
      },
    ]);
    expect(report.nodePools.map((p) => [p.name, p.nodeCount])).toEqual([
      ['a-pool', null],
      ['triton-l4-spot', 0],
    ]);
    expect(report.nodePools[1]?.autoscaling).toEqual({
      enabled: true,
      totalMinNodeCount: 1,
      totalMaxNodeCount: 4,
    });
    expect(report.deployments).toEqual([{ name: 'triton-l4-spot', namespace: 'triton', replicas: 0 }]);
    expect(report.hpas).toEqual([
      { name: 'triton-l4-spot', namespace: 'triton', minReplicas: 1, maxReplicas: 4 },
    ]);
    expect(report.networkPolicies).toEqual([{ name: 'triton-l4-spot', namespace: 'triton' }]);
  });

  it('merges the targets decisions and the registry deploys, newest first', () => {
    // Act
    const report = assembleStatus(observed(), NOW);

    // Assess
    expect(report.decisions.map((d) => `${d.time} ${d.function} ${d.target} ${d.action}`)).toEqual([
      '2026-12-02T01:00:30Z deployModel add/2 serve',
      '2026-12-02T01:00:00Z deployModel add/2 publish',
      '2026-12-01T22:00:05Z applySchedules triton-l4-spot scale-down',
      '2026-12-01T21:00:00Z scaleOnAlert triton-l4-spot scale-out',
      '2026-12-01T01:00:00Z deployModel add/1 publish',
    ]);
    expect(report.savings).toEqual({ gpuHours: 8, dollars: Math.round(8 * L4.spotPerGpuHour * 100) / 100 });
  });
});
