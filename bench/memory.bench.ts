/**
 * Peak RSS of each memory case (memory-cases.ts) on a 1 MiB and a 1 GiB ONNX model stored in the
 * local Cloud Storage server. Each run is a fresh child process, so the peak is the case's own
 * (plus Node and tsx, the same for both sizes). The figure to read is the 1 GiB / 1 MiB ratio:
 * ~1 means memory does not grow with model size.
 */
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { localStorageClient, startStorageServer } from '../infra/local/storage';
import { type Bench, type Figure, figure, MiB, median } from './harness';
import { type MemoryCaseContext, memoryCases } from './memory-cases';
import { removeAll, writeBenchModel } from './models';

const CHILD = fileURLToPath(new URL('./memory-child.ts', import.meta.url));
const BUCKET = 'bench-models';

interface ChildResult {
  bytesRead: number;
  peakRssBytes: number;
}

async function runChild(caseName: string, ctx: MemoryCaseContext): Promise<ChildResult> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', CHILD, caseName, JSON.stringify(ctx)],
    { maxBuffer: MiB },
  );
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const parsed = JSON.parse(last) as Partial<ChildResult>;
  if (typeof parsed.bytesRead !== 'number' || typeof parsed.peakRssBytes !== 'number') {
    throw new Error(`memory child for ${caseName} printed ${JSON.stringify(last)}`);
  }
  return { bytesRead: parsed.bytesRead, peakRssBytes: parsed.peakRssBytes };
}

const run: Bench = async (ctx) => {
  const repeats = ctx.quick ? 1 : 3;
  const sizes = [
    { label: '1 MiB', payload: 1 * MiB },
    { label: '1 GiB', payload: 1024 * MiB },
  ];
  const dir = await mkdtemp(join(tmpdir(), 'bench-memory-'));
  const server = await startStorageServer({});
  try {
    const bucket = localStorageClient(server.url).bucket(BUCKET);
    await bucket.create();
    const models: (MemoryCaseContext & { label: string })[] = [];
    for (const { label, payload } of sizes) {
      const path = join(dir, `model-${payload}.onnx`);
      ctx.log(`writing and uploading ${label} model (resumable)`);
      const size = await writeBenchModel(path, payload);
      const object = `models/m${payload}/1/model.onnx`;
      await bucket.upload(path, { destination: object, resumable: true });
      models.push({ label, storageUrl: server.url, bucket: BUCKET, object, size });
    }

    const figures: Figure[] = [];
    for (const caseName of Object.keys(memoryCases)) {
      const results: ChildResult[] = [];
      for (const { label, ...model } of models) {
        ctx.log(`${caseName} on ${label}: ${repeats} child process(es)`);
        const runs: ChildResult[] = [];
        for (let i = 0; i < repeats; i++) runs.push(await runChild(caseName, model));
        const result = {
          bytesRead: median(runs.map((r) => r.bytesRead)),
          peakRssBytes: median(runs.map((r) => r.peakRssBytes)),
        };
        results.push(result);
        figures.push(
          figure(`${caseName} ${label}: bytes read vs object size`, result.bytesRead, 'B', model.size),
        );
      }
      const [small, large] = results;
      figures.push(figure(`${caseName} 1 MiB: peak RSS`, small!.peakRssBytes / MiB, 'MiB'));
      figures.push(
        figure(
          `${caseName} 1 GiB: peak RSS vs 1 MiB`,
          large!.peakRssBytes / MiB,
          'MiB',
          small!.peakRssBytes / MiB,
        ),
      );
    }
    return figures;
  } finally {
    await server.close();
    await removeAll([dir]);
  }
};

export default run;
