/**
 * applySchedules at the handler, on the local cloud's apiserver, GKE and Storage servers (no
 * deployModel: two bare targets). A fixed-size pool (autoscaling off) and a Kubernetes-only target
 * share a nightly window that the real clock is not in: every tick carries `at`.
 *
 * - A tick's `at` decides the schedules, while the savings' metric points carry the real time
 *   (Monitoring refuses points more than 5 minutes ahead: points dated `at` would be lost).
 * - The restore of a fixed-size pool raises its size: the guardrails refuse one that would exceed
 *   them (maxNodes lowered during the downtime), with the numbers; that target stays down (record,
 *   replicas, pool) while the other target is restored; once the limit allows it, the next tick
 *   restores it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { observeTarget } from '../../shared/execute/targets';
import { METRIC_PREFIX } from '../../shared/schedules/handler';
import { type BareSchedules, bareSchedules, targetsOf } from '../support/bare-schedules';

const MIN = 60_000;
const NOW = Math.floor(Date.now() / MIN) * MIN;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
// Two hours from now, for two hours (it may cross midnight): the real clock is outside it.
const WINDOW_START = NOW + 120 * MIN;
const WINDOW_END = WINDOW_START + 120 * MIN;
const iso = (ms: number) => new Date(ms).toISOString();
const FIXED = 'fixed-l4';
const PLAIN = 'plain';

describe('applySchedules: a tick at `at`, and the guardrails on the way up (fixed-size pool)', () => {
  let b: BareSchedules;
  const tick = (at: number) => b.tick(at);
  const replicas = (name: string) => b.replicas(name);
  const nodes = async () => {
    const pool = await b.deps.ports.nodePools.get(FIXED);
    return pool ? b.deps.ports.nodePools.nodeCountPerZone(pool) : undefined;
  };
  const setMaxNodes = (maxNodes: number) => {
    b.deps.policy = { ...b.deps.policy, guardrails: { ...b.deps.policy.guardrails, maxNodes } };
  };

  beforeAll(async () => {
    b = await bareSchedules(
      [{ name: FIXED, pool: { nodes: 2, autoscaling: { enabled: false } } }, { name: PLAIN }],
      [
        '  - name: nights',
        `    target: { pools: [${FIXED}, ${PLAIN}] }`,
        `    downtime: ["Sun-Sat ${hhmm(WINDOW_START)}-${hhmm(WINDOW_END)} UTC"]`,
        '    gracePeriodMinutes: 0',
      ],
    );
  }, 120_000);
  afterAll(async () => {
    await b?.close();
  });

  it("decides as of the tick's `at`, and dates the savings' points by the real clock", async () => {
    // The real clock is outside the window: without `at` nothing is due.
    const plain = await tick(NOW);
    expect(targetsOf(plain).map((t) => t.action)).toEqual(['none', 'none']);
    expect(await replicas(FIXED)).toBe(1);

    const before = Date.now();
    const down = await tick(WINDOW_START + 30 * MIN);
    const after = Date.now();
    expect(down.status).toBe('applied');
    expect(targetsOf(down).map((t) => [t.pool, t.outcome])).toEqual([
      [FIXED, 'applied'],
      [PLAIN, 'applied'],
    ]);
    expect(await replicas(FIXED)).toBe(0);
    expect(await replicas(PLAIN)).toBe(0);
    expect(await nodes()).toBe(0);
    const record = (await observeTarget(b.deps.ports, b.deps.location, FIXED)).record?.record;
    expect(record?.downtime).toMatchObject({
      schedule: 'nights',
      since: iso(WINDOW_START),
      until: iso(WINDOW_END),
    });
    expect(record?.baseline?.settings.nodePool).toMatchObject({ nodeCountPerZone: 2 });

    const series = await b.deps.metrics.readSeries({
      filter: `metric.type = "${METRIC_PREFIX}/gpu_hours_saved" AND metric.labels.pool = "${FIXED}"`,
      startTime: iso(NOW - 10 * MIN),
      endTime: iso(Date.now() + 4 * MIN),
    });
    const times = series.flatMap((s) => s.points.map((p) => Date.parse(p.time)));
    expect(times).toHaveLength(1);
    // Whole seconds on the wire.
    expect(times[0]).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(times[0]).toBeLessThanOrEqual(after);
  }, 60_000);

  it('refuses a fixed-size pool restore over the guardrails with the numbers, keeps it down, restores the other', async () => {
    // In downtime (the test before may have done it: a doubled tick then changes nothing).
    await tick(WINDOW_START + 30 * MIN);
    expect(await nodes()).toBe(0);
    const downRecord = (await observeTarget(b.deps.ports, b.deps.location, FIXED)).record;

    setMaxNodes(1);
    // Inside the lead time (10 min) before the window ends: the warm restore is due.
    const refused = await tick(WINDOW_END - 5 * MIN);
    expect(refused.status).toBe('applied');
    const [fixed, other] = targetsOf(refused);
    expect(fixed).toMatchObject({ pool: FIXED, action: 'warm-restore', outcome: 'failed' });
    expect(fixed?.error).toContain('maxNodes: plan would allow 2 nodes, limit 1');
    expect(other).toMatchObject({ pool: PLAIN, action: 'warm-restore', outcome: 'applied' });
    // Left down: the pool, the replicas and the record as they were.
    expect(await nodes()).toBe(0);
    expect(await replicas(FIXED)).toBe(0);
    const kept = (await observeTarget(b.deps.ports, b.deps.location, FIXED)).record;
    expect(kept?.generation).toBe(downRecord?.generation);
    expect(kept?.record.downtime).not.toBeNull();
    // The other target is back.
    expect(await replicas(PLAIN)).toBe(1);

    // Once the limit allows it, the next tick restores it: nodes to the recorded count, then replicas.
    setMaxNodes(10);
    const restored = await tick(WINDOW_END - 4 * MIN);
    expect(targetsOf(restored).find((t) => t.pool === FIXED)).toMatchObject({
      action: 'warm-restore',
      outcome: 'applied',
    });
    expect(await nodes()).toBe(2);
    expect(await replicas(FIXED)).toBe(1);
    expect((await observeTarget(b.deps.ports, b.deps.location, FIXED)).record?.record.downtime).toBeNull();
  }, 60_000);
});
