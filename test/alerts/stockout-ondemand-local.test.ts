/**
 * A Spot pool that GKE cannot grow anywhere, on the local cloud with Nodes, scheduling and the
 * cluster autoscaler: Spot capacity is exhausted in every zone of the region (on-demand is not),
 * an incident opens, the scale-out's setSize comes back GCE_STOCKOUT, the pool is widened to
 * another zone (short too), and, as the rule's `fallback.onDemand` allows, an on-demand sibling
 * pool is created beside it. The Triton pod the HPA adds is pending until the autoscaler grows the
 * sibling, then runs on its node (the Deployment is not touched). A renotification and a redelivery
 * create no second sibling; the close deletes it and leaves the target exactly at its baseline. A
 * downtime applySchedules takes deletes it too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOutboundEvent } from '../../events/outbound';
import { scaleOnAlertFunction } from '../../shared/alerts/function';
import { observeTarget } from '../../shared/execute/targets';
import { ManualClock } from '../../shared/runtime/clock';
import { invoke } from '../../shared/runtime/function';
import { liveSettings } from '../../shared/scaling/target';
import { schedule, schedulesHarness } from '../support/schedules-harness';
import { type ServedPool, servedPool } from '../support/served-pool';
import { alertHarness, notification, pubsubDelivery } from './support';

const ZONES = ['us-central1-a', 'us-central1-b', 'us-central1-c'];
const POOL = 'triton-l4-spot';
const SIBLING = 'triton-l4-spot-od';
const RULE = {
  name: 'queue',
  match: { userLabels: { action: 'scale-out' } },
  action: 'scale-out',
  cooldownSeconds: 60,
  fallback: { onDemand: true },
};

// The downtime's times follow the real clock (Monitoring refuses points written for the future).
const MIN = 60_000;
const BASE = Math.floor(Date.now() / MIN) * MIN;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

interface Live {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { nodeName?: string; minReplicas?: number; maxReplicas?: number };
  status?: { phase?: string };
}

describe('a stockout of a Spot pool in every zone', () => {
  let served: ServedPool;
  let baseline: { hpa: { min: number; max: number } };

  const hpa = async () => {
    const live = (await served.ports.kube.get({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      namespace: 'triton',
      name: POOL,
    })) as Live | undefined;
    return { min: live?.spec?.minReplicas ?? 0, max: live?.spec?.maxReplicas ?? 0 };
  };
  const view = (name: string) => served.cloud.gke.nodePools().find((p) => p.name === name);
  const pods = async () =>
    ((await served.ports.kube.list('v1', 'Pod', 'triton')) as Live[]).filter((p) =>
      p.metadata.name.startsWith(POOL),
    );
  const nodePoolOf = async (node: string | undefined) => {
    if (!node) return undefined;
    const nodes = (await served.ports.kube.list('v1', 'Node')) as Live[];
    return nodes.find((n) => n.metadata.name === node)?.metadata.labels?.['cloud.google.com/gke-nodepool'];
  };
  const createCalls = () =>
    served.cloud.gke.requestLog.filter((r) => r.method === 'POST' && /\/nodePools(\?|$)/.test(r.url)).length;

  /** Bounded polling: the cluster's controllers act on their own. */
  async function until(what: string, check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 400; i++) {
      if (await check()) return;
      // The HPA controller's own period is 15 s; a sync now is one of its passes, without the wait.
      await served.cloud.hpa.sync();
      await served.cloud.settled();
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`timed out waiting until ${what}`);
  }

  beforeAll(async () => {
    served = await servedPool('sod', { gkeLocations: ZONES, nodes: true }, [
      'gpuClasses: { l4: { spot: true } }',
    ]);
    const { nodePools } = served.ports;
    // A fixed-size Spot pool of one node in zone a; no Spot VM more anywhere in the region.
    await nodePools.update(POOL, { locations: ['us-central1-a'] });
    await nodePools.setAutoscaling(POOL, { enabled: false });
    await nodePools.setSize(POOL, 1);
    const machineType = (await nodePools.get(POOL))?.config?.machineType ?? '';
    served.cloud.gke.capacity.set({ zone: 'us-central1-a', machineType, spot: true, available: 1 });
    for (const zone of ZONES.slice(1)) served.cloud.gke.capacity.set({ zone, spot: true, stockout: true });
    await until('the served pod runs on the Spot pool', async () => {
      const running = (await pods()).filter((p) => p.status?.phase === 'Running');
      return running.length === 1 && (await nodePoolOf(running[0]?.spec?.nodeName)) === POOL;
    });
    baseline = { hpa: await hpa() };
  }, 180_000);
  afterAll(async () => {
    await served?.cloud.close();
  });

  it('adds an on-demand sibling the pending pod lands on, once, and the close removes it', async () => {
    const h = alertHarness(served, [RULE]);
    const open = pubsubDelivery(
      notification({ incidentId: 'od', labels: { action: 'scale-out', pool: POOL } }),
    );

    const outcome = await invoke(scaleOnAlertFunction, h.deps, open);

    expect(outcome.status).toBe('applied');
    // Zones first: the pool was widened to zone b, which had no Spot VM either.
    expect(view(POOL)?.zones).toEqual(['us-central1-a', 'us-central1-b']);
    expect(view(POOL)?.spot).toBe(true);
    // Then on-demand: the sibling, on demand, same machines and the Spot pool's pool label.
    const sibling = view(SIBLING);
    expect(sibling).toMatchObject({ spot: false, machineType: view(POOL)?.machineType });
    expect(sibling?.labels['inferplane.dev/pool']).toBe(POOL);
    expect(sibling?.autoscaling).toMatchObject({ enabled: true, totalMinNodeCount: 0, totalMaxNodeCount: 1 });
    const applied = h.publisher.events
      .map((e) => parseOutboundEvent(e))
      .find((e) => e.type.endsWith('applied'));
    expect(applied?.data).toMatchObject({
      decision: 'scale-out',
      fallback: {
        zonesAdded: ['us-central1-b'],
        onDemand: { pool: SIBLING, maxNodes: 1 },
        message: expect.stringContaining(`on-demand pool ${SIBLING} added for up to 1 node(s)`),
      },
    });
    const line = h.entries.find((e) => e.message === 'scaling decision');
    expect(line).toMatchObject({ fallback: { onDemand: { pool: SIBLING, maxNodes: 1 } } });
    const record = (await observeTarget(served.ports, served.location, POOL)).record?.record;
    expect(record?.scaleOutOnDemand).toMatchObject({ pool: SIBLING, maxNodes: 1 });
    expect(record?.scaleOutOnDemand?.short).toEqual(['us-central1-a', 'us-central1-b']);

    // The pod the raised HPA adds waits for a node; the autoscaler grows the sibling; it runs there.
    expect((await hpa()).min).toBe(baseline.hpa.min + 1);
    await until('a Triton pod runs on the on-demand pool', async () => {
      for (const p of await pods())
        if (p.status?.phase === 'Running' && (await nodePoolOf(p.spec?.nodeName)) === SIBLING) return true;
      return false;
    });

    // A renotification and a redelivery of the same message create no second sibling.
    const creates = createCalls();
    const again = await invoke(
      scaleOnAlertFunction,
      h.deps,
      pubsubDelivery(notification({ incidentId: 'od', labels: { action: 'scale-out', pool: POOL } })),
    );
    expect(again).toMatchObject({ status: 'skipped', message: expect.stringContaining('RENOTIFICATION') });
    await invoke(scaleOnAlertFunction, h.deps, open);
    expect(createCalls()).toBe(creates);
    expect(served.cloud.gke.nodePools().filter((p) => p.name.endsWith('-od'))).toHaveLength(1);

    // The close, after the cooldown: back to baseline, the sibling deleted.
    h.clock.advance(61_000);
    const closed = await invoke(
      scaleOnAlertFunction,
      h.deps,
      pubsubDelivery(
        notification({ incidentId: 'od', state: 'closed', labels: { action: 'scale-out', pool: POOL } }),
      ),
    );
    expect(closed.status).toBe('applied');
    expect(view(SIBLING)).toBeUndefined();
    expect(await served.ports.nodePools.get(SIBLING)).toBeUndefined();
    expect(await hpa()).toEqual(baseline.hpa);
    expect(view(POOL)?.zones).toEqual(['us-central1-a']);
    expect(view(POOL)?.nodeCountPerZone).toEqual({ 'us-central1-a': 1 });
    expect((await served.ports.nodePools.get(POOL))?.autoscaling?.enabled ?? false).toBe(false);
    const observed = await observeTarget(served.ports, served.location, POOL);
    const after = observed.record?.record;
    expect(after).toMatchObject({
      scaleOut: null,
      scaleOutOnDemand: null,
      scaleOutZones: null,
      incidents: [],
    });
    // Exactly the baseline (replicas above zero are the HPA's).
    const live = liveSettings(observed);
    expect({ hpa: live.hpa, nodePool: live.nodePool }).toEqual({
      hpa: after?.baseline?.settings.hpa,
      nodePool: after?.baseline?.settings.nodePool,
    });
    const restore = h.publisher.events.map((e) => parseOutboundEvent(e)).at(-1);
    expect(restore?.data).toMatchObject({
      decision: 'restore',
      actions: expect.arrayContaining([
        expect.objectContaining({
          kind: 'node-pool-deleted',
          target: expect.stringContaining(SIBLING),
          to: 0,
        }),
      ]),
    });
    // The served pod is back on the Spot pool.
    await until('the Triton pods run on the Spot pool only', async () => {
      const running = (await pods()).filter((p) => p.status?.phase === 'Running');
      if (running.length === 0) return false;
      for (const p of running) if ((await nodePoolOf(p.spec?.nodeName)) !== POOL) return false;
      return true;
    });
  }, 180_000);

  it('a downtime taken by applySchedules deletes the sibling with the rest of the capacity', async () => {
    const h = alertHarness(served, [RULE], { clock: new ManualClock(BASE) });
    const opened = await invoke(
      scaleOnAlertFunction,
      h.deps,
      pubsubDelivery(notification({ incidentId: 'od-night', labels: { action: 'scale-out', pool: POOL } })),
    );
    expect(opened.status).toBe('applied');
    expect(view(SIBLING)).toBeDefined();

    const nights = schedule({
      name: 'nights',
      downtime: [`Sun-Sat ${hhmm(BASE - 60 * MIN)}-${hhmm(BASE + 9 * 60 * MIN)} UTC`],
      gracePeriodMinutes: 0,
    });
    const schedules = schedulesHarness(served, [nights]);
    schedules.clock.set(new Date(BASE + 2 * MIN).toISOString());
    const down = await schedules.tick();

    expect(down.status).toBe('applied');
    expect(view(SIBLING)).toBeUndefined();
    expect(await served.ports.nodePools.get(SIBLING)).toBeUndefined();
    expect(
      (
        await served.ports.kube.getScale({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          namespace: 'triton',
          name: POOL,
        })
      )?.replicas,
    ).toBe(0);
    const record = (await observeTarget(served.ports, served.location, POOL)).record?.record;
    expect(record?.downtime).toMatchObject({ schedule: 'nights' });
    expect(record?.scaleOutOnDemand).toBeNull();
  }, 180_000);
});
