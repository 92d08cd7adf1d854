/**
 * applySchedules end to end on the local cloud (one model served on `triton-l4` by deployModel):
 * ticks as Pub/Sub deliveries, through the official clients' wire. Scale-down with the baseline
 * recorded first, a doubled tick doing nothing, a dry run writing nothing, the warm restore a lead
 * time before the window's end with its lateness recorded, savings as an event and as custom
 * metrics, serving drift repaired, and one broken target not stopping the others.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wakeTarget } from '../../cli/wake';
import { parseOutboundEvent } from '../../events/outbound';
import { tritonAdminSecretRefFor } from '../../shared/cluster/desired';
import { observeTarget } from '../../shared/execute/targets';
import { METRIC_PREFIX } from '../../shared/schedules/handler';
import { keyRingOf } from '../../shared/security/keys';
import { type SchedulesHarness, schedule, schedulesHarness } from '../support/schedules-harness';
import { SERVED_POOL, type ServedPool, servedPool } from '../support/served-pool';

// Times are relative to the real clock: Cloud Monitoring refuses points more than 5 min ahead.
const MIN = 60_000;
const BASE = Math.floor(Date.now() / MIN) * MIN;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const WINDOW_START = BASE - 60 * MIN;
const WINDOW_END = WINDOW_START + 10 * 60 * MIN;
const at = (ms: number) => new Date(ms).toISOString();
// Every day, ten hours from an hour ago (it may cross midnight); no grace: the pool was just created.
const NIGHTS = schedule({
  name: 'nights',
  downtime: [`Sun-Sat ${hhmm(WINDOW_START)}-${hhmm(WINDOW_END)} UTC`],
  gracePeriodMinutes: 0,
});

describe('applySchedules on the local cloud', () => {
  let served: ServedPool;
  let h: SchedulesHarness;
  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'triton', name: SERVED_POOL };

  beforeAll(async () => {
    served = await servedPool('sch', { nodes: true });
    h = schedulesHarness(served, [NIGHTS]);
  }, 180_000);
  afterAll(async () => {
    await served?.cloud.close();
  });

  const observe = () => observeTarget(served.ports, served.location, SERVED_POOL);

  it('outside the window: nothing changes, and a bad scope is refused', async () => {
    h.clock.set(at(BASE - 120 * MIN));
    const before = await served.ports.kube.getScale(deployment);
    const outcome = await h.tick();
    expect(outcome.status).toBe('applied');
    expect((await served.ports.kube.getScale(deployment))?.replicas).toBe(before?.replicas);
    expect((await observe()).record).toBeNull();

    const refused = await h.tick({ scope: ['weekends'] });
    expect(refused).toMatchObject({ status: 'rejected', reason: 'UNKNOWN_SCHEDULE' });
  }, 60_000);

  it('a dry run in the window plans the scale-down and changes nothing', async () => {
    h.clock.set(at(BASE));
    const before = await served.ports.kube.getScale(deployment);
    const outcome = await h.tick({ dryRun: true });
    expect(outcome.status).toBe('applied');
    expect(outcome.message).toContain('dry run');
    expect((await served.ports.kube.getScale(deployment))?.replicas).toBe(before?.replicas);
    expect((await observe()).record).toBeNull();
    const event = parseOutboundEvent(h.publisher.events.at(-1));
    expect(event.type).toBe('dev.inferplane.schedule.v1.applied');
    expect(event.data).toMatchObject({ schedule: 'nights', dryRun: true });
  }, 60_000);

  it("decides as of a tick's `at` (the sandbox's time offset), not the clock", async () => {
    h.clock.set(at(BASE - 120 * MIN));
    const events = h.publisher.events.length;
    const outcome = await h.tick({ dryRun: true, at: at(BASE) });
    expect(outcome.status).toBe('applied');
    const planned = h.publisher.events.slice(events).map((e) => parseOutboundEvent(e));
    expect(planned.map((e) => e.data)).toContainEqual(
      expect.objectContaining({ schedule: 'nights', dryRun: true, windowState: 'downtime' }),
    );
    // The same clock without `at` is outside the window: no downtime is planned.
    const later = h.publisher.events.length;
    await h.tick({ dryRun: true });
    const plain = h.publisher.events.slice(later).map((e) => parseOutboundEvent(e));
    expect(plain.map((e) => e.data)).not.toContainEqual(expect.objectContaining({ windowState: 'downtime' }));
  }, 60_000);

  it('scales to zero in the window: record first, replicas 0, pool minimum 0; a doubled tick does nothing', async () => {
    h.clock.set(at(BASE));
    const poolBefore = await served.ports.nodePools.get(SERVED_POOL);
    const replicasBefore = (await served.ports.kube.getScale(deployment))?.replicas;
    expect(replicasBefore).toBeGreaterThan(0);

    const outcome = await h.tick({ id: 'night-1' });
    expect(outcome.status).toBe('applied');
    expect((await served.ports.kube.getScale(deployment))?.replicas).toBe(0);
    expect((await served.ports.nodePools.get(SERVED_POOL))?.autoscaling?.totalMinNodeCount).toBe(0);
    const record = (await observe()).record?.record;
    expect(record?.downtime).toMatchObject({ schedule: 'nights', until: at(WINDOW_END) });
    expect(record?.baseline?.settings.replicas).toBe(replicasBefore);
    expect(record?.baseline?.settings.nodePool?.autoscaling.totalMinNodeCount).toBe(
      poolBefore?.autoscaling?.totalMinNodeCount,
    );

    // The same delivery again (at-least-once) and a later tick: nothing more is written.
    const generation = (await observe()).record?.generation;
    await h.tick({ id: 'night-1' });
    h.clock.set(at(BASE + 2 * MIN));
    const later = await h.tick();
    expect(later.status).toBe('applied');
    expect((await observe()).record?.generation).toBe(generation);

    // Savings: the baseline's nodes since the window began, as an event and as custom metrics.
    const event = parseOutboundEvent(h.publisher.events.at(-1));
    expect(event.type).toBe('dev.inferplane.schedule.v1.applied');
    if (event.type !== 'dev.inferplane.schedule.v1.applied') return;
    expect(event.data.windowState).toBe('downtime');
    expect(event.data.estimatedGpuHoursSaved).toBeGreaterThan(0);
    expect(event.data.estimatedUsdSaved).toBeGreaterThan(0);
    const series = await h.deps.metrics.readSeries({
      filter: `metric.type = "${METRIC_PREFIX}/gpu_hours_saved" AND metric.labels.pool = "${SERVED_POOL}"`,
      startTime: at(BASE - 10 * MIN),
      endTime: at(BASE + 10 * MIN),
    });
    expect(series[0]?.points[0]?.value).toBe(event.data.estimatedGpuHoursSaved);
  }, 120_000);

  it('restores a lead time before the end: nodes first, then replicas; records how late it became Ready', async () => {
    // In downtime first (a doubled tick if the test before did it already).
    h.clock.set(at(BASE));
    await h.tick();
    expect((await served.ports.kube.getScale(deployment))?.replicas).toBe(0);
    h.clock.set(at(WINDOW_END - 9 * MIN));
    const outcome = await h.tick();
    expect(outcome.status).toBe('applied');
    const record = (await observe()).record?.record;
    expect(record?.downtime).toBeNull();
    expect(record?.schedules.warming).toMatchObject({ windowEnd: at(WINDOW_END) });
    const targets = (outcome as { details?: { targets?: { plan?: string[] }[] } }).details?.targets ?? [];
    const plan = targets[0]?.plan ?? [];
    const step = (kind: string) => plan.findIndex((a) => a.startsWith(kind));
    expect(step('setNodePoolAutoscaling')).toBeGreaterThan(-1);
    expect(step('scaleWorkload')).toBeGreaterThan(step('setNodePoolAutoscaling'));
    const baseline = record?.baseline?.settings.replicas ?? 0;
    expect((await served.ports.kube.getScale(deployment))?.replicas).toBe(baseline);

    // Ready: the next tick records it (and the baseline is forgotten once back).
    await served.cloud.settled();
    for (let i = 0; i < 50 && !(await observe()).deployment?.readyReplicas; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    h.clock.set(at(WINDOW_END - 4 * MIN));
    await h.tick();
    const after = (await observe()).record?.record;
    expect(after?.schedules.lastRestore).toMatchObject({ lateSeconds: -240 });
    expect(after?.baseline).toBeNull();
  }, 120_000);

  it('repairs serving drift: a pod that lost its model loads the version the registry names', async () => {
    await served.cloud.settled();
    const ref = tritonAdminSecretRefFor(SERVED_POOL);
    const secret = await served.ports.kube.get({
      apiVersion: 'v1',
      kind: 'Secret',
      namespace: 'triton',
      name: ref.name,
    });
    const keys = keyRingOf(secret);
    if (!keys) throw new Error('no key ring');
    const pods = await h.deps.tritonPods({ pool: SERVED_POOL, namespace: 'triton', keys });
    const first = pods[0];
    if (!first) throw new Error('no ready pod');
    await first.triton.unload('add');
    expect(await first.triton.isModelReady('add', 1)).toBe(false);

    h.clock.set(at(WINDOW_END + 60 * MIN));
    const outcome = await h.tick();
    const drift = (outcome as { details?: { servingDrift?: { findings: unknown[]; loaded: number }[] } })
      .details?.servingDrift;
    expect(drift?.[0]?.findings).toHaveLength(1);
    expect(drift?.[0]?.loaded).toBe(1);
    expect(await first.triton.isModelReady('add', 1)).toBe(true);
  }, 120_000);

  it('one target that cannot be read does not stop the others', async () => {
    const storage = served.deploy.objects;
    await storage.writeText(
      { bucket: served.location.stateBucket, name: `targets/${served.location.cluster}/broken.json` },
      'not json',
      { contentType: 'application/json' },
    );
    h.clock.set(at(BASE + 24 * 60 * MIN));
    const outcome = await h.tick();
    expect(outcome.status).toBe('applied');
    const targets = (outcome as { details?: { targets?: { pool: string; outcome: string }[] } }).details
      ?.targets;
    expect(targets?.find((t) => t.pool === 'broken')?.outcome).toBe('failed');
    expect(targets?.find((t) => t.pool === SERVED_POOL)?.outcome).toBe('applied');
    expect((await served.ports.kube.getScale(deployment))?.replicas).toBe(0);
  }, 120_000);

  it('inferctl wake: the annotation lifts the downtime until it passes', async () => {
    h.clock.set(at(BASE + 3 * MIN));
    await h.tick();
    expect((await served.ports.kube.getScale(deployment))?.replicas).toBe(0);
    await wakeTarget(
      { kube: served.ports.kube, namespace: 'triton', nowMs: BASE + 3 * MIN },
      SERVED_POOL,
      BASE + 63 * MIN,
    );
    h.clock.set(at(BASE + 4 * MIN));
    const woken = await h.tick();
    const targets = (woken as { details?: { targets?: { pool: string; action: string; reason: string }[] } })
      .details?.targets;
    expect(targets?.find((t) => t.pool === SERVED_POOL)).toMatchObject({ action: 'restore' });
    expect((await served.ports.kube.getScale(deployment))?.replicas).toBeGreaterThan(0);
    // After the wake: down again (still inside the window).
    h.clock.set(at(BASE + 64 * MIN));
    await h.tick();
    expect((await served.ports.kube.getScale(deployment))?.replicas).toBe(0);
  }, 120_000);
});
