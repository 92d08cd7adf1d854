/**
 * Builds the config.pbtxt of a model version from what the deploy function observed (the model
 * file's signature, an uploaded config.pbtxt, model.yaml) and the policy. Pure: no I/O.
 *
 * Precedence, field by field: model.yaml > uploaded config.pbtxt > policy defaults. The uploaded
 * config is merged, not copied: its name and backend are checked, then the policy fills what it
 * leaves out. Every decision is explained in `notes`, which the caller logs and publishes.
 */

import type { GpuClass } from '../gpu/catalog';
import { autoCompleteOnnxConfig, isBatchable } from '../onnx/autocomplete';
import type { OnnxSignature } from '../onnx/types';
import type { ModelPolicy } from '../policy/schema';
import {
  LimitExceededError,
  type LimitIssue,
  limitIssue,
  PermanentError,
  quoteUserText,
  ValidationError,
  type ValidationIssue,
} from '../runtime/errors';
import { formatModelConfig, parseModelConfig } from '../triton/config-codec';
import { isValidModelName } from '../triton/layout';
import {
  type DynamicBatching,
  type EnsembleStep,
  type InstanceGroup,
  type ModelConfig,
  type ModelTensor,
  type ModelWarmup,
  TRITON_DATA_TYPES,
  type VersionPolicy,
} from '../triton/model-config';
import { DEFAULT_DEPLOY_LIMITS, type DeployLimits } from './limits';
import type { DeployBackend, Manifest } from './manifest';

export interface BuildModelConfigInput {
  /** The model directory name. */
  model: string;
  /** The version being deployed. */
  version: number;
  /** Detected backend (see detectBackend in ./upload). */
  backend: DeployBackend;
  manifest?: Manifest;
  /** The uploaded config.pbtxt, already parsed with parseModelConfig. */
  userConfig?: ModelConfig;
  /** Signature read from model.onnx (ONNX models only). */
  onnxSignature?: OnnxSignature;
  policy: Pick<ModelPolicy, 'maxBatchSize' | 'dynamicBatching' | 'instanceCount'>;
  /** The bounds of shared/deploy/limits.ts; the defaults when absent. */
  limits?: DeployLimits;
  /** GPUs on one node of the pool the model is placed on (bounds instance_group); 1 when absent. */
  gpusPerNode?: number;
}

export interface BuiltModelConfig {
  config: ModelConfig;
  /** What was decided and why, one sentence each, in the order decided. */
  notes: string[];
}

interface Identity {
  /** What we write. */
  platform?: string;
  backend?: string;
  /** What an uploaded config.pbtxt may say. */
  platforms: readonly string[];
  backends: readonly string[];
}

const IDENTITY: Readonly<Record<DeployBackend, Identity>> = {
  onnxruntime: {
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    platforms: ['onnxruntime_onnx'],
    backends: ['onnxruntime'],
  },
  tensorrt: { platform: 'tensorrt_plan', platforms: ['tensorrt_plan'], backends: ['tensorrt'] },
  pytorch: { platform: 'pytorch_libtorch', platforms: ['pytorch_libtorch'], backends: ['pytorch'] },
  python: { backend: 'python', platforms: [], backends: ['python'] },
  ensemble: { platform: 'ensemble', platforms: ['ensemble'], backends: [] },
  openvino: { backend: 'openvino', platforms: [], backends: ['openvino'] },
};

const CONFIG_REQUIRED: Readonly<Partial<Record<DeployBackend, string>>> = {
  pytorch:
    'PyTorch models need a full config: list inputs and outputs (named INPUT__0, OUTPUT__0, ...) in model.yaml or upload config.pbtxt',
  python:
    'Python models need a full config: list inputs and outputs in model.yaml or upload config.pbtxt (Triton cannot read them from model.py here)',
  ensemble:
    'Ensembles need a full config: list inputs, outputs and ensemble.steps in model.yaml or upload config.pbtxt',
};

type TensorSource = 'model.yaml' | 'config.pbtxt' | 'ONNX signature' | 'Triton auto-complete';

/**
 * @throws PermanentError CONFIG_REQUIRED (a backend that needs a full config got none),
 *   MODEL_NAME_MISMATCH, BACKEND_MISMATCH, MODEL_NOT_BATCHABLE (from the ONNX auto-complete
 *   rules), UNSUPPORTED_ONNX_TYPE / UNKNOWN_ONNX_RANK; ValidationError listing every problem of
 *   the resulting config.
 */
