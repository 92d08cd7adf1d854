/**
 * ModelConfig <-> config.pbtxt, and ModelConfig <-> the JSON string of the repository load API.
 *
 * One schema table below says, for every modelled field of `inference.ModelConfig`, its type and
 * whether it is repeated or a map, in proto field order (so the writer's output is canonical).
 * Fields outside the table are rejected, as Triton's own parser rejects unknown fields; those that
 * Triton knows but inferplane does not model get a distinct message, so users know it is us.
 */
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../runtime/errors';
import type { ModelConfig, TritonDataType } from './model-config';
import { TRITON_DATA_TYPES } from './model-config';
import {
  type ParseLimits,
  type PbMessage,
  type PbScalar,
  type PbValue,
  parsePbtxt,
  type WField,
  type WMessage,
  type WScalar,
  writePbtxt,
} from './pbtxt';

type ScalarKind = 'string' | 'int' | 'uint' | 'bool';
type FieldSpec =
  | { kind: ScalarKind; repeated?: boolean }
  | { kind: 'enum'; values: readonly string[]; repeated?: boolean }
  | { kind: 'message'; fields: MessageSpec; repeated?: boolean }
  /** A proto map: repeated `{ key: "k" value ... }` entries in text, an object in JSON. */
  | { kind: 'map'; value: FieldSpec };
type MessageSpec = Record<string, FieldSpec>;

const KINDS = ['KIND_AUTO', 'KIND_GPU', 'KIND_CPU', 'KIND_MODEL'] as const;

const TENSOR: MessageSpec = {
  name: { kind: 'string' },
  data_type: { kind: 'enum', values: TRITON_DATA_TYPES },
  dims: { kind: 'int', repeated: true },
  reshape: { kind: 'message', fields: { shape: { kind: 'int', repeated: true } } },
  optional: { kind: 'bool' },
};

const MODEL_CONFIG: MessageSpec = {
  name: { kind: 'string' },
  platform: { kind: 'string' },
  backend: { kind: 'string' },
  version_policy: {
    kind: 'message',
    fields: {
      latest: { kind: 'message', fields: { num_versions: { kind: 'uint' } } },
      all: { kind: 'message', fields: {} },
      specific: { kind: 'message', fields: { versions: { kind: 'int', repeated: true } } },
    },
  },
  max_batch_size: { kind: 'int' },
  input: { kind: 'message', fields: TENSOR, repeated: true },
  output: { kind: 'message', fields: TENSOR, repeated: true },
  instance_group: {
    kind: 'message',
    repeated: true,
    fields: {
      name: { kind: 'string' },
      count: { kind: 'int' },
      kind: { kind: 'enum', values: KINDS },
      gpus: { kind: 'int', repeated: true },
    },
  },
  dynamic_batching: {
    kind: 'message',
    fields: {
      preferred_batch_size: { kind: 'int', repeated: true },
      max_queue_delay_microseconds: { kind: 'uint' },
      preserve_ordering: { kind: 'bool' },
    },
  },
  default_model_filename: { kind: 'string' },
  cc_model_filenames: { kind: 'map', value: { kind: 'string' } },
  parameters: { kind: 'map', value: { kind: 'message', fields: { string_value: { kind: 'string' } } } },
  model_warmup: {
    kind: 'message',
    repeated: true,
    fields: {
      name: { kind: 'string' },
      batch_size: { kind: 'uint' },
      inputs: {
        kind: 'map',
        value: {
          kind: 'message',
          fields: {
            data_type: { kind: 'enum', values: TRITON_DATA_TYPES },
            dims: { kind: 'int', repeated: true },
            zero_data: { kind: 'bool' },
            random_data: { kind: 'bool' },
            input_data_file: { kind: 'string' },
          },
        },
      },
      count: { kind: 'uint' },
    },
  },
  ensemble_scheduling: {
    kind: 'message',
    fields: {
      step: {
        kind: 'message',
        repeated: true,
        fields: {
          model_name: { kind: 'string' },
          model_version: { kind: 'int' },
          input_map: { kind: 'map', value: { kind: 'string' } },
          output_map: { kind: 'map', value: { kind: 'string' } },
        },
      },
    },
  },
};

