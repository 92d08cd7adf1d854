/**
 * applySchedules' exact restore through the handler, on bare local targets (see
 * test/support/bare-schedules.ts): a Kubernetes-only target and one with an autoscaled GPU pool.
 *
 * - Without edits, a restore after the window (the lead-time ticks were missed) puts back exactly
 *   what was recorded: replicas, HPA bounds, the pool's autoscaling; the HPA is never touched.
 * - An edit during the downtime wins for the fields it changed (an HPA's maxReplicas, the pool's
 *   maximum), the rest is restored, and the drift is shown in the outcome, the event and the log.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseOutboundEvent } from '../../events/outbound';
import { type BareSchedules, bareSchedules, hpa, NS, targetsOf } from '../support/bare-schedules';

const MIN = 60_000;
const NOW = Math.floor(Date.now() / MIN) * MIN;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const WINDOW_START = NOW + 120 * MIN;
const WINDOW_END = WINDOW_START + 120 * MIN;
const PLAIN = 'plain';
const POOLED = 'pooled-l4';
const AUTOSCALING = {
  enabled: true,
  totalMinNodeCount: 1,
  totalMaxNodeCount: 2,
  locationPolicy: 'ANY',
} as const;

describe('applySchedules: exact restore through the handler', () => {
  let b: BareSchedules;
  const hpaSpec = async (name: string) =>
    (
      (await b.deps.ports.kube.get({
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        namespace: NS,
        name,
      })) as { spec?: { minReplicas?: number; maxReplicas?: number } } | undefined
    )?.spec;
  const autoscaling = async () => (await b.deps.ports.nodePools.get(POOLED))?.autoscaling;

  beforeEach(async () => {
    b = await bareSchedules(
      [{ name: PLAIN }, { name: POOLED, pool: { nodes: 1, autoscaling: AUTOSCALING } }],
      [
        '  - name: nights',
        `    target: { pools: [${PLAIN}, ${POOLED}] }`,
        `    downtime: ["Sun-Sat ${hhmm(WINDOW_START)}-${hhmm(WINDOW_END)} UTC"]`,
        '    gracePeriodMinutes: 0',
      ],
    );
    // A first tick late in the window (the ones before were missed) still scales down.
    const down = await b.tick(WINDOW_START + 90 * MIN);
    expect(targetsOf(down).map((t) => [t.pool, t.outcome])).toEqual([
      [PLAIN, 'applied'],
      [POOLED, 'applied'],
    ]);
    expect(await b.replicas(PLAIN)).toBe(0);
    expect(await b.replicas(POOLED)).toBe(0);
    expect(await autoscaling()).toMatchObject({ enabled: true, totalMinNodeCount: 0, totalMaxNodeCount: 2 });
    // The HPA is left alone: it stops acting while its target has 0 replicas.
    expect(await hpaSpec(PLAIN)).toMatchObject({ minReplicas: 1, maxReplicas: 3 });
  }, 120_000);
  afterEach(async () => {
    await b?.close();
  });

  it('without edits, a tick after the window puts back exactly what was recorded', async () => {
    const restored = await b.tick(WINDOW_END + 30 * MIN);
    expect(targetsOf(restored).map((t) => [t.pool, t.outcome, t.drift ?? []])).toEqual([
      [PLAIN, 'applied', []],
      [POOLED, 'applied', []],
    ]);
    expect(await b.replicas(PLAIN)).toBe(1);
    expect(await b.replicas(POOLED)).toBe(1);
    expect(await hpaSpec(PLAIN)).toMatchObject({ minReplicas: 1, maxReplicas: 3 });
    expect(await autoscaling()).toMatchObject({ enabled: true, totalMinNodeCount: 1, totalMaxNodeCount: 2 });
    // Back to the baseline: the next tick only forgets it (a record write, nothing else), and the
    // one after has nothing to do.
    const after = await b.tick(WINDOW_END + 35 * MIN);
    expect(targetsOf(after).map((t) => (t.plan ?? []).map((a) => a.split(' ')[0]))).toEqual([
      ['writeStorageObject'],
      ['writeStorageObject'],
    ]);
    const settled = await b.tick(WINDOW_END + 40 * MIN);
    expect(targetsOf(settled).map((t) => t.outcome)).toEqual(['unchanged', 'unchanged']);
  }, 60_000);

  it('an edit during the downtime wins for its fields, the rest is restored, and the drift is shown', async () => {
    // Someone raises the HPA's maximum and the pool's maximum while the target is down.
    await b.deps.ports.kube.apply(hpa(PLAIN, 1, 5), { fieldManager: 'someone', force: true });
    let op = await b.deps.ports.nodePools.setAutoscaling(POOLED, {
      ...AUTOSCALING,
      totalMinNodeCount: 0,
      totalMaxNodeCount: 4,
    });
    while (op.status !== 'DONE') op = await b.deps.ports.nodePools.getOperation(op.name ?? '');

    const restored = await b.tick(WINDOW_END - 5 * MIN);
    const [plain, pooled] = targetsOf(restored);
    expect(plain).toMatchObject({ pool: PLAIN, action: 'warm-restore', outcome: 'applied' });
    expect(plain?.drift).toEqual([
      expect.stringMatching(/^hpa\.maxReplicas: kept 5 \(a change since we set 3\)$/),
    ]);
    expect(pooled?.drift).toEqual([
      expect.stringMatching(/^nodePool\.autoscaling\.totalMaxNodeCount: kept 4 \(a change since we set 2\)$/),
    ]);
    // Their values kept; everything else back to the baseline.
    expect(await hpaSpec(PLAIN)).toMatchObject({ minReplicas: 1, maxReplicas: 5 });
    expect(await b.replicas(PLAIN)).toBe(1);
    expect(await b.replicas(POOLED)).toBe(1);
    expect(await autoscaling()).toMatchObject({ enabled: true, totalMinNodeCount: 1, totalMaxNodeCount: 4 });
    // Shown in the event and the log.
    const event = parseOutboundEvent(b.publisher.events.at(-1));
    expect(event.type).toBe('dev.inferplane.schedule.v1.applied');
    if (event.type !== 'dev.inferplane.schedule.v1.applied') return;
    expect(event.data.targets?.find((t) => t.pool === PLAIN)?.drift).toEqual(plain?.drift);
    const logged = b.entries.filter((e) => e.message === 'target edited during downtime: the edit is kept');
    expect(logged.map((e) => JSON.stringify(e))).toEqual([
      expect.stringContaining(PLAIN),
      expect.stringContaining(POOLED),
    ]);
  }, 60_000);
});
