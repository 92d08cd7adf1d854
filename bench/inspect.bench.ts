/**
 * readOnnxSignature on a local file vs onnxruntime's InferenceSession.create on the same file: the
 * cheapest thing that "opens" a model, and what Triton's autocomplete does underneath. Also how
 * many bytes the reader fetched compared with the file size.
 */
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InferenceSession } from 'onnxruntime-node';
import { readOnnxSignature } from '../shared/onnx/reader';
import { fileByteSource } from '../shared/onnx/source';
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

async function inspect(path: string): Promise<{ inputs: string[]; outputs: string[]; bytesRead: number }> {
  const source = fileByteSource(path);
  try {
    const sig = await readOnnxSignature(source);
    return {
      inputs: sig.inputs.map((i) => i.name),
      outputs: sig.outputs.map((o) => o.name),
      bytesRead: source.bytesRead,
    };
  } finally {
    await source.close?.();
  }
}

async function createSession(path: string): Promise<{ inputs: string[]; outputs: string[] }> {
  const session = await InferenceSession.create(path, ORT_OPTIONS);
  const names = { inputs: [...session.inputNames], outputs: [...session.outputNames] };
  await session.release();
  return names;
}

/** Timing a reader that disagrees with onnxruntime would measure a bug, so refuse to. */
async function checkAgreement(model: Model): Promise<number> {
  const ours = await inspect(model.path);
  const ort = await createSession(model.path);
  const same = (a: string[], b: string[]) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(ours.inputs, ort.inputs) || !same(ours.outputs, ort.outputs)) {
    throw new Error(
      `${model.label}: readOnnxSignature says ${JSON.stringify(ours)}, onnxruntime says ${JSON.stringify(ort)}`,
    );
  }
  return ours.bytesRead;
}

async function benchModel(model: Model, fileSize: number): Promise<Figure[]> {
  const bytesRead = await checkAgreement(model);
  const { subject, baseline } = await measurePair(
    { name: `inspect ${model.label}`, fn: () => inspect(model.path) },
    { name: `ORT ${model.label}`, fn: () => createSession(model.path) },
    model,
  );
  return [
    ...timeFigures(`inspect ${model.label} vs ORT session.create`, subject, baseline),
    figure(`bytes read by inspect ${model.label} vs file size`, bytesRead, 'B', fileSize),
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
