/**
 * Where a function's cold start goes: spawns the built bundle as bench/coldstart-spawn.ts does
 * (the framework's CLI, the local cloud, the function's cold-start event), with `node --cpu-prof`,
 * and prints the CPU profile's self time by origin (a package, a bundle chunk, Node's internals),
 * heaviest first. A tool, not a benchmark: it prints no figure with a goal.
 *
 *   npx tsx bench/coldstart-profile.ts [function ...] [--case I] [--top N] [--keep DIR]
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startLocalCloud } from '../infra/local/cloud';
import { localStorageClient } from '../infra/local/storage/client';
import { buildFunction, listFunctions, type RootPackage } from '../scripts/build';
import { ensureBuckets, writeLocalPolicy } from '../scripts/control-plane';
import { coldStartCases } from './coldstart-cases';
import { coldStartOnce, readDelivery } from './coldstart-spawn';
import { deployEnv } from './deploy-env';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The package, bundle chunk or runtime part a frame belongs to. */
export function originOf(url: string, functionName: string): string {
  if (url === '') return functionName === '(garbage collector)' ? '(gc)' : `(${functionName || 'native'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg !== undefined) return pkg;
  if (url.startsWith('node:')) return 'node internals';
  const dist = /\/dist\/[^/]+\/(.+)$/.exec(url)?.[1];
  if (dist !== undefined) return `bundle ${dist}`;
  const ours = /\/(shared|events|functions|scripts)\/(.+)$/.exec(url);
  if (ours !== null) return `${ours[1]}/${ours[2]}`;
  return url;
}

/** Source maps of the bundle's files, read once each (undefined when a file has none). */
const maps = new Map<string, Promise<SourceMap | undefined>>();

function mapOf(url: string): Promise<SourceMap | undefined> {
  let map = maps.get(url);
  if (map === undefined) {
    map = readFile(`${fileURLToPath(url)}.map`, 'utf8').then(
      (text) => new SourceMap(JSON.parse(text)),
      () => undefined,
    );
    maps.set(url, map);
  }
  return map;
}

/** A bundled frame's original source file (through the bundle's source map), else its URL. */
async function sourceOf(frame: ProfileNode['callFrame']): Promise<string> {
  if (!frame.url.startsWith('file:') || !frame.url.includes('/dist/')) return frame.url;
  const map = await mapOf(frame.url);
  const entry = map?.findEntry(frame.lineNumber, frame.columnNumber);
  const original = entry !== undefined && 'originalSource' in entry ? entry.originalSource : undefined;
  return typeof original === 'string' && original !== '' ? original : frame.url;
}

/** Self time per origin in ms, from the profile's samples and their time deltas. */
export async function selfTimeByOrigin(profile: CpuProfile): Promise<Map<string, number>> {
  const origins = new Map<number, string>();
  for (const n of profile.nodes) {
    origins.set(n.id, originOf(await sourceOf(n.callFrame), n.callFrame.functionName));
  }
  const out = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const origin = origins.get(profile.samples[i]!);
    if (origin === undefined) continue;
    out.set(origin, (out.get(origin) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  return out;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '25' },
      keep: { type: 'string' },
      /** Which of the function's cases (bench/coldstart-cases.ts), from 0. */
      case: { type: 'string', default: '0' },
    },
  });
  const names = positionals.length > 0 ? positionals : await listFunctions();
  const dir = await mkdtemp(join(tmpdir(), 'coldstart-profile-'));
  if (values.keep !== undefined) await mkdir(values.keep, { recursive: true });
  const buckets = { incomingBucket: 'bench-models-incoming', repositoryBucket: 'bench-triton-repo' };
  const cloud = await startLocalCloud({
    dir: join(dir, 'cloud'),
    repositoryBucket: buckets.repositoryBucket,
    operationPhaseMs: 0,
    tritonLoadDelayMs: 0,
  });
  try {
    const storage = localStorageClient(cloud.endpoints.storage);
    await ensureBuckets(storage, buckets);
    const policyFile = join(dir, 'policy.yaml');
    await writeLocalPolicy(policyFile, buckets);
    const env = { ...process.env, ...deployEnv(cloud.endpoints, buckets, policyFile) };
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as RootPackage;
    for (const name of names) {
      await buildFunction(name, pkg);
      const c = coldStartCases(name)[Number(values.case)];
      if (c === undefined) throw new Error(`${name} has no case ${values.case}`);
      const delivery = await readDelivery(c.event);
      const profDir = await mkdtemp(join(values.keep ?? dir, `${name}-`));
      const sample = await coldStartOnce({
        source: join(ROOT, 'dist', name),
        target: name,
        delivery,
        headers: { ...delivery.headers, 'ce-id': randomUUID() },
        env,
        nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`],
      });
      const file = (await readdir(profDir)).find((f) => f.endsWith('.cpuprofile'));
      if (file === undefined) throw new Error(`${name}: no profile written in ${profDir}`);
      const profile = JSON.parse(await readFile(join(profDir, file), 'utf8')) as CpuProfile;
      const rows = [...(await selfTimeByOrigin(profile))].sort((a, b) => b[1] - a[1]);
      const total = rows.reduce((s, [, ms]) => s + ms, 0);
      console.log(
        `\n## ${name} (${c.path}): first event ${sample.firstEventMs.toFixed(0)} ms, listening ${sample.listeningMs.toFixed(0)} ms (profiled: slower than unprofiled); ${total.toFixed(0)} ms sampled${values.keep ? `; ${join(profDir, file)}` : ''}`,
      );
      for (const [origin, ms] of rows.slice(0, Number(values.top))) {
        console.log(`${ms.toFixed(1).padStart(8)} ms  ${origin}`);
      }
    }
  } finally {
    await cloud.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
