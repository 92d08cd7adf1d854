/**
 * scaleOnAlert against the local cloud, through the official clients: a pool served by
 * deployModel is scaled out by an incident, renotifications and a storm within the cooldown write
 * nothing to the cluster, a close after the cooldown restores the baseline exactly, a lost close
 * is swept by the tick once the metric (read with @google-cloud/monitoring) confirms, a failed read
 * keeps capacity, two instances racing on one target take one step, a refused plan is reported
 * with its numbers, and malformed payloads change nothing.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseOutboundEvent } from '../../events/outbound';
import { scaleOnAlertFunction } from '../../shared/alerts/function';
import { targetRecordName } from '../../shared/domain/target';
import { observeTarget } from '../../shared/execute/targets';
import { invoke } from '../../shared/runtime/function';
import { SCALING_FIELD_MANAGER } from '../../shared/scaling/target';
import { SERVED_POOL, type ServedPool, servedPool } from '../support/served-pool';
import {
  type AlertHarness,
  alertHarness,
  clusterWrites,
  notification,
  pubsubDelivery,
  tick,
} from './support';

const CONFIRM_METRIC = 'custom.googleapis.com/inferplane/test/queue_ratio';
const RULE = {
  name: 'queue',
  match: { userLabels: { action: 'scale-out' } },
  action: 'scale-out',
  replicasStep: 1,
  cooldownSeconds: 300,
  maxSteps: 2,
  maxScaleOutMinutes: 30,
  confirm: {
    filter: `metric.type = "${CONFIRM_METRIC}"`,
    below: 5,
    windowSeconds: 600,
    aligner: 'ALIGN_MAX',
  },
};

describe('scaleOnAlert on the local cloud', () => {
  let served: ServedPool;
  let baseline: { hpa: { min: number; max: number }; poolMax: number };

  const hpaRef = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    namespace: 'triton',
    name: SERVED_POOL,
  };
  const hpaBounds = async () => {
    const spec = (
      (await served.ports.kube.get(hpaRef)) as { spec?: { minReplicas?: number; maxReplicas?: number } }
    ).spec;
    return { min: spec?.minReplicas ?? 0, max: spec?.maxReplicas ?? 0 };
  };
  const poolMax = async () =>
    Number((await served.ports.nodePools.get(SERVED_POOL))?.autoscaling?.totalMaxNodeCount);

  beforeAll(async () => {
    served = await servedPool('soa');
    baseline = { hpa: await hpaBounds(), poolMax: await poolMax() };
  }, 120_000);
  afterAll(async () => {
    await served?.cloud.close();
  });

  // Each test starts from the served pool as deployModel left it, with no target record.
  beforeEach(async () => {
    served.cloud.monitoring.faults.clear();
    await served.ports.store
      .delete({
        bucket: served.location.stateBucket,
        name: targetRecordName(served.location.cluster, SERVED_POOL),
      })
      .catch(() => undefined);
    await served.ports.kube.apply(
      {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: SERVED_POOL, namespace: 'triton' },
        spec: { minReplicas: baseline.hpa.min, maxReplicas: baseline.hpa.max },
      } as never,
      { fieldManager: SCALING_FIELD_MANAGER, force: true },
    );
    const pool = await served.ports.nodePools.get(SERVED_POOL);
    if (Number(pool?.autoscaling?.totalMaxNodeCount) !== baseline.poolMax) {
      await served.ports.nodePools.setAutoscaling(SERVED_POOL, {
        ...pool?.autoscaling,
        totalMaxNodeCount: baseline.poolMax,
      });
    }
  });

  async function writeConfirmPoint(h: AlertHarness, value: number) {
    await h.deps.metrics.writePoints([
      {
        metricType: CONFIRM_METRIC,
        metricLabels: { pool: SERVED_POOL },
        resource: { type: 'global', labels: { project_id: 'local-project' } },
        value,
        time: new Date(h.clock.nowMs()).toISOString(),
      },
    ]);
  }

  const events = (h: AlertHarness) => h.publisher.events.map((e) => parseOutboundEvent(e));

  it('scales out on an incident; renotifications and a storm in the cooldown write nothing; the close restores', async () => {
    const h = alertHarness(served, [RULE]);

    const opened = await invoke(
      scaleOnAlertFunction,
      h.deps,
      pubsubDelivery(notification({ incidentId: 'a' })),
    );
    expect(opened.status).toBe('applied');
    expect(await hpaBounds()).toEqual({ min: Math.max(baseline.hpa.min + 1, 2), max: baseline.hpa.max + 1 });
    expect(await poolMax()).toBe(baseline.poolMax + 1);
    const applied = events(h).find((e) => e.type === 'dev.inferplane.scaling.v1.applied');
    expect(applied?.data).toMatchObject({
      incidentId: 'a',
      pool: SERVED_POOL,
      decision: 'scale-out',
      dryRun: false,
    });

    // Renotification of the same incident, and five other incidents within the cooldown.
    const writes = clusterWrites(served);
    // Decided from the target's record alone: not one read of GKE or the apiserver.
    const clusterCalls = () => served.cloud.gke.requestLog.length + served.cloud.kubernetes.requestLog.length;
    const calls = clusterCalls();
    const again = await invoke(
      scaleOnAlertFunction,
      h.deps,
      pubsubDelivery(notification({ incidentId: 'a' })),
    );
    expect(again).toMatchObject({ status: 'skipped', message: expect.stringContaining('RENOTIFICATION') });
    for (const id of ['b', 'c', 'd', 'e', 'f']) {
      h.clock.advance(10_000);
      const storm = await invoke(
        scaleOnAlertFunction,
        h.deps,
        pubsubDelivery(notification({ incidentId: id })),
      );
      expect(storm).toMatchObject({ status: 'skipped', message: expect.stringContaining('COOLDOWN') });
    }
    expect(clusterWrites(served)).toBe(writes);
    expect(clusterCalls()).toBe(calls);
    const observed = await observeTarget(served.ports, served.location, SERVED_POOL);
    expect(observed.record?.record.incidents.map((i) => i.incidentId)).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
      'f',
    ]);
    expect(observed.record?.record.scaleOut?.level).toBe(1);

    // Every close but the last leaves capacity; the last one after the cooldown restores exactly.
    h.clock.advance(300_000);
    await writeConfirmPoint(h, 1);
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      const closed = await invoke(
        scaleOnAlertFunction,
        h.deps,
        pubsubDelivery(notification({ incidentId: id, state: 'closed' })),
      );
      expect(closed).toMatchObject({ status: 'skipped', message: expect.stringContaining('STILL_OPEN') });
    }
    const last = await invoke(
      scaleOnAlertFunction,
      h.deps,
      pubsubDelivery(notification({ incidentId: 'f', state: 'closed' })),
    );
    expect(last.status).toBe('applied');
    expect(await hpaBounds()).toEqual(baseline.hpa);
    expect(await poolMax()).toBe(baseline.poolMax);
    const restored = events(h)
      .filter((e) => e.type === 'dev.inferplane.scaling.v1.applied')
      .at(-1);
    expect(restored?.data).toMatchObject({ decision: 'restore', incidentState: 'closed' });
    // One log line per decision, with its reason.
    const decisions = h.entries.filter((e) => e.message === 'scaling decision');
    expect(decisions).toHaveLength(13);
    expect(decisions.map((d) => d.reason)).toContain('COOLDOWN');
  }, 60_000);

  it('a lost close: the tick returns the expired scale-out once the metric confirms', async () => {
    const h = alertHarness(served, [RULE]);
    await invoke(scaleOnAlertFunction, h.deps, pubsubDelivery(notification({ incidentId: 'lost' })));
    expect((await hpaBounds()).max).toBe(baseline.hpa.max + 1);

    // Before the expiry, the open incident keeps it.
    h.clock.advance(10 * 60_000);
    const early = await invoke(scaleOnAlertFunction, h.deps, tick());
    expect(early).toMatchObject({ status: 'skipped', message: expect.stringContaining('NOT_EXPIRED') });

    // After it, pressure still shows: capacity is kept.
    h.clock.advance(25 * 60_000);
    await writeConfirmPoint(h, 9);
    const pressed = await invoke(scaleOnAlertFunction, h.deps, tick());
    expect(pressed).toMatchObject({
      status: 'skipped',
      message: expect.stringContaining('PRESSURE_CONTINUES'),
    });
    expect((await hpaBounds()).max).toBe(baseline.hpa.max + 1);

    // Once the metric is below the rule's threshold, the tick restores.
    h.clock.advance(11 * 60_000);
    await writeConfirmPoint(h, 1);
    const swept = await invoke(scaleOnAlertFunction, h.deps, tick());
    expect(swept.status).toBe('applied');
    expect(await hpaBounds()).toEqual(baseline.hpa);
    const record = (await observeTarget(served.ports, served.location, SERVED_POOL)).record?.record;
    expect(record?.scaleOut).toBeNull();
    expect(record?.incidents).toEqual([]);
    const last = events(h).at(-1);
    expect(last).toMatchObject({
      type: 'dev.inferplane.scaling.v1.applied',
      data: { trigger: 'tick', decision: 'restore' },
    });
  }, 60_000);

  it('keeps capacity and says so when the Monitoring read fails', async () => {
    const h = alertHarness(served, [RULE]);
    await invoke(scaleOnAlertFunction, h.deps, pubsubDelivery(notification({ incidentId: 'm' })));
    h.clock.advance(31 * 60_000);
    // 500 (INTERNAL): the client does not retry it, so the read fails at once.
    served.cloud.monitoring.faults.set({ failNext: 5, failStatus: 500, match: 'timeSeries' });
    const swept = await invoke(scaleOnAlertFunction, h.deps, tick());
    expect(swept).toMatchObject({
      status: 'skipped',
      message: expect.stringContaining('METRIC_UNAVAILABLE'),
    });
    expect((await hpaBounds()).max).toBe(baseline.hpa.max + 1);
    const skipped = events(h).at(-1);
    expect(skipped).toMatchObject({
      type: 'dev.inferplane.scaling.v1.skipped',
      data: { skipReason: 'METRIC_UNAVAILABLE', message: expect.stringContaining('capacity kept') },
    });
  }, 60_000);

  it('two instances racing on one target take one step between them', async () => {
    // Two instances: separate executors, clocks and idempotency, the same cluster and state bucket.
    const one = alertHarness(served, [RULE]);
    const two = alertHarness(served, [RULE], { clock: one.clock });
    const [a, b] = await Promise.all([
      invoke(scaleOnAlertFunction, one.deps, pubsubDelivery(notification({ incidentId: 'r1' }))),
      invoke(scaleOnAlertFunction, two.deps, pubsubDelivery(notification({ incidentId: 'r2' }))),
    ]);
    expect([a.status, b.status].sort()).toEqual(['applied', 'skipped']);
    expect((await hpaBounds()).max).toBe(baseline.hpa.max + 1);
    const record = (await observeTarget(served.ports, served.location, SERVED_POOL)).record?.record;
    expect(record?.scaleOut?.level).toBe(1);
    expect(record?.incidents.map((i) => i.incidentId).sort()).toEqual(['r1', 'r2']);
    const replanned = [...one.entries, ...two.entries].some((e) => e.message === 'plan re-planned');
    expect(replanned).toBe(true);
  }, 60_000);

  it('reports a plan the guardrails refuse, with the numbers, and changes nothing', async () => {
    const h = alertHarness(served, [{ ...RULE, replicasStep: 20 }]);
    const writes = clusterWrites(served);
    const outcome = await invoke(
      scaleOnAlertFunction,
      h.deps,
      pubsubDelivery(notification({ incidentId: 'g' })),
    );
    expect(outcome).toMatchObject({
      status: 'skipped',
      message: expect.stringContaining('GUARDRAIL_REFUSED'),
    });
    expect(clusterWrites(served)).toBe(writes);
    expect(await hpaBounds()).toEqual(baseline.hpa);
    const skipped = events(h).at(-1);
    expect(skipped?.data).toMatchObject({
      skipReason: 'GUARDRAIL_REFUSED',
      violations: expect.arrayContaining([expect.objectContaining({ guardrail: 'maxNodes', limit: 8 })]),
    });
  }, 60_000);

  it('dry run: reports the scale-out it would make and changes nothing', async () => {
    const h = alertHarness(served, [RULE], { dryRun: true });
    const writes = clusterWrites(served);
    const outcome = await invoke(
      scaleOnAlertFunction,
      h.deps,
      pubsubDelivery(notification({ incidentId: 'dry' })),
    );
    expect(outcome.status).toBe('applied');
    expect(clusterWrites(served)).toBe(writes);
    expect(await hpaBounds()).toEqual(baseline.hpa);
    expect((await observeTarget(served.ports, served.location, SERVED_POOL)).record).toBeNull();
    expect(events(h).at(-1)).toMatchObject({ data: { dryRun: true, decision: 'scale-out' } });
    const logged = h.entries.find((e) => e.message === 'scaling decision') as {
      plan?: { actions: unknown[] };
    };
    expect(logged.plan?.actions.length).toBeGreaterThan(1);
  }, 60_000);

  it.each([
    [
      'a test notification',
      { version: 'test', incident: { incident_id: '1', state: 'OPEN' } },
      'TEST_NOTIFICATION',
    ],
    ['an unknown version', { version: '9.9', incident: {} }, 'UNSUPPORTED_VERSION'],
    ['a broken incident', { version: '1.2', incident: { state: 'open' } }, 'MALFORMED_PAYLOAD'],
    ['an unroutable incident', notification({ labels: { action: 'page' } }), 'NO_MATCHING_RULE'],
    ['a rule without a target', notification({ labels: { action: 'scale-out' } }), 'NO_TARGET'],
    [
      'another scheduler command',
      { apiVersion: 'inferplane.dev/scheduler/v1', command: 'rotate-security' },
      'NOT_FOR_THIS_FUNCTION',
    ],
  ])(
    'acknowledges %s, reports it, and changes nothing',
    async (_name, payload, reason) => {
      const h = alertHarness(served, [RULE]);
      const writes = clusterWrites(served);
      const outcome = await invoke(scaleOnAlertFunction, h.deps, pubsubDelivery(payload));
      expect(outcome).toMatchObject({ status: 'skipped', message: expect.stringContaining(reason) });
      expect(clusterWrites(served)).toBe(writes);
      expect((await observeTarget(served.ports, served.location, SERVED_POOL)).record).toBeNull();
      expect(events(h)).toEqual([
        expect.objectContaining({
          type: 'dev.inferplane.scaling.v1.skipped',
          data: expect.objectContaining({ skipReason: reason }),
        }),
      ]);
    },
    60_000,
  );
});
