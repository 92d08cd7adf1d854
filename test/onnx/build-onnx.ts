/**
 * A minimal protobuf encoder that writes ONNX ModelProto bytes, so tests need no Python `onnx`.
 * Field numbers follow onnx.proto (see shared/reference/triton.md). Fields are written in field
 * number order, as protobuf serializers do. onnx-runtime.test.ts loads the output in onnxruntime-node
 * to prove it is real ONNX.
 */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const ElemType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
} as const;

// ---- wire format ----------------------------------------------------------------------------

export function varint(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

export function tag(field: number, wireType: number): Uint8Array {
  return varint(field * 8 + wireType);
}

export function varintField(field: number, value: number | bigint): Uint8Array {
  return concat([tag(field, 0), varint(value)]);
}

export function bytesField(field: number, payload: Uint8Array): Uint8Array {
  return concat([tag(field, 2), varint(payload.byteLength), payload]);
}

export function stringField(field: number, value: string): Uint8Array {
  return bytesField(field, new TextEncoder().encode(value));
}

/** The header of a length-delimited field whose payload is written separately (streamed). */
export function lengthHeader(field: number, length: number): Uint8Array {
  return concat([tag(field, 2), varint(length)]);
}

// ---- ONNX messages ---------------------------------------------------------------------------

/** A dim: a number (dim_value), a string (dim_param) or null (neither: unknown). */
export type DimSpec = number | string | null;

export interface ValueSpec {
  name: string;
  elemType: number;
  /** Omitted or null: no `shape` at all (unknown rank). */
  dims?: readonly DimSpec[] | null;
}

export interface InitializerSpec {
  name: string;
  dataType: number;
  dims: readonly number[];
  raw?: Uint8Array;
  /** Data in another file; `raw` is then not written. */
  external?: { location: string; offset?: number; length?: number };
}

export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
}

export interface ModelSpec {
  irVersion?: number;
  opsets?: readonly { domain: string; version: number }[];
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  graphName?: string;
  nodes: readonly NodeSpec[];
  initializers?: readonly InitializerSpec[];
  /** Graph inputs as written (may include initializer names, which are then defaults). */
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
  /** Write opset_import before graph (valid protobuf, not what serializers do). */
  opsetFirst?: boolean;
}

export function encodeDim(d: DimSpec): Uint8Array {
  if (d === null) return new Uint8Array(0);
  return typeof d === 'number' ? varintField(1, d) : stringField(2, d);
}

export function encodeTensorType(elemType: number, dims: readonly DimSpec[] | null | undefined): Uint8Array {
  const parts = [varintField(1, elemType)];
  if (dims !== null && dims !== undefined) {
    parts.push(bytesField(2, concat(dims.map((d) => bytesField(1, encodeDim(d))))));
  }
  return concat(parts);
}

export function encodeValueInfo(v: ValueSpec): Uint8Array {
  const typeProto = bytesField(1, encodeTensorType(v.elemType, v.dims));
  return concat([stringField(1, v.name), bytesField(2, typeProto)]);
}

/** TensorProto fields before raw_data (9), so a streamed payload can follow them. */
export function encodeTensorHead(t: InitializerSpec): Uint8Array {
  return concat([
    ...t.dims.map((d) => varintField(1, d)),
    varintField(2, t.dataType),
    stringField(8, t.name),
  ]);
}

export function encodeTensorTail(t: InitializerSpec): Uint8Array {
  if (t.external === undefined) return new Uint8Array(0);
  const entry = (k: string, v: string): Uint8Array =>
    bytesField(13, concat([stringField(1, k), stringField(2, v)]));
  const parts = [entry('location', t.external.location)];
  if (t.external.offset !== undefined) parts.push(entry('offset', String(t.external.offset)));
  if (t.external.length !== undefined) parts.push(entry('length', String(t.external.length)));
  parts.push(varintField(14, 1));
  return concat(parts);
}

export function encodeTensor(t: InitializerSpec): Uint8Array {
  const raw = t.external === undefined && t.raw !== undefined ? bytesField(9, t.raw) : new Uint8Array(0);
  return concat([encodeTensorHead(t), raw, encodeTensorTail(t)]);
}

export function encodeNode(n: NodeSpec): Uint8Array {
  return concat([
    ...n.inputs.map((i) => stringField(1, i)),
    ...n.outputs.map((o) => stringField(2, o)),
    ...(n.name === undefined ? [] : [stringField(3, n.name)]),
    stringField(4, n.opType),
  ]);
}

/** GraphProto payload split around the initializers, so a huge one can be streamed between. */
function graphParts(spec: ModelSpec): { before: Uint8Array; after: Uint8Array } {
  const before = concat([
    ...spec.nodes.map((n) => bytesField(1, encodeNode(n))),
    stringField(2, spec.graphName ?? 'graph'),
  ]);
  const after = concat([
    ...spec.inputs.map((v) => bytesField(11, encodeValueInfo(v))),
    ...spec.outputs.map((v) => bytesField(12, encodeValueInfo(v))),
  ]);
  return { before, after };
}

function modelHead(spec: ModelSpec): Uint8Array {
  return concat([
    varintField(1, spec.irVersion ?? 8),
    ...(spec.producerName === undefined ? [] : [stringField(2, spec.producerName)]),
    ...(spec.producerVersion === undefined ? [] : [stringField(3, spec.producerVersion)]),
    ...(spec.docString === undefined ? [] : [stringField(6, spec.docString)]),
  ]);
}

