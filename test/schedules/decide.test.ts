/**
 * The decider with the shared planner, tick after tick, over a simulated target: each tick's plan
 * is applied to the observed state the way the runners would, so sequences (repeated and missed
 * ticks, an edit during downtime, an alert scale-out in between) are checked without a cluster.
 */
import { describe, expect, it } from 'vitest';
import type { NodePool, PlanAction } from '../../shared/domain/plan';
import { parseTargetRecord, type TargetRecord } from '../../shared/domain/target';
import { type Schedule, scheduleSchema } from '../../shared/policy/schema';
import { type ObservedTarget, planTarget } from '../../shared/scaling/target';
import { ANNOTATIONS, decideTarget, type TargetDecision } from '../../shared/schedules/decide';

const ctx = (now: string) => ({ stateBucket: 'state', cluster: 'inference', now, reason: 'test' });

function sched(over: Partial<Schedule> & { downtime: string[] }): Schedule {
  return scheduleSchema.parse({ name: 'nights', target: { all: true }, ...over });
}

const NIGHTS = sched({ downtime: ['Mon-Fri 20:00-07:00 UTC'] });

function pool(autoscaling: NodePool['autoscaling']): NodePool {
  return {
    name: 'triton-l4',
    locations: ['us-central1-a'],
    config: {
      machineType: 'g2-standard-8',
      accelerators: [{ acceleratorCount: '1', acceleratorType: 'nvidia-l4' }],
      labels: { 'inferplane.dev/gpu-class': 'l4' },
    },
    autoscaling,
  };
}

function target(over: Partial<ObservedTarget> = {}): ObservedTarget {
  return {
    pool: 'triton-l4',
    namespace: 'triton',
    deployment: {
      name: 'triton-l4',
      replicas: 2,
      readyReplicas: 2,
      generation: 3,
      annotations: {},
      createdAt: '2026-01-01T00:00:00Z',
    },
    hpa: {
      name: 'triton-l4',
      minReplicas: 1,
      maxReplicas: 4,
      currentReplicas: 2,
      desiredReplicas: 2,
      generation: 2,
    },
    nodePool: pool({ enabled: true, totalMinNodeCount: 1, totalMaxNodeCount: 4 }),
    nodeCountPerZone: 2,
    zones: 1,
    record: null,
    ...over,
  };
}

/** Applies a plan's actions to the observed target, as the runners do (pods become ready at once). */
function apply(o: ObservedTarget, actions: readonly PlanAction[]): ObservedTarget {
  let next = structuredClone(o);
  for (const a of actions) {
    if (a.kind === 'writeStorageObject') {
      const parsed = parseTargetRecord(a.after.text);
      if (!parsed.ok) throw new Error(parsed.message);
      next = {
        ...next,
        record: { record: parsed.record, generation: String(Number(o.record?.generation ?? 0) + 1) },
      };
    } else if (a.kind === 'scaleWorkload' && next.deployment) {
      next.deployment = { ...next.deployment, replicas: a.after.replicas, readyReplicas: a.after.replicas };
    } else if (a.kind === 'applyObject' && next.hpa) {
      const spec = (a.after as unknown as { spec: { minReplicas: number; maxReplicas: number } }).spec;
      next.hpa = { ...next.hpa, minReplicas: spec.minReplicas, maxReplicas: spec.maxReplicas };
    } else if (a.kind === 'setNodePoolAutoscaling' && next.nodePool) {
      next.nodePool = { ...next.nodePool, autoscaling: a.after };
    } else if (a.kind === 'setNodePoolSize') {
      next.nodeCountPerZone = a.after.nodeCountPerZone;
    }
  }
  return next;
}

interface Tick {
  decision: TargetDecision;
  actions: PlanAction[];
  after: ObservedTarget;
}

function tick(o: ObservedTarget, now: string, schedules: Schedule[] = [NIGHTS]): Tick {
  const decision = decideTarget({ observed: o, schedules, nowMs: Date.parse(now) });
  const planned = planTarget(o, decision.next, ctx(now));
  return { decision, actions: planned.actions, after: apply(o, planned.actions) };
}

