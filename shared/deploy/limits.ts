/**
 * Every bound the deploy function puts on what it is given, in one place, as data: defaults here,
 * overridable per deployment through `deployLimits(overrides)`. A refusal names the limit (the
 * field name below), the value it saw and the bound: reason `LIMIT_EXCEEDED` (see
 * `LimitExceededError`), except for the file sizes, which keep their own `FILE_TOO_LARGE`.
 *
 * The defaults fit real models with a wide margin and stop inputs whose only purpose can be to
 * make the function work (an ONNX file with 200,000 inputs, a rank of 200,000, a 13 MB
 * config.pbtxt, 100,000 instances of a model on one node).
 */
import { DEFAULT_EVENT_BODY_LIMITS } from '../runtime/cloudevent-http';
import { ConfigurationError } from '../runtime/errors';
import { MAX_MODEL_NAME_LENGTH } from '../triton/layout';

export interface DeployLimits {
  /** Largest single object accepted in the incoming bucket (model files, external data, assets). */
  maxFileBytes: bigint;
  /** Largest `model.yaml`; a manifest is a few hundred bytes, so anything big is a mistake or an attack. */
  maxManifestBytes: number;
  /** Most files one model version may list (`files` in model.yaml) or hold. */
  maxFilesPerModel: number;
  /** Longest model directory name; the name also becomes a metric label and a URL segment. */
  maxModelNameLength: number;
  /** Most YAML alias expansions a manifest may cause (`yaml`'s `maxAliasCount`): stops alias bombs. */
  maxManifestAliasCount: number;
  /** Largest `config.pbtxt`, uploaded (read whole) or generated (written and sent to every pod). */
  maxConfigBytes: number;
  /** Most tensors of one model, inputs and outputs together (the ONNX reader stops at this count). */
  maxTensorsPerModel: number;
  /** Most dimensions of one tensor (the ONNX reader stops at this rank). */
  maxRank: number;
  /** Largest fixed dimension of a tensor (`-1` marks a variable one and is always allowed). */
  maxDimValue: number;
  /** Longest tensor, instance group, warmup or parameter name. */
  maxTensorNameLength: number;
  /** Most `instance_group` entries of one model. */
  maxInstanceGroups: number;
  /**
   * Most instances of one model on one GPU, summed over its GPU groups (`count` is per GPU in
   * Triton). GPU ids and CPU instances are bounded by the GPUs a node of the pool's class has.
   */
  maxInstancesPerGpu: number;
  /** Most `KIND_CPU` instances of one model on one node. */
  maxCpuInstances: number;
  /** Most `model_warmup` entries. */
  maxWarmups: number;
  /** Most `parameters` entries, and the longest value of one. */
  maxParameters: number;
  maxParameterValueLength: number;
  /** Largest CloudEvent body the function reads (Eventarc's own limit is 512 KiB). */
  maxEventBytes: number;
  /** Deepest JSON nesting of a CloudEvent body (a storage event is 3 deep). */
  maxEventDepth: number;
}

const GiB = 1024n * 1024n * 1024n;

export const DEFAULT_DEPLOY_LIMITS: Readonly<DeployLimits> = Object.freeze({
  maxFileBytes: 64n * GiB,
  maxManifestBytes: 64 * 1024,
  maxFilesPerModel: 1000,
  maxModelNameLength: MAX_MODEL_NAME_LENGTH,
  maxManifestAliasCount: 100,
  maxConfigBytes: 1024 * 1024,
  maxTensorsPerModel: 4096,
  maxRank: 64,
  maxDimValue: 2 ** 31 - 1,
  maxTensorNameLength: 1024,
  maxInstanceGroups: 16,
  maxInstancesPerGpu: 16,
  maxCpuInstances: 64,
  maxWarmups: 32,
  maxParameters: 128,
  maxParameterValueLength: 4096,
  maxEventBytes: DEFAULT_EVENT_BODY_LIMITS.maxEventBytes,
  maxEventDepth: DEFAULT_EVENT_BODY_LIMITS.maxEventDepth,
});

/** What each limit refuses, for the README table and for messages. */
export const DEPLOY_LIMIT_DESCRIPTIONS: Readonly<Record<keyof DeployLimits, string>> = Object.freeze({
  maxFileBytes: 'an uploaded file larger than this (FILE_TOO_LARGE)',
  maxManifestBytes: 'a model.yaml larger than this (FILE_TOO_LARGE)',
  maxFilesPerModel: 'a model.yaml listing more files, or a version directory holding more',
  maxModelNameLength: 'a longer model directory name (INVALID_MODEL_NAME)',
  maxManifestAliasCount: 'a model.yaml whose YAML aliases expand more often',
  maxConfigBytes: 'an uploaded config.pbtxt larger than this (FILE_TOO_LARGE), or a generated one',
  maxTensorsPerModel: 'a model with more inputs and outputs together (the ONNX reader stops there)',
  maxRank: 'a tensor with more dimensions (the ONNX reader stops there)',
  maxDimValue: 'a fixed dimension larger than this',
  maxTensorNameLength: 'a longer tensor, instance group, warmup or parameter name',
  maxInstanceGroups: 'more instance_group entries',
  maxInstancesPerGpu: "more instances per GPU (the sum of the GPU groups' counts)",
  maxCpuInstances: 'more KIND_CPU instances on one node',
  maxWarmups: 'more model_warmup entries',
  maxParameters: 'more parameters entries',
  maxParameterValueLength: 'a longer parameter value',
  maxEventBytes: 'a larger CloudEvent body (acknowledged as a rejection)',
  maxEventDepth: 'a CloudEvent body nested deeper (acknowledged as a rejection)',
});

/** The defaults with `overrides` applied; refuses values that would disable a limit by accident. */
export function deployLimits(overrides: Partial<DeployLimits> = {}): DeployLimits {
  const limits: DeployLimits = { ...DEFAULT_DEPLOY_LIMITS };
  for (const [key, value] of Object.entries(overrides) as Array<[keyof DeployLimits, unknown]>) {
    if (value !== undefined) Object.assign(limits, { [key]: value });
  }
  const problems: string[] = [];
  if (typeof limits.maxFileBytes !== 'bigint' || limits.maxFileBytes <= 0n) {
    problems.push('maxFileBytes must be a positive bigint');
  }
  const counts = (Object.keys(DEFAULT_DEPLOY_LIMITS) as Array<keyof DeployLimits>).filter(
    (k) => k !== 'maxFileBytes',
  );
  for (const key of counts) {
    const v = limits[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      problems.push(`${key} must be a positive integer, got ${String(v)}`);
    }
  }
  // A longer name than the repository rules allow would pass here and fail at publishing.
  if (limits.maxModelNameLength > MAX_MODEL_NAME_LENGTH) {
    problems.push(`maxModelNameLength cannot exceed ${MAX_MODEL_NAME_LENGTH} (the repository's own limit)`);
  }
  if (problems.length > 0) {
    throw new ConfigurationError('INVALID_DEPLOY_LIMITS', `Invalid deploy limits: ${problems.join('; ')}`);
  }
  return limits;
}
