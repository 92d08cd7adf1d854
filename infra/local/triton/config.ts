/**
 * The model configuration as the local Triton holds it (the proto JSON shape of
 * `inference.ModelConfig`, read by textproto.ts or protojson.ts), and Triton's own checks on it:
 * what `ValidateModelConfig` and the model repository manager refuse, in their wording where it
 * is known (triton-inference-server/core model_config_utils.cc, model_repository_manager.cc).
 */
import { parseProtoJson } from './protojson';
import { modelConfigType, type ProtoObject } from './schema';
import { parseTextProto } from './textproto';

export interface ModelTensor {
  name?: string;
  data_type?: string;
  dims?: number[];
  reshape?: { shape?: number[] };
  optional?: boolean;
  is_shape_tensor?: boolean;
}

export interface InstanceGroup {
  name?: string;
  count?: number;
  kind?: string;
  gpus?: number[];
}

export interface EnsembleStep {
  model_name?: string;
  model_version?: number;
  input_map?: Record<string, string>;
  output_map?: Record<string, string>;
}

export interface ModelConfig {
  name?: string;
  platform?: string;
  backend?: string;
  max_batch_size?: number;
  version_policy?: { latest?: { num_versions?: number }; all?: object; specific?: { versions?: number[] } };
  input?: ModelTensor[];
  output?: ModelTensor[];
  instance_group?: InstanceGroup[];
  dynamic_batching?: { preferred_batch_size?: number[]; max_queue_delay_microseconds?: number };
  sequence_batching?: object;
  ensemble_scheduling?: { step?: EnsembleStep[] };
  default_model_filename?: string;
  cc_model_filenames?: Record<string, string>;
  parameters?: Record<string, { string_value?: string }>;
}

/** A config.pbtxt as Triton reads it; throws TextFormatError. */
export function readTextConfig(text: string): ModelConfig {
  return asConfig(parseTextProto(text, modelConfigType()));
}

/** The load API's `config` parameter (already JSON-decoded); throws ProtoJsonError. */
export function readJsonConfig(json: unknown): ModelConfig {
  return asConfig(parseProtoJson(json, modelConfigType()));
}

// The readers produce exactly the proto's fields and types, which ModelConfig describes.
const asConfig = (o: ProtoObject): ModelConfig => o as ModelConfig;

/** Platform -> backend, as Triton normalizes configs (GetBackendTypeFromPlatform). */
const PLATFORM_BACKEND: Record<string, string> = {
  onnxruntime_onnx: 'onnxruntime',
  tensorrt_plan: 'tensorrt',
  pytorch_libtorch: 'pytorch',
  libtorch: 'pytorch',
};
const BACKEND_PLATFORM: Record<string, string> = {
  onnxruntime: 'onnxruntime_onnx',
  tensorrt: 'tensorrt_plan',
  pytorch: 'pytorch_libtorch',
};

/** Backends the NGC image ships, with the file each looks for in a version directory. */
const BACKEND_FILES: Record<string, string> = {
  onnxruntime: 'model.onnx',
  tensorrt: 'model.plan',
  pytorch: 'model.pt',
  python: 'model.py',
  openvino: 'model.xml',
};

export const ENSEMBLE = 'ensemble';

export function isEnsemble(config: ModelConfig): boolean {
  return config.platform === ENSEMBLE;
}

/** Fills platform/backend from each other, as Triton does before validating. */
export function normalizeBackend(config: ModelConfig): ModelConfig {
  const out = { ...config };
  if (!out.backend && out.platform && PLATFORM_BACKEND[out.platform])
    out.backend = PLATFORM_BACKEND[out.platform];
  if (!out.platform && out.backend && BACKEND_PLATFORM[out.backend])
    out.platform = BACKEND_PLATFORM[out.backend];
  return out;
}

export function isValidVersionDir(s: string): boolean {
  return /^[1-9][0-9]*$/.test(s) && Number.isSafeInteger(Number(s));
}