export function buildModelConfig(input: BuildModelConfigInput): BuiltModelConfig {
  const { model, version, backend, manifest, userConfig, onnxSignature, policy } = input;
  const notes: string[] = [];
  const identity = IDENTITY[backend];
  checkIdentity(input, identity);

  const config: ModelConfig = { name: model };
  if (identity.platform) config.platform = identity.platform;
  if (identity.backend) config.backend = identity.backend;

  // ---- inputs / outputs and max_batch_size, which give dims their meaning -------------------
  const explicit = explicitMaxBatchSize(manifest, userConfig);
  const declared = declaredTensors(manifest, userConfig);
  const needsFull = CONFIG_REQUIRED[backend];
  if (needsFull && !declared)
    throw new PermanentError('CONFIG_REQUIRED', needsFull, { details: { backend } });

  let source: TensorSource;
  let maxBatchSize: number | undefined;
  if (declared) {
    source = declared.source;
    config.input = declared.input;
    config.output = declared.output;
    if (explicit) {
      maxBatchSize = explicit.value;
      notes.push(`max_batch_size ${maxBatchSize} from ${explicit.source}`);
    } else if (source === 'config.pbtxt') {
      // Triton reads an absent max_batch_size as 0, and the dims in the file were written for it.
      maxBatchSize = 0;
      notes.push(
        'max_batch_size 0: config.pbtxt declares the tensors without max_batch_size, so its dims are full shapes',
      );
    } else {
      maxBatchSize = policy.maxBatchSize;
      notes.push(
        `max_batch_size ${maxBatchSize} from policy; the dims in model.yaml are read ${maxBatchSize > 0 ? 'without' : 'with'} the batch dimension`,
      );
    }
    notes.push(`inputs and outputs from ${source}`);
    if (backend === 'onnxruntime' && onnxSignature && maxBatchSize > 0 && !isBatchable(onnxSignature)) {
      // Same refusal, same message as Triton's rule 5.
      autoCompleteOnnxConfig(onnxSignature, { name: model, maxBatchSize, defaultMaxBatchSize: maxBatchSize });
    }
  } else if (backend === 'onnxruntime' && onnxSignature) {
    source = 'ONNX signature';
    let requested = explicit?.value ?? policy.maxBatchSize;
    if (!explicit && requested > 0 && !isBatchable(onnxSignature)) {
      notes.push(
        `max_batch_size 0: the model has no batch dimension (a variable first dimension on every input and output), so the policy's ${requested} does not apply`,
      );
      requested = 0;
    }
    const completed = autoCompleteOnnxConfig(onnxSignature, {
      name: model,
      maxBatchSize: requested,
      defaultMaxBatchSize: requested,
    });
    config.input = completed.input;
    config.output = completed.output;
    maxBatchSize = completed.max_batch_size ?? 0;
    if (explicit) notes.push(`max_batch_size ${maxBatchSize} from ${explicit.source}`);
    else if (maxBatchSize > 0) notes.push(`max_batch_size ${maxBatchSize} from policy`);
    notes.push(
      'inputs and outputs from the ONNX signature (Triton auto-complete rules, written out in full)',
    );
  } else {
    source = 'Triton auto-complete';
    maxBatchSize = explicit?.value;
    if (explicit) notes.push(`max_batch_size ${maxBatchSize} from ${explicit.source}`);
    else {
      notes.push(
        `max_batch_size left to Triton's auto-complete: the model's shapes are unknown here, so the policy's ${policy.maxBatchSize} could make a model without a batch dimension fail to load`,
      );
    }
    notes.push(`inputs and outputs left to Triton's auto-complete (${backend} supports it)`);
  }
  if (maxBatchSize !== undefined) config.max_batch_size = maxBatchSize;

  // ---- scheduling: dynamic batching, instances, or ensemble steps ---------------------------
  if (backend === 'ensemble') {
    const steps = ensembleSteps(manifest, userConfig);
    if (!steps) {
      throw new PermanentError('CONFIG_REQUIRED', CONFIG_REQUIRED.ensemble!, { details: { backend } });
    }
    config.ensemble_scheduling = { step: steps.steps };
    // Carried over only so that validation refuses them by path: Triton would refuse the config.
    if (userConfig?.instance_group?.length) config.instance_group = userConfig.instance_group;
    if (userConfig?.dynamic_batching) config.dynamic_batching = userConfig.dynamic_batching;
    notes.push(
      `ensemble steps from ${steps.source}; no instance_group (an ensemble runs its steps' instances)`,
    );
  } else {
    const batching = dynamicBatching(manifest, userConfig, policy, maxBatchSize, notes);
    if (batching) config.dynamic_batching = batching;
    config.instance_group = instanceGroups(manifest, userConfig, policy, notes);
  }

  // ---- the rest ------------------------------------------------------------------------------
  const warmup = manifest?.warmup
    ? manifest.warmup.map(toWarmup)
    : userConfig?.model_warmup?.length
      ? userConfig.model_warmup
      : undefined;
  if (warmup) {
    config.model_warmup = warmup;
    notes.push(`model_warmup from ${manifest?.warmup ? 'model.yaml' : 'config.pbtxt'}`);
  }

  const parameters = {
    ...(userConfig?.parameters ?? {}),
    ...Object.fromEntries(
      Object.entries(manifest?.parameters ?? {}).map(([k, v]) => [k, { string_value: v }]),
    ),
  };
  if (Object.keys(parameters).length > 0) config.parameters = parameters;

  const filename = manifest?.defaultModelFilename ?? userConfig?.default_model_filename;
  if (filename) config.default_model_filename = filename;
  if (userConfig?.cc_model_filenames && Object.keys(userConfig.cc_model_filenames).length > 0) {
    config.cc_model_filenames = userConfig.cc_model_filenames;
  }

  config.version_policy = versionPolicy(manifest, userConfig, version, notes);

  const what = `model config for '${model}' version ${version}`;
  const limits = input.limits ?? DEFAULT_DEPLOY_LIMITS;
  const overLimits = configLimitIssues(config, limits, input.gpusPerNode ?? 1);
  if (overLimits.length > 0) throw new LimitExceededError(what, overLimits);
  const unsafe = fileReferenceIssues(config);
  if (unsafe.length > 0) throw new ValidationError(what, unsafe, { reason: 'PATH_TRAVERSAL' });
  const issues = modelConfigIssues(config, { model, backend, onnxSignature, tensorSource: source });
  if (issues.length > 0) throw new ValidationError(what, issues);
  // The codec is what writes the file: a config it would refuse must fail here, not at publishing.
  const text = formatModelConfig(config);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxConfigBytes) {
    throw new LimitExceededError(what, [
      limitIssue(
        '(root)',
        'maxConfigBytes',
        bytes,
        limits.maxConfigBytes,
        'the generated config.pbtxt (bytes)',
      ),
    ]);
  }
  return { config, notes };
}

