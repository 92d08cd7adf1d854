/**
 * What a signature read costs in bytes and ranged requests, on generated models shaped like real
 * ones (hundreds of weight tensors of mixed sizes, external data, a 42 MB CNN with 160 weights):
 * bounded by the metadata, not by the weights. And the signature is the one the reader gave
 * before its reads were made adaptive (signatures.golden.json, written by that reader).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOnnxSignature } from '../../shared/onnx/reader';
import { fileByteSource, memoryByteSource } from '../../shared/onnx/source';
import type { ByteSource } from '../../shared/ports/storage';
import { addDynamicBatchModel, encodeModel, externalDataModel, identityFixedModel } from './build-onnx';
import { SHAPED_MODELS, type ShapedModelOptions, shapedModel, writeShapedModel } from './shaped-models';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'onnx');
const GOLDEN = JSON.parse(
  readFileSync(join(import.meta.dirname, 'signatures.golden.json'), 'utf8'),
) as Record<string, unknown>;
const MiB = 1024 * 1024;

/** Counts the ranged requests made on a source (bytesRead counts the bytes). */
function counting(source: ByteSource): ByteSource & { requests: number } {
  const counted = {
    requests: 0,
    get bytesRead() {
      return source.bytesRead;
    },
    size: () => source.size(),
    read: (offset: number, length: number) => {
      counted.requests += 1;
      return source.read(offset, length);
    },
    close: () => source.close?.() ?? Promise.resolve(),
  };
  return counted;
}

async function cost(source: ByteSource): Promise<{ requests: number; bytes: number; sig: unknown }> {
  const s = counting(source);
  try {
    const sig = await readOnnxSignature(s);
    return { requests: s.requests, bytes: s.bytesRead, sig };
  } finally {
    await s.close?.();
  }
}

/** The goal: at most 1 MiB plus 0.1% of the file. */
const byteBudget = (fileSize: number) => MiB + fileSize / 1000;

describe('signature identical to the previous reader', () => {
  it.each(['add-dynamic-batch.onnx', 'identity-fixed.onnx', 'external-data/model.onnx'])(
    'fixture %s',
    async (file) => {
      const { sig } = await cost(fileByteSource(join(FIXTURES, file)));
      expect(sig).toEqual(GOLDEN[`fixture ${file}`]);
    },
  );

  it.each([
    ['built add-dynamic-batch', addDynamicBatchModel()],
    ['built external-data', externalDataModel()],
    ['built identity-fixed, opset first', { ...identityFixedModel(), opsetFirst: true }],
  ] as const)('%s', async (name, spec) => {
    const { sig } = await cost(memoryByteSource(encodeModel(spec)));
    expect(sig).toEqual(GOLDEN[name]);
  });

  it.each(Object.entries(SHAPED_MODELS).filter(([, o]) => o.weightBytes < 32 * MiB))(
    'generated %s',
    async (name, opts) => {
      const { sig } = await cost(memoryByteSource(encodeModel(shapedModel(opts))));
      expect(sig).toEqual(GOLDEN[`generated ${name}`]);
    },
  );
});

describe('bytes and requests of a signature read', () => {
  it.each(['add-dynamic-batch.onnx', 'identity-fixed.onnx', 'external-data/model.onnx'])(
    'a small file (%s) is read whole in one request',
    async (file) => {
      const path = join(FIXTURES, file);
      const { requests, bytes } = await cost(fileByteSource(path));
      expect(requests).toBe(1);
      expect(bytes).toBe((await stat(path)).size);
    },
  );

  it.each([
    { name: 'cnn, 320 tensors, 12 MiB', maxRequests: 330 },
    { name: 'transformer, 480 tensors, 16 MiB', maxRequests: 490 },
  ])(
    '$name: within the byte budget, at most one request per weight tensor and a few',
    async ({ name, maxRequests }) => {
      const opts = SHAPED_MODELS[name] as ShapedModelOptions;
      const bytes = encodeModel(shapedModel(opts));
      const c = await cost(memoryByteSource(bytes));
      expect(c.bytes).toBeLessThanOrEqual(byteBudget(bytes.byteLength));
      expect(c.requests).toBeLessThanOrEqual(maxRequests);
    },
  );

  it('external data: the weights are elsewhere, the model is metadata, read in a few requests', async () => {
    const opts = SHAPED_MODELS['transformer, 300 tensors, external data'] as ShapedModelOptions;
    const bytes = encodeModel(shapedModel(opts));
    const c = await cost(memoryByteSource(bytes));
    expect(c.requests).toBeLessThanOrEqual(4);
    expect(c.bytes).toBe(bytes.byteLength);
    expect((c.sig as { externalData: unknown[] }).externalData).toHaveLength(300);
  });

  it('bounded by the metadata: four times the weights, the same bound on requests and bytes', async () => {
    // The bound depends on the tensor count only: one first window, then a small read per tensor.
    const base: ShapedModelOptions = { shape: 'cnn', tensors: 200, weightBytes: 8 * MiB };
    const bound = { requests: base.tensors + 2, bytes: 256 * 1024 + base.tensors * 1024 };
    for (const weightBytes of [8 * MiB, 32 * MiB]) {
      const c = await cost(memoryByteSource(encodeModel(shapedModel({ ...base, weightBytes }))));
      expect(c.requests, `${weightBytes} bytes of weights`).toBeLessThanOrEqual(bound.requests);
      expect(c.bytes, `${weightBytes} bytes of weights`).toBeLessThanOrEqual(bound.bytes);
    }
  });

  describe('a 42 MB CNN with 160 weight tensors, from a file', () => {
    let dir: string;
    let path: string;
    let size: number;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'onnx-cost-'));
      path = join(dir, 'model.onnx');
      size = await writeShapedModel(
        path,
        shapedModel(SHAPED_MODELS['cnn, 160 tensors, 42 MB'] as ShapedModelOptions),
      );
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('reads its signature in at most 170 requests and within the byte budget', async () => {
      const c = await cost(fileByteSource(path));
      expect(size).toBeGreaterThan(42_000_000);
      expect(c.sig).toEqual(GOLDEN['generated cnn, 160 tensors, 42 MB']);
      expect(c.requests).toBeLessThanOrEqual(170);
      expect(c.bytes).toBeLessThanOrEqual(byteBudget(size));
    });
  });
});