function opsetImports(spec: ModelSpec): Uint8Array {
  const opsets = spec.opsets ?? [{ domain: '', version: 13 }];
  return concat(
    opsets.map((o) => bytesField(8, concat([stringField(1, o.domain), varintField(2, o.version)]))),
  );
}

export function encodeModel(spec: ModelSpec): Uint8Array {
  const { before, after } = graphParts(spec);
  const inits = (spec.initializers ?? []).map((t) => bytesField(5, encodeTensor(t)));
  const graph = bytesField(7, concat([before, ...inits, after]));
  const opsets = opsetImports(spec);
  return concat(spec.opsetFirst ? [modelHead(spec), opsets, graph] : [modelHead(spec), graph, opsets]);
}

/**
 * Writes a model with one initializer whose raw_data is `payloadBytes` of zeros, streamed in
 * chunks so the test never holds it in memory. The initializer comes before inputs and outputs, as
 * in real files. Returns the file size.
 */
export async function writeLargeModel(
  path: string,
  spec: ModelSpec,
  big: { name: string; dataType: number; dims: readonly number[] },
  payloadBytes: number,
): Promise<number> {
  const { before, after } = graphParts(spec);
  const head = encodeTensorHead({ ...big, raw: undefined });
  const rawHeader = lengthHeader(9, payloadBytes);
  const tensorLength = head.byteLength + rawHeader.byteLength + payloadBytes;
  const initHeader = lengthHeader(5, tensorLength);
  const graphLength = before.byteLength + initHeader.byteLength + tensorLength + after.byteLength;
  const prefix = concat([modelHead(spec), lengthHeader(7, graphLength), before, initHeader, head, rawHeader]);
  const suffix = concat([after, opsetImports(spec)]);

  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  const write = async (chunk: Uint8Array): Promise<void> => {
    if (!out.write(chunk)) await once(out, 'drain');
  };
  await write(prefix);
  const chunk = new Uint8Array(1024 * 1024);
  for (let left = payloadBytes; left > 0; left -= chunk.byteLength) {
    await write(left >= chunk.byteLength ? chunk : chunk.subarray(0, left));
  }
  await write(suffix);
  out.end();
  await once(out, 'finish');
  return prefix.byteLength + payloadBytes + suffix.byteLength;
}

// ---- the models the tests and fixtures use ---------------------------------------------------

export function float32Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** Y = X + W, X: [batch, 3] float, W an initializer that is also listed as a graph input. */
export function addDynamicBatchModel(): ModelSpec {
  return {
    producerName: 'inferplane-test',
    producerVersion: '1',
    graphName: 'add_dynamic_batch',
    nodes: [{ opType: 'Add', inputs: ['X', 'W'], outputs: ['Y'], name: 'add' }],
    initializers: [{ name: 'W', dataType: ElemType.FLOAT, dims: [3], raw: float32Bytes([1, 2, 3]) }],
    inputs: [
      { name: 'X', elemType: ElemType.FLOAT, dims: ['batch', 3] },
      { name: 'W', elemType: ElemType.FLOAT, dims: [3] },
    ],
    outputs: [{ name: 'Y', elemType: ElemType.FLOAT, dims: ['batch', 3] }],
  };
}

/** Two fixed-shape identities of different types: no batch dimension. */
export function identityFixedModel(): ModelSpec {
  return {
    producerName: 'inferplane-test',
    graphName: 'identity_fixed',
    nodes: [
      { opType: 'Identity', inputs: ['INPUT0'], outputs: ['OUTPUT0'] },
      { opType: 'Identity', inputs: ['INPUT1'], outputs: ['OUTPUT1'] },
    ],
    inputs: [
      { name: 'INPUT0', elemType: ElemType.INT64, dims: [2, 2] },
      { name: 'INPUT1', elemType: ElemType.FLOAT16, dims: [4] },
    ],
    outputs: [
      { name: 'OUTPUT0', elemType: ElemType.INT64, dims: [2, 2] },
      { name: 'OUTPUT1', elemType: ElemType.FLOAT16, dims: [4] },
    ],
  };
}

/** Y = X + W with W in `weights.bin` next to the model (data_location EXTERNAL). */
export function externalDataModel(): ModelSpec {
  return {
    ...addDynamicBatchModel(),
    graphName: 'external_data',
    initializers: [
      {
        name: 'W',
        dataType: ElemType.FLOAT,
        dims: [3],
        external: { location: 'weights.bin', offset: 0, length: 12 },
      },
    ],
    inputs: [{ name: 'X', elemType: ElemType.FLOAT, dims: ['batch', 3] }],
  };
}

export const EXTERNAL_WEIGHTS = float32Bytes([10, 20, 30]);

/** Writes the committed fixtures under `dir` (test/fixtures/onnx). */
export async function writeFixtures(dir: string): Promise<void> {
  await mkdir(join(dir, 'external-data'), { recursive: true });
  await writeFile(join(dir, 'add-dynamic-batch.onnx'), encodeModel(addDynamicBatchModel()));
  await writeFile(join(dir, 'identity-fixed.onnx'), encodeModel(identityFixedModel()));
  await writeFile(join(dir, 'external-data', 'model.onnx'), encodeModel(externalDataModel()));
  await writeFile(join(dir, 'external-data', 'weights.bin'), EXTERNAL_WEIGHTS);
}
