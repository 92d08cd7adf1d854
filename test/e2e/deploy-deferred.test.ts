/**
 * A model uploaded while its pool is down for a schedule, on the local cloud: deployModel publishes
 * it and ends (no redelivery until the window ends: a weekend outlasts Eventarc's retries), the
 * registry says the version waits for the restore, and the applySchedules tick after the restore,
 * finding every ready pod serving it (the pods load the repository when they start), marks it READY
 * and publishes `model.deployed`.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOutboundEvent } from '../../events/outbound';
import { localStorageClient } from '../../infra/local/storage/client';
import { deployModelFunction } from '../../shared/deploy/function';
import { invoke } from '../../shared/runtime/function';
import { type SchedulesHarness, schedule, schedulesHarness } from '../support/schedules-harness';
import { SERVED_POOL, type ServedPool, servedPool } from '../support/served-pool';

const MIN = 60_000;
const BASE = Math.floor(Date.now() / MIN) * MIN;
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const WINDOW_START = BASE - 60 * MIN;
const WINDOW_END = WINDOW_START + 10 * 60 * MIN;
const at = (ms: number) => new Date(ms).toISOString();
const NIGHTS = schedule({
  name: 'nights',
  downtime: [`Sun-Sat ${hhmm(WINDOW_START)}-${hhmm(WINDOW_END)} UTC`],
  gracePeriodMinutes: 0,
});

describe('a deploy during a scheduled downtime', () => {
  let served: ServedPool;
  let h: SchedulesHarness;
  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'triton', name: SERVED_POOL };

  beforeAll(async () => {
    served = await servedPool('dfr', { nodes: true });
    h = schedulesHarness(served, [NIGHTS]);
  }, 180_000);
  afterAll(async () => {
    await served?.cloud.close();
  });

  const record = async () => (await served.deploy.registry.get('add'))?.record;
  const index = async () => (await served.deploy.registry.getPoolIndex(SERVED_POOL))?.index;

  let meta: unknown;
  async function uploadV2(id: string) {
    if (meta === undefined) {
      const storage = localStorageClient(served.cloud.endpoints.storage);
      const bucket = storage.bucket(served.buckets.incoming);
      await bucket.upload(
        path.join(import.meta.dirname, '..', 'fixtures', 'onnx', 'add-dynamic-batch.onnx'),
        {
          destination: 'add/2/model.onnx',
        },
      );
      [meta] = await bucket.file('add/2/model.onnx').getMetadata();
    }
    // A redelivery carries the same object's metadata.
    return invoke(deployModelFunction, served.deploy, {
      id,
      specversion: '1.0',
      source: `//storage.googleapis.com/projects/_/buckets/${served.buckets.incoming}`,
      type: 'google.cloud.storage.object.v1.finalized',
      subject: 'objects/add/2/model.onnx',
      data: meta,
    });
  }

  it("a tick reads each pool's index, not every model's record", async () => {
    const models = () =>
      served.cloud.storage.requestLog.filter((r) =>
        decodeURIComponent(r.url).includes('_inferplane/registry/models/'),
      ).length;
    const indexes = () =>
      served.cloud.storage.requestLog.filter((r) =>
        decodeURIComponent(r.url).includes('_inferplane/registry/pools/'),
      ).length;
    const before = { models: models(), indexes: indexes() };
    h.clock.set(at(BASE - 120 * MIN));
    expect((await h.tick({ dryRun: true })).status).toBe('applied');
    expect(models()).toBe(before.models);
    expect(indexes()).toBeGreaterThan(before.indexes);
  }, 60_000);

  it('publishes, records the version as deferred, and ends without a redelivery', async () => {
    h.clock.set(at(BASE));
    expect((await h.tick()).status).toBe('applied');
    expect((await served.ports.kube.getScale(deployment))?.replicas).toBe(0);
    await served.cloud.settled();

    const outcome = await uploadV2('dfr-upload-v2');
    expect(outcome).toMatchObject({ status: 'applied' });
    expect(outcome.message).toContain('scheduled downtime');
    expect(outcome.message).toContain(`until ${at(WINDOW_END)}`);
    expect((outcome as { details?: { deferred?: unknown } }).details?.deferred).toEqual({
      until: at(WINDOW_END),
    });

    const r = await record();
    expect(r?.serving).toBe(1);
    expect(r?.versions['2']).toMatchObject({
      state: 'PUBLISHED',
      deferred: { pool: SERVED_POOL, until: at(WINDOW_END) },
    });
    expect((await index())?.deferred).toEqual({ add: 2 });
    // Nothing woke the pool.
    expect((await served.ports.kube.getScale(deployment))?.replicas).toBe(0);

    // The same delivery again is a no-op; the ticks in the window leave the record alone.
    const generation = (await served.deploy.registry.get('add'))?.generation;
    // The runtime answers a redelivery with the first delivery's outcome, and nothing runs again.
    const again = await uploadV2('dfr-upload-v2');
    expect(again).toMatchObject({
      status: 'applied',
      message: expect.stringContaining('scheduled downtime'),
    });
    h.clock.set(at(BASE + 2 * MIN));
    await h.tick();
    expect((await served.deploy.registry.get('add'))?.generation).toBe(generation);
  }, 180_000);

  it('the tick after the restore marks it READY and publishes model.deployed', async () => {
    const before = h.publisher.events.length;
    h.clock.set(at(WINDOW_END - 9 * MIN));
    expect((await h.tick()).status).toBe('applied');
    expect((await served.ports.kube.getScale(deployment))?.replicas).toBeGreaterThan(0);
    await served.cloud.settled();

    // Ticks until the restored pods are Ready and serve version 2 (they load the repository at
    // start); the restore's own tick completes it when they are Ready by its drift check.
    const deployedSince = () =>
      h.publisher.events
        .slice(before)
        .map((e) => parseOutboundEvent(e))
        .filter((e) => e.type === 'dev.inferplane.model.v1.deployed');
    for (let i = 0; i < 40 && deployedSince().length === 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      h.clock.set(at(WINDOW_END - 8 * MIN + i * 1000));
      await h.tick();
    }
    expect(deployedSince()).toHaveLength(1);
    const completed = deployedSince().length === 1;
    expect(completed).toBe(true);
    const deployed = h.publisher.events
      .map((e) => parseOutboundEvent(e))
      .find((e) => e.type === 'dev.inferplane.model.v1.deployed');
    expect(deployed?.data).toMatchObject({
      model: 'add',
      version: '2',
      deploymentName: SERVED_POOL,
      gpuClass: 'l4',
    });

    const r = await record();
    expect(r?.serving).toBe(2);
    expect(r?.versions['2']?.state).toBe('READY');
    expect(r?.versions['2']?.deferred).toBeUndefined();
    expect(r?.versions['1']?.state).toBe('SUPERSEDED');
    expect((await index())?.models.add?.version).toBe(2);
    expect((await index())?.deferred).toBeUndefined();

    // Done once: the next tick finds nothing deferred and writes nothing to the registry.
    const generation = (await served.deploy.registry.get('add'))?.generation;
    const events = h.publisher.events.length;
    await h.tick();
    expect((await served.deploy.registry.get('add'))?.generation).toBe(generation);
    expect(
      h.publisher.events
        .slice(events)
        .map((e) => parseOutboundEvent(e))
        .filter((e) => e.type === 'dev.inferplane.model.v1.deployed'),
    ).toHaveLength(0);
  }, 180_000);
});
