/**
 * Triton's `inference.ModelConfig`, in the JSON form Triton itself uses (protobuf JSON with the
 * proto field names): the same object is written as config.pbtxt and sent as the `config`
 * parameter of the repository load API, which wants these names (`input`, `data_type`, `dims`),
 * not the inference-protocol ones (`inputs`, `datatype`).
 *
 * int64 fields (`dims`, `max_queue_delay_microseconds`, ...) are JS numbers here: model dims and
 * delays stay far below 2^53.
 */
export type TritonDataType =
  | 'TYPE_BOOL'
  | 'TYPE_UINT8'
  | 'TYPE_UINT16'
  | 'TYPE_UINT32'
  | 'TYPE_UINT64'
  | 'TYPE_INT8'
  | 'TYPE_INT16'
  | 'TYPE_INT32'
  | 'TYPE_INT64'
  | 'TYPE_FP16'
  | 'TYPE_FP32'
  | 'TYPE_FP64'
  | 'TYPE_STRING'
  | 'TYPE_BF16';

export interface ModelTensor {
  name: string;
  data_type: TritonDataType;
  dims: number[];
  reshape?: { shape: number[] };
  optional?: boolean;
}

export interface InstanceGroup {
  name?: string;
  count?: number;
  kind?: 'KIND_AUTO' | 'KIND_GPU' | 'KIND_CPU' | 'KIND_MODEL';
  gpus?: number[];
}

export interface DynamicBatching {
  preferred_batch_size?: number[];
  max_queue_delay_microseconds?: number;
  preserve_ordering?: boolean;
}

export type VersionPolicy =
  | { latest: { num_versions: number } }
  | { all: Record<string, never> }
  | { specific: { versions: number[] } };

export interface WarmupInput {
  data_type: TritonDataType;
  dims: number[];
  zero_data?: boolean;
  random_data?: boolean;
  input_data_file?: string;
}

export interface ModelWarmup {
  name: string;
  batch_size: number;
  inputs: Record<string, WarmupInput>;
  count?: number;
}

export interface EnsembleStep {
  model_name: string;
  model_version: number;
  input_map: Record<string, string>;
  output_map: Record<string, string>;
}

export interface ModelConfig {
  name: string;
  platform?: string;
  backend?: string;
  version_policy?: VersionPolicy;
  max_batch_size?: number;
  input?: ModelTensor[];
  output?: ModelTensor[];
  instance_group?: InstanceGroup[];
  dynamic_batching?: DynamicBatching;
  default_model_filename?: string;
  cc_model_filenames?: Record<string, string>;
  parameters?: Record<string, { string_value: string }>;
  model_warmup?: ModelWarmup[];
  ensemble_scheduling?: { step: EnsembleStep[] };
}

export const TRITON_DATA_TYPES: readonly TritonDataType[] = [
  'TYPE_BOOL',
  'TYPE_UINT8',
  'TYPE_UINT16',
  'TYPE_UINT32',
  'TYPE_UINT64',
  'TYPE_INT8',
  'TYPE_INT16',
  'TYPE_INT32',
  'TYPE_INT64',
  'TYPE_FP16',
  'TYPE_FP32',
  'TYPE_FP64',
  'TYPE_STRING',
  'TYPE_BF16',
];