function checkIdentity(input: BuildModelConfigInput, identity: Identity): void {
  const { model, backend, manifest, userConfig } = input;
  if (manifest?.backend !== undefined && manifest.backend !== backend) {
    throw new PermanentError(
      'BACKEND_MISMATCH',
      `model.yaml says backend '${manifest.backend}', but the uploaded files are a '${backend}' model`,
    );
  }
  if (!userConfig) return;
  if (userConfig.name && userConfig.name !== model) {
    throw new PermanentError(
      'MODEL_NAME_MISMATCH',
      `config.pbtxt names the model '${userConfig.name}', but it was uploaded to the model directory '${model}'; Triton requires them to be equal`,
      { details: { configName: userConfig.name, model } },
    );
  }
  const wrongPlatform = userConfig.platform && !identity.platforms.includes(userConfig.platform);
  const wrongBackend = userConfig.backend && !identity.backends.includes(userConfig.backend);
  if (wrongPlatform || wrongBackend) {
    const says = wrongPlatform ? `platform '${userConfig.platform}'` : `backend '${userConfig.backend}'`;
    const expected = [
      ...identity.platforms.map((p) => `platform '${p}'`),
      ...identity.backends.map((b) => `backend '${b}'`),
    ].join(' or ');
    throw new PermanentError(
      'BACKEND_MISMATCH',
      `config.pbtxt says ${says}, but the model is a '${backend}' model (expected ${expected})`,
    );
  }
}

function explicitMaxBatchSize(
  manifest: Manifest | undefined,
  userConfig: ModelConfig | undefined,
): { value: number; source: TensorSource } | undefined {
  if (manifest?.maxBatchSize !== undefined) return { value: manifest.maxBatchSize, source: 'model.yaml' };
  if (userConfig?.max_batch_size !== undefined)
    return { value: userConfig.max_batch_size, source: 'config.pbtxt' };
  return undefined;
}

function declaredTensors(
  manifest: Manifest | undefined,
  userConfig: ModelConfig | undefined,
): { input: ModelTensor[]; output: ModelTensor[]; source: TensorSource } | undefined {
  if (manifest?.inputs && manifest.outputs) {
    return {
      input: manifest.inputs.map(toTensor),
      output: manifest.outputs.map(toTensor),
      source: 'model.yaml',
    };
  }
  const inputs = userConfig?.input ?? [];
  const outputs = userConfig?.output ?? [];
  if (inputs.length === 0 && outputs.length === 0) return undefined;
  if (inputs.length === 0 || outputs.length === 0) {
    throw new PermanentError(
      'CONFIG_INCOMPLETE',
      `config.pbtxt lists ${inputs.length === 0 ? 'outputs but no inputs' : 'inputs but no outputs'}; list both, or neither to let them be derived`,
    );
  }
  return {
    input: inputs.map((t) => ({ ...t })),
    output: outputs.map((t) => ({ ...t })),
    source: 'config.pbtxt',
  };
}

function toTensor(t: NonNullable<Manifest['inputs']>[number]): ModelTensor {
  const out: ModelTensor = { name: t.name, data_type: t.dataType, dims: [...t.dims] };
  if (t.reshape) out.reshape = { shape: [...t.reshape] };
  if (t.optional !== undefined) out.optional = t.optional;
  return out;
}

function toWarmup(w: NonNullable<Manifest['warmup']>[number]): ModelWarmup {
  const out: ModelWarmup = {
    name: w.name,
    batch_size: w.batchSize,
    inputs: Object.fromEntries(
      Object.entries(w.inputs).map(([k, v]) => [
        k,
        {
          data_type: v.dataType,
          dims: [...v.dims],
          ...(v.zeroData ? { zero_data: true } : {}),
          ...(v.randomData ? { random_data: true } : {}),
          ...(v.inputDataFile ? { input_data_file: v.inputDataFile } : {}),
        },
      ]),
    ),
  };
  if (w.count !== undefined) out.count = w.count;
  return out;
}

