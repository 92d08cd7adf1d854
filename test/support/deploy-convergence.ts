/**
 * For the race, crash and fault tests of deployModel: finalize events made from what the local
 * storage server holds, a redelivery loop (the platform's at-least-once delivery, bounded), and
 * the convergence check: registry, pool index, repository and every Triton pod agree on one
 * served version, and no lease is left held.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Storage } from '@google-cloud/storage';
import { CoreV1Api } from '@kubernetes/client-node';
import { expect } from 'vitest';
import type { LocalCloud } from '../../infra/local/cloud';
import { localKubeConfig } from '../../infra/local/kubernetes/client';
import { MemoryEventPublisher } from '../../shared/adapters/events-publisher';
import { GcsIdempotencyStore } from '../../shared/adapters/idempotency-gcs';
import { GcsLeaseStore } from '../../shared/adapters/lease-gcs';
import { createStorageClient } from '../../shared/adapters/storage';
import { labelSelectorOf } from '../../shared/adapters/triton-pods';
import { tritonSelectorLabels } from '../../shared/cluster/triton';
import { buildDeployModelDeps } from '../../shared/deploy/deps';
import { deployModelFunction } from '../../shared/deploy/function';
import type { DeployModelDeps } from '../../shared/deploy/handler';
import { ModelRegistry } from '../../shared/deploy/registry';
import { modelRecordSchema, poolIndexSchema } from '../../shared/domain/registry';
import type { ObjectStore } from '../../shared/ports/storage';
import { type Clock, systemClock } from '../../shared/runtime/clock';
import type { Config } from '../../shared/runtime/config';
import { isPermanent } from '../../shared/runtime/errors';
import { type IncomingCloudEvent, invoke } from '../../shared/runtime/function';
import type { IdempotencyStore } from '../../shared/runtime/idempotency';
import { Leases } from '../../shared/runtime/lease';
import { createMemoryLogger } from '../../shared/runtime/log';

export const ONNX_FIXTURE = path.join(
  import.meta.dirname,
  '..',
  'fixtures',
  'onnx',
  'add-dynamic-batch.onnx',
);

/** Uploads the ONNX fixture as `<model>/<version>/model.onnx` and returns its finalize event. */
export async function uploadVersion(
  gcs: Storage,
  bucket: string,
  model: string,
  version: number,
  id = `${model}-${version}-${Date.now()}`,
): Promise<IncomingCloudEvent> {
  const name = `${model}/${version}/model.onnx`;
  const file = gcs.bucket(bucket).file(name);
  await file.save(await readFile(ONNX_FIXTURE), {
    resumable: false,
    preconditionOpts: { ifGenerationMatch: 0 },
  });
  const [meta] = await file.getMetadata();
  return {
    id,
    specversion: '1.0',
    source: `//storage.googleapis.com/projects/_/buckets/${bucket}`,
    type: 'google.cloud.storage.object.v1.finalized',
    subject: `objects/${name}`,
    data: meta,
  } as IncomingCloudEvent;
}

export interface Delivery {
  /** What the acknowledged delivery recorded (applied, skipped or rejected). */
  outcome: { status: string; message?: string; reason?: string };
  /** Deliveries it took, the acknowledged one included. */
  attempts: number;
  /** Reasons of the deliveries answered with a retry. */
  retried: string[];
}

/**
 * Delivers `event` until the function acknowledges it (returns), as Eventarc redelivers a 5xx,
 * at most `max` times. `between` runs before each redelivery (a test moves its clock there).
 */
