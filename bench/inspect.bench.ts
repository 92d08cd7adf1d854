/**
 * readOnnxSignature on a local file vs onnxruntime's InferenceSession.create on the same file: the
 * cheapest thing that "opens" a model, and what Triton's autocomplete does underneath. Timed in
 * pairs (ours, ORT, ours, ...) in this process. Also how many bytes and ranged requests the reader
 * needed, against the budget of 1 MiB + 0.1% of the file.
 *
 * The models: the fixtures, generated models shaped like real ones (hundreds of weight tensors of
 * mixed sizes, as CNNs and transformers have; one with external data; a 42 MB CNN with 160
 * weights, test/onnx/shaped-models.ts), and one huge single tensor.
 */
import { mkdir, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InferenceSession } from 'onnxruntime-node';
import { readOnnxSignature } from '../shared/onnx/reader';
import { fileByteSource } from '../shared/onnx/source';
import type { ByteSource } from '../shared/ports/storage';
import { SHAPED_MODELS, shapedModel, writeShapedModel } from '../test/onnx/shaped-models';
import { type Bench, type Figure, figure, MiB, measurePair, timeFigures } from './harness';
import { removeAll, writeBenchModel } from './models';

const FIXTURES = fileURLToPath(new URL('../test/fixtures/onnx/', import.meta.url));
const ORT_OPTIONS = { logSeverityLevel: 3 } as const;

interface Model {
  label: string;
  path: string;
  iterations: number;
  warmup: number;
}

/** A file source that also counts its ranged reads. */
function countedFile(path: string): ByteSource & { requests: number; close(): Promise<void> } {
  const file = fileByteSource(path);
  const counted = {
    requests: 0,
    get bytesRead() {
      return file.bytesRead;
    },
    size: () => file.size(),
    read: (offset: number, length: number) => {
      counted.requests += 1;
      return file.read(offset, length);
    },
    close: () => file.close?.() ?? Promise.resolve(),
  };
  return counted;
}

async function inspect(
  path: string,
): Promise<{ inputs: string[]; outputs: string[]; bytesRead: number; requests: number }> {
  const source = countedFile(path);
  try {
    const sig = await readOnnxSignature(source);
    return {
      inputs: sig.inputs.map((i) => i.name),
      outputs: sig.outputs.map((o) => o.name),
      bytesRead: source.bytesRead,
      requests: source.requests,
    };
  } finally {
    await source.close();
  }
}

async function createSession(path: string): Promise<{ inputs: string[]; outputs: string[] }> {
  const session = await InferenceSession.create(path, ORT_OPTIONS);
  const names = { inputs: [...session.inputNames], outputs: [...session.outputNames] };
  await session.release();
  return names;
}

/** Timing a reader that disagrees with onnxruntime would measure a bug, so refuse to. */
async function checkAgreement(model: Model): Promise<{ bytesRead: number; requests: number }> {
  const ours = await inspect(model.path);
  const ort = await createSession(model.path);
  const same = (a: string[], b: string[]) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(ours.inputs, ort.inputs) || !same(ours.outputs, ort.outputs)) {
    throw new Error(
      `${model.label}: readOnnxSignature says ${JSON.stringify(ours)}, onnxruntime says ${JSON.stringify(ort)}`,
    );
  }
  return { bytesRead: ours.bytesRead, requests: ours.requests };
}

async function benchModel(model: Model, fileSize: number): Promise<Figure[]> {
  const { bytesRead, requests } = await checkAgreement(model);
  const { subject, baseline } = await measurePair(
    { name: `inspect ${model.label}`, fn: () => inspect(model.path) },
    { name: `ORT ${model.label}`, fn: () => createSession(model.path) },
    model,
  );
  const budget = MiB + fileSize / 1000;
  return [
    // The goal is >= 20x faster: ours / ORT <= 0.05.
    ...timeFigures(
      `inspect ${model.label} vs ORT session.create`,
      subject,
      baseline,
      '<= 0.05x (>= 20x faster)',
    ),
    figure(
      `bytes read by inspect ${model.label} vs 1 MiB + 0.1% of the file`,
      bytesRead,
      'B',
      budget,
      '<= 1x',
    ),
    figure(`bytes read by inspect ${model.label} vs file size`, bytesRead, 'B', fileSize),
    figure(`ranged reads by inspect ${model.label}`, requests, 'requests'),
  ];
}

const run: Bench = async (ctx) => {
  const small = { iterations: ctx.quick ? 100 : 300, warmup: 50 };
  const models: Model[] = ['add-dynamic-batch.onnx', 'identity-fixed.onnx', 'external-data/model.onnx'].map(
    (file) => ({ label: file, path: join(FIXTURES, file), ...small }),
  );
  const dir = await mkdtemp(join(tmpdir(), 'bench-inspect-'));
  try {
    // onnxruntime takes seconds per session on these (10-25 s at 512 MiB on 2 cores; --quick skips that size): few iterations,
    // and the agreement check already warmed the page cache and both code paths.
    const large = ctx.quick
      ? [{ mib: 64, iterations: 2 }]
      : [
          { mib: 64, iterations: 5 },
          { mib: 512, iterations: 2 },
        ];
    for (const { mib, iterations } of large) {
      const path = join(dir, `add-${mib}mib.onnx`);
      ctx.log(`writing ${path}`);
      await writeBenchModel(path, mib * MiB);
      models.push({ label: `generated ${mib} MiB`, path, iterations, warmup: 0 });
    }
    for (const [name, opts] of Object.entries(SHAPED_MODELS)) {
      const sub = join(dir, name.replace(/[^a-z0-9]+/gi, '-'));
      await mkdir(sub, { recursive: true });
      const path = join(sub, 'model.onnx');
      const spec = shapedModel(opts);
      ctx.log(`writing ${path}`);
      await writeShapedModel(path, spec, opts.externalLocation && join(sub, opts.externalLocation));
      const iterations = opts.weightBytes > 32 * MiB ? (ctx.quick ? 5 : 15) : ctx.quick ? 10 : 30;
      models.push({ label: `generated ${name}`, path, iterations, warmup: 2 });
    }
    const figures: Figure[] = [];
    for (const model of models) {
      ctx.log(`timing ${model.label} (${model.iterations} iterations each)`);
      figures.push(...(await benchModel(model, (await stat(model.path)).size)));
    }
    return figures;
  } finally {
    await removeAll([dir]);
  }
};

export default run;