function ensembleSteps(
  manifest: Manifest | undefined,
  userConfig: ModelConfig | undefined,
): { steps: EnsembleStep[]; source: TensorSource } | undefined {
  if (manifest?.ensemble) {
    return {
      source: 'model.yaml',
      steps: manifest.ensemble.steps.map((s) => ({
        model_name: s.model,
        model_version: s.version,
        input_map: { ...s.inputMap },
        output_map: { ...s.outputMap },
      })),
    };
  }
  const steps = userConfig?.ensemble_scheduling?.step ?? [];
  return steps.length > 0 ? { steps: steps.map((s) => ({ ...s })), source: 'config.pbtxt' } : undefined;
}

function dynamicBatching(
  manifest: Manifest | undefined,
  userConfig: ModelConfig | undefined,
  policy: BuildModelConfigInput['policy'],
  maxBatchSize: number | undefined,
  notes: string[],
): DynamicBatching | undefined {
  const m = manifest?.dynamicBatching;
  const u = userConfig?.dynamic_batching;
  if (maxBatchSize === 0) {
    // The manifest asking for batching on a model it also declares unbatched is refused later;
    // a config.pbtxt's batcher overridden to 0 by the manifest is stale and dropped.
    if (m) return buildBatching(m, u, policy);
    if (u) notes.push('dynamic_batching from config.pbtxt dropped: max_batch_size 0 turns batching off');
    return undefined;
  }
  if (maxBatchSize === undefined) {
    if (!m && !u) {
      notes.push("dynamic_batching left to Triton's auto-complete, like max_batch_size");
      return undefined;
    }
  } else if (!m && !u && maxBatchSize < 2) {
    notes.push('no dynamic_batching: max_batch_size 1 leaves nothing to batch');
    return undefined;
  }
  const out = buildBatching(m, u, policy);
  const delaySource =
    m?.maxQueueDelayMicroseconds !== undefined
      ? 'model.yaml'
      : u?.max_queue_delay_microseconds !== undefined
        ? 'config.pbtxt'
        : 'policy';
  notes.push(
    `dynamic_batching ${m || u ? `from ${m ? 'model.yaml' : 'config.pbtxt'}` : `added: batching on (max_batch_size ${maxBatchSize})`}, max_queue_delay_microseconds ${out.max_queue_delay_microseconds} from ${delaySource}`,
  );
  return out;
}

function buildBatching(
  m: Manifest['dynamicBatching'],
  u: DynamicBatching | undefined,
  policy: BuildModelConfigInput['policy'],
): DynamicBatching {
  const out: DynamicBatching = {
    max_queue_delay_microseconds:
      m?.maxQueueDelayMicroseconds ??
      u?.max_queue_delay_microseconds ??
      policy.dynamicBatching.maxQueueDelayMicroseconds,
  };
  const preferred = m?.preferredBatchSize ?? u?.preferred_batch_size;
  if (preferred && preferred.length > 0) out.preferred_batch_size = [...preferred];
  const preserve = m?.preserveOrdering ?? u?.preserve_ordering;
  if (preserve !== undefined) out.preserve_ordering = preserve;
  return out;
}

function instanceGroups(
  manifest: Manifest | undefined,
  userConfig: ModelConfig | undefined,
  policy: BuildModelConfigInput['policy'],
  notes: string[],
): InstanceGroup[] {
  const user = userConfig?.instance_group ?? [];
  const m = manifest?.instances;
  if (!m && user.length > 1) {
    notes.push(`instance_group: the ${user.length} groups of config.pbtxt kept as written`);
    return user.map((g) => ({ ...g }));
  }
  const first = user[0];
  const count = m?.count ?? first?.count ?? policy.instanceCount;
  const countSource =
    m?.count !== undefined ? 'model.yaml' : first?.count !== undefined ? 'config.pbtxt' : 'policy';
  const kind: NonNullable<InstanceGroup['kind']> = m?.kind
    ? m.kind === 'cpu'
      ? 'KIND_CPU'
      : 'KIND_GPU'
    : (first?.kind ?? 'KIND_GPU');
  const kindSource = m?.kind ? 'model.yaml' : first?.kind ? 'config.pbtxt' : 'default';
  const group: InstanceGroup = { count, kind };
  // GPU ids pinned in config.pbtxt still apply unless the manifest moved the model to the CPU.
  if (first?.gpus && first.gpus.length > 0 && kind !== 'KIND_CPU') group.gpus = [...first.gpus];
  if (first?.name) group.name = first.name;
  notes.push(`instance_group: ${count} x ${kind} (count from ${countSource}, kind from ${kindSource})`);
  return [group];
}

