/**
 * What one object finalized in the incoming bucket means for the deploy function. Upload
 * convention: `gs://<incoming>/<model>/<version>/<files>`, optional manifest
 * `<model>/<version>/model.yaml`. Pure: the caller passes the object's name and size.
 */
import { escapeUserText, PermanentError, quoteUserText } from '../runtime/errors';
import { isValidModelName } from '../triton/layout';
import { DEFAULT_DEPLOY_LIMITS, type DeployLimits } from './limits';
import { type DeployBackend, relativePathProblem } from './manifest';

/** `user-config` is a config.pbtxt the user uploaded; it is merged with the policy, not copied. */
export type ModelFileBackend = Exclude<DeployBackend, 'ensemble' | 'openvino'> | 'user-config';

export type UploadClass =
  | { kind: 'model-file'; model: string; version: number; file: string; backend: ModelFileBackend }
  | { kind: 'manifest'; model: string; version: number }
  | { kind: 'asset'; model: string; version: number; file: string }
  | { kind: 'ignore'; reason: string };

/** Objects under this prefix are the control plane's own (markers, staging); never deployed. */
export const INTERNAL_PREFIX = '_inferplane/';
export const MANIFEST_FILE = 'model.yaml';

/** Default single-file names at `<model>/<version>/<name>` and what they mean. */
export const MODEL_FILES: Readonly<Record<string, ModelFileBackend>> = Object.freeze({
  'model.onnx': 'onnxruntime',
  'model.plan': 'tensorrt',
  'model.pt': 'pytorch',
  'model.py': 'python',
  'config.pbtxt': 'user-config',
});

/**
 * Model formats a user may reasonably upload but that no backend we deploy serves; refused early
 * with a message instead of sitting in the bucket as an unused asset.
 */
const UNSUPPORTED_MODEL_FILES: Readonly<Record<string, string>> = Object.freeze({
  'model.graphdef':
    'TensorFlow GraphDef models are not supported (TensorFlow is legacy in Triton); export to ONNX',
  'model.savedmodel':
    'TensorFlow SavedModels are not supported (TensorFlow is legacy in Triton); export to ONNX',
  'model.netdef': 'Caffe2 NetDef models are not supported by Triton; export to ONNX',
});

// C0 and C1 control characters.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const MAX_VERSION = 2 ** 31 - 1;

export type UploadLimits = Pick<
  DeployLimits,
  'maxFileBytes' | 'maxManifestBytes' | 'maxModelNameLength' | 'maxConfigBytes'
>;

/**
 * Classifies one uploaded object.
 * @throws PermanentError with reason INVALID_MODEL_NAME, INVALID_VERSION, PATH_TRAVERSAL,
 *   FILE_TOO_LARGE or UNKNOWN_BACKEND; `details.objectName` names the object.
 */