export async function deliverUntilAcked(
  deps: () => DeployModelDeps,
  event: IncomingCloudEvent,
  options: { max: number; between?: (reason: string) => Promise<void> | void },
): Promise<Delivery> {
  const retried: string[] = [];
  for (let attempt = 1; attempt <= options.max; attempt++) {
    try {
      const outcome = (await invoke(deployModelFunction, deps(), event)) as Delivery['outcome'];
      return { outcome, attempts: attempt, retried };
    } catch (err) {
      if (isPermanent(err)) throw err;
      const reason = (err as { reason?: string }).reason ?? (err as Error).message;
      retried.push(reason);
      await options.between?.(reason);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  throw new Error(`${event.id}: not acknowledged after ${options.max} deliveries: ${retried.join(', ')}`);
}

async function text(gcs: Storage, bucket: string, name: string): Promise<string | undefined> {
  const file = gcs.bucket(bucket).file(name);
  const [exists] = await file.exists();
  if (!exists) return undefined;
  return (await file.download())[0].toString('utf8');
}

export async function podsOf(cloud: LocalCloud, pool: string): Promise<string[]> {
  const core = localKubeConfig(cloud.kubernetes).makeApiClient(CoreV1Api);
  const list = await core.listNamespacedPod({
    namespace: 'triton',
    labelSelector: labelSelectorOf(tritonSelectorLabels({ pool })),
  });
  return list.items.map((p) => p.metadata?.name ?? '').sort();
}

/** HTTP status of `GET .../v2/models/<model>/versions/<v>/ready` on one pod. */
async function readyOn(cloud: LocalCloud, pool: string, pod: string, model: string, version: number) {
  const base = cloud.endpoints.triton.replace('{pool}', pool).replace('{pod}', pod);
  const res = await fetch(`${base}/v2/models/${model}/versions/${version}/ready`);
  await res.arrayBuffer();
  return res.status;
}

export const configPins = (config: string | undefined, version: number) =>
  new RegExp(
    `version_policy\\s*\\{\\s*specific\\s*\\{\\s*versions:\\s*\\[?\\s*${version}\\s*\\]?\\s*\\}`,
  ).test(config ?? '');

/**
 * One served version, and everything agrees on it: the registry record (READY, serving), the
 * pool's index, the repository (config pinned to it, with its file beside it), and every ready
 * Triton pod of the pool (that version READY, no other version of `versions` ready). No lease is
 * left behind.
 */
export async function expectConverged(
  cloud: LocalCloud,
  gcs: Storage,
  at: {
    state: string;
    repository: string;
    pool: string;
    model: string;
    version: number;
    versions: number[];
    /** Leases that expired before this instant are a dead holder's, left to lapse: allowed. */
    nowMs?: number;
  },
): Promise<void> {
  const { model, version, pool } = at;
  const record = modelRecordSchema.parse(
    JSON.parse((await text(gcs, at.state, `_inferplane/registry/models/${model}.json`)) ?? 'null'),
  );
  expect(record.serving, `${model}: registry serving`).toBe(version);
  expect(record.versions[String(version)]?.state).toBe('READY');
  const index = poolIndexSchema.parse(
    JSON.parse((await text(gcs, at.state, `_inferplane/registry/pools/${pool}.json`)) ?? 'null'),
  );
  expect(index.models[model]?.version, `${model}: pool index`).toBe(version);
  const config = await text(gcs, at.repository, `models/${pool}/${model}/config.pbtxt`);
  expect(configPins(config, version), `${model}: config.pbtxt pins ${version}`).toBe(true);
  const [files] = await gcs.bucket(at.repository).getFiles({ prefix: `models/${pool}/${model}/${version}/` });
  expect(files.map((f) => f.name)).toContain(`models/${pool}/${model}/${version}/model.onnx`);
  const pods = await podsOf(cloud, pool);
  expect(pods.length).toBeGreaterThan(0);
  for (const pod of pods) {
    for (const v of at.versions) {
      const ready = (await readyOn(cloud, pool, pod, model, v)) === 200;
      expect(ready, `${model} v${v} ready on ${pod}`).toBe(v === version);
    }
  }
  const [leases] = await gcs.bucket(at.state).getFiles({ prefix: '_inferplane/leases/' });
  const live: string[] = [];
  for (const f of leases) {
    const lease = JSON.parse((await f.download())[0].toString('utf8')) as { expiresAtEpochMs: number };
    if (at.nowMs === undefined || lease.expiresAtEpochMs > at.nowMs) live.push(f.name);
  }
  expect(live, 'leases still held').toEqual([]);
}

/** Real time plus an offset the test moves: no sleeps, and nothing that waits on real time breaks. */
export class OffsetClock implements Clock {
  offsetMs = 0;
  nowMs(): number {
    return systemClock.nowMs() + this.offsetMs;
  }
  sleep(ms: number): Promise<void> {
    return systemClock.sleep(ms);
  }
}

/** The production lock (shared/wiring/shared-deps.ts). */
export const LOCK_MS = 60_000;

/**
 * One function instance, built from scratch as a cold start builds it, its state in Cloud
 * Storage (idempotency records and leases in `state`, the production stores), a memory log and
 * memory events. `objects` replaces the ObjectStore every store is built on (a dying one, or one
 * over a client with test retry delays).
 */
export async function freshInstance(options: {
  config: Config;
  clock: Clock;
  leaseTtlMs?: number;
  objects?: (built: ObjectStore) => ObjectStore;
  idempotency?: (built: IdempotencyStore) => IdempotencyStore;
}): Promise<DeployModelDeps> {
  const built = await buildDeployModelDeps(options.config);
  const state = options.config.stateBucket;
  const objects = options.objects ? options.objects(built.objects) : built.objects;
  const store = new GcsIdempotencyStore({
    bucket: createStorageClient({
      projectId: options.config.project,
      ...(options.config.endpoints.storage ? { endpoint: options.config.endpoints.storage } : {}),
    }).bucket(state),
    prefix: '_inferplane/idempotency/',
  });
  return {
    ...built,
    objects,
    registry: new ModelRegistry(objects, state),
    idempotency: options.idempotency ? options.idempotency(store) : store,
    clock: options.clock,
    lockMs: LOCK_MS,
    log: createMemoryLogger().logger,
    publisher: new MemoryEventPublisher(),
    leases: new Leases({
      store: new GcsLeaseStore({ objects, bucket: state }),
      clock: options.clock,
      ttlMs: options.leaseTtlMs ?? 60_000,
    }),
  };
}
