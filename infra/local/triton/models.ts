/**
 * What the local Triton decides when asked to load a model, as a pure function of the files in
 * the model directory, the config text (or the load API's override) and the other models' states.
 * The server (server.ts) does the I/O and keeps the states.
 */
import { ValidationError } from '../../../shared/runtime/errors';
import { modelConfigFromJson, parseModelConfig } from '../../../shared/triton/config-codec';
import { isEnsemble, validateRepositoryLayout } from '../../../shared/triton/layout';
import type { ModelConfig, ModelTensor } from '../../../shared/triton/model-config';
import { PbtxtSyntaxError } from '../../../shared/triton/pbtxt';

export type ModelState = 'READY' | 'UNAVAILABLE' | 'LOADING' | 'UNLOADING';

export interface LoadInput {
  name: string;
  /** Object paths relative to the model directory (`config.pbtxt`, `1/model.onnx`, `1/`). */
  files: readonly string[];
  /** config.pbtxt text when the file exists. */
  configText?: string;
  /** The load API's `parameters.config` JSON string; replaces config.pbtxt. */
  configOverride?: string;
  /** Which models are READY now (ensemble steps must be). */
  isReady(model: string): boolean;
}

export type LoadPlan = { ok: true; config: ModelConfig; versions: number[] } | { ok: false; reason: string };

/** Platforms whose backends can build a config from the model file alone. */
const AUTO_COMPLETE: Array<[file: string, platform: string]> = [
  ['model.onnx', 'onnxruntime_onnx'],
  ['model.plan', 'tensorrt_plan'],
];

export function planLoad(input: LoadInput): LoadPlan {
  const { name, files } = input;
  if (files.length === 0) {
    return { ok: false, reason: `failed to poll model '${name}': model not found in any model repository` };
  }
  let config: ModelConfig;
  try {
    if (input.configOverride !== undefined) {
      config = parseOverride(input.configOverride);
    } else if (input.configText !== undefined) {
      config = parseModelConfig(input.configText, { defaultName: name });
    } else {
      const auto = autoComplete(name, files);
      if (!auto) {
        return {
          ok: false,
          reason: `failed to poll model '${name}': missing config.pbtxt; auto-complete needs a model.onnx or model.plan in a version directory`,
        };
      }
      config = auto;
    }
  } catch (err) {
    return { ok: false, reason: configErrorReason(name, err, input.configOverride !== undefined) };
  }

  const layout = validateRepositoryLayout(files, config, { modelName: name });
  if (!layout.ok) return { ok: false, reason: layout.reasons.join('; ') };

  if (isEnsemble(config)) {
    const missing = [...new Set((config.ensemble_scheduling?.step ?? []).map((s) => s.model_name))].filter(
      (m) => !input.isReady(m),
    );
    if (missing.length > 0) {
      return {
        ok: false,
        reason: missing
          .map((m) => `ensemble '${name}' depends on '${m}' which has no loaded version`)
          .join('; '),
      };
    }
  }
  return { ok: true, config, versions: layout.versions };
}

function parseOverride(text: string): ModelConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ValidationError('config parameter', [
      { path: '(root)', message: `not valid JSON: ${String(err)}` },
    ]);
  }
  return modelConfigFromJson(json, 'config parameter');
}

function configErrorReason(name: string, err: unknown, override: boolean): string {
  const where = override ? "the 'config' parameter" : `${name}/config.pbtxt`;
  if (err instanceof PbtxtSyntaxError) return `failed to read text proto from ${where}: ${err.message}`;
  if (err instanceof ValidationError) {
    return `failed to parse ${where}: ${err.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
  }
  return `failed to read ${where}: ${String(err)}`;
}

function autoComplete(name: string, files: readonly string[]): ModelConfig | undefined {
  for (const [file, platform] of AUTO_COMPLETE) {
    if (files.some((f) => new RegExp(`^[1-9][0-9]*/${file.replace('.', '\\.')}(/|$)`).test(f))) {
      return { name, platform, max_batch_size: 0, input: [], output: [] };
    }
  }
  return undefined;
}

/** Inference-protocol tensor metadata: no TYPE_ prefix, STRING is BYTES, batch dim included. */
export function tensorMetadata(
  t: ModelTensor,
  maxBatchSize: number,
): { name: string; datatype: string; shape: number[] } {
  const datatype = t.data_type === 'TYPE_STRING' ? 'BYTES' : t.data_type.replace(/^TYPE_/, '');
  return { name: t.name, datatype, shape: maxBatchSize > 0 ? [-1, ...t.dims] : [...t.dims] };
}
