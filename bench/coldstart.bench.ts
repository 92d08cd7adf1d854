/**
 * Cold start of a function bundle: time to import it in a fresh Node process and RSS after import,
 * against a bare Functions Framework function (the floor every function pays). Then the latency of
 * one CloudEvent POST through a Functions Framework server, the bare function being the baseline.
 *
 * deployModel's request latency is measured on an event it skips at once (an object outside the
 * incoming bucket): what remains is the Functions Framework, the runtime (event parsing, logging
 * context) and the idempotency record round trips, i.e. the overhead every delivery pays on a warm
 * instance. The local cloud runs in this process, so its request handling is part of the figure, a
 * stand-in for the network round trips to Cloud Storage in production.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Storage } from '@google-cloud/storage';
import { type LocalCloud, startLocalCloud } from '../infra/local/cloud';
import { localStorageClient } from '../infra/local/storage/client';
import { buildFunction } from '../scripts/build';
import { type DeployBuckets, ensureBuckets, writeLocalPolicy } from '../scripts/control-plane';
import { idempotencyKeyFromEvent } from '../shared/runtime/idempotency';
import { deployEnv } from './deploy-env';
import {
  type Bench,
  type BenchContext,
  type Figure,
  figure,
  MiB,
  measure,
  median,
  type Stats,
  timeFigures,
} from './harness';
import { removeAll } from './models';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STORAGE_EVENT = join(ROOT, 'events/fixtures/storage/valid-finalized-string-int64.json');

/** A module that registers a CloudEvent function under `target` when imported. */
interface FunctionModule {
  name: string;
  file: string;
  target: string;
}

/** One CloudEvent delivery in binary mode, as in events/fixtures. */
interface Delivery {
  headers: Record<string, string>;
  body: unknown;
}

interface LatencyCase {
  fn: FunctionModule;
  event: string;
  /** What the function does with the event, for the figure's name. */
  path?: string;
}

/**
 * The first case is the baseline; one line per real handler. deployModel is given only once the
 * local cloud is up and its environment set, so its dependencies can be built.
 */
function latencyCases(bare: FunctionModule, deployModel: FunctionModule | undefined): LatencyCase[] {
  return [
    { fn: bare, event: STORAGE_EVENT },
    // The fixture's bucket is not the policy's incoming bucket: deployModel skips it.
    ...(deployModel ? [{ fn: deployModel, event: STORAGE_EVENT, path: 'skipped event' }] : []),
  ];
}

/** Where deployModel runs: the local cloud, its buckets and the environment it reads. */
interface DeployModelSetup {
  cloud: LocalCloud;
  storage: Storage;
  buckets: DeployBuckets;
  /** Puts the process environment back as it was. */
  restoreEnv(): void;
}

