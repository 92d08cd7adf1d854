/**
 * #10 fault tests: a deploy while every API the control plane calls (Cloud Storage, GKE,
 * Kubernetes, every Triton pod) answers 30% of requests with 429/500/503 or a dropped connection,
 * from a seeded random, so a failing seed reproduces. The event is redelivered under the same id
 * until acknowledged (bounded). After every delivery nothing is half-written: a config.pbtxt only
 * ever names a version whose files are beside it, and the registry agrees with the pool index,
 * the repository and what every Triton pod serves. Once the faults stop, the next deliveries
 * converge: one served version, everything agreeing.
 */
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import type { FaultConfig } from '../../infra/local/common/server';
import { localStorageClient } from '../../infra/local/storage/client';
import { GcsIdempotencyStore } from '../../shared/adapters/idempotency-gcs';
import { GcsObjectStore } from '../../shared/adapters/storage';
import type { DeployModelDeps } from '../../shared/deploy/handler';
import { modelRecordSchema, poolIndexSchema } from '../../shared/domain/registry';
import type { Config } from '../../shared/runtime/config';
import {
  configPins,
  deliverUntilAcked,
  expectConverged,
  freshInstance,
  LOCK_MS,
  OffsetClock,
  podsOf,
  uploadVersion,
} from '../support/deploy-convergence';
import { localDeployHarness } from '../support/deploy-harness';

const INCOMING = 'faults-incoming';
const REPO = 'faults-repo';
const POOL = 'triton-l4';
/** Deliveries while the faults last, then at most this many more once they stop. */
const FAULTY_DELIVERIES = 5;
const CLEAN_DELIVERIES = 4;

let cloud: LocalCloud;
let gcs: Storage;
let config: Config;
const clock = new OffsetClock();

beforeAll(async () => {
  cloud = await startLocalCloud({ operationPhaseMs: 0, repositoryBucket: REPO });
  gcs = localStorageClient(cloud.endpoints.storage);
  const harness = await localDeployHarness(cloud, { incoming: INCOMING, repository: REPO });
  config = harness.deps.config;
}, 60_000);

afterAll(async () => {
  await cloud?.close();
});

/** 30% of requests fail: a fifth with 429/500/503, a tenth with the connection dropped. */
function faults(seed: number): FaultConfig {
  return { errorRate: 0.2, errorStatuses: [429, 500, 503], dropRate: 0.1, seed };
}

const servers = () => [cloud.storage, cloud.gke, cloud.kubernetes, cloud.triton];

function injectAll(seed: number): void {
  servers().forEach((s, i) => {
    s.faults.set(faults(seed * 10 + i));
  });
}

function clearAll(): number {
  let injected = 0;
  for (const s of servers()) {
    injected += s.faults.injected;
    s.faults.clear();
  }
  return injected;
}

/**
 * An instance whose storage client retries as the production one does, with test-sized delays
 * (the client's default waits a second or more per retry).
 */
function instance(): Promise<DeployModelDeps> {
  const storage = new Storage({
    projectId: 'local-project',
    apiEndpoint: cloud.endpoints.storage,
    useAuthWithCustomEndpoint: false,
    retryOptions: { autoRetry: true, maxRetries: 3, maxRetryDelay: 1, retryDelayMultiplier: 1.5 },
  });
  return freshInstance({
    config,
    clock,
    objects: () => new GcsObjectStore(storage),
    idempotency: () =>
      new GcsIdempotencyStore({ bucket: storage.bucket(REPO), prefix: '_inferplane/idempotency/' }),
  });
}

async function text(bucket: string, name: string): Promise<string | undefined> {
  const file = gcs.bucket(bucket).file(name);
  const [exists] = await file.exists();
  return exists ? (await file.download())[0].toString('utf8') : undefined;
}

/**
 * Nothing half-written, whatever the delivery got to: the config names a version whose file is
 * there; a record that says a version serves agrees with the index, the config and every pod.
 */
async function expectConsistent(model: string, versions: number[]): Promise<void> {
  const config = await text(REPO, `models/${POOL}/${model}/config.pbtxt`);
  if (config !== undefined) {
    const pinned = versions.filter((v) => configPins(config, v));
    expect(pinned, `${model}: config.pbtxt pins one version`).toHaveLength(1);
    const [files] = await gcs.bucket(REPO).getFiles({ prefix: `models/${POOL}/${model}/${pinned[0]}/` });
    expect(files.map((f) => f.name)).toContain(`models/${POOL}/${model}/${pinned[0]}/model.onnx`);
  }
  const recordText = await text(REPO, `_inferplane/registry/models/${model}.json`);
  const record = recordText === undefined ? undefined : modelRecordSchema.parse(JSON.parse(recordText));
  if (record?.serving === undefined) return;
  const index = poolIndexSchema.parse(
    JSON.parse((await text(REPO, `_inferplane/registry/pools/${POOL}.json`)) ?? 'null'),
  );
  expect(index.models[model]?.version, `${model}: index agrees with the record`).toBe(record.serving);
  expect(configPins(config, record.serving), `${model}: config agrees with the record`).toBe(true);
  for (const pod of await podsOf(cloud, POOL)) {
    const base = cloud.endpoints.triton.replace('{pool}', POOL).replace('{pod}', pod);
    const res = await fetch(`${base}/v2/models/${model}/versions/${record.serving}/ready`);
    await res.arrayBuffer();
    expect(res.status, `${model} v${record.serving} on ${pod}: Triton agrees with the record`).toBe(200);
  }
}

describe('a deploy under 30% faults on every API', () => {
  beforeAll(async () => {
    // The pool exists and v1 of each model serves, without faults: what follows is a new version.
    const setup = await instance();
    for (const seed of SEEDS) {
      const event = await uploadVersion(gcs, INCOMING, `faulty-${seed}`, 1, `faulty-${seed}-1`);
      await deliverUntilAcked(() => setup, event, { max: 8 });
    }
  }, 120_000);

  it.each(SEEDS)(
    'seed %i: redelivered until acknowledged, never half-written, converged once faults stop',
    async (seed) => {
      // Prepare
      const model = `faulty-${seed}`;
      const event = await uploadVersion(gcs, INCOMING, model, 2, `faulty-${seed}-2`);
      let outcome: Awaited<ReturnType<typeof deliverUntilAcked>> | undefined;
      let injected = 0;

      // Act: deliveries under faults (a fresh instance each time, as the platform may pick any)
      for (let i = 0; i < FAULTY_DELIVERIES && !outcome; i++) {
        const deps = await instance();
        injectAll(seed * 100 + i);
        outcome = await deliverUntilAcked(() => deps, event, { max: 1 }).catch(() => undefined);
        injected += clearAll();
        await expectConsistent(model, [1, 2]);
        // The platform's backoff, compressed: a lock or lease left by a failed release lapses.
        clock.offsetMs += LOCK_MS + 1;
      }
      // ...then without faults, until acknowledged
      const clean = await instance();
      outcome ??= await deliverUntilAcked(() => clean, event, {
        max: CLEAN_DELIVERIES,
        between: () => {
          clock.offsetMs += LOCK_MS + 1;
        },
      });

      // Assess
      expect(injected, 'faults were injected').toBeGreaterThan(0);
      expect(outcome.outcome.status, JSON.stringify(outcome.outcome)).toBe('applied');
      await expectConverged(cloud, gcs, {
        state: REPO,
        repository: REPO,
        pool: POOL,
        model,
        version: 2,
        versions: [1, 2],
        nowMs: clock.nowMs(),
      });
    },
    300_000,
  );
});

const SEEDS = [1, 2];