/** Top-level ModelConfig fields Triton accepts that inferplane does not model (model_config.proto). */
const TRITON_ONLY_FIELDS = new Set([
  'runtime',
  'batch_input',
  'batch_output',
  'optimization',
  'sequence_batching',
  'model_operations',
  'model_transaction_policy',
  'model_repository_agents',
  'response_cache',
  'metric_tags',
]);

/** Inference-protocol names that people send by mistake, with the ModelConfig name they meant. */
const PROTOCOL_NAMES: Record<string, string> = {
  inputs: 'input',
  outputs: 'output',
  datatype: 'data_type',
  shape: 'dims',
};

// ---- zod: the semantic shape (the schema table above only covers syntax) ----------------------

const int = z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
const uint = int.min(0);
const dataType = z.enum(TRITON_DATA_TYPES as unknown as [TritonDataType, ...TritonDataType[]]);
const dims = z.array(int.min(-1));

const tensorSchema = z.strictObject({
  name: z.string().min(1),
  data_type: dataType,
  dims,
  reshape: z.strictObject({ shape: z.array(int.min(-1)) }).optional(),
  optional: z.boolean().optional(),
});

const versionPolicySchema = z.union([
  z.strictObject({ latest: z.strictObject({ num_versions: uint.min(1) }) }),
  z.strictObject({ all: z.strictObject({}) }),
  z.strictObject({ specific: z.strictObject({ versions: z.array(int.min(1)).min(1) }) }),
]);

export const modelConfigSchema = z.strictObject({
  name: z.string().min(1),
  platform: z.string().optional(),
  backend: z.string().optional(),
  version_policy: versionPolicySchema.optional(),
  max_batch_size: int.min(0).optional(),
  input: z.array(tensorSchema).optional(),
  output: z.array(tensorSchema).optional(),
  instance_group: z
    .array(
      z.strictObject({
        name: z.string().optional(),
        count: int.min(0).optional(),
        kind: z.enum(KINDS).optional(),
        gpus: z.array(int.min(0)).optional(),
      }),
    )
    .optional(),
  dynamic_batching: z
    .strictObject({
      preferred_batch_size: z.array(int.min(1)).optional(),
      max_queue_delay_microseconds: uint.optional(),
      preserve_ordering: z.boolean().optional(),
    })
    .optional(),
  default_model_filename: z.string().optional(),
  cc_model_filenames: z.record(z.string(), z.string()).optional(),
  parameters: z.record(z.string(), z.strictObject({ string_value: z.string() })).optional(),
  model_warmup: z
    .array(
      z.strictObject({
        name: z.string(),
        batch_size: uint,
        inputs: z.record(
          z.string(),
          z.strictObject({
            data_type: dataType,
            dims,
            zero_data: z.boolean().optional(),
            random_data: z.boolean().optional(),
            input_data_file: z.string().optional(),
          }),
        ),
        count: uint.optional(),
      }),
    )
    .optional(),
  ensemble_scheduling: z
    .strictObject({
      step: z.array(
        z.strictObject({
          model_name: z.string().min(1),
          model_version: int.min(-1),
          input_map: z.record(z.string(), z.string()),
          output_map: z.record(z.string(), z.string()),
        }),
      ),
    })
    .optional(),
});

// Compile-time proof that the schema's output is the shared ModelConfig type.
const _schemaMatchesType: (v: z.output<typeof modelConfigSchema>) => ModelConfig = (v) => v;
void _schemaMatchesType;

/** Fields that the ModelConfig type requires but proto3 text leaves out when empty. */
const REQUIRED_EMPTY: Record<string, unknown> = {
  dims: [],
  shape: [],
  inputs: {},
  input_map: {},
  output_map: {},
  step: [],
};

/**
 * `__proto__` as a map key cannot survive a plain object (zod drops it, assignment would set the
 * prototype), so it is refused everywhere rather than silently lost.
 */
function findProtoKeys(value: unknown, path: string, issues: ValidationIssue[], depth = 0): void {
  if (typeof value !== 'object' || value === null || depth > 16) return;
  for (const [k, v] of Object.entries(value)) {
    const p = join(path, k);
    if (k === '__proto__') issues.push({ path: p, message: "'__proto__' is not allowed as a key" });
    else findProtoKeys(v, p, issues, depth + 1);
  }
}

