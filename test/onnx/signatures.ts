/** Hand-built ONNX signatures for tests of code that consumes them (no file needed). */
import type { OnnxSignature, TensorSignature } from '../../shared/onnx/types';

/** An FP32 tensor; `dims: null` means unknown rank. */
export function tensor(
  name: string,
  dims: number[] | null,
  over: Partial<TensorSignature> = {},
): TensorSignature {
  return {
    name,
    elemType: 1,
    dataType: 'TYPE_FP32',
    dims: dims ?? [],
    rankKnown: dims !== null,
    kind: 'tensor',
    ...over,
  };
}

export function sig(inputs: TensorSignature[], outputs: TensorSignature[]): OnnxSignature {
  return { irVersion: 8, opsets: [{ domain: '', version: 13 }], inputs, outputs, externalData: [] };
}
