import { PermanentError } from '../runtime/errors';
import type { TritonDataType } from '../triton/model-config';

/** What kind of value an ONNX graph input or output carries (TypeProto's oneof). */
export type OnnxValueKind = 'tensor' | 'sparse_tensor' | 'sequence' | 'map' | 'optional' | 'unknown';

export interface TensorSignature {
  name: string;
  /** ONNX TensorProto.DataType; 0 when unset or when the value is not a (sparse) tensor. */
  elemType: number;
  /** Triton's type for `elemType`; null when Triton has none or the value is not a tensor. */
  dataType: TritonDataType | null;
  /** Full dims, -1 for a variable one (dim_param or unset). Empty when the rank is unknown. */
  dims: number[];
  /** False when the type has no `shape` (unknown rank) or is not a tensor. */
  rankKnown: boolean;
  kind: OnnxValueKind;
}

export interface OnnxSignature {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producerName?: string;
  producerVersion?: string;
  graphName?: string;
  /** graph.input minus the names of initializers (those are default values, not real inputs). */
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  /** Initializers whose data lives in another file (data_location EXTERNAL), as written. */
  externalData: { tensor: string; location: string }[];
}

/** The file is not a readable ONNX model: wrong format, truncated, malformed or hostile. */
export class OnnxFormatError extends PermanentError {
  override name = 'OnnxFormatError';
  /** Byte offset the problem was found at, when it has one. */
  readonly offset: number | undefined;

  constructor(message: string, options?: { offset?: number; cause?: unknown }) {
    super('INVALID_ONNX_MODEL', message, {
      cause: options?.cause,
      details: options?.offset === undefined ? undefined : { offset: options.offset },
    });
    this.offset = options?.offset;
  }
}

const ELEM_TYPES: Readonly<Record<number, TritonDataType>> = {
  1: 'TYPE_FP32',
  2: 'TYPE_UINT8',
  3: 'TYPE_INT8',
  4: 'TYPE_UINT16',
  5: 'TYPE_INT16',
  6: 'TYPE_INT32',
  7: 'TYPE_INT64',
  8: 'TYPE_STRING',
  9: 'TYPE_BOOL',
  10: 'TYPE_FP16',
  11: 'TYPE_FP64',
  12: 'TYPE_UINT32',
  13: 'TYPE_UINT64',
  16: 'TYPE_BF16',
};

/** ONNX elem_type -> Triton data type; null for complex, float8, int4, float4 and unknown codes. */
export function tritonDataTypeOf(elemType: number): TritonDataType | null {
  return ELEM_TYPES[elemType] ?? null;
}

const ELEM_TYPE_NAMES: readonly string[] = [
  'UNDEFINED',
  'FLOAT',
  'UINT8',
  'INT8',
  'UINT16',
  'INT16',
  'INT32',
  'INT64',
  'STRING',
  'BOOL',
  'FLOAT16',
  'DOUBLE',
  'UINT32',
  'UINT64',
  'COMPLEX64',
  'COMPLEX128',
  'BFLOAT16',
  'FLOAT8E4M3FN',
  'FLOAT8E4M3FNUZ',
  'FLOAT8E5M2',
  'FLOAT8E5M2FNUZ',
  'UINT4',
  'INT4',
  'FLOAT4E2M1',
];

/** ONNX's name for an elem_type, for messages ("COMPLEX64", "elem_type 99"). */
export function onnxElemTypeName(elemType: number): string {
  return ELEM_TYPE_NAMES[elemType] ?? `elem_type ${elemType}`;
}