const kinds = (t: Tick) => t.actions.map((a) => a.kind);
const record = (o: ObservedTarget): TargetRecord => {
  if (!o.record) throw new Error('no record');
  return o.record.record;
};

describe('decideTarget over ticks', () => {
  it('scales down at the window, holds, warms up a lead time before the end, and is exact', () => {
    const down = tick(target(), '2026-12-07T20:01:00Z');
    expect(down.decision.action).toBe('scale-down');
    // Record (with the baseline) first; the HPA is left alone: at 0 replicas it stops acting.
    expect(kinds(down)).toEqual(['writeStorageObject', 'scaleWorkload', 'setNodePoolAutoscaling']);
    expect(record(down.after).baseline?.settings).toMatchObject({
      replicas: 2,
      hpa: { minReplicas: 1, maxReplicas: 4 },
    });
    expect(down.after.deployment?.replicas).toBe(0);
    expect(down.after.hpa).toMatchObject({ minReplicas: 1, maxReplicas: 4 });

    // Repeated ticks, and a doubled one: nothing to do.
    const again = tick(down.after, '2026-12-07T20:01:00Z');
    expect(again.actions).toEqual([]);
    // The cluster autoscaler removes the idle nodes (min 0) about 10 minutes later.
    const drained = { ...again.after, nodeCountPerZone: 0 };
    const later = tick(drained, '2026-12-08T03:00:00Z');
    expect(later.decision.action).toBe('hold');
    expect(later.actions).toEqual([]);

    // 06:50: the lead time (10 min) before 07:00: nodes back to the recorded count, then replicas.
    const warm = tick(later.after, '2026-12-08T06:50:00Z');
    expect(warm.decision.action).toBe('warm-restore');
    expect(kinds(warm)).toEqual([
      'writeStorageObject',
      'setNodePoolAutoscaling',
      'setNodePoolSize',
      'scaleWorkload',
    ]);
    expect(warm.actions[2]).toMatchObject({ after: { nodeCountPerZone: 2 } });
    expect(warm.actions[3]).toMatchObject({ after: { replicas: 2 } });
    expect(record(warm.after).schedules.warming).toMatchObject({ windowEnd: '2026-12-08T07:00:00.000Z' });

    // Next tick: Ready, 4 minutes before the window's end; the baseline is forgotten.
    const ready = tick(warm.after, '2026-12-08T06:56:00Z');
    expect(record(ready.after).schedules).toMatchObject({
      warming: null,
      lastRestore: { lateSeconds: -240, readyAt: '2026-12-08T06:56:00.000Z' },
    });
    expect(record(ready.after).baseline).toBeNull();
    expect(ready.after.deployment?.replicas).toBe(2);
    expect(ready.after.nodePool?.autoscaling).toEqual({
      enabled: true,
      totalMinNodeCount: 1,
      totalMaxNodeCount: 4,
    });
    expect(tick(ready.after, '2026-12-08T07:05:00Z').actions).toEqual([]);
  });

  it('missed ticks: a late first tick still scales down, and a tick after the end still restores', () => {
    const down = tick(target(), '2026-12-08T05:00:00Z');
    expect(down.decision.action).toBe('scale-down');
    const up = tick(down.after, '2026-12-08T09:00:00Z');
    expect(up.decision.action).toBe('warm-restore');
    expect(up.after.deployment?.replicas).toBe(2);
  });

  it('a window shorter than what is left before the lead time does not scale down', () => {
    expect(tick(target(), '2026-12-08T06:55:00Z').decision.action).toBe('none');
  });

  it('a fixed-size node pool goes to size 0 and back to its count', () => {
    const fixed = target({ nodePool: pool({ enabled: false }), nodeCountPerZone: 3 });
    const down = tick(fixed, '2026-12-07T21:00:00Z');
    expect(kinds(down)).toEqual(['writeStorageObject', 'scaleWorkload', 'setNodePoolSize']);
    expect(down.after.nodeCountPerZone).toBe(0);
    const up = tick(down.after, '2026-12-08T06:51:00Z');
    expect(kinds(up)).toEqual(['writeStorageObject', 'setNodePoolSize', 'scaleWorkload']);
    expect(up.after.nodeCountPerZone).toBe(3);
  });

  it('downtimeReplicas above 0 pins the HPA and keeps a fixed pool', () => {
    const s = sched({ downtime: ['Mon-Fri 20:00-07:00 UTC'], downtimeReplicas: 1 });
    const down = tick(target({ nodePool: pool({ enabled: false }) }), '2026-12-07T21:00:00Z', [s]);
    expect(down.after.hpa).toMatchObject({ minReplicas: 1, maxReplicas: 1 });
    expect(down.after.deployment?.replicas).toBe(1);
    expect(kinds(down)).not.toContain('setNodePoolSize');
    const up = tick(down.after, '2026-12-08T06:55:00Z', [s]);
    expect(up.after.hpa).toMatchObject({ minReplicas: 1, maxReplicas: 4 });
  });

  it('an edit during downtime wins for its field, the rest is restored, and the drift is reported', () => {
    const down = tick(target(), '2026-12-07T21:00:00Z');
    const edited = structuredClone(down.after);
    if (edited.hpa) edited.hpa = { ...edited.hpa, maxReplicas: 8 };
    const up = tick(edited, '2026-12-08T06:55:00Z');
    // The HPA's max was never ours to set during downtime, so it is simply live: kept.
    expect(up.after.hpa).toMatchObject({ minReplicas: 1, maxReplicas: 8 });
    expect(up.after.deployment?.replicas).toBe(2);

    // A field we did set (the pool's minimum, 0) changed by someone: their value stays, reported.
    const down2 = tick(target(), '2026-12-07T21:00:00Z');
    const edited2 = structuredClone(down2.after);
    if (edited2.nodePool)
      edited2.nodePool = pool({ enabled: true, totalMinNodeCount: 2, totalMaxNodeCount: 4 });
    const up2 = tick(edited2, '2026-12-08T06:55:00Z');
    expect(up2.after.nodePool?.autoscaling).toMatchObject({ totalMinNodeCount: 2 });
    const wanted = planTarget(edited2, up2.decision.next, ctx('2026-12-08T06:55:00Z')).wanted;
    expect(wanted.drift).toEqual([{ field: 'nodePool.autoscaling.totalMinNodeCount', applied: 0, live: 2 }]);
  });

  it('an alert scale-out during downtime waits for the restore, which then applies it', () => {
    const down = tick(target(), '2026-12-07T21:00:00Z');
    const withAlert = structuredClone(down.after);
    const r = record(withAlert);
    withAlert.record = {
      generation: '9',
      record: {
        ...r,
        scaleOut: {
          rules: ['queue'],
          level: 1,
          since: '2026-12-08T02:00:00Z',
          lastActionAt: '2026-12-08T02:00:00Z',
          expiresAt: '2026-12-08T12:00:00Z',
          settings: { replicas: null, hpa: { minReplicas: 3, maxReplicas: 6 }, nodePool: null },
        },
      },
    };
    const hold = tick(withAlert, '2026-12-08T03:00:00Z');
    expect(hold.after.deployment?.replicas).toBe(0);
    const up = tick(hold.after, '2026-12-08T06:55:00Z');
    expect(up.after.hpa).toMatchObject({ minReplicas: 3, maxReplicas: 6 });
    // The baseline's 2 replicas come back at the scale-out's HPA minimum at least (serving does not
    // wait for the HPA's next sync to raise them).
    expect(up.after.deployment?.replicas).toBe(3);
    expect(record(up.after).baseline).not.toBeNull();
  });

  it.each<[string, Record<string, string>, string]>([
    ['exclude', { [ANNOTATIONS.exclude]: 'true' }, 'excluded by annotation'],
    ['exclude-until', { [ANNOTATIONS.excludeUntil]: '2026-12-08T12:00:00Z' }, 'excluded until'],
    ['wake-until', { [ANNOTATIONS.wakeUntil]: '2026-12-08T05:00:00+01:00' }, 'woken until'],
  ])('%s: a target in downtime is restored and not scaled down again', (_, annotations, reason) => {
    const down = tick(target(), '2026-12-07T21:00:00Z');
    const annotated = structuredClone(down.after);
    if (annotated.deployment) annotated.deployment = { ...annotated.deployment, annotations };
    const up = tick(annotated, '2026-12-08T02:00:00Z');
    expect(up.decision.action).toBe('restore');
    expect(up.decision.reason).toContain(reason);
    expect(up.after.deployment?.replicas).toBe(2);
    expect(tick(up.after, '2026-12-08T02:30:00Z').decision.action).toBe('none');
  });

  it('an override that has passed, or cannot be read, does not hold the downtime back', () => {
    const annotations = { [ANNOTATIONS.wakeUntil]: '2026-12-07T20:30:00Z', [ANNOTATIONS.exclude]: 'yes' };
    const t0 = target();
    if (t0.deployment) t0.deployment = { ...t0.deployment, annotations };
    const d = tick(t0, '2026-12-07T21:00:00Z');
    expect(d.decision.action).toBe('scale-down');
    expect(d.decision.warnings).toEqual([
      `${ANNOTATIONS.exclude}: "yes" is neither "true" nor "false"; ignored`,
    ]);
    const bad = target();
    if (bad.deployment)
      bad.deployment = { ...bad.deployment, annotations: { [ANNOTATIONS.wakeUntil]: 'tomorrow' } };
    expect(tick(bad, '2026-12-07T21:00:00Z').decision.warnings[0]).toContain('not an RFC 3339 time');
  });

  it("the record's wakeUntil (an alert rule with wake: true) lifts the downtime until then", () => {
    const down = tick(target(), '2026-12-07T21:00:00Z');
    const woken = structuredClone(down.after);
    woken.record = { generation: '5', record: { ...record(woken), wakeUntil: '2026-12-08T03:00:00Z' } };
    const up = tick(woken, '2026-12-08T01:00:00Z');
    expect(up.decision.action).toBe('restore');
    expect(up.after.deployment?.replicas).toBe(2);
    // Once the wake has passed, the window applies again.
    expect(tick(up.after, '2026-12-08T03:30:00Z').decision.action).toBe('scale-down');
  });

  it('a Deployment created within the grace period is left alone, then scaled down', () => {
    const young = target();
    if (young.deployment) young.deployment = { ...young.deployment, createdAt: '2026-12-07T20:55:00Z' };
    expect(tick(young, '2026-12-07T21:00:00Z').decision.action).toBe('none');
    expect(tick(young, '2026-12-07T21:11:00Z').decision.action).toBe('scale-down');
  });

  it('a target whose schedule left the policy is restored', () => {
    const down = tick(target(), '2026-12-07T21:00:00Z');
    const up = tick(down.after, '2026-12-07T22:00:00Z', []);
    expect(up.decision.action).toBe('restore');
    expect(up.after.deployment?.replicas).toBe(2);
  });

  it('a freeze restores capacity for its period', () => {
    const frozen = sched({
      downtime: ['Mon-Fri 20:00-07:00 UTC'],
      freezes: [{ from: '2026-12-08T00:00:00Z', until: '2026-12-09T00:00:00Z' }],
    });
    const down = tick(target(), '2026-12-07T21:00:00Z', [frozen]);
    expect(down.decision.action).toBe('scale-down');
    // The window now ends at the freeze: the warm restore starts its lead time before.
    expect(down.decision.window?.end).toBe(Date.parse('2026-12-08T00:00:00Z'));
    expect(tick(down.after, '2026-12-07T23:51:00Z', [frozen]).decision.action).toBe('warm-restore');
  });
});