function validate(what: string, value: unknown, issues: ValidationIssue[]): ModelConfig {
  findProtoKeys(value, '', issues);
  if (issues.length > 0) throw new ValidationError(what, issues);
  const r = modelConfigSchema.safeParse(value);
  if (!r.success) {
    throw new ValidationError(
      what,
      r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
  }
  return r.data;
}

// ---- text -> ModelConfig ----------------------------------------------------------------------

export interface ParseModelConfigOptions extends ParseLimits {
  /** Triton names a config without `name` after its directory. */
  defaultName?: string;
}

/**
 * Parses config.pbtxt. Throws PbtxtSyntaxError (with line:column) for bad syntax and
 * ValidationError (with field paths and line:column) for unknown fields or wrong types.
 */
export function parseModelConfig(text: string, options: ParseModelConfigOptions = {}): ModelConfig {
  const root = parsePbtxt(text, options);
  const issues: ValidationIssue[] = [];
  const value = fromMessage(root, MODEL_CONFIG, '', issues);
  if (value.name === undefined && options.defaultName !== undefined) value.name = options.defaultName;
  return validate('config.pbtxt', value, issues);
}

function at(node: { pos: { line: number; column: number } }): string {
  return `(at ${node.pos.line}:${node.pos.column})`;
}

function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

function fromMessage(
  m: PbMessage,
  spec: MessageSpec,
  path: string,
  issues: ValidationIssue[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const f of m.fields) {
    const fs = spec[f.name];
    const p = join(path, f.name);
    if (!fs) {
      unknown.push(`${f.name} ${at(f)}`);
      continue;
    }
    const items: Array<Exclude<PbValue, { kind: 'list' }>> =
      f.value.kind === 'list' ? f.value.items : [f.value];
    const repeated = fs.kind === 'map' || fs.repeated === true;
    if (!repeated && (f.value.kind === 'list' || out[f.name] !== undefined)) {
      issues.push({ path: p, message: `non-repeated field is specified more than once ${at(f)}` });
      continue;
    }
    if (fs.kind === 'map') {
      const map = (out[f.name] as Record<string, unknown> | undefined) ?? {};
      out[f.name] = map;
      for (const item of items) {
        if (item.kind !== 'message') {
          issues.push({ path: p, message: `expected a map entry { key: ... value: ... } ${at(item)}` });
          continue;
        }
        const entry = mapEntry(item, fs.value, p, issues);
        if (entry?.[0] === '__proto__')
          issues.push({ path: p, message: `'__proto__' is not allowed as a key ${at(item)}` });
        else if (entry) map[entry[0]] = entry[1];
      }
      continue;
    }
    if (repeated) {
      const arr = (out[f.name] as unknown[] | undefined) ?? [];
      for (const item of items) arr.push(fromValue(item, fs, `${p}.${arr.length}`, issues));
      out[f.name] = arr;
    } else {
      out[f.name] = fromValue(items[0]!, fs, p, issues);
    }
  }
  if (unknown.length > 0) {
    const triton = path === '' ? unknown.filter((u) => TRITON_ONLY_FIELDS.has(u.split(' ')[0]!)) : [];
    const rest = unknown.filter((u) => !triton.includes(u));
    if (rest.length > 0)
      issues.push({ path: path || '(root)', message: `unknown field(s): ${rest.join(', ')}` });
    if (triton.length > 0) {
      issues.push({
        path: path || '(root)',
        message: `field(s) valid in Triton but not supported by inferplane: ${triton.join(', ')}`,
      });
    }
  }
  for (const [name, fs] of Object.entries(spec)) {
    if (out[name] === undefined && REQUIRED_EMPTY[name] !== undefined && (fs.kind === 'map' || fs.repeated)) {
      out[name] = structuredClone(REQUIRED_EMPTY[name]);
    }
  }
  return out;
}

function mapEntry(
  m: PbMessage,
  valueSpec: FieldSpec,
  path: string,
  issues: ValidationIssue[],
): [string, unknown] | undefined {
  let key: string | undefined;
  let value: unknown;
  for (const f of m.fields) {
    if (f.name === 'key' && f.value.kind === 'string') key = f.value.value;
    else if (f.name === 'value' && f.value.kind !== 'list')
      value = fromValue(f.value, valueSpec, join(path, key ?? '?'), issues);
    else issues.push({ path, message: `unexpected '${f.name}' in a map entry ${at(f)}` });
  }
  if (key === undefined) {
    issues.push({ path, message: `map entry without a string key ${at(m)}` });
    return undefined;
  }
  if (value === undefined)
    value =
      valueSpec.kind === 'message' ? fromMessage({ ...m, fields: [] }, valueSpec.fields, path, issues) : '';
  return [key, value];
}

function fromValue(v: PbScalar | PbMessage, fs: FieldSpec, path: string, issues: ValidationIssue[]): unknown {
  if (fs.kind === 'message') {
    if (v.kind !== 'message') {
      issues.push({ path, message: `expected a message { ... } ${at(v)}` });
      return undefined;
    }
    return fromMessage(v, fs.fields, path, issues);
  }
  if (v.kind === 'message') {
    issues.push({ path, message: `expected a scalar value, found a message ${at(v)}` });
    return undefined;
  }
  const bad = (expected: string): undefined => {
    issues.push({ path, message: `expected ${expected} ${at(v)}` });
    return undefined;
  };
  switch (fs.kind) {
    case 'string':
      return v.kind === 'string' ? v.value : bad('a quoted string');
    case 'int':
    case 'uint':
      if (v.kind !== 'number' || !Number.isSafeInteger(v.value)) return bad('an integer');
      if (fs.kind === 'uint' && v.value < 0) return bad('a non-negative integer');
      return v.value;
    case 'bool':
      if (v.kind === 'ident' && (v.value === 'true' || v.value === 'True' || v.value === 't')) return true;
      if (v.kind === 'ident' && (v.value === 'false' || v.value === 'False' || v.value === 'f')) return false;
      if (v.kind === 'number' && (v.value === 0 || v.value === 1) && !/[.eEfFxX]/.test(v.text))
        return v.value === 1;
      return bad('true or false');
    case 'enum':
      if (v.kind === 'ident' && fs.values.includes(v.value)) return v.value;
      return bad(`one of ${fs.values.join(', ')}`);
    case 'map':
      return bad('a map entry');
  }
}

// ---- ModelConfig -> text ----------------------------------------------------------------------

/** Writes config.pbtxt. Validates first, so a bad object never becomes a file Triton rejects. */
export function formatModelConfig(config: ModelConfig): string {
  const valid = validate('model config', config, []);
  return writePbtxt(toMessage(valid as unknown as Record<string, unknown>, MODEL_CONFIG));
}

function toMessage(obj: Record<string, unknown>, spec: MessageSpec): WMessage {
  const fields: WField[] = [];
  for (const [name, fs] of Object.entries(spec)) {
    const v = obj[name];
    if (v === undefined) continue;
    if (fs.kind === 'map') {
      const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
        a < b ? -1 : a > b ? 1 : 0,
      );
      // Empty maps the type requires are simply absent in text; parsing restores them.
      if (entries.length === 0 && REQUIRED_EMPTY[name] !== undefined) continue;
      if (entries.length === 0) {
        fields.push({ name, value: { kind: 'list', items: [] } });
        continue;
      }
      for (const [key, value] of entries) {
        fields.push({
          name,
          value: {
            kind: 'message',
            fields: [
              { name: 'key', value: { kind: 'string', value: key } },
              { name: 'value', value: toValue(value, fs.value) },
            ],
          },
        });
      }
    } else if (fs.repeated) {
      const arr = v as unknown[];
      if (fs.kind === 'message' && arr.length > 0) {
        for (const item of arr)
          fields.push({ name, value: toMessage(item as Record<string, unknown>, fs.fields) });
      } else {
        fields.push({
          name,
          value: { kind: 'list', items: arr.map((item) => toValue(item, fs) as WScalar) },
        });
      }
    } else {
      fields.push({ name, value: toValue(v, fs) });
    }
  }
  return { kind: 'message', fields };
}

