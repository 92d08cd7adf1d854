/**
 * A 256 MiB model (one initializer, then the inputs and outputs, as exporters write them) is read
 * through a few ranged reads: the weights are skipped by their declared length, never fetched.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOnnxSignature } from '../../shared/onnx/reader';
import { fileByteSource } from '../../shared/onnx/source';
import { addDynamicBatchModel, ElemType, writeLargeModel } from './build-onnx';

const PAYLOAD_BYTES = 256 * 1024 * 1024;

describe('readOnnxSignature on a 256 MiB model', () => {
  let dir: string;
  let path: string;
  let fileSize: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'onnx-large-'));
    path = join(dir, 'model.onnx');
    const spec = { ...addDynamicBatchModel(), initializers: [] };
    fileSize = await writeLargeModel(
      path,
      spec,
      { name: 'W', dataType: ElemType.FLOAT, dims: [PAYLOAD_BYTES / 4] },
      PAYLOAD_BYTES,
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns the signature after reading less than 1 MiB of the file', async () => {
    // Prepare
    expect((await stat(path)).size).toBe(fileSize);
    expect(fileSize).toBeGreaterThan(PAYLOAD_BYTES);
    const source = fileByteSource(path);

    // Act
    const sig = await readOnnxSignature(source);
    await source.close?.();

    // Assess
    expect(sig.inputs).toEqual([
      { name: 'X', elemType: 1, dataType: 'TYPE_FP32', dims: [-1, 3], rankKnown: true, kind: 'tensor' },
    ]);
    expect(sig.outputs.map((o) => [o.name, o.dims])).toEqual([['Y', [-1, 3]]]);
    expect(sig.opsets).toEqual([{ domain: '', version: 13 }]);
    expect(source.bytesRead).toBeGreaterThan(0);
    expect(source.bytesRead).toBeLessThan(1024 * 1024);
  });

  it('with 4 KiB windows reads only a few windows', async () => {
    // Prepare
    const source = fileByteSource(path);

    // Act
    const sig = await readOnnxSignature(source, { windowBytes: 4096 });
    await source.close?.();

    // Assess
    expect(sig.inputs.map((i) => i.name)).toEqual(['X']);
    expect(source.bytesRead).toBeLessThanOrEqual(3 * 4096);
  });
});