export function selectVersions(
  present: readonly number[],
  policy: ModelConfig['version_policy'],
): { versions: number[]; missing: number[] } {
  const sorted = [...new Set(present)].sort((a, b) => a - b);
  if (policy?.all) return { versions: sorted, missing: [] };
  if (policy?.specific) {
    const wanted = [...new Set(policy.specific.versions ?? [])].sort((a, b) => a - b);
    return {
      versions: wanted.filter((v) => sorted.includes(v)),
      missing: wanted.filter((v) => !sorted.includes(v)),
    };
  }
  const n = policy?.latest?.num_versions ?? 1;
  return { versions: sorted.slice(Math.max(0, sorted.length - n)), missing: [] };
}

export type Judgement = { ok: true; config: ModelConfig; versions: number[] } | { ok: false; reason: string };

/**
 * Triton's checks of one model directory: `files` are object paths relative to it. `autoComplete`
 * says whether the backend may fill inputs and outputs from the model file (ONNX, TensorRT).
 */
export function judgeModel(name: string, files: readonly string[], raw: ModelConfig): Judgement {
  const config = normalizeBackend(raw);
  const fail = (reason: string): Judgement => ({ ok: false, reason });
  if (!config.name) return fail("model configuration must specify 'name'");
  if (config.name !== name) {
    return fail(
      `unexpected directory name '${name}' for model '${config.name}', directory name must equal model name`,
    );
  }
  const ensemble = isEnsemble(config);
  if (!config.backend && !ensemble) {
    if (!config.platform) return fail(`must specify 'platform' or 'backend' for '${name}'`);
    return fail(`unexpected platform type '${config.platform}' for ${name}`);
  }
  if (ensemble && config.backend) {
    return fail(
      `Ensemble model '${name}' must have platform type '${config.platform}' and empty backend type`,
    );
  }
  if (config.backend && BACKEND_PLATFORM[config.backend] && config.platform) {
    if (PLATFORM_BACKEND[config.platform] !== config.backend) {
      return fail(`unexpected 'platform' and 'backend' pair, got:${config.platform}, ${config.backend}`);
    }
  }
  const maxBatch = config.max_batch_size ?? 0;
  if (maxBatch < 0) return fail(`'max_batch_size' must be non-negative value for ${name}`);
  const preferred = config.dynamic_batching?.preferred_batch_size ?? [];
  if (preferred.some((p) => p < 1))
    return fail(`dynamic batching preferred size must be positive for ${name}`);
  if (preferred.some((p) => p > maxBatch)) {
    return fail(`dynamic batching preferred size must be <= max batch size for ${name}`);
  }
  if (config.version_policy?.latest && (config.version_policy.latest.num_versions ?? 0) < 1) {
    return fail(`latest policy must specify positive 'num_versions' for ${name}`);
  }
  for (const [kind, list] of [
    ['input', config.input ?? []],
    ['output', config.output ?? []],
  ] as const) {
    for (const io of list) {
      const problem = ioProblem(io, maxBatch, `model ${kind} `);
      if (problem) return fail(problem);
    }
  }

  if (ensemble) {
    const steps = config.ensemble_scheduling?.step ?? [];
    if (steps.length === 0) return fail(`must specify 'step' for ensemble '${name}'`);
    if ((config.instance_group ?? []).length > 0) {
      return fail(`instance group should not be specified for ensemble '${name}'`);
    }
    for (const [i, step] of steps.entries()) {
      if (!step.model_name) return fail(`must specify 'model_name' in step ${i} of ensemble '${name}'`);
    }
  } else {
    if (config.ensemble_scheduling) {
      return fail(`ensemble scheduling cannot be set for model '${name}' whose platform is not ${ENSEMBLE}`);
    }
    for (const g of config.instance_group ?? []) {
      if ((g.count ?? 1) < 1) {
        return fail(
          `instance group ${g.name ?? `${name}_0`} of model ${name} must set count to a positive value`,
        );
      }
    }
  }

  const present = new Set<number>();
  const clean = files.map((f) => f.replace(/^\/+/, ''));
  for (const f of clean) {
    const [first, ...rest] = f.split('/');
    if (rest.length > 0 && first !== undefined && isValidVersionDir(first)) present.add(Number(first));
  }
  const { versions, missing } = selectVersions([...present], config.version_policy);
  if (missing.length > 0) {
    return fail(
      missing
        .map((v) => `version ${v} is specified for model '${name}', but the version directory is not present`)
        .join('; '),
    );
  }
  if (versions.length === 0) {
    return fail(`at least one version must be available under the version policy of model '${name}'`);
  }
  if (!ensemble) {
    const backendFile = config.backend ? BACKEND_FILES[config.backend] : undefined;
    if (config.backend && backendFile === undefined && !config.default_model_filename) {
      return fail(
        `unable to find 'libtriton_${config.backend}.so' or '${config.backend}/model.py' for model '${name}', in /opt/tritonserver/backends/${config.backend}`,
      );
    }
    const expected = config.default_model_filename || backendFile;
    const alternatives = [expected, ...Object.values(config.cc_model_filenames ?? {})].filter(
      (f): f is string => typeof f === 'string' && f !== '',
    );
    for (const v of versions) {
      const has = alternatives.some((file) =>
        clean.some((f) => f === `${v}/${file}` || f.startsWith(`${v}/${file}/`)),
      );
      if (!has) return fail(`model file '${v}/${expected}' not found for model '${name}'`);
      if (
        config.backend === 'openvino' &&
        !config.default_model_filename &&
        !clean.includes(`${v}/model.bin`)
      ) {
        return fail(`model weights '${v}/model.bin' not found for OpenVINO model '${name}'`);
      }
    }
  }
  return { ok: true, config: raw, versions };
}

