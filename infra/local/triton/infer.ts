/**
 * KServe v2 JSON inference requests, checked against a model's config the way Triton's core
 * checks them (infer_request.cc, model.cc: wording included), and the response the simulation
 * gives: the requested (or all) outputs with the config's names, datatypes and shapes, filled
 * with zeros (empty strings for BYTES, false for BOOL).
 */
import { type ModelConfig, type ModelTensor, protocolDatatype } from './config';

export interface CheckedRequest {
  id?: string;
  /** The batch size (1 for a model without batching). */
  batch: number;
  /** Input name -> shape as sent. */
  shapes: Map<string, number[]>;
  /** Requested outputs, or every output of the config. */
  outputs: ModelTensor[];
}

const DATATYPES = new Set([
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
  'BF16',
]);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const dimsText = (dims: readonly number[]) => `[${dims.join(',')}]`;

export function validateInfer(
  model: string,
  config: ModelConfig,
  body: unknown,
): { ok: true; request: CheckedRequest } | { ok: false; error: string } {
  const fail = (error: string) => ({ ok: false as const, error });
  if (!isObject(body)) return fail('Unable to parse request body: expected a JSON object');
  const id = typeof body.id === 'string' ? body.id : undefined;
  const log = id ? `[request id: ${id}] ` : '';
  if (!Array.isArray(body.inputs)) return fail("Unable to parse 'inputs'");
  const configInputs = config.input ?? [];
  const byName = new Map(configInputs.map((t) => [t.name ?? '', t]));
  // A config Triton would have auto-completed from the model file: the simulation cannot know its
  // inputs, so it takes any (and answers no outputs).
  const unknownSignature = configInputs.length === 0;
  const shapes = new Map<string, number[]>();
  const sent: Array<{ name: string; datatype: string; shape: number[]; data: unknown }> = [];
  for (const raw of body.inputs as unknown[]) {
    if (!isObject(raw) || typeof raw.name !== 'string') return fail("Unable to parse 'name'");
    if (typeof raw.datatype !== 'string') return fail("Unable to parse 'datatype'");
    if (!Array.isArray(raw.shape) || !raw.shape.every((d) => Number.isInteger(d)))
      return fail("Unable to parse 'shape'");
    if (!DATATYPES.has(raw.datatype)) return fail(`invalid datatype for input ${raw.name}`);
    if (!unknownSignature && !byName.has(raw.name)) {
      return fail(`${log}unexpected inference input '${raw.name}' for model '${model}'`);
    }
    if (shapes.has(raw.name)) return fail(`${log}input '${raw.name}' already exists in request`);
    shapes.set(raw.name, raw.shape as number[]);
    sent.push({ name: raw.name, datatype: raw.datatype, shape: raw.shape as number[], data: raw.data });
  }
  const required = configInputs.filter((t) => !t.optional);
  const missing = required.filter((t) => !shapes.has(t.name ?? ''));
  if (missing.length > 0) {
    const got = sent.length === 0 ? '[]' : `[${sent.map((s) => `'${s.name}'`).join(',')}]`;
    const need = `[${missing.map((t) => `'${t.name}'`).join(',')}]`;
    const count =
      required.length === configInputs.length
        ? `expected ${configInputs.length} inputs but got ${sent.length} inputs`
        : `expected number of inputs between ${required.length} and ${configInputs.length} but got ${sent.length} inputs`;
    return fail(
      `${log}${count} for model '${model}'. Got input(s) ${got}, but missing required input(s) ${need}. Please provide all required input(s).`,
    );
  }

  const maxBatch = config.max_batch_size ?? 0;
  let batch = 0;
  const trimmed = new Map<string, number[]>();
  for (const s of sent) {
    if (maxBatch > 0 && !unknownSignature) {
      if (s.shape.length === 0) {
        return fail(`${log}input '${s.name}' has no shape but model requires batch dimension for '${model}'`);
      }
      if (batch === 0) batch = s.shape[0]!;
      else if (s.shape[0] !== batch) {
        return fail(`${log}input '${s.name}' batch size does not match other inputs for '${model}'`);
      }
      trimmed.set(s.name, s.shape.slice(1));
    } else trimmed.set(s.name, s.shape);
  }
  if (maxBatch > 0 && batch > maxBatch) {
    return fail(`${log}inference request batch-size must be <= ${maxBatch} for '${model}'`);
  }
  for (const s of sent) {
    const cfg = byName.get(s.name);
    if (!cfg) continue;
    const expects = protocolDatatype(cfg.data_type);
    if (s.datatype !== expects) {
      return fail(
        `${log}inference input '${s.name}' data-type is '${s.datatype}', but model '${model}' expects '${expects}'`,
      );
    }
    const dims = cfg.dims ?? [];
    const shape = trimmed.get(s.name)!;
    let match = dims.length === shape.length;
    for (let i = 0; match && i < dims.length; i++) {
      if (shape[i] === -1) {
        return fail(
          `${log}All input dimensions should be specified for input '${s.name}' for model '${model}', got ${dimsText(s.shape)}`,
        );
      }
      if (dims[i] !== -1 && dims[i] !== shape[i]) match = false;
    }
    if (!match) {
      const full = maxBatch > 0 ? [-1, ...dims] : dims;
      const note =
        maxBatch > 0
          ? 'NOTE: Setting a non-zero max_batch_size in the model config requires a batch dimension to be prepended to each input shape. If you want to specify the full shape including the batch dim in your input dims config, try setting max_batch_size to zero. See the model configuration docs for more info on max_batch_size.'
          : '';
      return fail(
        `${log}unexpected shape for input '${s.name}' for model '${model}'. Expected ${dimsText(full)}, got ${dimsText(s.shape)}. ${note}`,
      );
    }
    const elements = s.shape.reduce((n, d) => n * d, 1);
    if (s.data !== undefined && flatten(s.data).length !== elements) {
      return fail(`Unable to parse 'data': Shape does not match true shape of 'data' field`);
    }
  }

  const configOutputs = config.output ?? [];
  let outputs = configOutputs;
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) return fail("Unable to parse 'outputs'");
    outputs = [];
    for (const o of body.outputs as unknown[]) {
      if (!isObject(o) || typeof o.name !== 'string') return fail("Unable to parse 'name'");
      const found = configOutputs.find((t) => t.name === o.name);
      if (!found) return fail(`${log}unexpected inference output '${o.name}' for model '${model}'`);
      outputs.push(found);
    }
  }
  return {
    ok: true,
    request: {
      ...(id === undefined ? {} : { id }),
      batch: maxBatch > 0 ? Math.max(batch, 1) : 1,
      shapes,
      outputs,
    },
  };
}

function flatten(data: unknown): unknown[] {
  return Array.isArray(data) ? data.flatMap(flatten) : [data];
}

export function inferResponse(
  model: string,
  version: number,
  config: ModelConfig,
  req: CheckedRequest,
): unknown {
  const maxBatch = config.max_batch_size ?? 0;
  return {
    model_name: model,
    model_version: String(version),
    ...(req.id === undefined ? {} : { id: req.id }),
    outputs: req.outputs.map((t) => {
      const dims = (t.dims ?? []).map((d) => (d === -1 ? 1 : d));
      const shape = maxBatch > 0 ? [req.batch, ...dims] : dims;
      const datatype = protocolDatatype(t.data_type);
      const count = shape.reduce((n, d) => n * d, 1);
      const fill = datatype === 'BYTES' ? '' : datatype === 'BOOL' ? false : 0;
      return { name: t.name, datatype, shape, data: new Array(count).fill(fill) };
    }),
  };
}
