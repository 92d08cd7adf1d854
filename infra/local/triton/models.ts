/**
 * What the local Triton decides when asked to load a model, as a pure function of the files in
 * the model directory, the config text (or the load API's override) and the other models' states.
 * The server (server.ts) does the I/O and keeps the states. Configs are read with Triton's own
 * schema (schema.ts), never with the product's codec.
 */
import {
  isEnsemble,
  judgeModel,
  type ModelConfig,
  type ModelTensor,
  protocolDatatype,
  readJsonConfig,
  readTextConfig,
} from './config';
import { ProtoJsonError } from './protojson';
import { TextFormatError } from './textproto';

export type ModelState = 'READY' | 'UNAVAILABLE' | 'LOADING' | 'UNLOADING';

/** Triton reads at most this much of a config.pbtxt here (a guard against hostile uploads). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export interface LoadInput {
  name: string;
  /** Object paths relative to the model directory (`config.pbtxt`, `1/model.onnx`, `1/`). */
  files: readonly string[];
  /** config.pbtxt text when the file exists. */
  configText?: string;
  /** Where config.pbtxt lives, for messages (default `<name>/config.pbtxt`). */
  configPath?: string;
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
  if (input.configOverride !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(input.configOverride);
    } catch (err) {
      return {
        ok: false,
        reason: `failed to load '${name}': the 'config' parameter is not valid JSON: ${String(err)}`,
      };
    }
    try {
      config = readJsonConfig(json);
    } catch (err) {
      if (err instanceof ProtoJsonError) return { ok: false, reason: err.message };
      throw err;
    }
  } else if (input.configText !== undefined) {
    const where = input.configPath ?? `${name}/config.pbtxt`;
    const bytes = Buffer.byteLength(input.configText, 'utf8');
    if (bytes > MAX_CONFIG_BYTES) {
      return {
        ok: false,
        reason: `failed to read text proto from ${where}: ${bytes} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`,
      };
    }
    try {
      config = readTextConfig(input.configText);
    } catch (err) {
      if (err instanceof TextFormatError) {
        // Triton answers "failed to read text proto from <path>"; protobuf logs where and why.
        return {
          ok: false,
          reason: `failed to read text proto from ${where}: Error parsing text-format inference.ModelConfig: ${err.message}`,
        };
      }
      throw err;
    }
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
  if (!config.name) config = { ...config, name };

  const judged = judgeModel(name, files, config);
  if (!judged.ok) return judged;

  if (isEnsemble(config)) {
    const missing = [
      ...new Set((config.ensemble_scheduling?.step ?? []).map((s) => s.model_name ?? '')),
    ].filter((m) => !input.isReady(m));
    if (missing.length > 0) {
      return {
        ok: false,
        reason: missing
          .map((m) => `ensemble '${name}' depends on '${m}' which has no loaded version`)
          .join('; '),
      };
    }
  }
  return { ok: true, config, versions: judged.versions };
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
  const dims = t.dims ?? [];
  return {
    name: t.name ?? '',
    datatype: protocolDatatype(t.data_type),
    shape: maxBatchSize > 0 ? [-1, ...dims] : [...dims],
  };
}