function versionPolicy(
  manifest: Manifest | undefined,
  userConfig: ModelConfig | undefined,
  version: number,
  notes: string[],
): VersionPolicy {
  const p = manifest?.versionPolicy;
  if (p !== undefined) {
    const policy: VersionPolicy =
      p === 'all' || 'all' in p
        ? { all: {} }
        : 'latest' in p
          ? { latest: { num_versions: p.latest } }
          : { specific: { versions: [...p.specific] } };
    notes.push(`version_policy ${JSON.stringify(policy)} from model.yaml`);
    if ('specific' in policy && !policy.specific.versions.includes(version)) {
      notes.push(`version ${version} is not in model.yaml's versionPolicy, so Triton will not load it`);
    }
    return policy;
  }
  // Pinning the deployed version is what makes publishing atomic: the version's files are copied
  // first and config.pbtxt last, so Triton keeps serving the previous version until the config
  // that names the new one appears, and never loads a half-copied version directory.
  if (userConfig?.version_policy) {
    notes.push(
      `version_policy of config.pbtxt replaced: only version ${version} is pinned, for an atomic switch`,
    );
  } else {
    notes.push(
      `version_policy specific [${version}]: the config, written last, switches Triton to this version`,
    );
  }
  return { specific: { versions: [version] } };
}

export interface ConfigCheckContext {
  model: string;
  backend: DeployBackend;
  onnxSignature?: OnnxSignature | undefined;
  /** Where the tensors came from; dims are checked against the ONNX signature when declared by hand. */
  tensorSource?: TensorSource;
}

/** Every problem of a built config, with its path; empty when Triton should accept it. */
export function modelConfigIssues(config: ModelConfig, ctx: ConfigCheckContext): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });
  const mbs = config.max_batch_size;
  const batching = mbs !== undefined && mbs > 0;

  if (config.name !== ctx.model) add('name', `must equal the model directory '${ctx.model}'`);
  if (mbs !== undefined && (!Number.isSafeInteger(mbs) || mbs < 0)) {
    add('max_batch_size', `must be an integer >= 0, got ${mbs}`);
  }

  const seen = new Map<string, string>();
  for (const side of ['input', 'output'] as const) {
    (config[side] ?? []).forEach((t, i) => {
      const path = `${side}.${i}`;
      if (!t.name) add(`${path}.name`, 'is empty');
      const other = seen.get(t.name);
      if (other) add(`${path}.name`, `'${t.name}' is also the name of ${other}; tensor names must be unique`);
      else seen.set(t.name, path);
      if (!TRITON_DATA_TYPES.includes(t.data_type)) {
        add(`${path}.data_type`, `'${t.data_type}' is not a Triton data type`);
      }
      if (t.dims.length === 0)
        add(`${path}.dims`, 'needs at least one dimension (a scalar is [1] with reshape [])');
      if (t.dims.some((d) => !Number.isSafeInteger(d) || d < -1)) {
        add(`${path}.dims`, 'must be integers >= -1 (-1 marks a variable dimension)');
      }
      if (t.reshape?.shape.some((d) => !Number.isSafeInteger(d) || d < -1)) {
        add(`${path}.reshape.shape`, 'must be integers >= -1');
      }
    });
  }
  if (CONFIG_REQUIRED[ctx.backend]) {
    if (!config.input?.length) add('input', `a ${ctx.backend} model needs at least one input`);
    if (!config.output?.length) add('output', `a ${ctx.backend} model needs at least one output`);
  }

  if (ctx.onnxSignature && ctx.tensorSource !== 'ONNX signature' && mbs !== undefined) {
    issues.push(...onnxDeclaredIssues(config, ctx.onnxSignature, batching));
  }

  const db = config.dynamic_batching;
  if (db) {
    if (mbs === 0) add('dynamic_batching', 'needs max_batch_size > 0 (max_batch_size 0 turns batching off)');
    (db.preferred_batch_size ?? []).forEach((p, i) => {
      if (mbs !== undefined && mbs > 0 && p > mbs) {
        add(`dynamic_batching.preferred_batch_size.${i}`, `${p} is above max_batch_size ${mbs}`);
      }
    });
  }
  (config.instance_group ?? []).forEach((g, i) => {
    if (g.count !== undefined && (!Number.isSafeInteger(g.count) || g.count < 1)) {
      add(`instance_group.${i}.count`, `must be at least 1, got ${g.count}`);
    }
  });

  const inputs = new Map((config.input ?? []).map((t) => [t.name, t]));
  (config.model_warmup ?? []).forEach((w, i) => {
    const path = `model_warmup.${i}`;
    const maxBs = batching ? mbs : 1;
    if (w.batch_size > maxBs)
      add(`${path}.batch_size`, `${w.batch_size} is above the model's batch size ${maxBs}`);
    if (batching && w.batch_size < 1) add(`${path}.batch_size`, 'must be at least 1 when batching');
    for (const [name, value] of Object.entries(w.inputs)) {
      const declared = inputs.get(name);
      if (config.input && !declared) add(`${path}.inputs.${name}`, `'${name}' is not an input of the model`);
      else if (declared && declared.data_type !== value.data_type) {
        add(
          `${path}.inputs.${name}.data_type`,
          `${value.data_type} differs from the input's ${declared.data_type}`,
        );
      }
    }
  });

  if (ctx.backend === 'ensemble') issues.push(...ensembleIssues(config));
  else if (config.ensemble_scheduling) add('ensemble_scheduling', "is only valid with platform 'ensemble'");
  return issues;
}

