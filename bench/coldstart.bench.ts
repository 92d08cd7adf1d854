/**
 * Cold start of every function under functions/, each against a bare Functions Framework function
 * (the floor every function pays), then the warm delivery overhead.
 *
 * Cold start: a fresh process per run, spawned as the platform starts an instance (the framework's
 * CLI on the function's built bundle), timed from spawn to the answer to its first CloudEvent, the
 * event POSTed as soon as the port accepts (bench/coldstart-spawn.ts). The bare function and each
 * real one run alternately, round after round, so a burst of load from a neighbour hits all of
 * them. Each function gets the event its case names (bench/coldstart-cases.ts). Peak RSS is the
 * function's own process, read from /proc, and so is its CPU time (steadier than the wall clock
 * on a shared machine). On Node 22 each function is measured a second time from a copy of its
 * bundle with the compile cache its gcp-build step ships (shared/wiring/compile-cache.ts); the
 * first figures stay those of the bundle as built.
 *
 * Warm delivery: the latency of one CloudEvent POST through a Functions Framework server in this
 * process, the bare function being the baseline. The local cloud runs in this process, so its
 * request handling is part of the figure, a stand-in for the network round trips to Cloud Storage
 * in production.
 */
import { randomUUID } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import module, { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Storage } from '@google-cloud/storage';
import { type LocalCloud, startLocalCloud } from '../infra/local/cloud';
import { localStorageClient } from '../infra/local/storage/client';
import { buildFunction, generateCompileCache, listFunctions } from '../scripts/build';
import { type DeployBuckets, ensureBuckets, writeLocalPolicy } from '../scripts/control-plane';
import { type ColdStartCase, coldStartCases, STORAGE_EVENT } from './coldstart-cases';
import { type ColdStartSample, coldStartOnce, type Delivery, readDelivery } from './coldstart-spawn';
import { deployEnv } from './deploy-env';
import {
  type Bench,
  type BenchContext,
  type Figure,
  figure,
  MiB,
  measure,
  median,
  timeFigures,
} from './harness';
import { removeAll } from './models';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COLD_START_GOAL = '<= 1.3x';
/** Node 22: each function is also measured with the compile cache its deploy ships. */
const HAS_COMPILE_CACHE =
  typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function';
/** INFERPLANE_NAMESPACE's default: the bench's environment leaves it unset. */
const LOCAL_NAMESPACE = 'triton';

/** A folder the framework can load (`--source`): package.json naming an ES module. */
interface FunctionUnderTest {
  /** One function and one of its cases (a function may be measured on several events). */
  key: string;
  /** The function's name (its idempotency records are keyed by it). */
  name: string;
  source: string;
  target: string;
  case: ColdStartCase;
  delivery: Delivery;
  bundleBytes?: number;
  /** A copy of the bundle with the compile cache its gcp-build step writes (Node 22 only). */
  shippedCompileCache?: true;
}

/** Where the functions run: the local cloud, its buckets and the environment they read. */
interface Setup {
  cloud: LocalCloud;
  storage: Storage;
  buckets: DeployBuckets;
  env: Record<string, string>;
  /** Puts the process environment back as it was. */
  restoreEnv(): void;
}

async function setUp(dir: string): Promise<Setup> {
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
  // The cluster's Triton namespace, as a deployed cluster has it (the sandbox creates it too): a
  // rotation that applies its NetworkPolicies there is then applied, not refused.
  const store = cloud.kubernetes.store;
  if (!store.get('Namespace', '', LOCAL_NAMESPACE)) {
    store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: LOCAL_NAMESPACE } }, 'bench');
  }
  const env = deployEnv(cloud.endpoints, buckets, policyFile) as Record<string, string>;
  // The in-process warm runs read process.env when their module is imported.
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  return {
    cloud,
    storage,
    buckets,
    env,
    restoreEnv: () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}

async function writeBareFunction(dir: string): Promise<FunctionUnderTest> {
  // Imported by absolute URL: the temp dir has no node_modules, and the process must share the
  // framework instance (its function registry) that loads it.
  const framework = pathToFileURL(
    createRequire(import.meta.url).resolve('@google-cloud/functions-framework'),
  );
  const source = join(dir, 'bare');
  await mkdir(source, { recursive: true });
  // The same loader path as a bundle: a .js module in a package of type module.
  await writeFile(
    join(source, 'package.json'),
    JSON.stringify({ type: 'module', main: 'index.js', private: true }),
  );
  await writeFile(
    join(source, 'index.js'),
    `import functions from '${framework.href}';\nfunctions.cloudEvent('bare', () => {});\n`,
  );
  return {
    key: 'bare',
    name: 'bare Functions Framework function',
    source,
    target: 'bare',
    case: { event: STORAGE_EVENT, path: 'no-op' },
    delivery: await readDelivery(STORAGE_EVENT),
  };
}

