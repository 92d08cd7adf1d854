/**
 * inferctl inspect <model.onnx> [--json] [--max-batch-size N] [--name NAME]
 *
 * Reads an ONNX model's signature without its weights and prints the config.pbtxt the control
 * plane would generate for it (the ONNX Runtime backend's auto-complete rules, written out).
 */
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { autoCompleteOnnxConfig, isBatchable } from '../shared/onnx/autocomplete';
import { readOnnxSignature } from '../shared/onnx/reader';
import { fileByteSource } from '../shared/onnx/source';
import type { OnnxSignature, TensorSignature } from '../shared/onnx/types';
import { PermanentError } from '../shared/runtime/errors';
import { formatModelConfig } from '../shared/triton/config-codec';
import type { ModelConfig } from '../shared/triton/model-config';
import {
  type CommandSpec,
  EXIT_FAILURE,
  EXIT_OK,
  nonNegativeInteger,
  type OptionSpec,
  parseCommandLine,
} from './args';
import type { CliIo } from './io';

const SPEC = {
  command: 'inferctl inspect',
  operands: '<model.onnx>',
  positionals: {
    min: 1,
    max: 1,
    missing: 'missing <model.onnx>: give the model file (or its model.onnx directory) to read',
    tooMany: 'give exactly one model file',
  },
  description: `Reads the model's inputs and outputs without reading its weights, and prints the config.pbtxt
Triton's ONNX Runtime backend would auto-complete for it.`,
  options: {
    json: { type: 'boolean', description: 'print JSON: {name, inputs, outputs, maxBatchSize, config, ...}' },
    'max-batch-size': {
      type: 'string',
      value: 'N',
      expects: 'a non-negative integer',
      parse: nonNegativeInteger,
      description: 'the max_batch_size to configure (default: 4 if the model is batchable, else 0)',
    },
    name: {
      type: 'string',
      value: 'NAME',
      description: 'the model name (default: from the path, <repo>/<name>/<version>/model.onnx)',
    },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

/**
 * The model name a repository path implies: `<name>/<version>/model.onnx` or
 * `<name>/<version>/model.onnx/model.onnx` (external data layout); else the file name.
 */
export function modelNameFromPath(path: string): string {
  const parts = path.split(/[\\/]+/).filter((p) => p !== '');
  const isVersion = (s: string | undefined) => s !== undefined && /^[1-9]\d*$/.test(s);
  for (const up of [1, 2]) {
    const version = parts[parts.length - 1 - up];
    const name = parts[parts.length - 2 - up];
    if (isVersion(version) && name !== undefined && (up === 1 || parts[parts.length - 2] === 'model.onnx')) {
      return name;
    }
  }
  return basename(path).replace(/\.onnx$/i, '') || 'model';
}

function tensorJson(t: TensorSignature) {
  return {
    name: t.name,
    dataType: t.dataType,
    dims: t.dims,
    elemType: t.elemType,
    kind: t.kind,
    rankKnown: t.rankKnown,
  };
}

function describeTensor(t: TensorSignature): string {
  const type = t.dataType ?? `unsupported (${t.kind === 'tensor' ? `ONNX elem_type ${t.elemType}` : t.kind})`;
  const dims = t.rankKnown ? `[${t.dims.join(', ')}]` : 'unknown rank';
  return `  ${t.name}  ${type}  ${dims}\n`;
}

function describe(sig: OnnxSignature, fileBytes: number, bytesRead: number): string {
  const opsets = sig.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');
  const producer = sig.producerName
    ? `; producer ${sig.producerName} ${sig.producerVersion ?? ''}`.trimEnd()
    : '';
  let out = `ONNX IR ${sig.irVersion}, opsets ${opsets}${producer}\n`;
  out += `read ${bytesRead} of ${fileBytes} bytes\n`;
  out += 'inputs:\n';
  for (const t of sig.inputs) out += describeTensor(t);
  out += 'outputs:\n';
  for (const t of sig.outputs) out += describeTensor(t);
  if (sig.externalData.length > 0) {
    out += 'external data:\n';
    for (const e of sig.externalData) out += `  ${e.tensor} -> ${e.location}\n`;
  }
  out += `batchable: ${isBatchable(sig) ? 'yes' : 'no'}\n`;
  return out;
}

/** A directory named model.onnx holds model.onnx plus its external data files. */
async function resolveModelFile(file: string): Promise<string> {
  const path = (await stat(file)).isDirectory() ? join(file, 'model.onnx') : file;
  if (!(await stat(path)).isFile()) throw new Error(`${path} is not a regular file`);
  return path;
}

export async function inspectCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseCommandLine(SPEC, args, io);
  if (typeof parsed === 'number') return parsed;
  const { json, 'max-batch-size': maxBatchSize } = parsed.values;
  const file = parsed.positionals[0] ?? '';

  let path: string;
  try {
    path = await resolveModelFile(file);
  } catch (err) {
    io.stderr.write(
      `inferctl inspect: cannot open ${file}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    return EXIT_FAILURE;
  }
  const name = parsed.values.name ?? modelNameFromPath(path);

  const source = fileByteSource(path);
  let sig: OnnxSignature;
  let fileBytes: number;
  try {
    fileBytes = await source.size();
    sig = await readOnnxSignature(source);
  } catch (err) {
    if (!(err instanceof PermanentError)) throw err;
    if (json)
      io.stdout.write(`${JSON.stringify({ file: path, error: err.message, reason: err.reason }, null, 2)}\n`);
    io.stderr.write(`inferctl inspect: ${path}: ${err.message}\n`);
    return EXIT_FAILURE;
  } finally {
    await source.close?.();
  }

  let config: ModelConfig | undefined;
  let configError: PermanentError | undefined;
  try {
    config = autoCompleteOnnxConfig(sig, { name, maxBatchSize });
  } catch (err) {
    if (!(err instanceof PermanentError)) throw err;
    configError = err;
  }
  const configText = config === undefined ? null : formatModelConfig(config);

  if (json) {
    const out = {
      file: path,
      name,
      irVersion: sig.irVersion,
      opsets: sig.opsets,
      producerName: sig.producerName,
      producerVersion: sig.producerVersion,
      inputs: sig.inputs.map(tensorJson),
      outputs: sig.outputs.map(tensorJson),
      externalData: sig.externalData,
      batchable: isBatchable(sig),
      maxBatchSize: config?.max_batch_size ?? null,
      config: configText,
      ...(configError ? { error: configError.message, reason: configError.reason } : {}),
      bytesRead: source.bytesRead,
      fileBytes,
    };
    io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    io.stdout.write(describe(sig, fileBytes, source.bytesRead));
    if (configText !== null) io.stdout.write(`\nconfig.pbtxt (model '${name}'):\n${configText}`);
  }
  if (configError) {
    io.stderr.write(`inferctl inspect: ${path}: ${configError.message}\n`);
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}
