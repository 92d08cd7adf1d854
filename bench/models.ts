/**
 * Large ONNX models for benchmarks, written streaming to disk with the test encoder so no
 * benchmark holds the weights in memory. The graph is one that onnxruntime accepts and must load
 * every weight for: Y = X + W, X: [batch, n] float, W: an [n] float initializer of `payloadBytes`.
 */
import { rm } from 'node:fs/promises';
import { ElemType, type ModelSpec, writeLargeModel } from '../test/onnx/build-onnx';

export const BENCH_MODEL_INPUTS = ['X'];

export async function writeBenchModel(path: string, payloadBytes: number): Promise<number> {
  const n = Math.floor(payloadBytes / 4);
  const spec: ModelSpec = {
    producerName: 'inferplane-bench',
    graphName: 'add_large',
    nodes: [{ opType: 'Add', inputs: ['X', 'W'], outputs: ['Y'], name: 'add' }],
    inputs: [{ name: 'X', elemType: ElemType.FLOAT, dims: ['batch', n] }],
    outputs: [{ name: 'Y', elemType: ElemType.FLOAT, dims: ['batch', n] }],
  };
  return writeLargeModel(path, spec, { name: 'W', dataType: ElemType.FLOAT, dims: [n] }, n * 4);
}

/** Removes temp dirs even when the benchmark failed midway. */
export async function removeAll(dirs: readonly string[]): Promise<void> {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}