export function classifyUpload(
  objectName: string,
  sizeBytes: bigint,
  limits: Partial<UploadLimits> = {},
): UploadClass {
  const max: UploadLimits = {
    maxFileBytes: limits.maxFileBytes ?? DEFAULT_DEPLOY_LIMITS.maxFileBytes,
    maxManifestBytes: limits.maxManifestBytes ?? DEFAULT_DEPLOY_LIMITS.maxManifestBytes,
    maxModelNameLength: limits.maxModelNameLength ?? DEFAULT_DEPLOY_LIMITS.maxModelNameLength,
    maxConfigBytes: limits.maxConfigBytes ?? DEFAULT_DEPLOY_LIMITS.maxConfigBytes,
  };
  const fail = (reason: string, message: string, details: Record<string, unknown> = {}): never => {
    throw new PermanentError(reason, message, { details: { objectName, ...details } });
  };
  const shown = quoteUserText(objectName);

  // Our own objects first: whatever they look like, they are not user uploads.
  if (objectName.startsWith(INTERNAL_PREFIX)) {
    return { kind: 'ignore', reason: `'${INTERNAL_PREFIX}' objects belong to the control plane` };
  }
  if (objectName.length === 0) fail('PATH_TRAVERSAL', 'the object name is empty');
  if (CONTROL.test(objectName)) fail('PATH_TRAVERSAL', `object name ${shown} contains a control character`);
  if (objectName.includes('\\')) {
    fail('PATH_TRAVERSAL', `object name ${shown} contains a backslash; use '/' between directories`);
  }
  if (objectName.startsWith('/')) {
    fail('PATH_TRAVERSAL', `object name ${shown} starts with '/'; upload to <model>/<version>/<file>`);
  }

  const placeholder = objectName.endsWith('/');
  const segments = (placeholder ? objectName.slice(0, -1) : objectName).split('/');
  if (segments.some((s) => s === '')) {
    fail('PATH_TRAVERSAL', `object name ${shown} has an empty path segment ('//')`);
  }
  if (segments.some((s) => s === '.' || s === '..')) {
    fail('PATH_TRAVERSAL', `object name ${shown} contains a '.' or '..' segment`);
  }
  if (placeholder) return { kind: 'ignore', reason: 'directory placeholder (name ends with /)' };
  if (segments.length === 1)
    return { kind: 'ignore', reason: 'object at the bucket root, outside any model' };
  const hidden = segments.find((s) => s.startsWith('.'));
  if (hidden !== undefined) return { kind: 'ignore', reason: `hidden file or directory '${hidden}'` };

  const [model, versionDir, ...rest] = segments as [string, string, ...string[]];
  // The configured limit may be stricter than the repository's; a name over it gets that one reason.
  const nameVerdict = isValidModelName(model);
  const nameProblems =
    model.length > max.maxModelNameLength
      ? [`model name is ${model.length} characters, over ${max.maxModelNameLength}`]
      : nameVerdict.ok
        ? []
        : nameVerdict.reasons;
  if (nameProblems.length > 0) {
    fail(
      'INVALID_MODEL_NAME',
      `model directory ${quoteUserText(model, 80)} cannot be used: ${escapeUserText(nameProblems.join('; '), 400)}`,
      { model: truncate(model) },
    );
  }

  if (rest.length === 0) {
    fail(
      'INVALID_VERSION',
      `${shown} is not inside a version directory; upload to ${escapeUserText(`${model}/<version>/${versionDir}`)} (for example ${escapeUserText(`${model}/1/${versionDir}`)})`,
    );
  }
  const version = parseVersion(versionDir, (message) =>
    fail('INVALID_VERSION', message, { version: versionDir }),
  );

  const file = rest.join('/');
  // relativePathProblem repeats the checks above on the part that becomes a repository path,
  // so a later change to the order above cannot let an unsafe path through.
  const problem = relativePathProblem(file);
  if (problem) fail('PATH_TRAVERSAL', `file path ${quoteUserText(file)} ${problem}`);

  if (sizeBytes < 0n) throw new RangeError(`object size cannot be negative: ${sizeBytes}`);
  const isManifest = file === MANIFEST_FILE;
  const isConfig = file === 'config.pbtxt';
  const limit = isManifest
    ? BigInt(max.maxManifestBytes)
    : isConfig
      ? BigInt(max.maxConfigBytes)
      : max.maxFileBytes;
  if (sizeBytes > limit) {
    const [limitName, what] = isManifest
      ? ['maxManifestBytes', 'a manifest (model.yaml)']
      : isConfig
        ? ['maxConfigBytes', 'a config.pbtxt']
        : ['maxFileBytes', 'one file'];
    fail(
      'FILE_TOO_LARGE',
      `${shown} is ${formatBytes(sizeBytes)}, over the ${formatBytes(limit)} limit for ${what} (${limitName})`,
      { sizeBytes: sizeBytes.toString(), limitBytes: limit.toString(), limit: limitName },
    );
  }

  if (isManifest) return { kind: 'manifest', model, version };
  const unsupported = UNSUPPORTED_MODEL_FILES[rest[0]!];
  if (unsupported !== undefined) fail('UNKNOWN_BACKEND', `${shown}: ${unsupported}`);
  const backend = rest.length === 1 ? MODEL_FILES[file] : undefined;
  if (backend !== undefined) return { kind: 'model-file', model, version, file, backend };
  return { kind: 'asset', model, version, file };
}

function parseVersion(dir: string, fail: (message: string) => never): number {
  const shown = `'${escapeUserText(truncate(dir))}'`;
  const rule = 'must be a positive integer without leading zeros, as Triton requires';
  if (!/^[0-9]+$/.test(dir)) return fail(`version directory ${shown} ${rule}`);
  if (/^0+$/.test(dir)) return fail(`version directory ${shown} ${rule}; versions start at 1`);
  if (dir.startsWith('0')) return fail(`version directory ${shown} ${rule} (Triton ignores it)`);
  if (dir.length > 10 || Number(dir) > MAX_VERSION) {
    return fail(`version directory ${shown} is above the largest version, ${MAX_VERSION}`);
  }
  return Number(dir);
}

function truncate(s: string, max = 80): string {
  return s.length <= max ? s : `${s.slice(0, max)}...`;
}

function formatBytes(n: bigint): string {
  const units: Array<[bigint, string]> = [
    [1024n ** 4n, 'TiB'],
    [1024n ** 3n, 'GiB'],
    [1024n ** 2n, 'MiB'],
    [1024n, 'KiB'],
  ];
  for (const [size, unit] of units) {
    if (n >= size && n % size === 0n) return `${n / size} ${unit}`;
  }
  return `${n} bytes`;
}

/**
 * The backend of a version directory: the manifest's when it names one, else the one default
 * model file present (`model.onnx` or `model.onnx/...`, `model.plan`, `model.pt`, `model.py`,
 * `model.xml`). `files` are paths relative to the version directory.
 * @throws PermanentError UNKNOWN_BACKEND when none or several default files are present.
 */
export function detectBackend(files: readonly string[], manifestBackend?: DeployBackend): DeployBackend {
  if (manifestBackend !== undefined) return manifestBackend;
  const defaults: Array<[string, DeployBackend]> = [
    ['model.onnx', 'onnxruntime'],
    ['model.plan', 'tensorrt'],
    ['model.pt', 'pytorch'],
    ['model.py', 'python'],
    ['model.xml', 'openvino'],
  ];
  const found = defaults.filter(([name]) => files.some((f) => f === name || f.startsWith(`${name}/`)));
  if (found.length === 1) return found[0]![1];
  if (found.length === 0) {
    throw new PermanentError(
      'UNKNOWN_BACKEND',
      `no model file found (${defaults.map(([n]) => n).join(', ')}); name the backend in model.yaml (backend: ...)`,
    );
  }
  throw new PermanentError(
    'UNKNOWN_BACKEND',
    `several model files found (${found.map(([n]) => n).join(', ')}); name the backend in model.yaml (backend: ...)`,
  );
}
