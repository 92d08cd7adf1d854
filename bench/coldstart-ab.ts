/**
 * Interleaved cold starts of built function folders, for an A/B comparison of two builds of the
 * same function (a change against a copy of dist/ taken before it). A tool, not a benchmark: it
 * prints medians of wall time and of the process's CPU time, and the load average.
 *
 *   cp -r dist .tmp/ab-before   # then change, `npm run build`
 *   ROUNDS=11 npx tsx bench/coldstart-ab.ts .tmp/ab-before/deployModel:deployModel dist/deployModel:deployModel
 *
 * Each argument is FOLDER:FUNCTION[:CASE] (a case of bench/coldstart-cases.ts, from 0). The
 * folders must sit inside the repository, so that the bundle's external imports resolve.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalCloud } from '../infra/local/cloud';
import { localStorageClient } from '../infra/local/storage/client';
import { ensureBuckets, writeLocalPolicy } from '../scripts/control-plane';
import { coldStartCases } from './coldstart-cases';
import { coldStartOnce, readDelivery } from './coldstart-spawn';
import { deployEnv } from './deploy-env';
import { median } from './harness';
import { removeAll } from './models';

const rounds = Number(process.env.ROUNDS ?? 7);
const specs = process.argv.slice(2).map((arg) => {
  const [source, target, index] = arg.split(':');
  if (!source || !target) throw new Error(`expected FOLDER:FUNCTION[:CASE], got ${arg}`);
  const c = coldStartCases(target)[Number(index ?? 0)];
  if (c === undefined) throw new Error(`${target} has no case ${index}`);
  return { arg, source, target, case: c, wall: [] as number[], cpu: [] as number[] };
});
if (specs.length === 0) throw new Error('give at least one FOLDER:FUNCTION[:CASE]');

const dir = await mkdtemp(join(tmpdir(), 'coldstart-ab-'));
const buckets = { incomingBucket: 'bench-models-incoming', repositoryBucket: 'bench-triton-repo' };
const cloud = await startLocalCloud({
  dir: join(dir, 'cloud'),
  repositoryBucket: buckets.repositoryBucket,
  operationPhaseMs: 0,
  tritonLoadDelayMs: 0,
});
try {
  await ensureBuckets(localStorageClient(cloud.endpoints.storage), buckets);
  const policyFile = join(dir, 'policy.yaml');
  await writeLocalPolicy(policyFile, buckets);
  const env = { ...process.env, ...deployEnv(cloud.endpoints, buckets, policyFile) };
  const loadBefore = loadavg()[0]!;
  for (let round = 0; round < rounds; round++) {
    for (const spec of specs) {
      const delivery = await readDelivery(spec.case.event);
      const sample = await coldStartOnce({
        source: spec.source,
        target: spec.target,
        delivery,
        headers: { ...delivery.headers, 'ce-id': randomUUID() },
        env,
      });
      spec.wall.push(sample.firstEventMs);
      if (sample.cpuMs !== undefined) spec.cpu.push(sample.cpuMs);
    }
  }
  for (const spec of specs) {
    const cpu = spec.cpu.length > 0 ? `, CPU ${median(spec.cpu).toFixed(0)} ms` : '';
    console.log(
      `${spec.arg} (${spec.case.path}): median ${median(spec.wall).toFixed(0)} ms${cpu}  [${spec.wall.map((ms) => ms.toFixed(0)).join(' ')}]`,
    );
  }
  console.log(`load average (1 min): ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after`);
} finally {
  await cloud.close();
  await removeAll([dir]);
}
process.exit(0);
