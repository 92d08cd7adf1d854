/**
 * `wake: true` end to end, through the production entry (functions/scaleOnAlert/index.ts) served by
 * the real Functions Framework: applySchedules' tick takes the served pool down for the night, a
 * Monitoring notification arrives as a raw Pub/Sub push body, the target comes up with `wakeUntil`
 * recorded, and applySchedules' next tick (before `wakeUntil`) leaves it up.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { observeTarget } from '../../shared/execute/targets';
import { notification } from '../alerts/support';
import { schedule, schedulesHarness } from '../support/schedules-harness';
import { SERVED_POOL, type ServedPool, servedPool } from '../support/served-pool';

const TOPIC = 'projects/local-project/topics/alerts';
const MIN = 60_000;
// The production entry runs on the real clock: the window is around now.
const NOW = Date.now();
const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const NIGHTS = schedule({
  name: 'nights',
  downtime: [`Sun-Sat ${hhmm(NOW - 60 * MIN)}-${hhmm(NOW + 9 * 60 * MIN)} UTC`],
  gracePeriodMinutes: 0,
});

describe('scaleOnAlert wakes a target in downtime, through the Functions Framework', () => {
  let served: ServedPool;
  let url = '';
  const server = { close: async () => {} };
  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'triton', name: SERVED_POOL };
  const replicas = async () => (await served.ports.kube.getScale(deployment))?.replicas;

  beforeAll(async () => {
    served = await servedPool('e2e-wake');
    const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-wake-'));
    const policy = path.join(dir, 'policy.yaml');
    await writeFile(
      policy,
      [
        'apiVersion: inferplane.dev/v1',
        'kind: ControlPlanePolicy',
        'cluster: { project: local-project, name: inference, namespace: triton,',
        `  repositoryBucket: ${served.buckets.repository}, incomingBucket: ${served.buckets.incoming} }`,
        'alertRules:',
        '  - { name: queue, match: { userLabels: { action: scale-out } }, action: scale-out, wake: true, wakeMinutes: 30 }',
        'guardrails: { maxGpusTotal: 8, maxGpusPerPool: 8, maxNodes: 8, maxDollarsPerHour: 100 }',
        '',
      ].join('\n'),
    );
    Object.assign(process.env, {
      INFERPLANE_PROJECT: 'local-project',
      INFERPLANE_CLUSTER: 'inference',
      INFERPLANE_REPOSITORY_BUCKET: served.buckets.repository,
      INFERPLANE_POLICY: policy,
      INFERPLANE_STORAGE_ENDPOINT: served.cloud.endpoints.storage,
      INFERPLANE_GKE_ENDPOINT: served.cloud.endpoints.gke,
      INFERPLANE_MONITORING_ENDPOINT: served.cloud.endpoints.monitoring,
      INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
      INFERPLANE_LOG_LEVEL: 'WARNING',
    });
    await import('../../functions/scaleOnAlert/index');
    const http = getTestServer('scaleOnAlert');
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/${TOPIC}`;
    server.close = () => new Promise<void>((resolve) => http.close(() => resolve()));
  }, 180_000);
  afterAll(async () => {
    await server.close();
    await served?.cloud.close();
  });

  /** What a Pub/Sub push subscription POSTs to its endpoint. */
  async function push(payload: unknown): Promise<number> {
    const id = `${Date.now()}`;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        message: {
          data: Buffer.from(JSON.stringify(payload)).toString('base64'),
          attributes: {},
          messageId: id,
          message_id: id,
          publishTime: new Date().toISOString(),
          publish_time: new Date().toISOString(),
        },
        subscription: 'projects/local-project/subscriptions/alerts-push',
      }),
    });
    return response.status;
  }

  it('an alert during the night brings the target up until wakeUntil; the next tick keeps it up', async () => {
    const schedules = schedulesHarness(served, [NIGHTS]);
    const up = (await replicas()) ?? 0;
    expect(up).toBeGreaterThan(0);
    schedules.clock.set(new Date(NOW).toISOString());
    expect((await schedules.tick()).status).toBe('applied');
    expect(await replicas()).toBe(0);

    const before = Date.now();
    expect(await push(notification({ incidentId: 'night-owl' }))).toBe(204);

    const record = (await observeTarget(served.ports, served.location, SERVED_POOL)).record?.record;
    expect(record?.downtime).toMatchObject({ schedule: 'nights' });
    expect(record?.scaleOut?.level).toBe(1);
    const wakeUntil = Date.parse(record?.wakeUntil ?? '');
    // 30 minutes from when the function decided (the real clock, between the push and its answer).
    expect(wakeUntil).toBeGreaterThanOrEqual(before + 30 * MIN);
    expect(wakeUntil).toBeLessThanOrEqual(Date.now() + 30 * MIN);
    expect(await replicas()).toBeGreaterThanOrEqual(up);

    // applySchedules' next tick, inside the window and before wakeUntil: the target stays up.
    schedules.clock.set(new Date(NOW + 5 * MIN).toISOString());
    expect((await schedules.tick()).status).toBe('applied');
    expect(await replicas()).toBeGreaterThanOrEqual(up);
    // After wakeUntil the night applies again.
    schedules.clock.set(new Date(wakeUntil + MIN).toISOString());
    await schedules.tick();
    expect(await replicas()).toBe(0);
  }, 120_000);
});
