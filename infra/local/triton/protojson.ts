/**
 * The proto3 JSON mapping of a message, read through protobufjs reflection: what Triton's load
 * API takes as its `config` parameter (`JsonStringToMessage` with unknown fields refused and enum
 * names matched case-insensitively). Field names may be the .proto names (`max_batch_size`) or
 * their lowerCamel JSON names (`maxBatchSize`); 64-bit integers may be numbers or strings; `null`
 * means the default. Errors read like protobuf's: `invalid JSON in inference.ModelConfig @ inputs:
 * no such field: 'inputs'`.
 */
import type protobuf from 'protobufjs';
import {
  enumOf,
  FLOAT_TYPES,
  fullName,
  integerInRange,
  isIntegerType,
  keyTypeOf,
  messageOf,
  type ProtoObject,
  type ProtoValue,
} from './schema';

export class ProtoJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtoJsonError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const jsonName = (name: string) => name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

export function parseProtoJson(json: unknown, type: protobuf.Type): ProtoObject {
  const root = fullName(type);
  const fail = (path: string, message: string): never => {
    throw new ProtoJsonError(`invalid JSON in ${root}${path === '' ? '' : ` @ ${path}`}: ${message}`);
  };

  function message(value: unknown, t: protobuf.Type, path: string): ProtoObject {
    if (!isObject(value)) return fail(path, `expected an object for message ${fullName(t)}`);
    const byJson = new Map<string, protobuf.Field>();
    for (const f of t.fieldsArray) {
      byJson.set(f.name, f);
      byJson.set(jsonName(f.name), f);
    }
    const out: ProtoObject = {};
    const oneofs = new Map<string, string>();
    for (const [key, v] of Object.entries(value)) {
      const f = byJson.get(key);
      const here = path === '' ? key : `${path}.${key}`;
      if (!f) fail(here, `no such field: '${key}'`);
      const field = f!;
      if (Object.hasOwn(out, field.name)) fail(here, `field '${field.name}' appears more than once`);
      if (v === null) continue;
      if (field.partOf) {
        const other = oneofs.get(field.partOf.name);
        if (other !== undefined) fail(here, `a oneof has already been set: '${other}'`);
        oneofs.set(field.partOf.name, field.name);
      }
      if (field.map) {
        if (!isObject(v)) fail(here, 'expected an object for a map field');
        const map: ProtoObject = {};
        const keyType = keyTypeOf(field) ?? 'string';
        for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
          if (isIntegerType(keyType) && !/^-?[0-9]+$/.test(k))
            fail(`${here}.${k}`, `invalid map key: '${k}'`);
          if (keyType === 'bool' && k !== 'true' && k !== 'false')
            fail(`${here}.${k}`, `invalid map key: '${k}'`);
          map[k] = single(item, field, `${here}.${k}`);
        }
        out[field.name] = map;
      } else if (field.repeated) {
        if (!Array.isArray(v)) fail(here, 'expected an array for a repeated field');
        out[field.name] = (v as unknown[]).map((item, i) => single(item, field, `${here}[${i}]`));
      } else {
        out[field.name] = single(v, field, here);
      }
    }
    return out;
  }

  function single(value: unknown, f: protobuf.Field, path: string): ProtoValue {
    const sub = messageOf(f);
    if (sub) return message(value, sub, path);
    const e = enumOf(f);
    if (e) {
      if (typeof value === 'string') {
        const name = Object.keys(e.values).find((n) => n.toUpperCase() === value.toUpperCase());
        if (name === undefined) fail(path, `unknown enum value: '${value}'`);
        return name!;
      }
      if (typeof value === 'number' && Number.isInteger(value) && e.valuesById[value] !== undefined) {
        return e.valuesById[value]!;
      }
      return fail(path, `invalid enum value: ${JSON.stringify(value)}`);
    }
    if (f.type === 'string') {
      if (typeof value !== 'string') fail(path, `expected string, got ${JSON.stringify(value)}`);
      return value as string;
    }
    if (f.type === 'bytes') {
      if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) {
        fail(path, 'expected a base64 string for bytes');
      }
      return value as string;
    }
    if (f.type === 'bool') {
      if (typeof value !== 'boolean') fail(path, `expected bool, got ${JSON.stringify(value)}`);
      return value as boolean;
    }
    if (isIntegerType(f.type)) {
      let big: bigint | undefined;
      if (typeof value === 'number' && Number.isInteger(value)) big = BigInt(value);
      else if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) big = BigInt(value);
      if (big === undefined) return fail(path, `expected integer, got ${JSON.stringify(value)}`);
      if (!integerInRange(f.type, big)) fail(path, `integer out of range: ${String(value)}`);
      return Number(big);
    }
    if (FLOAT_TYPES.has(f.type)) {
      if (typeof value === 'number') return value;
      if (value === 'NaN') return Number.NaN;
      if (value === 'Infinity') return Number.POSITIVE_INFINITY;
      if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
      if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
        return Number(value);
      return fail(path, `expected number, got ${JSON.stringify(value)}`);
    }
    return fail(path, `unsupported field type ${f.type}`);
  }

  return message(json, type, '');
}
