/**
 * Triton's own schema, `inference.ModelConfig` from the vendored `proto/model_config.proto`
 * (copied from triton-inference-server/common), loaded with protobufjs reflection. The text-format
 * and JSON readers walk this reflection, so the local Triton accepts exactly the fields, types and
 * enum names real Triton accepts, independently of the product's own codec.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** A config value in the proto JSON shape with original field names (what Triton's /config serves). */
export type ProtoValue = string | number | boolean | ProtoValue[] | ProtoObject;
export interface ProtoObject {
  [field: string]: ProtoValue;
}

let cached: protobuf.Type | undefined;

/** `inference.ModelConfig`, with field names kept as in the .proto (snake_case). */
export function modelConfigType(): protobuf.Type {
  if (!cached) {
    const file = fileURLToPath(new URL('./proto/model_config.proto', import.meta.url));
    const root = new protobuf.Root().loadSync(file, { keepCase: true });
    root.resolveAll();
    cached = root.lookupType('inference.ModelConfig');
  }
  return cached;
}

export const INT32_TYPES = new Set(['int32', 'sint32', 'sfixed32']);
export const UINT32_TYPES = new Set(['uint32', 'fixed32']);
export const INT64_TYPES = new Set(['int64', 'sint64', 'sfixed64']);
export const UINT64_TYPES = new Set(['uint64', 'fixed64']);
export const FLOAT_TYPES = new Set(['float', 'double']);

export function isIntegerType(type: string): boolean {
  return INT32_TYPES.has(type) || UINT32_TYPES.has(type) || INT64_TYPES.has(type) || UINT64_TYPES.has(type);
}

/** Range check of an integer field, with BigInt so 64-bit bounds are exact. */
export function integerInRange(type: string, value: bigint): boolean {
  if (INT32_TYPES.has(type)) return value >= -(2n ** 31n) && value < 2n ** 31n;
  if (UINT32_TYPES.has(type)) return value >= 0n && value < 2n ** 32n;
  if (INT64_TYPES.has(type)) return value >= -(2n ** 63n) && value < 2n ** 63n;
  return value >= 0n && value < 2n ** 64n;
}

/** The enum behind a field, when it is one. */
export function enumOf(field: protobuf.FieldBase): protobuf.Enum | undefined {
  return field.resolvedType instanceof protobuf.Enum ? field.resolvedType : undefined;
}

/** The message type behind a field, when it is one. */
export function messageOf(field: protobuf.FieldBase): protobuf.Type | undefined {
  return field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
}

/** Protobuf's full name without the leading dot: `inference.ModelConfig`. */
export function fullName(type: protobuf.ReflectionObject): string {
  return type.fullName.replace(/^\./, '');
}

/** The key type of a map field (`string` for every map of ModelConfig), else undefined. */
export function keyTypeOf(field: protobuf.FieldBase): string | undefined {
  return field.map ? (field as unknown as { keyType: string }).keyType : undefined;
}
