import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertGuardrails,
  checkGuardrails,
  type GuardrailName,
  type Guardrails,
  GuardrailViolation,
} from '../../shared/cluster/guardrails';
import type { ObservedCapacity, Plan, PlanAction, PoolCapacity } from '../../shared/domain/plan';
import { ConfigurationError, PermanentError } from '../../shared/runtime/errors';

function pool(name: string, gpusPerNode: number, maxNodes: number, nodeHourlyUsd: number): PoolCapacity {
  return {
    pool: name,
    gpuClass: 'l4',
    machineType: 'g2-standard-4',
    spot: false,
    gpusPerNode,
    maxNodes,
    nodeHourlyUsd,
  };
}

function createPool(capacity: PoolCapacity): PlanAction {
  return {
    kind: 'createNodePool',
    target: `nodePool/${capacity.pool}`,
    before: null,
    after: { name: capacity.pool },
    capacityBefore: null,
    capacityAfter: capacity,
    costDeltaPerHour: capacity.maxNodes * capacity.nodeHourlyUsd,
  };
}

function plan(...actions: PlanAction[]): Plan {
  return { id: 'p', createdAt: '2026-11-28T13:00:00Z', reason: 'test', actions };
}

const roomy: Guardrails = { maxGpusTotal: 100, maxGpusPerPool: 50, maxNodes: 100, maxDollarsPerHour: 1000 };
const observed: ObservedCapacity = { pools: [pool('a', 1, 4, 1)] };

describe('checkGuardrails', () => {
  it.each<[string, Plan, Partial<Guardrails>, GuardrailName[], RegExp[]]>([
    ['within every limit', plan(createPool(pool('b', 2, 4, 2))), {}, [], []],
    [
      'exactly at the limits',
      plan(createPool(pool('b', 2, 6, 2))),
      { maxGpusTotal: 16, maxGpusPerPool: 12, maxNodes: 10, maxDollarsPerHour: 16 },
      [],
      [],
    ],
    [
      'too many GPUs in total',
      plan(createPool(pool('b', 8, 2, 1))),
      { maxGpusTotal: 16 },
      ['maxGpusTotal'],
      [/^maxGpusTotal: plan would allow 20 GPUs, limit 16$/],
    ],
    [
      'too many GPUs in one pool',
      plan(createPool(pool('b', 8, 3, 1))),
      { maxGpusPerPool: 16 },
      ['maxGpusPerPool'],
      [/^maxGpusPerPool: plan would allow 24 GPUs in pool b, limit 16$/],
    ],
    [
      'too many nodes',
      plan(createPool(pool('b', 1, 8, 1))),
      { maxNodes: 10 },
      ['maxNodes'],
      [/^maxNodes: plan would allow 12 nodes, limit 10$/],
    ],
    [
      'too expensive',
      plan(createPool(pool('b', 8, 2, 87.8))),
      { maxDollarsPerHour: 100 },
      ['maxDollarsPerHour'],
      [/^maxDollarsPerHour: plan would allow 179\.60 USD\/h, limit 100\.00$/],
    ],
    [
      'several at once',
      plan(createPool(pool('b', 8, 4, 10))),
      { maxGpusTotal: 8, maxGpusPerPool: 8, maxNodes: 4, maxDollarsPerHour: 10 },
      ['maxGpusTotal', 'maxGpusPerPool', 'maxNodes', 'maxDollarsPerHour'],
      [/36 GPUs, limit 8/, /32 GPUs in pool b, limit 8/, /8 nodes, limit 4/, /44\.00 USD\/h, limit 10\.00/],
    ],
    [
      'an observed pool already over the per-pool limit, untouched by the plan',
      plan(),
      { maxGpusPerPool: 3 },
      ['maxGpusPerPool'],
      [/4 GPUs in pool a, limit 3/],
    ],
  ])('%s', (_case, p, limits, names, messages) => {
    // Act
    const result = checkGuardrails(p, observed, { ...roomy, ...limits });

    // Assess
    if (names.length === 0) {
      expect(result.ok).toBe(true);
      return;
    }
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.violations.map((v) => v.guardrail)).toEqual(names);
    messages.forEach((m, i) => {
      expect(result.violations[i]?.message).toMatch(m);
    });
  });

  it('checks the whole plan: a later action cannot hide behind an earlier one', () => {
    // Prepare: each create fits alone, together they exceed the total.
    const p = plan(createPool(pool('b', 4, 2, 1)), createPool(pool('c', 4, 2, 1)));

    // Act
    const result = checkGuardrails(p, { pools: [] }, { ...roomy, maxGpusTotal: 12 });

    // Assess
    expect(result.ok).toBe(false);
  });

  it('accepts a plan that brings an over-limit cluster back within limits', () => {
    // Prepare
    const big = pool('a', 1, 40, 1);
    const shrink: PlanAction = {
      kind: 'setNodePoolAutoscaling',
      target: 'nodePool/a',
      before: { enabled: true, totalMaxNodeCount: 40 },
      after: { enabled: true, totalMaxNodeCount: 4 },
      capacityBefore: big,
      capacityAfter: { ...big, maxNodes: 4 },
      costDeltaPerHour: -36,
    };

    // Act / Assess
    expect(checkGuardrails(plan(), { pools: [big] }, { ...roomy, maxNodes: 10 }).ok).toBe(false);
    expect(checkGuardrails(plan(shrink), { pools: [big] }, { ...roomy, maxNodes: 10 }).ok).toBe(true);
  });

  it.each([Number.NaN, -1, Number.POSITIVE_INFINITY])(
    'refuses a guardrail limit of %d as configuration',
    (limit) => {
      expect(() => checkGuardrails(plan(), observed, { ...roomy, maxGpusTotal: limit })).toThrow(
        ConfigurationError,
      );
    },
  );

  it('fails closed when a price is not a number', () => {
    const result = checkGuardrails(plan(createPool(pool('b', 1, 1, Number.NaN))), observed, roomy);
    expect(result.ok).toBe(false);
  });
});

