/**
 * #16.3: deploy cost against the number of registered models. Two local clouds, one with 1 model
 * registered, one with 500 (records and the pool's index, as deploys leave them). Each iteration
 * deploys a new version of one model on both, interleaved (the order alternates), through the
 * function's `invoke` with the production adapters. A third case times the same deploy with 500
 * records and no pool index: the scan of every record that the index replaced (the cost before).
 *
 * Goal (#16): a deploy with 500 models registered costs <= 1.2x a deploy with 1.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Storage } from '@google-cloud/storage';
import { type LocalCloud, startLocalCloud } from '../infra/local/cloud';
import { localStorageClient } from '../infra/local/storage/client';
import { type DeployBuckets, ensureBuckets, writeLocalPolicy } from '../scripts/control-plane';
import { buildDeployModelDeps } from '../shared/deploy/deps';
import { deployModelFunction } from '../shared/deploy/function';
import type { DeployModelDeps } from '../shared/deploy/handler';
import { poolIndexText, recordText } from '../shared/deploy/records';
import type { ModelRecord, PoolIndex } from '../shared/domain/registry';
import { loadConfig } from '../shared/runtime/config';
import { RetryableError } from '../shared/runtime/errors';
import { invoke } from '../shared/runtime/function';
import { deployEnv, finalizedEvent } from './deploy-env';
import { type Bench, type Figure, figure, median } from './harness';

const BUCKETS: DeployBuckets = { incomingBucket: 'scale-incoming', repositoryBucket: 'scale-repo' };
/** The state bucket of its own, as production has it (INFERPLANE_STATE_BUCKET). */
const STATE = 'scale-state';
const MODEL = 'scaled';
const FIXTURE = fileURLToPath(new URL('../test/fixtures/onnx/add-dynamic-batch.onnx', import.meta.url));
let fixture: Buffer | undefined;

interface Setup {
  cloud: LocalCloud;
  gcs: Storage;
  deps: DeployModelDeps;
  version: number;
  /** Name of the pool's index object. */
  index: string;
}

async function setup(registered: number, log: (m: string) => void): Promise<Setup> {
  const cloud = await startLocalCloud({ operationPhaseMs: 0 });
  const gcs = localStorageClient(cloud.endpoints.storage);
  await ensureBuckets(gcs, BUCKETS);
  await gcs.createBucket(STATE);
  const dir = await mkdtemp(join(tmpdir(), 'inferplane-scale-'));
  const policy = join(dir, 'policy.yaml');
  await writeLocalPolicy(policy, BUCKETS);
  const deps = await buildDeployModelDeps(
    loadConfig({ ...deployEnv(cloud.endpoints, BUCKETS, policy, 'ERROR'), INFERPLANE_STATE_BUCKET: STATE }),
  );
  const s: Setup = { cloud, gcs, deps, version: 0, index: '' };
  // The pool and its first pod, then version 1 served (two deliveries on a new pool).
  await deploy(s);
  // Registered models besides MODEL: records and index entries as their deploys wrote them.
  const others = Array.from({ length: registered - 1 }, (_, i) => `other-${String(i).padStart(3, '0')}`);
  log(`  ${registered} registered: writing ${others.length} records`);
  const state = gcs.bucket(STATE);
  for (let i = 0; i < others.length; i += 32) {
    await Promise.all(
      others
        .slice(i, i + 32)
        .map((m) => state.file(`_inferplane/registry/models/${m}.json`).save(recordText(recordOf(m)))),
    );
  }
  // The pool's index, as the first deploy wrote it (its name is the pool's: triton-l4-spot here).
  const [indexes] = await state.getFiles({ prefix: '_inferplane/registry/pools/' });
  const indexFile = indexes[0];
  if (!indexFile || indexes.length !== 1) throw new Error('expected the one pool index of the first deploy');
  s.index = indexFile.name;
  const index = JSON.parse((await indexFile.download())[0].toString('utf8')) as PoolIndex;
  for (const m of others) index.models[m] = { version: 1, gpuClass: 'l4' };
  await indexFile.save(poolIndexText(index));
  return s;
}