function onnxDeclaredIssues(config: ModelConfig, sig: OnnxSignature, batching: boolean): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const side of ['input', 'output'] as const) {
    const actual = side === 'input' ? sig.inputs : sig.outputs;
    const byName = new Map(actual.map((t) => [t.name, t]));
    (config[side] ?? []).forEach((t, i) => {
      const real = byName.get(t.name);
      if (!real) {
        issues.push({
          path: `${side}.${i}.name`,
          message: `'${t.name}' is not an ${side} of the ONNX model (${side}s: ${actual.map((a) => a.name).join(', ') || 'none'})`,
        });
        return;
      }
      if (!real.rankKnown || t.reshape) return;
      const expected = batching ? real.dims.length - 1 : real.dims.length;
      if (t.dims.length !== expected) {
        issues.push({
          path: `${side}.${i}.dims`,
          message: `has ${t.dims.length} dimensions, but the model's '${t.name}' has rank ${real.dims.length}${batching ? ' and with batching dims exclude the batch dimension' : ''} (expected ${expected})`,
        });
      }
    });
  }
  return issues;
}

function ensembleIssues(config: ModelConfig): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });
  if (config.instance_group?.length) add('instance_group', 'an ensemble must not have an instance_group');
  if (config.dynamic_batching)
    add('dynamic_batching', 'an ensemble has no scheduler of its own; batch in its steps');
  const steps = config.ensemble_scheduling?.step ?? [];
  if (steps.length === 0) add('ensemble_scheduling.step', 'an ensemble needs at least one step');

  const ensembleInputs = new Set((config.input ?? []).map((t) => t.name));
  const producedBy = new Map<string, string>();
  steps.forEach((s, i) => {
    for (const [modelOutput, tensor] of Object.entries(s.output_map)) {
      const path = `ensemble_scheduling.step.${i}.output_map.${modelOutput}`;
      if (ensembleInputs.has(tensor)) add(path, `'${tensor}' is an ensemble input; a step cannot produce it`);
      const other = producedBy.get(tensor);
      if (other) add(path, `'${tensor}' is already produced by ${other}`);
      else producedBy.set(tensor, `step ${i} (${s.model_name})`);
    }
  });
  const consumed = new Set<string>();
  steps.forEach((s, i) => {
    const path = `ensemble_scheduling.step.${i}`;
    const name = isValidModelName(s.model_name);
    if (!name.ok) add(`${path}.model_name`, name.reasons.join('; '));
    if (s.model_name === config.name) add(`${path}.model_name`, 'an ensemble cannot call itself');
    if (!Number.isSafeInteger(s.model_version) || (s.model_version !== -1 && s.model_version < 1)) {
      add(`${path}.model_version`, 'must be -1 (latest) or a version >= 1');
    }
    if (Object.keys(s.input_map).length === 0) add(`${path}.input_map`, 'maps no tensor into the step');
    if (Object.keys(s.output_map).length === 0) add(`${path}.output_map`, 'maps no tensor out of the step');
    for (const [modelInput, tensor] of Object.entries(s.input_map)) {
      consumed.add(tensor);
      if (!ensembleInputs.has(tensor) && !producedBy.has(tensor)) {
        add(
          `${path}.input_map.${modelInput}`,
          `'${tensor}' is neither an ensemble input nor produced by a step's output_map`,
        );
      }
    }
  });
  (config.output ?? []).forEach((t, i) => {
    if (!producedBy.has(t.name))
      add(`output.${i}.name`, `ensemble output '${t.name}' is not produced by any step`);
  });
  (config.input ?? []).forEach((t, i) => {
    if (!consumed.has(t.name)) add(`input.${i}.name`, `ensemble input '${t.name}' is not used by any step`);
  });
  return issues;
}

// ---- limits and file references ------------------------------------------------------------

/** GPUs on one node of a GPU class, from the catalog (its machine type's shape). */
export function gpusPerNode(gpuClass: Pick<GpuClass, 'machineType' | 'machineTypes'>): number {
  return gpuClass.machineTypes[gpuClass.machineType]?.gpus ?? 1;
}

/**
 * Parses an uploaded config.pbtxt under the limits: its size is checked before a byte is parsed,
 * its counts before it is merged with anything.
 * @throws LimitExceededError (maxConfigBytes and the count limits), PbtxtSyntaxError, ValidationError.
 */
export function parseUserConfig(text: string, model: string, limits: DeployLimits = DEFAULT_DEPLOY_LIMITS) {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxConfigBytes) {
    throw new LimitExceededError('config.pbtxt', [
      limitIssue(
        '(root)',
        'maxConfigBytes',
        bytes,
        limits.maxConfigBytes,
        'the size of config.pbtxt (bytes)',
      ),
    ]);
  }
  const config = parseModelConfig(text, { defaultName: model, maxBytes: limits.maxConfigBytes });
  // Instances are bounded once the pool is known (buildModelConfig); counts are bounded now.
  const issues = configLimitIssues(config, limits, undefined);
  if (issues.length > 0) throw new LimitExceededError('config.pbtxt', issues);
  return config;
}

/**
 * Every bound of `limits` the config goes over, each naming the limit, the value and the bound.
 * `gpus` is the GPU count of one node of the pool; undefined skips the instance bounds.
 */
