/**
 * A scale-out GKE cannot fulfil: the local GKE server's capacity rules leave zone a without room,
 * the setSize operation ends DONE with GCE_STOCKOUT, and scaleOnAlert widens the pool to another
 * zone of the region (the guardrails count it), applies the workload part on what there is, and
 * reports the fallback; the restore takes the added zone away again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOutboundEvent } from '../../events/outbound';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { createContainerClient, GkeNodePools } from '../../shared/adapters/gke';
import { scaleOnAlertFunction } from '../../shared/alerts/function';
import { invoke } from '../../shared/runtime/function';
import { gkeViewNodeCount } from '../support/node-count';
import { SERVED_POOL, type ServedPool, servedPool } from '../support/served-pool';
import { alertHarness, notification, pubsubDelivery } from './support';

const ZONES = ['us-central1-a', 'us-central1-b', 'us-central1-c'];

describe('a stockout during a scale-out', () => {
  let served: ServedPool;
  beforeAll(async () => {
    const base = await servedPool('sto', { gkeLocations: ZONES });
    // This cloud runs without Nodes: the pool's live size is read from the GKE server's view.
    const nodePools = new GkeNodePools(
      createContainerClient({ endpoint: base.cloud.endpoints.gke, accessToken: LOCAL_ACCESS_TOKEN }),
      base.cloud.gke.clusterName,
      { nodeCount: gkeViewNodeCount(base.cloud.gke) },
    );
    served = { ...base, ports: { ...base.ports, nodePools } };
    // A fixed-size pool of one node in zone a, which has room for no more of its machines.
    await nodePools.update(SERVED_POOL, { locations: ['us-central1-a'] });
    await nodePools.setAutoscaling(SERVED_POOL, { enabled: false });
    await nodePools.setSize(SERVED_POOL, 1);
    const machineType = (await nodePools.get(SERVED_POOL))?.config?.machineType ?? '';
    base.cloud.gke.capacity.set({ zone: 'us-central1-a', machineType, available: 1 });
  }, 120_000);
  afterAll(async () => {
    await served?.cloud.close();
  });

  it('widens the pool to a zone with capacity, reports it, and narrows it on restore', async () => {
    const h = alertHarness(served, [
      {
        name: 'queue',
        match: { userLabels: { action: 'scale-out' } },
        action: 'scale-out',
        cooldownSeconds: 60,
      },
    ]);
    const view = () => served.cloud.gke.nodePools().find((p) => p.name === SERVED_POOL);

    const outcome = await invoke(
      scaleOnAlertFunction,
      h.deps,
      pubsubDelivery(notification({ incidentId: 's' })),
    );

    expect(outcome.status).toBe('applied');
    expect(outcome.message).toContain('scale-out');
    expect(view()?.zones).toEqual(['us-central1-a', 'us-central1-b']);
    expect(view()?.nodeCountPerZone['us-central1-b']).toBeGreaterThan(0);
    const stockout = h.entries.find((e) => e.message === 'stockout: GKE could not add the nodes');
    expect(stockout).toMatchObject({ zones: ['us-central1-a'] });
    const applied = h.publisher.events
      .map((e) => parseOutboundEvent(e))
      .find((e) => e.type.endsWith('applied'));
    expect(applied?.data).toMatchObject({
      decision: 'scale-out',
      fallback: {
        zonesAdded: ['us-central1-b'],
        message: expect.stringContaining('stockout in us-central1-a'),
      },
    });
    // The workload part followed on the capacity there is.
    const hpa = (await served.ports.kube.get({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      namespace: 'triton',
      name: SERVED_POOL,
    })) as { spec?: { maxReplicas?: number } } | undefined;
    expect(hpa?.spec?.maxReplicas).toBe(5);

    h.clock.advance(61_000);
    const closed = await invoke(
      scaleOnAlertFunction,
      h.deps,
      pubsubDelivery(notification({ incidentId: 's', state: 'closed' })),
    );
    expect(closed.status).toBe('applied');
    expect(view()?.zones).toEqual(['us-central1-a']);
    const restore = h.publisher.events.map((e) => parseOutboundEvent(e)).at(-1);
    expect(restore?.data).toMatchObject({
      decision: 'restore',
      actions: expect.arrayContaining([expect.objectContaining({ kind: 'node-pool-zones', from: 2, to: 1 })]),
    });
  }, 120_000);
});