describe('assertGuardrails / GuardrailViolation', () => {
  it('throws a PermanentError naming every violation', () => {
    // Act
    let error: unknown;
    try {
      assertGuardrails(plan(createPool(pool('b', 8, 3, 1))), observed, { ...roomy, maxGpusTotal: 16 });
    } catch (err) {
      error = err;
    }

    // Assess
    expect(error).toBeInstanceOf(GuardrailViolation);
    expect(error).toBeInstanceOf(PermanentError);
    const violation = error as GuardrailViolation;
    expect(violation.reason).toBe('GUARDRAIL_VIOLATION');
    expect(violation.message).toBe('plan p refused: maxGpusTotal: plan would allow 28 GPUs, limit 16');
    expect(violation.violations).toHaveLength(1);
  });

  it('returns the totals when the plan fits', () => {
    expect(assertGuardrails(plan(), observed, roomy).gpusTotal).toBe(4);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: whatever the cluster, the plan and the limits, an accepted plan ends within every
// limit, and a refused plan names a limit that is really exceeded. The expected totals are
// recomputed here independently of totalsAfter.

const poolNames = ['p0', 'p1', 'p2', 'p3', 'p4'];
const capacityArb = (name: string) =>
  fc.record({
    pool: fc.constant(name),
    gpuClass: fc.constantFrom('l4', 'a100-40gb', 'h100-80gb'),
    machineType: fc.constant('m'),
    spot: fc.boolean(),
    gpusPerNode: fc.integer({ min: 1, max: 16 }),
    maxNodes: fc.integer({ min: 0, max: 30 }),
    nodeHourlyUsd: fc.double({ min: 0, max: 100, noNaN: true, noDefaultInfinity: true }),
  });
const observedArb = fc
  .subarray(poolNames)
  .chain((names) => fc.tuple(...names.map(capacityArb)))
  .map((pools): ObservedCapacity => ({ pools }));

const actionArb: fc.Arbitrary<PlanAction> = fc.constantFrom(...poolNames).chain((name) =>
  fc.oneof(
    capacityArb(name).map(createPool),
    capacityArb(name).map(
      (c): PlanAction => ({
        kind: 'setNodePoolAutoscaling',
        target: `nodePool/${name}`,
        before: null,
        after: { enabled: true, totalMaxNodeCount: c.maxNodes },
        capacityBefore: null,
        capacityAfter: c,
        costDeltaPerHour: 0,
      }),
    ),
    capacityArb(name).map(
      (c): PlanAction => ({
        kind: 'setNodePoolSize',
        target: `nodePool/${name}`,
        before: { nodeCountPerZone: null, zones: 1 },
        after: { nodeCountPerZone: c.maxNodes, zones: 1 },
        capacityBefore: null,
        capacityAfter: c,
        costDeltaPerHour: 0,
      }),
    ),
    fc.constant<PlanAction>({
      kind: 'deleteNodePool',
      target: `nodePool/${name}`,
      before: { name },
      after: null,
      capacityBefore: null,
      capacityAfter: null,
      costDeltaPerHour: 0,
    }),
    fc.constant<PlanAction>({
      kind: 'loadModel',
      target: 'model/m',
      before: null,
      after: { pool: name, pod: `${name}-0`, model: 'm' },
      costDeltaPerHour: 0,
    }),
  ),
);
const planArb = fc.array(actionArb, { maxLength: 8 }).map((actions) => plan(...actions));
const guardrailsArb = fc.record({
  maxGpusTotal: fc.integer({ min: 0, max: 400 }),
  maxGpusPerPool: fc.integer({ min: 0, max: 200 }),
  maxNodes: fc.integer({ min: 0, max: 100 }),
  maxDollarsPerHour: fc.double({ min: 0, max: 5000, noNaN: true, noDefaultInfinity: true }),
});

function independentTotals(p: Plan, obs: ObservedCapacity) {
  const pools: Record<string, PoolCapacity> = {};
  for (const c of obs.pools) pools[c.pool] = c;
  for (const a of p.actions) {
    const name = a.target.replace('nodePool/', '');
    if (a.kind === 'deleteNodePool') delete pools[name];
    else if (
      a.kind === 'createNodePool' ||
      a.kind === 'setNodePoolAutoscaling' ||
      a.kind === 'setNodePoolSize'
    ) {
      pools[name] = a.capacityAfter;
    }
  }
  const list = Object.values(pools);
  return {
    perPool: list.map((c) => ({ pool: c.pool, gpus: c.gpusPerNode * c.maxNodes })),
    gpus: list.reduce((n, c) => n + c.gpusPerNode * c.maxNodes, 0),
    nodes: list.reduce((n, c) => n + c.maxNodes, 0),
    // Totals are rounded to 1/10000 USD per pool; allow for that here.
    dollars: list.reduce((n, c) => n + c.maxNodes * c.nodeHourlyUsd, 0),
  };
}

describe('guardrails property', () => {
  it('accepted plans end within every limit; refused plans name a limit really exceeded', () => {
    fc.assert(
      fc.property(observedArb, planArb, guardrailsArb, (obs, p, limits) => {
        // Act
        const result = checkGuardrails(p, obs, limits);
        const expected = independentTotals(p, obs);
        const usdTolerance = 0.0001 * (obs.pools.length + p.actions.length + 1);

        // Assess
        if (result.ok) {
          expect(expected.gpus).toBeLessThanOrEqual(limits.maxGpusTotal);
          expect(expected.nodes).toBeLessThanOrEqual(limits.maxNodes);
          for (const { gpus } of expected.perPool) expect(gpus).toBeLessThanOrEqual(limits.maxGpusPerPool);
          expect(expected.dollars).toBeLessThanOrEqual(limits.maxDollarsPerHour + usdTolerance);
          return;
        }
        expect(result.violations.length).toBeGreaterThan(0);
        for (const v of result.violations) {
          expect(v.actual).toBeGreaterThan(v.limit);
          expect(v.limit).toBe(limits[v.guardrail]);
          expect(v.message.startsWith(`${v.guardrail}: `)).toBe(true);
          if (v.guardrail === 'maxGpusTotal') expect(v.actual).toBe(expected.gpus);
          if (v.guardrail === 'maxNodes') expect(v.actual).toBe(expected.nodes);
          if (v.guardrail === 'maxGpusPerPool') {
            expect(expected.perPool).toContainEqual({ pool: v.pool, gpus: v.actual });
          }
          if (v.guardrail === 'maxDollarsPerHour')
            expect(Math.abs(v.actual - expected.dollars)).toBeLessThanOrEqual(usdTolerance);
        }
        // Every real breach is reported, not just one.
        if (expected.gpus > limits.maxGpusTotal) {
          expect(result.violations.some((v) => v.guardrail === 'maxGpusTotal')).toBe(true);
        }
        if (expected.nodes > limits.maxNodes) {
          expect(result.violations.some((v) => v.guardrail === 'maxNodes')).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});