function toValue(v: unknown, fs: FieldSpec): WScalar | WMessage {
  switch (fs.kind) {
    case 'message':
      return toMessage(v as Record<string, unknown>, fs.fields);
    case 'string':
      return { kind: 'string', value: v as string };
    case 'int':
    case 'uint':
      return { kind: 'number', value: v as number };
    case 'bool':
    case 'enum':
      return { kind: 'ident', value: String(v) };
    case 'map':
      throw new Error('maps are written by toMessage');
  }
}

// ---- JSON (repository load API) ---------------------------------------------------------------

/** The `parameters.config` string of `POST /v2/repository/models/{m}/load`. */
export function toLoadApiConfigParameter(config: ModelConfig): string {
  const valid = validate('model config', config, []);
  return JSON.stringify(canonicalJson(valid as unknown as Record<string, unknown>, MODEL_CONFIG));
}

function canonicalJson(obj: Record<string, unknown>, spec: MessageSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, fs] of Object.entries(spec)) {
    const v = obj[name];
    if (v === undefined) continue;
    if (fs.kind === 'message') {
      out[name] = fs.repeated
        ? (v as Record<string, unknown>[]).map((i) => canonicalJson(i, fs.fields))
        : canonicalJson(v as Record<string, unknown>, fs.fields);
    } else if (fs.kind === 'map' && fs.value.kind === 'message') {
      const valueFields = fs.value.fields;
      out[name] = Object.fromEntries(
        Object.entries(v as Record<string, Record<string, unknown>>).map(([k, e]) => [
          k,
          canonicalJson(e, valueFields),
        ]),
      );
    } else {
      out[name] = v;
    }
  }
  return out;
}

