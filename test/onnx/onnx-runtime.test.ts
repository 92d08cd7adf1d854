/**
 * Proves the test encoder writes real ONNX: onnxruntime-node loads the generated files, and what it
 * reports matches readOnnxSignature. Also keeps the committed fixtures in sync with the generator.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOnnxSignature } from '../../shared/onnx/reader';
import { fileByteSource } from '../../shared/onnx/source';
import {
  addDynamicBatchModel,
  ElemType,
  encodeModel,
  type ModelSpec,
  writeFixtures,
  writeLargeModel,
} from './build-onnx';

// Level 3 (errors only): the Add model's initializer-as-input warning is expected.
const QUIET = { logSeverityLevel: 3 } as const;
const fixtures = fileURLToPath(new URL('../fixtures/onnx', import.meta.url));

async function signatureOf(path: string) {
  const source = fileByteSource(path);
  try {
    return await readOnnxSignature(source);
  } finally {
    await source.close?.();
  }
}

/** Identity per type, with a dim_param, to load types beyond float in onnxruntime. */
function manyTypesModel(): ModelSpec {
  const types = [
    ElemType.FLOAT,
    ElemType.INT32,
    ElemType.BOOL,
    ElemType.STRING,
    ElemType.DOUBLE,
    ElemType.UINT8,
  ];
  return {
    irVersion: 9,
    opsets: [{ domain: '', version: 17 }],
    graphName: 'many_types',
    nodes: types.map((_, i) => ({ opType: 'Identity', inputs: [`in${i}`], outputs: [`out${i}`] })),
    inputs: types.map((t, i) => ({ name: `in${i}`, elemType: t, dims: ['n', i + 1] })),
    outputs: types.map((t, i) => ({ name: `out${i}`, elemType: t, dims: ['n', i + 1] })),
  };
}

describe('generated models load in onnxruntime-node', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'onnx-ort-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([['add-dynamic-batch.onnx'], ['identity-fixed.onnx'], ['external-data/model.onnx']])(
    'fixture %s: onnxruntime and readOnnxSignature agree on input and output names',
    async (file) => {
      // Prepare
      const path = join(fixtures, file);

      // Act
      const session = await InferenceSession.create(path, QUIET);
      const sig = await signatureOf(path);

      // Assess
      expect(sig.inputs.map((i) => i.name)).toEqual(session.inputNames);
      expect(sig.outputs.map((o) => o.name)).toEqual(session.outputNames);
      await session.release();
    },
  );

  it('a model with six element types loads, and names and types agree', async () => {
    // Prepare
    const path = join(dir, 'many-types.onnx');
    await writeFile(path, encodeModel(manyTypesModel()));

    // Act
    const session = await InferenceSession.create(path, QUIET);
    const sig = await signatureOf(path);

    // Assess
    expect(sig.inputs.map((i) => i.name)).toEqual(session.inputNames);
    expect(sig.outputs.map((o) => o.name)).toEqual(session.outputNames);
    expect(sig.inputs.map((i) => i.dataType)).toEqual([
      'TYPE_FP32',
      'TYPE_INT32',
      'TYPE_BOOL',
      'TYPE_STRING',
      'TYPE_FP64',
      'TYPE_UINT8',
    ]);
    expect(sig.inputs.map((i) => i.dims)).toEqual([
      [-1, 1],
      [-1, 2],
      [-1, 3],
      [-1, 4],
      [-1, 5],
      [-1, 6],
    ]);
    await session.release();
  });

  it('runs the Add model: Y = X + W with W = [1, 2, 3] from the initializer', async () => {
    // Prepare
    const session = await InferenceSession.create(join(fixtures, 'add-dynamic-batch.onnx'), QUIET);
    const x = new Tensor('float32', Float32Array.from([1, 1, 1, 10, 20, 30]), [2, 3]);

    // Act
    const result = await session.run({ X: x });

    // Assess
    expect(Array.from(result.Y?.data as Float32Array)).toEqual([2, 3, 4, 11, 22, 33]);
    expect(result.Y?.dims).toEqual([2, 3]);
    await session.release();
  });

  it('runs the external-data model: the weights come from weights.bin', async () => {
    // Prepare
    const session = await InferenceSession.create(join(fixtures, 'external-data', 'model.onnx'), QUIET);
    const x = new Tensor('float32', Float32Array.from([1, 2, 3]), [1, 3]);

    // Act
    const result = await session.run({ X: x });

    // Assess
    expect(Array.from(result.Y?.data as Float32Array)).toEqual([11, 22, 33]);
    await session.release();
  });

  it('the streaming writer used for the large-model test writes a model onnxruntime runs', async () => {
    // Prepare: same framing as the 256 MiB test, with a payload that fits W's dims [3].
    const path = join(dir, 'streamed.onnx');
    await writeLargeModel(
      path,
      { ...addDynamicBatchModel(), initializers: [] },
      { name: 'W', dataType: 1, dims: [3] },
      12,
    );

    // Act
    const session = await InferenceSession.create(path, QUIET);
    const result = await session.run({ X: new Tensor('float32', Float32Array.from([5, 6, 7]), [1, 3]) });
    const sig = await signatureOf(path);

    // Assess
    expect(Array.from(result.Y?.data as Float32Array)).toEqual([5, 6, 7]);
    expect(sig.inputs.map((i) => i.name)).toEqual(session.inputNames);
    await session.release();
  });

  it('onnxruntime rejects a model the reader rejects (truncated Add model)', async () => {
    // Prepare
    const bytes = encodeModel(addDynamicBatchModel());
    const path = join(dir, 'truncated.onnx');
    await writeFile(path, bytes.subarray(0, bytes.byteLength - 10));

    // Act / Assess
    await expect(InferenceSession.create(path, QUIET)).rejects.toThrow();
    await expect(signatureOf(path)).rejects.toThrow(/truncated at byte|declared length/);
  });

  it('the committed fixtures are what the generator writes', async () => {
    // Prepare
    const regenerated = join(dir, 'fixtures');
    await writeFixtures(regenerated);

    // Act / Assess
    for (const file of [
      'add-dynamic-batch.onnx',
      'identity-fixed.onnx',
      'external-data/model.onnx',
      'external-data/weights.bin',
    ]) {
      expect(await readFile(join(fixtures, file)), file).toEqual(await readFile(join(regenerated, file)));
    }
  });
});
