/**
 * Rules for a Triton model repository laid out in a bucket: `<repo>/<model>/config.pbtxt` and
 * `<repo>/<model>/<version>/<files>`. Pure: callers list the objects, these functions judge them.
 * Used by the local Triton fake and by the deploy function, so both refuse the same layouts.
 */
import type { ModelConfig } from './model-config';

export type Verdict = { ok: true } | { ok: false; reasons: string[] };

export const MAX_MODEL_NAME_LENGTH = 128;

/**
 * Triton accepts almost any directory name; we accept fewer, because the name also becomes a
 * metric label, a URL path segment and part of object names.
 */
export function isValidModelName(name: string): Verdict {
  const reasons: string[] = [];
  if (name.length === 0) reasons.push('model name is empty');
  if (name.length > MAX_MODEL_NAME_LENGTH) {
    reasons.push(`model name is ${name.length} characters, over ${MAX_MODEL_NAME_LENGTH}`);
  }
  const bad = [...new Set(name.replace(/[A-Za-z0-9_.-]/g, ''))];
  if (bad.length > 0) {
    reasons.push(
      `model name has characters outside [A-Za-z0-9_.-]: ${bad.map((c) => JSON.stringify(c)).join(' ')}`,
    );
  }
  if (name.startsWith('.')) reasons.push("model name starts with '.'");
  if (name.includes('..')) reasons.push("model name contains '..'");
  return reasons.length === 0 ? { ok: true } : { ok: false, reasons };
}

/** Triton ignores version directories that are not positive integers or that start with "0". */
export function isValidVersionDir(s: string): boolean {
  return /^[1-9][0-9]*$/.test(s) && Number.isSafeInteger(Number(s));
}

const DEFAULT_FILES: Record<string, string | null> = {
  onnxruntime_onnx: 'model.onnx',
  onnxruntime: 'model.onnx',
  tensorrt_plan: 'model.plan',
  tensorrt: 'model.plan',
  pytorch_libtorch: 'model.pt',
  pytorch: 'model.pt',
  python: 'model.py',
  openvino: 'model.xml',
  ensemble: null,
};

/**
 * The file Triton looks for in a version directory: a name, `null` when the model has no files
 * (ensemble), `undefined` for a platform/backend this table does not know.
 */
export function defaultModelFilename(platformOrBackend: string): string | null | undefined {
  return Object.hasOwn(DEFAULT_FILES, platformOrBackend) ? DEFAULT_FILES[platformOrBackend] : undefined;
}

/** `platform` wins over `backend`, as in Triton (`platform: "ensemble"`, `backend: "python"`). */
export function modelKind(config: Pick<ModelConfig, 'platform' | 'backend'>): string | undefined {
  return config.platform || config.backend || undefined;
}

export function isEnsemble(config: Pick<ModelConfig, 'platform'>): boolean {
  return config.platform === 'ensemble';
}

/** Which of the present versions Triton loads under the policy (default: the latest one). */
export function selectVersions(
  present: readonly number[],
  policy: ModelConfig['version_policy'],
): { versions: number[]; missing: number[] } {
  const sorted = [...new Set(present)].sort((a, b) => a - b);
  if (policy && 'all' in policy) return { versions: sorted, missing: [] };
  if (policy && 'specific' in policy) {
    const wanted = [...new Set(policy.specific.versions)].sort((a, b) => a - b);
    return {
      versions: wanted.filter((v) => sorted.includes(v)),
      missing: wanted.filter((v) => !sorted.includes(v)),
    };
  }
  const n = policy && 'latest' in policy ? policy.latest.num_versions : 1;
  return { versions: sorted.slice(Math.max(0, sorted.length - n)), missing: [] };
}

export interface LayoutOptions {
  /** The model's directory name; the config's `name` must equal it. */
  modelName?: string;
}

export type LayoutVerdict = { ok: true; versions: number[] } | { ok: false; reasons: string[] };

/**
 * Judges one model directory. `files` are object paths relative to the model directory
 * (`config.pbtxt`, `1/model.onnx`, `1/model.onnx/model.onnx`, `2/` for an empty directory marker).
 */
export function validateRepositoryLayout(
  files: readonly string[],
  config: ModelConfig,
  options: LayoutOptions = {},
): LayoutVerdict {
  const reasons: string[] = [];
  const name = options.modelName ?? config.name;
  if (options.modelName !== undefined && config.name !== options.modelName) {
    reasons.push(
      `model name '${config.name}' in the configuration does not match the directory name '${options.modelName}'`,
    );
  }
  const nameVerdict = isValidModelName(name);
  if (!nameVerdict.ok) reasons.push(...nameVerdict.reasons);

  const kind = modelKind(config);
  if (kind === undefined) reasons.push(`model '${name}' sets neither platform nor backend`);
  if (isEnsemble(config)) {
    if (!config.ensemble_scheduling || config.ensemble_scheduling.step.length === 0) {
      reasons.push(`ensemble '${name}' must have at least one step in ensemble_scheduling`);
    }
    if (config.instance_group && config.instance_group.length > 0) {
      reasons.push(`ensemble '${name}' must not have an instance_group`);
    }
  } else if (config.ensemble_scheduling) {
    reasons.push(`model '${name}' has ensemble_scheduling but its platform is not 'ensemble'`);
  }

  const clean = files.map((f) => f.replace(/^\/+/, ''));
  const present = new Set<number>();
  for (const f of clean) {
    const [first, ...rest] = f.split('/');
    if (rest.length > 0 && first !== undefined && isValidVersionDir(first)) present.add(Number(first));
  }
  const { versions, missing } = selectVersions([...present], config.version_policy);
  for (const v of missing) {
    reasons.push(`version ${v} is specified for model '${name}', but the version directory is not present`);
  }
  if (versions.length === 0 && missing.length === 0) {
    reasons.push(`at least one version must be available under the version policy of model '${name}'`);
  }

  const expected =
    config.default_model_filename || (kind === undefined ? undefined : defaultModelFilename(kind));
  const alternatives = [expected, ...Object.values(config.cc_model_filenames ?? {})].filter(
    (f): f is string => typeof f === 'string' && f.length > 0,
  );
  if (expected && !isEnsemble(config)) {
    for (const v of versions) {
      const has = alternatives.some((file) =>
        clean.some((f) => f === `${v}/${file}` || f.startsWith(`${v}/${file}/`)),
      );
      if (!has) reasons.push(`model file '${v}/${expected}' not found for model '${name}'`);
      if (kind === 'openvino' && !config.default_model_filename && !clean.includes(`${v}/model.bin`)) {
        reasons.push(`model weights '${v}/model.bin' not found for OpenVINO model '${name}'`);
      }
    }
  }
  return reasons.length === 0 ? { ok: true, versions } : { ok: false, reasons };
}