/** dist/<name>/, built with the same code as `npm run build`; a bundle that fails is a note. */
async function buildAll(ctx: BenchContext): Promise<FunctionUnderTest[]> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as Parameters<
    typeof buildFunction
  >[1];
  const out: FunctionUnderTest[] = [];
  for (const name of await listFunctions()) {
    try {
      const { bytes } = await buildFunction(name, pkg);
      const cases = coldStartCases(name);
      for (const [i, c] of cases.entries()) {
        out.push({
          key: `${name}: ${c.path}`,
          name,
          source: join(ROOT, 'dist', name),
          target: name,
          case: c,
          delivery: await readDelivery(c.event),
          ...(i === 0 ? { bundleBytes: bytes } : {}),
        });
      }
      if (HAS_COMPILE_CACHE) {
        // As deployed on Node 22: the same bundle, its gcp-build step run by this Node. In a
        // folder of its own, so the figures above stay those of the bundle as built.
        const source = join(ROOT, '.tmp', 'bench-compile-cache', name);
        await rm(source, { recursive: true, force: true });
        await cp(join(ROOT, 'dist', name), source, { recursive: true });
        await generateCompileCache(source);
        for (const c of cases) {
          out.push({
            key: `${name}: ${c.path} (shipped compile cache)`,
            name,
            source,
            target: name,
            case: { ...c, path: `${c.path}; shipped compile cache, Node ${process.version}` },
            delivery: await readDelivery(c.event),
            shippedCompileCache: true,
          });
        }
      }
    } catch (err) {
      ctx.log(`note: building ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return out;
}

function freshHeaders(fn: FunctionUnderTest): Record<string, string> {
  // A new ce-id per delivery, as for distinct events: a repeated id would time the duplicate path.
  return { ...fn.delivery.headers, 'ce-id': randomUUID() };
}

interface ColdResult {
  samples: ColdStartSample[];
  failure?: string;
}

async function coldStarts(
  ctx: BenchContext,
  setup: Setup,
  fns: readonly FunctionUnderTest[],
  rounds: number,
): Promise<Map<string, ColdResult>> {
  const results = new Map<string, ColdResult>(fns.map((f) => [f.key, { samples: [] }]));
  const env = { ...process.env, ...setup.env };
  for (let round = 0; round < rounds; round++) {
    // Sequential: two cold processes at once on a small machine would measure contention.
    for (const fn of fns) {
      const result = results.get(fn.key)!;
      if (result.failure !== undefined) continue;
      try {
        const headers = freshHeaders(fn);
        const sample = await coldStartOnce({
          source: fn.source,
          target: fn.target,
          delivery: fn.delivery,
          headers,
          env,
        });
        if (round === 0)
          await fn.case.check?.(
            { storage: setup.storage, stateBucket: setup.buckets.repositoryBucket },
            fn.name,
            headers,
          );
        result.samples.push(sample);
      } catch (err) {
        result.failure = err instanceof Error ? err.message : String(err);
        ctx.log(`note: cold start of ${fn.key} failed: ${result.failure}`);
      }
    }
  }
  return results;
}

function coldFigures(fn: FunctionUnderTest, samples: ColdStartSample[], base: ColdStartSample[]): Figure[] {
  const med = (
    s: ColdStartSample[],
    pick: (x: ColdStartSample) => number | undefined,
  ): number | undefined => {
    const values = s.map(pick).filter((v): v is number => v !== undefined);
    return values.length === 0 ? undefined : median(values);
  };
  const statuses = [...new Set(samples.map((s) => s.status))].join(', ');
  const label = `cold start ${fn.name} (${fn.case.path}; HTTP ${statuses})`;
  const figures = [
    figure(
      `${label}: spawn -> first CloudEvent handled vs bare (median of ${samples.length})`,
      med(samples, (s) => s.firstEventMs) ?? Number.NaN,
      'ms',
      med(base, (s) => s.firstEventMs),
      COLD_START_GOAL,
    ),
    figure(
      `${label}: spawn -> port listening vs bare`,
      med(samples, (s) => s.listeningMs) ?? Number.NaN,
      'ms',
      med(base, (s) => s.listeningMs),
    ),
  ];
  const cpu = med(samples, (s) => s.cpuMs);
  if (cpu !== undefined) {
    figures.push(
      figure(
        `${label}: CPU time of the function's process to its answer vs bare (steadier under load)`,
        cpu,
        'ms',
        med(base, (s) => s.cpuMs),
      ),
    );
  }
  const rss = med(samples, (s) => s.peakRssBytes);
  const baseRss = med(base, (s) => s.peakRssBytes);
  if (rss !== undefined) {
    figures.push(
      figure(
        `${label}: peak RSS of the function's process vs bare`,
        rss / MiB,
        'MiB',
        baseRss && baseRss / MiB,
      ),
    );
  }
  if (fn.bundleBytes !== undefined) {
    figures.push(figure(`dist/${fn.name}/index.js size`, fn.bundleBytes / 1024, 'KiB'));
  }
  return figures;
}