function recordOf(model: string): ModelRecord {
  const at = '2026-12-01T00:00:00.000Z';
  return {
    apiVersion: 'inferplane.dev/registry/v1',
    model,
    serving: 1,
    aliases: {},
    versions: {
      '1': {
        version: 1,
        state: 'READY',
        backend: 'onnxruntime',
        gpuClass: 'l4',
        source: { bucket: BUCKETS.incomingBucket, name: `${model}/1/model.onnx`, generation: '1' },
        fingerprint: 'f'.repeat(32),
        files: { 'model.onnx': { size: '100' } },
        publishedAt: at,
        readyAt: at,
      },
    },
    updatedAt: at,
  };
}

/** Uploads the next version of MODEL; returns its finalize event (not timed). */
async function nextVersion(s: Setup) {
  s.version += 1;
  const file = s.gcs.bucket(BUCKETS.incomingBucket).file(`${MODEL}/${s.version}/model.onnx`);
  fixture ??= await readFile(FIXTURE);
  await file.save(fixture, { resumable: false });
  const [meta] = await file.getMetadata();
  return finalizedEvent(meta as Record<string, unknown>);
}

/** Delivers until acknowledged (a new pool answers TRITON_NOT_READY once). */
async function deploy(s: Setup): Promise<void> {
  const event = await nextVersion(s);
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const outcome = await invoke(deployModelFunction, s.deps, event);
      if ((outcome as { status?: string }).status !== 'applied') throw new Error(JSON.stringify(outcome));
      return;
    } catch (err) {
      if (attempt === 4) throw err;
    }
  }
}

/**
 * Times one deploy. A delivery that fails for a passing reason (a kept-alive connection the local
 * server closed under it) is redelivered, as the platform would, and the acknowledged one is timed.
 */
async function timedDeploy(s: Setup, before?: () => Promise<void>): Promise<number> {
  const event = await nextVersion(s);
  for (let attempt = 0; ; attempt++) {
    await before?.();
    const start = process.hrtime.bigint();
    try {
      const outcome = await invoke(deployModelFunction, s.deps, event);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if ((outcome as { status?: string }).status !== 'applied') throw new Error(JSON.stringify(outcome));
      return ms;
    } catch (err) {
      if (attempt >= 3 || !(err instanceof RetryableError)) throw err;
    }
  }
}

const bench: Bench = async (ctx) => {
  const iterations = ctx.quick ? 3 : 9;
  const one = await setup(1, ctx.log);
  const many = await setup(500, ctx.log);
  const index = many.gcs.bucket(STATE).file(many.index);
  const dropIndex = async () => {
    await index.delete({ ignoreNotFound: true });
  };
  try {
    const samples = { one: [] as number[], many: [] as number[], scan: [] as number[] };
    // Warm-up: one of each, untimed.
    await timedDeploy(one);
    await timedDeploy(many);
    for (let i = 0; i < iterations; i++) {
      const order = i % 2 === 0 ? (['one', 'many', 'scan'] as const) : (['scan', 'many', 'one'] as const);
      for (const k of order) {
        if (k === 'one') samples.one.push(await timedDeploy(one));
        else if (k === 'many') samples.many.push(await timedDeploy(many));
        else samples.scan.push(await timedDeploy(many, dropIndex));
      }
    }
    const figures: Figure[] = [
      figure(
        'deploy with 500 registered models, pool index (median)',
        median(samples.many),
        'ms',
        median(samples.one),
      ),
      figure(
        'deploy with 500 registered models, no index: every record read (median)',
        median(samples.scan),
        'ms',
        median(samples.one),
      ),
    ];
    ctx.log('  goal: <= 1.2x with 500 models registered (baseline: 1 model, same run, interleaved)');
    return figures;
  } finally {
    await one.cloud.close();
    await many.cloud.close();
  }
};

export default bench;
