/**
 * Cold start of a function bundle: time to import it in a fresh Node process and RSS after import,
 * against a bare Functions Framework function (the floor every function pays). Then the latency of
 * one CloudEvent POST through a Functions Framework server, the bare function being the baseline.
 */
import { execFile } from 'node:child_process';
import { access, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { buildFunction } from '../scripts/build';
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

/**
 * The first case is the baseline; add one line per real handler, e.g.
 * `...(bundle ? [{ fn: bundle, event: STORAGE_EVENT }] : [])` once it can answer 2xx locally.
 */
function latencyCases(
  bare: FunctionModule,
  _bundle: FunctionModule | undefined,
): { fn: FunctionModule; event: string }[] {
  return [{ fn: bare, event: STORAGE_EVENT }];
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

async function requestLatency(
  fn: FunctionModule,
  eventFile: string,
  opts: { iterations: number; warmup: number },
): Promise<ReturnType<typeof measure>> {
  await import(pathToFileURL(fn.file).href);
  const delivery = JSON.parse(await readFile(eventFile, 'utf8')) as Delivery;
  const body = JSON.stringify(delivery.body);
  const server = getTestServer(fn.target);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    return await measure(
      `POST ${fn.target}`,
      async () => {
        const res = await fetch(url, { method: 'POST', headers: delivery.headers, body });
        await res.arrayBuffer();
        // Timing a rejected delivery would measure the error path, not the function.
        if (!res.ok) throw new Error(`${fn.target} answered ${res.status} to ${eventFile}`);
      },
      opts,
    );
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const run: Bench = async (ctx) => {
  const processes = ctx.quick ? 5 : 15;
  const dir = await mkdtemp(join(tmpdir(), 'bench-coldstart-'));
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
    const [baseline, ...others] = latencyCases(bare, bundle);
    ctx.log(`CloudEvent POST latency: ${opts.iterations} requests per case`);
    const baseStats = await requestLatency(baseline!.fn, baseline!.event, opts);
    figures.push(...timeFigures(`CloudEvent POST to ${baseline!.fn.name}`, baseStats));
    for (const { fn, event } of others) {
      figures.push(
        ...timeFigures(
          `CloudEvent POST to ${fn.name} vs bare`,
          await requestLatency(fn, event, opts),
          baseStats,
        ),
      );
    }
    return figures;
  } finally {
    await removeAll([dir]);
  }
};

export default run;
