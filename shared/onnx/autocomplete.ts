import { PermanentError, ValidationError } from '../runtime/errors';
import type { ModelConfig, ModelTensor } from '../triton/model-config';
import { type OnnxSignature, onnxElemTypeName, type TensorSignature } from './types';

export const DEFAULT_MAX_BATCH_SIZE = 4;

export interface AutoCompleteOptions {
  name: string;
  /** As in config.pbtxt: unset or 0 lets a batchable model take `defaultMaxBatchSize`. */
  maxBatchSize?: number;
  /** Triton's `--backend-config=onnxruntime,default-max-batch-size`; 0 turns batching off. */
  defaultMaxBatchSize?: number;
}

/** A batch dimension is a variable first dimension on every input and output (rule 2). */
export function isBatchable(sig: Pick<OnnxSignature, 'inputs' | 'outputs'>): boolean {
  return [...sig.inputs, ...sig.outputs].every((t) => t.rankKnown && t.dims.length >= 1 && t.dims[0] === -1);
}

function checkCount(value: number | undefined, path: string): ValidationError | undefined {
  if (value === undefined || (Number.isSafeInteger(value) && value >= 0)) return undefined;
  return new ValidationError('ONNX auto-complete options', [
    { path, message: `must be a non-negative integer, got ${value}` },
  ]);
}

function toModelTensor(t: TensorSignature, batching: boolean, direction: string): ModelTensor {
  if (t.kind !== 'tensor') {
    throw new PermanentError(
      'UNSUPPORTED_ONNX_TYPE',
      `${direction} '${t.name}' is a ${t.kind.replace('_', ' ')}, not a tensor; Triton's ONNX Runtime backend serves tensors only`,
    );
  }
  if (t.dataType === null) {
    throw new PermanentError(
      'UNSUPPORTED_ONNX_TYPE',
      `${direction} '${t.name}' has ONNX type ${onnxElemTypeName(t.elemType)}, which Triton has no data type for`,
    );
  }
  if (!t.rankKnown) {
    throw new PermanentError(
      'UNKNOWN_ONNX_RANK',
      `${direction} '${t.name}' has no shape (unknown rank); write its dims in config.pbtxt`,
    );
  }
  const dims = batching ? t.dims.slice(1) : [...t.dims];
  // Triton needs at least one dim; a scalar is declared [1] and reshaped to [] for the model (rule 6).
  if (dims.length === 0) return { name: t.name, data_type: t.dataType, dims: [1], reshape: { shape: [] } };
  return { name: t.name, data_type: t.dataType, dims };
}

/**
 * The config Triton's ONNX Runtime backend would auto-complete for this signature (rules 2-6 of
 * shared/reference/triton.md), written out in full so the deployment does not depend on
 * auto-complete being enabled.
 *
 * Throws PermanentError when the model cannot be served as asked: `maxBatchSize` > 0 on a model
 * with no batch dimension (Triton would fail to load it), or an input/output Triton cannot type.
 */
export function autoCompleteOnnxConfig(sig: OnnxSignature, opts: AutoCompleteOptions): ModelConfig {
  const invalid =
    checkCount(opts.maxBatchSize, 'maxBatchSize') ??
    checkCount(opts.defaultMaxBatchSize, 'defaultMaxBatchSize');
  if (invalid) throw invalid;

  const batchable = isBatchable(sig);
  const requested = opts.maxBatchSize ?? 0;
  let maxBatchSize: number;
  if (!batchable) {
    if (requested !== 0) {
      const culprit = [...sig.inputs, ...sig.outputs].find(
        (t) => !(t.rankKnown && t.dims.length >= 1 && t.dims[0] === -1),
      );
      throw new PermanentError(
        'MODEL_NOT_BATCHABLE',
        `max_batch_size ${requested} needs a variable first dimension on every input and output, but '${culprit?.name}' has dims [${culprit?.dims.join(', ')}]; use max_batch_size 0`,
        { details: { maxBatchSize: requested, tensor: culprit?.name } },
      );
    }
    maxBatchSize = 0;
  } else {
    maxBatchSize = requested !== 0 ? requested : (opts.defaultMaxBatchSize ?? DEFAULT_MAX_BATCH_SIZE);
  }
  const batching = maxBatchSize > 0;

  const config: ModelConfig = {
    name: opts.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: maxBatchSize,
    input: sig.inputs.map((t) => toModelTensor(t, batching, 'input')),
    output: sig.outputs.map((t) => toModelTensor(t, batching, 'output')),
  };
  if (maxBatchSize > 1) config.dynamic_batching = {};
  return config;
}