async function setUpDeployModel(dir: string): Promise<DeployModelSetup> {
  const buckets = { incomingBucket: 'bench-models-incoming', repositoryBucket: 'bench-triton-repo' };
  const cloud = await startLocalCloud({
    dir: join(dir, 'cloud'),
    repositoryBucket: buckets.repositoryBucket,
    operationPhaseMs: 0,
    tritonLoadDelayMs: 0,
  });
  const storage = localStorageClient(cloud.endpoints.storage);
  await ensureBuckets(storage, buckets);
  const policyFile = join(dir, 'policy.yaml');
  await writeLocalPolicy(policyFile, buckets);
  // The bundle's entry reads process.env when its first event arrives (loadConfig()).
  const env = deployEnv(cloud.endpoints, buckets, policyFile);
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  return {
    cloud,
    storage,
    buckets,
    restoreEnv: () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}

/**
 * A 2xx answer does not tell a skip from an acknowledged rejection: read what deployModel recorded
 * for the event, so the figure is known to time the skip path.
 */
async function assertSkipped(setup: DeployModelSetup, headers: Record<string, string>): Promise<void> {
  const key = idempotencyKeyFromEvent(
    { source: headers['ce-source'] ?? '', id: headers['ce-id'] ?? '' },
    'deployModel',
  );
  const [bytes] = await setup.storage
    .bucket(setup.buckets.repositoryBucket)
    .file(`_inferplane/idempotency/${key}.json`)
    .download();
  const record = JSON.parse(bytes.toString('utf8')) as { result?: { status?: unknown; message?: unknown } };
  if (record.result?.status !== 'skipped') {
    throw new Error(`deployModel did not skip the event: recorded ${JSON.stringify(record.result)}`);
  }
}

async function writeBareFunction(dir: string): Promise<FunctionModule> {
  // Imported by absolute URL: the temp dir has no node_modules, and the bench process must share
  // this framework instance (its function registry) for getTestServer.
  const framework = pathToFileURL(
    createRequire(import.meta.url).resolve('@google-cloud/functions-framework'),
  );
  const file = join(dir, 'bare.mjs');
  await writeFile(
    file,
    `import functions from '${framework.href}';\nfunctions.cloudEvent('bare', () => {});\n`,
  );
  return { name: 'bare Functions Framework function', file, target: 'bare' };
}

interface ColdSample {
  importMs: number;
  rssBytes: number;
  processMs: number;
}

const IMPORT_SCRIPT = `
const url = process.argv[1];
const start = performance.now();
await import(url);
const importMs = performance.now() - start;
console.log(JSON.stringify({ importMs, rssBytes: process.memoryUsage().rss }));
process.exit(0);
`;

async function coldImport(file: string): Promise<ColdSample> {
  const start = performance.now();
  const { stdout } = await promisify(execFile)(process.execPath, [
    '--input-type=module',
    '-e',
    IMPORT_SCRIPT,
    pathToFileURL(file).href,
  ]);
  const processMs = performance.now() - start;
  const parsed = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Partial<ColdSample>;
  if (typeof parsed.importMs !== 'number' || typeof parsed.rssBytes !== 'number') {
    throw new Error(`cold import of ${file} printed ${stdout}`);
  }
  return { importMs: parsed.importMs, rssBytes: parsed.rssBytes, processMs };
}

async function coldStart(fn: FunctionModule, processes: number): Promise<ColdSample> {
  const samples: ColdSample[] = [];
  // Sequential: two cold processes at once on two cores would measure contention.
  for (let i = 0; i < processes; i++) samples.push(await coldImport(fn.file));
  return {
    importMs: median(samples.map((s) => s.importMs)),
    rssBytes: median(samples.map((s) => s.rssBytes)),
    processMs: median(samples.map((s) => s.processMs)),
  };
}

/** A bundle that cannot even load is a finding to print, not a reason to lose the baseline. */
async function coldStartOrNote(
  ctx: BenchContext,
  fn: FunctionModule,
  processes: number,
): Promise<ColdSample | undefined> {
  ctx.log(`cold import of ${fn.name}: ${processes} processes`);
  try {
    return await coldStart(fn, processes);
  } catch (err) {
    ctx.log(`note: ${fn.name} failed to import: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

/** dist/deployModel/index.js, built with the same code as `npm run build`, once the function exists. */
async function deployModelBundle(ctx: BenchContext): Promise<FunctionModule | undefined> {
  const source = join(ROOT, 'functions/deployModel/index.ts');
  if (
    !(await access(source).then(
      () => true,
      () => false,
    ))
  ) {
    ctx.log('note: functions/deployModel/index.ts does not exist yet; only the bare baseline is measured');
    return undefined;
  }
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as Parameters<
    typeof buildFunction
  >[1];
  try {
    await buildFunction('deployModel', pkg);
  } catch (err) {
    ctx.log(`note: building deployModel failed: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  return { name: 'deployModel bundle', file: join(ROOT, 'dist/deployModel/index.js'), target: 'deployModel' };
}

interface LatencyResult {
  /** The first POST to a freshly imported function (deployModel builds its dependencies then). */
  firstMs: number;
  firstHeaders: Record<string, string>;
  stats: Stats;
}

async function requestLatency(
  fn: FunctionModule,
  eventFile: string,
  opts: { iterations: number; warmup: number },
): Promise<LatencyResult> {
  await import(pathToFileURL(fn.file).href);
  const delivery = JSON.parse(await readFile(eventFile, 'utf8')) as Delivery;
  const body = JSON.stringify(delivery.body);
  const server = getTestServer(fn.target);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  // A new ce-id per POST, as for distinct uploads: a repeated id would time the duplicate path.
  const post = async (): Promise<Record<string, string>> => {
    const headers = { ...delivery.headers, 'ce-id': randomUUID() };
    const res = await fetch(url, { method: 'POST', headers, body });
    await res.arrayBuffer();
    // Timing a rejected delivery would measure the error path, not the function.
    if (!res.ok) throw new Error(`${fn.target} answered ${res.status} to ${eventFile}`);
    return headers;
  };
  try {
    const started = performance.now();
    const firstHeaders = await post();
    const firstMs = performance.now() - started;
    const stats = await measure(`POST ${fn.target}`, post, opts);
    return { firstMs, firstHeaders, stats };
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const run: Bench = async (ctx) => {
  const processes = ctx.quick ? 5 : 15;
  const dir = await mkdtemp(join(tmpdir(), 'bench-coldstart-'));
  let cleanup = async (): Promise<void> => undefined;
  try {
    const bare = await writeBareFunction(dir);
    const bundle = await deployModelBundle(ctx);
    const figures: Figure[] = [];

    ctx.log(`cold import of ${bare.name}: ${processes} processes`);
    const base = await coldStart(bare, processes);
    const coldFigures = (name: string, s: ColdSample, b?: ColdSample): Figure[] => [
      figure(`${name}: import (median of ${processes} processes)`, s.importMs, 'ms', b?.importMs),
      figure(`${name}: RSS after import`, s.rssBytes / MiB, 'MiB', b && b.rssBytes / MiB),
      figure(`${name}: process spawn to exit`, s.processMs, 'ms', b?.processMs),
    ];
    const cold = bundle && (await coldStartOrNote(ctx, bundle, processes));
    figures.push(
      ...(bundle && cold ? coldFigures(`${bundle.name} vs bare`, cold, base) : coldFigures(bare.name, base)),
    );

    const opts = { iterations: ctx.quick ? 200 : 1000, warmup: 50 };
    // deployModel joins the latency cases only when it imported cleanly and the local cloud is up.
    const setup = bundle && cold ? await setUpDeployModel(dir) : undefined;
    cleanup = async () => {
      setup?.restoreEnv();
      await setup?.cloud.close();
    };
    const [baseline, ...others] = latencyCases(bare, setup && bundle);
    ctx.log(`CloudEvent POST latency: ${opts.iterations} requests per case, each with a new ce-id`);
    const baseLatency = await requestLatency(baseline!.fn, baseline!.event, opts);
    figures.push(
      ...timeFigures(`CloudEvent POST to ${baseline!.fn.name}`, baseLatency.stats),
      figure(`CloudEvent POST to ${baseline!.fn.name}: first event after import`, baseLatency.firstMs, 'ms'),
    );
    for (const { fn, event, path } of others) {
      const name = `CloudEvent POST to ${fn.name}${path ? ` (${path})` : ''}`;
      const result = await requestLatency(fn, event, opts);
      if (setup) await assertSkipped(setup, result.firstHeaders);
      figures.push(
        ...timeFigures(`${name}, warm instance vs bare`, result.stats, baseLatency.stats),
        figure(
          `${name}: first event on a cold instance (deps build) vs bare`,
          result.firstMs,
          'ms',
          baseLatency.firstMs,
        ),
      );
    }
    return figures;
  } finally {
    await cleanup();
    await removeAll([dir]);
  }
};

export default run;