function ioProblem(io: ModelTensor, maxBatch: number, prefix: string): string | undefined {
  if (!io.name) return `${prefix}must specify 'name'`;
  const named = `${prefix}'${io.name}' `;
  if (!io.data_type || io.data_type === 'TYPE_INVALID') return `${named}must specify 'data_type'`;
  const dims = io.dims ?? [];
  if (dims.length === 0 && !(maxBatch > 0 && io.reshape)) return `${named}must specify 'dims'`;
  if (io.reshape && (io.reshape.shape ?? []).length === 0 && maxBatch === 0) {
    return `${named}cannot have empty reshape for non-batching model as scalar tensors are not supported`;
  }
  if (dims.some((d) => d < 1 && d !== -1)) {
    return `${named}dimension must be integer >= 1, or -1 to indicate a variable-size dimension`;
  }
  return undefined;
}

/** Inference-protocol datatype of a config data type: no TYPE_ prefix, STRING is BYTES. */
export function protocolDatatype(dataType: string | undefined): string {
  const t = dataType ?? 'TYPE_INVALID';
  return t === 'TYPE_STRING' ? 'BYTES' : t.replace(/^TYPE_/, '');
}

/** The config as `GET /v2/models/<m>/config` serves it: with the defaults Triton fills in. */
export function servedConfig(config: ModelConfig): ModelConfig {
  const c = normalizeBackend(config);
  const ensemble = isEnsemble(c);
  return {
    ...c,
    name: c.name ?? '',
    platform: c.platform ?? '',
    backend: c.backend ?? '',
    version_policy: c.version_policy ?? { latest: { num_versions: 1 } },
    max_batch_size: c.max_batch_size ?? 0,
    input: c.input ?? [],
    output: c.output ?? [],
    ...(ensemble
      ? {}
      : {
          instance_group: (c.instance_group ?? [{}]).map((g, i) => ({
            ...g,
            name: g.name ?? `${c.name ?? ''}_${i}`,
            kind: g.kind && g.kind !== 'KIND_AUTO' ? g.kind : 'KIND_GPU',
            count: g.count ?? 1,
            gpus: g.gpus ?? [0],
          })),
        }),
  };
}

/** How many model instances execute requests in parallel (sum of instance_group counts). */
export function instanceCount(config: ModelConfig): number {
  const groups = config.instance_group ?? [];
  if (groups.length === 0) return 1;
  return Math.max(
    1,
    groups.reduce((n, g) => n + (g.count ?? 1), 0),
  );
}
