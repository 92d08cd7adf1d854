/**
 * A scale-out that spans a scheduled downtime, through both handlers on the local cloud: an alert
 * raises the served pool's HPA, a downtime begins while the incident is still open (the downtime
 * wins: replicas 0), the restore at the window's end brings back the scale-out, not the baseline
 * recorded before it, and the close returns the target exactly to that baseline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scaleOnAlertFunction } from '../../shared/alerts/function';
import { observeTarget } from '../../shared/execute/targets';
import { ManualClock } from '../../shared/runtime/clock';
import { invoke } from '../../shared/runtime/function';
import { schedule, schedulesHarness } from '../support/schedules-harness';
import { SERVED_POOL, type ServedPool, servedPool } from '../support/served-pool';
import { alertHarness, notification, pubsubDelivery } from './support';

// Relative to the real clock: Monitoring refuses points written for the future.
const MIN = 60_000;
const BASE = Math.floor(Date.now() / MIN) * MIN;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const at = (ms: number) => new Date(ms).toISOString();
// A one-hour window starting an hour from now; no grace (the pool was just created).
const WINDOW = schedule({
  name: 'maintenance',
  downtime: [`Sun-Sat ${hhmm(BASE + 60 * MIN)}-${hhmm(BASE + 120 * MIN)} UTC`],
  gracePeriodMinutes: 0,
});
const RULE = {
  name: 'queue',
  match: { userLabels: { action: 'scale-out' } },
  action: 'scale-out',
  cooldownSeconds: 60,
};

describe('a scale-out across a scheduled downtime', () => {
  let served: ServedPool;
  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'triton', name: SERVED_POOL };
  const observe = () => observeTarget(served.ports, served.location, SERVED_POOL);
  const replicas = async () => (await served.ports.kube.getScale(deployment))?.replicas;
  const hpa = async () => {
    const live = (await served.ports.kube.get({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      namespace: 'triton',
      name: SERVED_POOL,
    })) as { spec?: { minReplicas?: number; maxReplicas?: number } } | undefined;
    return { min: live?.spec?.minReplicas, max: live?.spec?.maxReplicas };
  };
  const pool = async () => (await served.ports.nodePools.get(SERVED_POOL))?.autoscaling;

  beforeAll(async () => {
    served = await servedPool('sod2');
  }, 120_000);
  afterAll(async () => {
    await served?.cloud.close();
  });

  it('the downtime wins while it lasts, the restore brings back the scale-out, the close the baseline', async () => {
    const schedules = schedulesHarness(served, [WINDOW]);
    const alerts = alertHarness(served, [RULE], { clock: new ManualClock(BASE) });
    const baseline = { hpa: await hpa(), pool: await pool() };

    // An incident opens before the window: the HPA goes up by one step.
    const open = await invoke(
      scaleOnAlertFunction,
      alerts.deps,
      pubsubDelivery(notification({ incidentId: 'long' })),
    );
    expect(open.status).toBe('applied');
    const raised = await hpa();
    expect(raised.min).toBeGreaterThan(baseline.hpa.min ?? 0);

    // The window begins with the incident still open: the downtime wins.
    schedules.clock.set(at(BASE + 70 * MIN));
    expect((await schedules.tick()).status).toBe('applied');
    expect(await replicas()).toBe(0);
    expect(Number((await pool())?.totalMinNodeCount ?? 0)).toBe(0);
    const down = (await observe()).record?.record;
    expect(down?.downtime).toMatchObject({ schedule: 'maintenance' });
    expect(down?.scaleOut).not.toBeNull();
    // The baseline is what was there before the scale-out, not the raised bounds.
    expect(down?.baseline?.settings.hpa).toMatchObject({
      minReplicas: baseline.hpa.min,
      maxReplicas: baseline.hpa.max,
    });

    // Past the window's end: the restore brings back what the open incident wants.
    schedules.clock.set(at(BASE + 125 * MIN));
    expect((await schedules.tick()).status).toBe('applied');
    const restored = (await observe()).record?.record;
    expect(restored?.downtime).toBeNull();
    expect(restored?.scaleOut).not.toBeNull();
    expect(await hpa()).toEqual(raised);
    expect(await replicas()).toBeGreaterThanOrEqual(raised.min ?? 1);

    // The close (after the cooldown): exactly the baseline, and the record forgets it.
    alerts.clock.set(BASE + 130 * MIN);
    const closed = await invoke(
      scaleOnAlertFunction,
      alerts.deps,
      pubsubDelivery(notification({ incidentId: 'long', state: 'closed' })),
    );
    expect(closed.status).toBe('applied');
    expect(await hpa()).toEqual(baseline.hpa);
    expect(await pool()).toMatchObject({
      enabled: baseline.pool?.enabled,
      totalMinNodeCount: baseline.pool?.totalMinNodeCount,
      totalMaxNodeCount: baseline.pool?.totalMaxNodeCount,
    });
    expect((await observe()).record?.record.scaleOut).toBeNull();
    // The next pass over the target (a tick) finds it at its baseline and forgets it.
    schedules.clock.set(at(BASE + 131 * MIN));
    await schedules.tick();
    expect((await observe()).record?.record.baseline).toBeNull();
    expect(await hpa()).toEqual(baseline.hpa);
  }, 180_000);
});