/**
 * Reads a ModelConfig from parsed protobuf-JSON (the load API's `config`, Triton's /config output).
 * Accepts int64 values as strings, as protobuf JSON writes them. Inference-protocol names
 * (`inputs`, `datatype`) are rejected with a hint, like Triton rejects them.
 */
export function modelConfigFromJson(value: unknown, what = 'model config JSON'): ModelConfig {
  const issues: ValidationIssue[] = [];
  const converted = fromJson(value, MODEL_CONFIG, '', issues);
  return validate(what, converted, issues);
}

function fromJson(
  value: unknown,
  spec: MessageSpec,
  path: string,
  issues: ValidationIssue[],
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    issues.push({ path: path || '(root)', message: 'expected a JSON object' });
    return {};
  }
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(value)) {
    const fs = spec[name];
    const p = join(path, name);
    if (!fs) {
      const hint = PROTOCOL_NAMES[name];
      issues.push({
        path: p,
        message: hint
          ? `unknown field '${name}' (inference-protocol name; ModelConfig uses '${hint}')`
          : path === '' && TRITON_ONLY_FIELDS.has(name)
            ? `field '${name}' is valid in Triton but not supported by inferplane`
            : `unknown field '${name}'`,
      });
      continue;
    }
    if (v === null) continue;
    if (fs.kind === 'map') {
      if (typeof v !== 'object' || Array.isArray(v)) {
        issues.push({ path: p, message: 'expected a JSON object (map)' });
        continue;
      }
      out[name] = Object.fromEntries(
        Object.entries(v).map(([k, e]) => [k, jsonValue(e, fs.value, join(p, k), issues)]),
      );
    } else if (fs.repeated) {
      if (!Array.isArray(v)) {
        issues.push({ path: p, message: 'expected a JSON array' });
        continue;
      }
      out[name] = v.map((e, k) => jsonValue(e, fs, `${p}.${k}`, issues));
    } else {
      out[name] = jsonValue(v, fs, p, issues);
    }
  }
  for (const [name, fs] of Object.entries(spec)) {
    if (out[name] === undefined && REQUIRED_EMPTY[name] !== undefined && (fs.kind === 'map' || fs.repeated)) {
      out[name] = structuredClone(REQUIRED_EMPTY[name]);
    }
  }
  return out;
}

function jsonValue(v: unknown, fs: FieldSpec, path: string, issues: ValidationIssue[]): unknown {
  if (fs.kind === 'message') return fromJson(v, fs.fields, path, issues);
  if ((fs.kind === 'int' || fs.kind === 'uint') && typeof v === 'string' && /^-?[0-9]+$/.test(v))
    return Number(v);
  // Everything else is checked by zod, which reports the path.
  return v;
}

/** Field order the writer uses; exported for tests that check canonical output. */
export const MODEL_CONFIG_FIELD_ORDER: readonly string[] = Object.keys(MODEL_CONFIG);
