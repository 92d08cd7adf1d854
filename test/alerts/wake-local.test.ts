/**
 * An alert during a scheduled downtime, through both handlers on the local cloud: applySchedules'
 * tick takes the served pool down (replicas 0, pool minimum 0), then an incident arrives.
 * - Its rule without `wake`: skipped as DOWNTIME with its reason; the target stays down and the
 *   next tick keeps it so.
 * - Its rule with `wake: true`: the target comes up (the scale-out over the restored baseline),
 *   `wakeUntil` is recorded, the next applySchedules tick leaves it up, and the first tick after
 *   `wakeUntil` takes it down again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOutboundEvent } from '../../events/outbound';
import { scaleOnAlertFunction } from '../../shared/alerts/function';
import { targetRecordName } from '../../shared/domain/target';
import { observeTarget } from '../../shared/execute/targets';
import { ManualClock } from '../../shared/runtime/clock';
import { invoke } from '../../shared/runtime/function';
import { type SchedulesHarness, schedule, schedulesHarness } from '../support/schedules-harness';
import { SERVED_POOL, type ServedPool, servedPool } from '../support/served-pool';
import { alertHarness, notification, pubsubDelivery } from './support';

// Relative to the real clock: Monitoring refuses points written for the future.
const MIN = 60_000;
const BASE = Math.floor(Date.now() / MIN) * MIN;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const at = (ms: number) => new Date(ms).toISOString();
const NIGHTS = schedule({
  name: 'nights',
  downtime: [`Sun-Sat ${hhmm(BASE - 60 * MIN)}-${hhmm(BASE + 9 * 60 * MIN)} UTC`],
  gracePeriodMinutes: 0,
});
const RULE = {
  name: 'queue',
  match: { userLabels: { action: 'scale-out' } },
  action: 'scale-out',
  cooldownSeconds: 60,
};

describe('an alert during a scheduled downtime', () => {
  let served: ServedPool;
  let schedules: SchedulesHarness;
  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'triton', name: SERVED_POOL };
  const observe = () => observeTarget(served.ports, served.location, SERVED_POOL);
  const replicas = async () => (await served.ports.kube.getScale(deployment))?.replicas;
  const poolMin = async () =>
    Number((await served.ports.nodePools.get(SERVED_POOL))?.autoscaling?.totalMinNodeCount ?? 0);

  beforeAll(async () => {
    served = await servedPool('wak');
    schedules = schedulesHarness(served, [NIGHTS]);
  }, 120_000);
  afterAll(async () => {
    await served?.cloud.close();
  });

  /** A fresh downtime taken by applySchedules' own tick. */
  async function takeDown(): Promise<number> {
    await served.ports.store
      .delete({
        bucket: served.location.stateBucket,
        name: targetRecordName(served.location.cluster, SERVED_POOL),
      })
      .catch(() => undefined);
    const up = (await replicas()) ?? 0;
    schedules.clock.set(at(BASE));
    const down = await schedules.tick();
    expect(down.status).toBe('applied');
    expect(await replicas()).toBe(0);
    expect((await observe()).record?.record.downtime).toMatchObject({ schedule: 'nights' });
    return up;
  }

  it('a rule without wake: skipped as DOWNTIME with its reason; nothing changes', async () => {
    await takeDown();
    const before = (await observe()).record?.record;
    const h = alertHarness(served, [RULE], { clock: new ManualClock(BASE + MIN) });

    const outcome = await invoke(
      scaleOnAlertFunction,
      h.deps,
      pubsubDelivery(notification({ incidentId: 'asleep' })),
    );

    expect(outcome).toMatchObject({ status: 'skipped', message: expect.stringContaining('DOWNTIME') });
    const skipped = h.publisher.events.map((e) => parseOutboundEvent(e)).at(-1);
    expect(skipped?.type).toBe('dev.inferplane.scaling.v1.skipped');
    expect(skipped?.data).toMatchObject({
      skipReason: 'DOWNTIME',
      message: expect.stringContaining('nights'),
    });
    const line = h.entries.find((e) => e.message === 'scaling decision');
    expect(line).toMatchObject({ reason: 'DOWNTIME', detail: expect.stringContaining('does not wake it') });
    expect(await replicas()).toBe(0);
    const after = (await observe()).record?.record;
    expect(after?.wakeUntil).toBeNull();
    expect(after?.scaleOut).toBeNull();
    expect(after?.downtime).toEqual(before?.downtime);
    expect(after?.baseline).toEqual(before?.baseline);

    // The next tick keeps the target down.
    schedules.clock.set(at(BASE + 2 * MIN));
    await schedules.tick();
    expect(await replicas()).toBe(0);
  }, 120_000);

  it('a wake: true rule brings the target up until wakeUntil, which the next ticks honour', async () => {
    const up = await takeDown();
    const h = alertHarness(served, [{ ...RULE, wake: true, wakeMinutes: 30 }], {
      clock: new ManualClock(BASE + MIN),
    });

    const outcome = await invoke(
      scaleOnAlertFunction,
      h.deps,
      pubsubDelivery(notification({ incidentId: 'wake-up' })),
    );

    expect(outcome.status).toBe('applied');
    const wakeUntil = at(BASE + MIN + 30 * MIN);
    const record = (await observe()).record?.record;
    expect(record?.wakeUntil).toBe(wakeUntil);
    expect(record?.downtime).toMatchObject({ schedule: 'nights' });
    expect(record?.scaleOut?.level).toBe(1);
    expect(await replicas()).toBeGreaterThanOrEqual(up);
    expect(await poolMin()).toBe(record?.baseline?.settings.nodePool?.autoscaling.totalMinNodeCount);
    const applied = h.publisher.events.map((e) => parseOutboundEvent(e)).at(-1);
    expect(applied?.type).toBe('dev.inferplane.scaling.v1.applied');
    const line = h.entries.find((e) => e.message === 'scaling decision');
    expect(line).toMatchObject({ detail: expect.stringContaining(`downtime lifted until ${wakeUntil}`) });

    // applySchedules' next tick, inside the window and before wakeUntil: the target stays up.
    schedules.clock.set(at(BASE + 10 * MIN));
    await schedules.tick();
    expect(await replicas()).toBeGreaterThanOrEqual(up);
    expect((await observe()).record?.record.wakeUntil).toBe(wakeUntil);

    // Once wakeUntil has passed, the downtime applies again.
    schedules.clock.set(at(BASE + 32 * MIN));
    await schedules.tick();
    expect(await replicas()).toBe(0);
  }, 120_000);
});
