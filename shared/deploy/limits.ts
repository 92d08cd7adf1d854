/**
 * Limits the deploy function enforces on uploads, as data: defaults here, overridable per
 * deployment (environment or policy) through `deployLimits(overrides)`.
 */
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
}

const GiB = 1024n * 1024n * 1024n;

export const DEFAULT_DEPLOY_LIMITS: Readonly<DeployLimits> = Object.freeze({
  maxFileBytes: 64n * GiB,
  maxManifestBytes: 64 * 1024,
  maxFilesPerModel: 1000,
  maxModelNameLength: MAX_MODEL_NAME_LENGTH,
  maxManifestAliasCount: 100,
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
  const counts: Array<keyof DeployLimits> = [
    'maxManifestBytes',
    'maxFilesPerModel',
    'maxModelNameLength',
    'maxManifestAliasCount',
  ];
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