export function configLimitIssues(
  config: ModelConfig,
  limits: DeployLimits,
  gpus: number | undefined,
): LimitIssue[] {
  const issues: LimitIssue[] = [];
  const name = (path: string, value: string, what: string) => {
    if (value.length > limits.maxTensorNameLength) {
      issues.push(
        limitIssue(
          path,
          'maxTensorNameLength',
          value.length,
          limits.maxTensorNameLength,
          `the length of ${what}`,
        ),
      );
    }
  };
  const dimsOf = (path: string, dims: readonly number[]) => {
    if (dims.length > limits.maxRank) {
      issues.push(limitIssue(path, 'maxRank', dims.length, limits.maxRank, 'the number of dimensions'));
      return;
    }
    dims.forEach((d, i) => {
      if (d > limits.maxDimValue) {
        issues.push(limitIssue(`${path}.${i}`, 'maxDimValue', d, limits.maxDimValue, 'the dimension'));
      }
    });
  };

  const tensors = (config.input?.length ?? 0) + (config.output?.length ?? 0);
  if (tensors > limits.maxTensorsPerModel) {
    issues.push(
      limitIssue(
        'input',
        'maxTensorsPerModel',
        tensors,
        limits.maxTensorsPerModel,
        'the number of inputs and outputs',
      ),
    );
    return issues;
  }
  for (const side of ['input', 'output'] as const) {
    (config[side] ?? []).forEach((t, i) => {
      name(`${side}.${i}.name`, t.name, 'the tensor name');
      dimsOf(`${side}.${i}.dims`, t.dims);
      if (t.reshape) dimsOf(`${side}.${i}.reshape.shape`, t.reshape.shape);
    });
  }

  const groups = config.instance_group ?? [];
  if (groups.length > limits.maxInstanceGroups) {
    issues.push(
      limitIssue(
        'instance_group',
        'maxInstanceGroups',
        groups.length,
        limits.maxInstanceGroups,
        'the number of instance groups',
      ),
    );
  } else if (gpus !== undefined) {
    issues.push(...instanceIssues(groups, limits, gpus));
  }
  groups.forEach((g, i) => {
    if (g.name !== undefined) name(`instance_group.${i}.name`, g.name, 'the group name');
  });

  const warmups = config.model_warmup ?? [];
  if (warmups.length > limits.maxWarmups) {
    issues.push(
      limitIssue('model_warmup', 'maxWarmups', warmups.length, limits.maxWarmups, 'the number of warmups'),
    );
  } else {
    warmups.forEach((w, i) => {
      name(`model_warmup.${i}.name`, w.name, 'the warmup name');
      const inputs = Object.entries(w.inputs);
      if (inputs.length > limits.maxTensorsPerModel) {
        issues.push(
          limitIssue(
            `model_warmup.${i}.inputs`,
            'maxTensorsPerModel',
            inputs.length,
            limits.maxTensorsPerModel,
            'the number of warmup inputs',
          ),
        );
        return;
      }
      for (const [k, v] of inputs) dimsOf(`model_warmup.${i}.inputs.${k}.dims`, v.dims);
    });
  }

  const parameters = Object.entries(config.parameters ?? {});
  if (parameters.length > limits.maxParameters) {
    issues.push(
      limitIssue(
        'parameters',
        'maxParameters',
        parameters.length,
        limits.maxParameters,
        'the number of parameters',
      ),
    );
  } else {
    for (const [k, v] of parameters) {
      name(`parameters.${k}`, k, 'the parameter key');
      if (v.string_value.length > limits.maxParameterValueLength) {
        issues.push(
          limitIssue(
            `parameters.${k}.string_value`,
            'maxParameterValueLength',
            v.string_value.length,
            limits.maxParameterValueLength,
            'the length of the value',
          ),
        );
      }
    }
  }
  return issues;
}

/**
 * Instances per GPU, GPU ids and CPU instances against what one node of the pool has. Triton
 * creates a KIND_GPU group's `count` instances on each GPU it names (all of them when none).
 */