interface LatencyResult {
  firstHeaders: Record<string, string>;
  stats: Awaited<ReturnType<typeof measure>>;
}

async function requestLatency(
  fn: FunctionUnderTest,
  opts: { iterations: number; warmup: number },
): Promise<LatencyResult> {
  const module = join(fn.source, 'index.js');
  await import(pathToFileURL(module).href);
  const body = JSON.stringify(fn.delivery.body);
  const server = getTestServer(fn.target);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const post = async (): Promise<Record<string, string>> => {
    const headers = freshHeaders(fn);
    const res = await fetch(url, { method: 'POST', headers, body });
    await res.arrayBuffer();
    // Timing a rejected delivery would measure the error path, not the function.
    if (!res.ok) throw new Error(`${fn.target} answered ${res.status} to ${fn.case.event}`);
    return headers;
  };
  try {
    const firstHeaders = await post();
    const stats = await measure(`POST ${fn.target}`, post, opts);
    return { firstHeaders, stats };
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const run: Bench = async (ctx) => {
  const rounds = ctx.quick ? 5 : 15;
  const dir = await mkdtemp(join(tmpdir(), 'bench-coldstart-'));
  let setup: Setup | undefined;
  try {
    const bare = await writeBareFunction(dir);
    const fns = await buildAll(ctx);
    if (fns.length === 0)
      ctx.log('note: no function under functions/ built; only the bare baseline is measured');
    setup = await setUp(dir);
    ctx.log(
      `cold start: ${rounds} rounds of ${[bare, ...fns].map((f) => f.key).join(', ')}, one fresh process each`,
    );
    const cold = await coldStarts(ctx, setup, [bare, ...fns], rounds);
    const base = cold.get(bare.key)!;
    if (base.failure !== undefined) throw new Error(`the bare function failed: ${base.failure}`);
    const figures: Figure[] = [];
    if (fns.length === 0) figures.push(...coldFigures(bare, base.samples, []));
    for (const fn of fns) {
      const result = cold.get(fn.key)!;
      if (result.failure === undefined) figures.push(...coldFigures(fn, result.samples, base.samples));
    }

    const opts = { iterations: ctx.quick ? 200 : 1000, warmup: 50 };
    ctx.log(`warm CloudEvent POST latency: ${opts.iterations} requests per function, each with a new ce-id`);
    const baseLatency = await requestLatency(bare, opts);
    figures.push(...timeFigures(`warm CloudEvent POST to ${bare.name}`, baseLatency.stats));
    for (const fn of fns) {
      if (cold.get(fn.key)?.failure !== undefined || fn.shippedCompileCache) continue;
      try {
        const result = await requestLatency(fn, opts);
        await fn.case.check?.(
          { storage: setup.storage, stateBucket: setup.buckets.repositoryBucket },
          fn.name,
          result.firstHeaders,
        );
        figures.push(
          ...timeFigures(
            `warm CloudEvent POST to ${fn.name} (${fn.case.path}) vs bare`,
            result.stats,
            baseLatency.stats,
          ),
        );
      } catch (err) {
        ctx.log(
          `note: warm latency of ${fn.key} failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    return figures;
  } finally {
    setup?.restoreEnv();
    await setup?.cloud.close();
    await removeAll([dir]);
  }
};

export default run;
