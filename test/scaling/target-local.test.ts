/**
 * The scaling core against the local cloud, through the official clients: a served pool is scaled
 * to zero by a downtime claim (record first, then the Deployment's scale subresource, then the node
 * pool's autoscaling), restored exactly, and raised by a scale-out whose HPA bounds deployModel's
 * field manager does not own.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient } from '../../infra/local/storage/client';
import { deployModelFunction } from '../../shared/deploy/function';
import type { Plan } from '../../shared/domain/plan';
import { emptyTargetRecord, type TargetRecord } from '../../shared/domain/target';
import { observeTarget } from '../../shared/execute/targets';
import { invoke } from '../../shared/runtime/function';
import { scalingExecutor } from '../../shared/scaling/deps';
import { planTarget, SCALING_FIELD_MANAGER } from '../../shared/scaling/target';
import { SERVED_POOL, type ServedPool, servedPool } from '../support/served-pool';

describe('target plans on the local cloud', () => {
  let served: ServedPool;
  beforeAll(async () => {
    served = await servedPool('tgt');
  }, 120_000);
  afterAll(async () => {
    await served?.cloud.close();
  });

  async function run(change: (record: TargetRecord) => TargetRecord): Promise<Plan> {
    const { ports, location, deploy } = served;
    const executor = scalingExecutor({ ...deploy, ports }, 60_000);
    const plan = async (): Promise<Plan> => {
      const observed = await observeTarget(ports, location, SERVED_POOL);
      const now = new Date(deploy.clock.nowMs()).toISOString();
      const previous = observed.record?.record ?? emptyTargetRecord(SERVED_POOL, location.namespace, now);
      const planned = planTarget(observed, change(previous), {
        stateBucket: location.stateBucket,
        cluster: location.cluster,
        now,
        reason: 'test',
      });
      return { createdAt: now, reason: 'test', actions: planned.actions };
    };
    const first = await plan();
    await executor.execute(first, { guardrails: () => {}, replan: () => plan() });
    await served.cloud.settled();
    return first;
  }

  it('scales to zero and back exactly, and forgets the baseline', async () => {
    const { ports } = served;
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'triton', name: SERVED_POOL };
    const before = await ports.kube.getScale(ref);
    const poolBefore = await ports.nodePools.get(SERVED_POOL);
    expect(before?.replicas).toBeGreaterThan(0);

    await run((r) => ({
      ...r,
      downtime: {
        schedule: 'nights',
        since: new Date().toISOString(),
        until: null,
        settings: {
          replicas: 0,
          hpa: null,
          nodePool: {
            autoscaling: { enabled: true, totalMinNodeCount: 0, totalMaxNodeCount: 1 },
            nodeCountPerZone: null,
            zones: 1,
          },
        },
      },
    }));
    expect((await ports.kube.getScale(ref))?.replicas).toBe(0);
    expect((await ports.nodePools.get(SERVED_POOL))?.autoscaling?.totalMinNodeCount).toBe(0);

    const restore = await run((r) => ({ ...r, downtime: null }));
    expect(restore.actions.map((a) => a.kind)).toContain('scaleWorkload');
    expect((await ports.kube.getScale(ref))?.replicas).toBe(before?.replicas);
    expect((await ports.nodePools.get(SERVED_POOL))?.autoscaling).toMatchObject({
      enabled: true,
      totalMinNodeCount: poolBefore?.autoscaling?.totalMinNodeCount,
      totalMaxNodeCount: poolBefore?.autoscaling?.totalMaxNodeCount,
    });
    const cleanup = await run((r) => r);
    expect(cleanup.actions.map((a) => a.kind)).toEqual(['writeStorageObject']);
    const observed = await observeTarget(ports, served.location, SERVED_POOL);
    expect(observed.record?.record.baseline).toBeNull();
  }, 120_000);

  it('raises the HPA bounds as its own field manager', async () => {
    const { ports } = served;
    const hpaRef = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      namespace: 'triton',
      name: SERVED_POOL,
    };
    const maxOf = (o: unknown) => (o as { spec?: { maxReplicas?: number } }).spec?.maxReplicas;
    const baseline = maxOf(await ports.kube.get(hpaRef));
    expect(baseline).toBeDefined();
    await run((r) => ({
      ...r,
      scaleOut: {
        rules: ['queue'],
        level: 1,
        since: new Date().toISOString(),
        lastActionAt: new Date().toISOString(),
        expiresAt: new Date().toISOString(),
        settings: {
          replicas: null,
          hpa: { minReplicas: 1, maxReplicas: (baseline ?? 1) + 2 },
          nodePool: null,
        },
      },
    }));
    const hpa = await ports.kube.get(hpaRef);
    expect(maxOf(hpa)).toBe((baseline ?? 1) + 2);
    const managers = (hpa?.metadata.managedFields ?? []) as { manager?: string }[];
    expect(managers.map((m) => m.manager)).toContain(SCALING_FIELD_MANAGER);
    // The scale target and metrics are still deployModel's.
    expect((hpa as { spec?: { scaleTargetRef?: { name?: string } } }).spec?.scaleTargetRef?.name).toBe(
      SERVED_POOL,
    );

    // A deploy meanwhile keeps the scaled-out bounds: it does not undo the scale-out.
    const storage = localStorageClient(served.cloud.endpoints.storage);
    await storage
      .bucket(served.buckets.incoming)
      .upload(path.join(import.meta.dirname, '..', 'fixtures', 'onnx', 'add-dynamic-batch.onnx'), {
        destination: 'add/2/model.onnx',
      });
    const [meta] = await storage.bucket(served.buckets.incoming).file('add/2/model.onnx').getMetadata();
    const outcome = await invoke(deployModelFunction, served.deploy, {
      id: 'tgt-deploy-v2',
      specversion: '1.0',
      source: `//storage.googleapis.com/projects/_/buckets/${served.buckets.incoming}`,
      type: 'google.cloud.storage.object.v1.finalized',
      subject: 'objects/add/2/model.onnx',
      data: meta,
    });
    expect(outcome.status).toBe('applied');
    expect(maxOf(await ports.kube.get(hpaRef))).toBe((baseline ?? 1) + 2);
    await run((r) => ({ ...r, scaleOut: null }));
    expect(maxOf(await ports.kube.get(hpaRef))).toBe(baseline);
  }, 120_000);
});