function instanceIssues(groups: readonly InstanceGroup[], limits: DeployLimits, gpus: number): LimitIssue[] {
  const issues: LimitIssue[] = [];
  const perGpu = new Array<number>(gpus).fill(0);
  let cpu = 0;
  let cpuPath = '';
  groups.forEach((g, i) => {
    const count = g.count ?? 1;
    const kind = g.kind ?? 'KIND_AUTO';
    if (kind === 'KIND_CPU') {
      cpu += count;
      cpuPath = `instance_group.${i}.count`;
      return;
    }
    if (kind === 'KIND_MODEL') {
      const max = limits.maxInstancesPerGpu * gpus;
      if (count > max) {
        issues.push(
          limitIssue(
            `instance_group.${i}.count`,
            'maxInstancesPerGpu',
            count,
            max,
            `the KIND_MODEL instances on a node of ${gpus} GPU(s) (the limit times the GPUs)`,
          ),
        );
      }
      return;
    }
    const ids = g.gpus && g.gpus.length > 0 ? g.gpus : perGpu.map((_, id) => id);
    (g.gpus ?? []).forEach((id, j) => {
      if (!Number.isSafeInteger(id) || id < 0 || id >= gpus) {
        issues.push(
          limitIssue(
            `instance_group.${i}.gpus.${j}`,
            'gpusPerNode',
            id,
            gpus - 1,
            `the GPU id (a node of the pool has ${gpus} GPU(s), ids from 0)`,
          ),
        );
      }
    });
    for (const id of ids) if (id >= 0 && id < gpus) perGpu[id]! += count;
  });
  const worst = Math.max(0, ...perGpu);
  if (worst > limits.maxInstancesPerGpu) {
    const at = groups.findIndex((g) => g.kind !== 'KIND_CPU' && g.kind !== 'KIND_MODEL');
    issues.push(
      limitIssue(
        `instance_group.${Math.max(at, 0)}.count`,
        'maxInstancesPerGpu',
        worst,
        limits.maxInstancesPerGpu,
        `the instances of the model on one GPU (a node of the pool has ${gpus} GPU(s))`,
      ),
    );
  }
  if (cpu > limits.maxCpuInstances) {
    issues.push(
      limitIssue(
        cpuPath,
        'maxCpuInstances',
        cpu,
        limits.maxCpuInstances,
        'the KIND_CPU instances on one node',
      ),
    );
  }
  return issues;
}

/** The one variable Triton expands in paths: the model's own directory. */
export const MODEL_DIRECTORY_VARIABLE = '$$TRITON_MODEL_DIRECTORY';

/** Parameter keys that name a file or directory (EXECUTION_ENV_PATH and its kind). */
const PATH_PARAMETER = /(^|_)(PATH|DIR|DIRECTORY|FILE|FILENAME|LIBRARY|LIB)$/i;
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * Why `value`, a path Triton resolves inside the model's directory, could leave it; undefined
 * when it is confined. `allowModelDirectory`: the value may start with `$$TRITON_MODEL_DIRECTORY/`.
 */
export function confinedPathProblem(
  value: string,
  options: { allowModelDirectory?: boolean } = {},
): string | undefined {
  let rest = value;
  if (options.allowModelDirectory && rest.startsWith(`${MODEL_DIRECTORY_VARIABLE}/`)) {
    rest = rest.slice(MODEL_DIRECTORY_VARIABLE.length + 1);
  }
  if (rest.length === 0) return 'is empty';
  if (rest.includes('$')) {
    return options.allowModelDirectory
      ? `names a variable; only a leading ${MODEL_DIRECTORY_VARIABLE}/ is allowed`
      : 'names a variable; give a path relative to the model directory';
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  if (/[\u0000-\u001f\u007f-\u009f]/.test(rest)) return 'contains a control character';
  if (rest.includes('\\')) return 'contains a backslash';
  if (rest.startsWith('/') || rest.startsWith('~'))
    return 'is absolute; it must stay inside the model directory';
  if (SCHEME.test(rest)) return 'names a URL scheme; it must be a path inside the model directory';
  const segments = rest.split('/');
  if (segments.some((s) => s === '..')) return "has a '..' segment; it must stay inside the model directory";
  if (segments.some((s) => s === '' || s === '.')) return "has an empty or '.' segment";
  return undefined;
}

/**
 * The config fields that name files, each confined to the model's own directory:
 * `default_model_filename` and `cc_model_filenames` (inside the version directory),
 * `model_warmup[].inputs[].input_data_file` (inside `<model>/warmup/`), and `parameters` whose key
 * names a path (EXECUTION_ENV_PATH, ..._DIR, ..._FILE: relative, or `$$TRITON_MODEL_DIRECTORY/...`).
 * Any other parameter value that is absolute, climbs with `..` or names a scheme is refused too.
 * Fields that load code or files from anywhere (`model_operations.op_library_filename`,
 * `runtime`, `model_repository_agents`, an output's `label_filename`) are not modelled, so the
 * parser refuses them.
 */
export function fileReferenceIssues(config: ModelConfig): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const check = (path: string, value: string, allowModelDirectory = false) => {
    const problem = confinedPathProblem(value, { allowModelDirectory });
    if (problem) issues.push({ path, message: `${quoteUserText(value, 120)} ${problem}` });
  };
  if (config.default_model_filename !== undefined)
    check('default_model_filename', config.default_model_filename);
  for (const [cc, file] of Object.entries(config.cc_model_filenames ?? {}))
    check(`cc_model_filenames.${cc}`, file);
  (config.model_warmup ?? []).forEach((w, i) => {
    for (const [input, v] of Object.entries(w.inputs)) {
      if (v.input_data_file !== undefined)
        check(`model_warmup.${i}.inputs.${input}.input_data_file`, v.input_data_file);
    }
  });
  for (const [key, v] of Object.entries(config.parameters ?? {})) {
    const value = v.string_value;
    const path = `parameters.${key}.string_value`;
    if (PATH_PARAMETER.test(key)) check(path, value, true);
    else if (
      /^[/~]/.test(value) ||
      value.includes('://') ||
      value.split('/').includes('..') ||
      value.includes('$$')
    ) {
      check(path, value, true);
    }
  }
  return issues;
}
