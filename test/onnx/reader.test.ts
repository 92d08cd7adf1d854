import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OnnxFormatError, readOnnxSignature } from '../../shared/onnx/reader';
import { memoryByteSource } from '../../shared/onnx/source';
import { PermanentError, ValidationError } from '../../shared/runtime/errors';
import {
  addDynamicBatchModel,
  bytesField,
  concat,
  ElemType,
  encodeModel,
  encodeValueInfo,
  externalDataModel,
  identityFixedModel,
  type ModelSpec,
  stringField,
  tag,
  varint,
  varintField,
} from './build-onnx';

const read = (bytes: Uint8Array, opts?: Parameters<typeof readOnnxSignature>[1]) =>
  readOnnxSignature(memoryByteSource(bytes), opts);

/** The error a read rejects with; fails the test if it resolves. */
async function failure(bytes: Uint8Array, opts?: Parameters<typeof readOnnxSignature>[1]): Promise<Error> {
  try {
    await read(bytes, opts);
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`rejected with a non-Error: ${String(err)}`);
  }
  throw new Error('expected the read to fail, but it returned a signature');
}

function identity(inputs: ModelSpec['inputs'], extra: Partial<ModelSpec> = {}): ModelSpec {
  return {
    nodes: inputs.map((v, i) => ({ opType: 'Identity', inputs: [v.name], outputs: [`out${i}`] })),
    inputs,
    outputs: inputs.map((v, i) => ({ ...v, name: `out${i}` })),
    ...extra,
  };
}

describe('readOnnxSignature on valid models', () => {
  it('reads the Add model: real inputs exclude initializers, dim_params become -1', async () => {
    // Prepare
    const bytes = encodeModel(addDynamicBatchModel());

    // Act
    const sig = await read(bytes);

    // Assess
    expect(sig).toEqual({
      irVersion: 8,
      opsets: [{ domain: '', version: 13 }],
      producerName: 'inferplane-test',
      producerVersion: '1',
      graphName: 'add_dynamic_batch',
      inputs: [
        { name: 'X', elemType: 1, dataType: 'TYPE_FP32', dims: [-1, 3], rankKnown: true, kind: 'tensor' },
      ],
      outputs: [
        { name: 'Y', elemType: 1, dataType: 'TYPE_FP32', dims: [-1, 3], rankKnown: true, kind: 'tensor' },
      ],
      externalData: [],
    });
  });

  it('reads fixed dims and several outputs in order', async () => {
    // Act
    const sig = await read(encodeModel(identityFixedModel()));

    // Assess
    expect(sig.inputs.map((i) => [i.name, i.dataType, i.dims])).toEqual([
      ['INPUT0', 'TYPE_INT64', [2, 2]],
      ['INPUT1', 'TYPE_FP16', [4]],
    ]);
    expect(sig.outputs.map((o) => o.name)).toEqual(['OUTPUT0', 'OUTPUT1']);
    expect(sig.producerVersion).toBeUndefined();
  });

  it('lists initializers stored in external files with their location', async () => {
    // Act
    const sig = await read(encodeModel(externalDataModel()));

    // Assess
    expect(sig.externalData).toEqual([{ tensor: 'W', location: 'weights.bin' }]);
    expect(sig.inputs.map((i) => i.name)).toEqual(['X']);
  });

  it('accepts opset_import before the graph and several opsets', async () => {
    // Prepare
    const spec = {
      ...addDynamicBatchModel(),
      opsetFirst: true,
      opsets: [
        { domain: '', version: 17 },
        { domain: 'com.microsoft', version: 1 },
      ],
    };

    // Act
    const sig = await read(encodeModel(spec));

    // Assess
    expect(sig.opsets).toEqual([
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ]);
    expect(sig.inputs.map((i) => i.name)).toEqual(['X']);
  });

  it('removes an input named like an initializer listed AFTER the inputs', async () => {
    // Prepare: graph with inputs first, initializer last (valid protobuf, unusual order).
    const graph = concat([
      stringField(2, 'g'),
      bytesField(11, encodeValueInfo({ name: 'X', elemType: 1, dims: [1] })),
      bytesField(11, encodeValueInfo({ name: 'B', elemType: 1, dims: [1] })),
      bytesField(12, encodeValueInfo({ name: 'Y', elemType: 1, dims: [1] })),
      bytesField(5, concat([varintField(2, 1), stringField(8, 'B'), bytesField(9, new Uint8Array(4))])),
    ]);
    const bytes = concat([varintField(1, 7), bytesField(7, graph), bytesField(8, varintField(2, 11))]);

    // Act
    const sig = await read(bytes);

    // Assess
    expect(sig.inputs.map((i) => i.name)).toEqual(['X']);
  });

  it('treats a sparse initializer name as a default value too', async () => {
    // Prepare
    const values = concat([varintField(2, 1), stringField(8, 'S')]);
    const graph = concat([
      bytesField(15, bytesField(1, values)),
      bytesField(11, encodeValueInfo({ name: 'X', elemType: 1, dims: [1] })),
      bytesField(11, encodeValueInfo({ name: 'S', elemType: 1, dims: [1] })),
      bytesField(12, encodeValueInfo({ name: 'Y', elemType: 1, dims: [1] })),
    ]);
    const bytes = concat([varintField(1, 8), bytesField(7, graph), bytesField(8, varintField(2, 13))]);

    // Act
    const sig = await read(bytes);

    // Assess
    expect(sig.inputs.map((i) => i.name)).toEqual(['X']);
  });

  it.each([
    { dims: [null, 3], expected: [-1, 3], rankKnown: true, why: 'an unset dim is variable' },
    { dims: ['n', 'seq', 768], expected: [-1, -1, 768], rankKnown: true, why: 'dim_params are variable' },
    { dims: [], expected: [], rankKnown: true, why: 'a scalar has an empty shape' },
    { dims: null, expected: [], rankKnown: false, why: 'no shape means unknown rank' },
    { dims: [0, 1], expected: [0, 1], rankKnown: true, why: 'a 0 dim is a real (empty) dim' },
  ] as const)('dims $dims -> $expected ($why)', async ({ dims, expected, rankKnown }) => {
    // Act
    const sig = await read(encodeModel(identity([{ name: 'X', elemType: 1, dims }])));

    // Assess
    expect(sig.inputs[0]).toMatchObject({ dims: expected, rankKnown });
  });

  it.each([
    [ElemType.FLOAT, 'TYPE_FP32'],
    [ElemType.UINT8, 'TYPE_UINT8'],
    [ElemType.INT8, 'TYPE_INT8'],
    [ElemType.UINT16, 'TYPE_UINT16'],
    [ElemType.INT16, 'TYPE_INT16'],
    [ElemType.INT32, 'TYPE_INT32'],
    [ElemType.INT64, 'TYPE_INT64'],
    [ElemType.STRING, 'TYPE_STRING'],
    [ElemType.BOOL, 'TYPE_BOOL'],
    [ElemType.FLOAT16, 'TYPE_FP16'],
    [ElemType.DOUBLE, 'TYPE_FP64'],
    [ElemType.UINT32, 'TYPE_UINT32'],
    [ElemType.UINT64, 'TYPE_UINT64'],
    [ElemType.BFLOAT16, 'TYPE_BF16'],
    [ElemType.COMPLEX64, null],
    [15, null],
    [ElemType.FLOAT8E4M3FN, null],
    [22, null],
    [0, null],
    [999, null],
  ])('elem_type %i maps to %s', async (elemType, dataType) => {
    // Act
    const sig = await read(encodeModel(identity([{ name: 'X', elemType, dims: [1] }])));

    // Assess
    expect(sig.inputs[0]).toMatchObject({ elemType, dataType });
  });

  it('reports a sequence input as kind sequence with no data type', async () => {
    // Prepare: TypeProto.sequence_type { elem_type: TypeProto.tensor_type {FLOAT} }
    const tensorType = bytesField(1, varintField(1, 1));
    const seqType = bytesField(4, bytesField(1, tensorType));
    const input = concat([stringField(1, 'S'), bytesField(2, seqType)]);
    const graph = concat([
      bytesField(11, input),
      bytesField(12, encodeValueInfo({ name: 'Y', elemType: 1, dims: [1] })),
    ]);
    const bytes = concat([varintField(1, 8), bytesField(7, graph), bytesField(8, varintField(2, 13))]);

    // Act
    const sig = await read(bytes);

    // Assess
    expect(sig.inputs[0]).toEqual({
      name: 'S',
      elemType: 0,
      dataType: null,
      dims: [],
      rankKnown: false,
      kind: 'sequence',
    });
  });

  it('skips unknown fields of every wire type, including 10-byte negative varints', async () => {
    // Prepare: unknown fields 99 (varint -1), 100 (fixed64), 101 (fixed32), 102 (bytes) everywhere.
    const noise = concat([
      varintField(99, -1n),
      tag(100, 1),
      new Uint8Array(8),
      tag(101, 5),
      new Uint8Array(4),
      bytesField(102, new Uint8Array(300)),
    ]);
    const input = concat([noise, encodeValueInfo({ name: 'X', elemType: 1, dims: [5] }), noise]);
    const graph = concat([
      noise,
      bytesField(11, input),
      bytesField(12, encodeValueInfo({ name: 'Y', elemType: 1, dims: [5] })),
    ]);
    const bytes = concat([varintField(1, 9), noise, bytesField(7, graph), bytesField(8, varintField(2, 13))]);

    // Act
    const sig = await read(bytes);

    // Assess
    expect(sig.inputs).toEqual([
      { name: 'X', elemType: 1, dataType: 'TYPE_FP32', dims: [5], rankKnown: true, kind: 'tensor' },
    ]);
  });

  it('does not read the payload of a large initializer (counts bytes read)', async () => {
    // Prepare: 4 MiB of raw_data, read through 4 KiB windows.
    const spec = addDynamicBatchModel();
    const big = { name: 'W', dataType: 1, dims: [1 << 20], raw: new Uint8Array(4 << 20) };
    const bytes = encodeModel({ ...spec, initializers: [big] });
    const source = memoryByteSource(bytes);

    // Act
    const sig = await readOnnxSignature(source, { windowBytes: 4096 });

    // Assess
    expect(sig.inputs.map((i) => i.name)).toEqual(['X']);
    expect(source.bytesRead).toBeLessThan(4 * 4096);
  });
});

function model(graph: Uint8Array, head = varintField(1, 8)): Uint8Array {
  return concat([head, bytesField(7, graph), bytesField(8, varintField(2, 13))]);
}

const validGraph = concat([
  bytesField(11, encodeValueInfo({ name: 'X', elemType: 1, dims: [1] })),
  bytesField(12, encodeValueInfo({ name: 'Y', elemType: 1, dims: [1] })),
]);

function nestedSequences(depth: number): Uint8Array {
  let type = bytesField(1, varintField(1, 1));
  for (let i = 0; i < depth; i++) type = bytesField(4, bytesField(1, type));
  return type;
}

describe('readOnnxSignature on files that are not usable ONNX models', () => {
  const text = new TextEncoder();
  it.each([
    { why: 'an empty file', bytes: new Uint8Array(0), message: 'not an ONNX model (empty file)' },
    {
      why: 'a ZIP (PyTorch .pt)',
      bytes: concat([Uint8Array.of(0x50, 0x4b, 3, 4), new Uint8Array(100)]),
      message: 'not an ONNX model (looks like a ZIP archive',
    },
    {
      why: 'a PNG',
      bytes: Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13),
      message: 'not an ONNX model (looks like a PNG image)',
    },
    { why: 'a text file', bytes: text.encode('ir_version: 8\ngraph {}\n'), message: 'not an ONNX model (' },
    { why: 'a JSON file', bytes: text.encode('{"name": "model"}'), message: 'not an ONNX model (' },
    {
      why: 'a TensorRT plan (binary header)',
      bytes: concat([
        text.encode('ftrt'),
        Uint8Array.of(0, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde),
        new Uint8Array(64),
      ]),
      message: 'not an ONNX model (',
    },
    {
      why: 'a protobuf that is not a ModelProto',
      bytes: concat([stringField(3, 'x'), varintField(1, 2)]),
      message: 'not an ONNX model (',
    },
    {
      why: 'no graph',
      bytes: concat([varintField(1, 8), bytesField(8, varintField(2, 13))]),
      message: 'no graph',
    },
    {
      why: 'no ir_version',
      bytes: concat([bytesField(7, validGraph), bytesField(8, varintField(2, 13))]),
      message: 'no ir_version',
    },
    {
      why: 'no opset_import',
      bytes: concat([varintField(1, 8), bytesField(7, validGraph)]),
      message: 'no opset_import',
    },
    {
      why: 'no outputs',
      bytes: model(bytesField(11, encodeValueInfo({ name: 'X', elemType: 1, dims: [1] }))),
      message: 'the graph has no outputs',
    },
    {
      why: 'only initializer inputs',
      bytes: model(
        concat([
          bytesField(5, stringField(8, 'X')),
          bytesField(11, encodeValueInfo({ name: 'X', elemType: 1, dims: [1] })),
          bytesField(12, encodeValueInfo({ name: 'Y', elemType: 1, dims: [1] })),
        ]),
      ),
      message: 'the graph has no inputs',
    },
    {
      why: 'a declared length beyond the end of the file',
      bytes: concat([varintField(1, 8), tag(7, 2), varint(1_000_000_000), validGraph]),
      message: 'declared length 1000000000 exceeds file size',
    },
    {
      why: 'a declared length of 2^53 - 1',
      bytes: concat([varintField(1, 8), tag(6, 2), varint(Number.MAX_SAFE_INTEGER)]),
      message: `declared length ${Number.MAX_SAFE_INTEGER} exceeds file size`,
    },
    {
      why: 'a declared length beyond 2^53',
      bytes: concat([varintField(1, 8), tag(6, 2), varint(2n ** 60n)]),
      message: 'out of range',
    },
    {
      why: 'a sub-message longer than its parent',
      bytes: concat([varintField(1, 8), tag(7, 2), varint(3), tag(11, 2), varint(50), new Uint8Array(60)]),
      message: 'declared length 50 at byte 5 runs past the end of its message at byte 7',
    },
    {
      why: 'a varint cut at the end of the file',
      bytes: Uint8Array.of(0x08, 0xff, 0xff),
      message: 'truncated at byte 3',
    },
    {
      why: 'an 11-byte varint',
      bytes: concat([Uint8Array.of(0x08), new Uint8Array(10).fill(0x80), Uint8Array.of(0x01)]),
      message: 'varint at byte 1 overflows 64 bits',
    },
    {
      why: 'a varint over 64 bits',
      bytes: concat([Uint8Array.of(0x08), new Uint8Array(9).fill(0xff), Uint8Array.of(0x02)]),
      message: 'overflows 64 bits',
    },
    {
      why: 'a protobuf group',
      bytes: concat([varintField(1, 8), tag(7, 3), tag(7, 4)]),
      message: 'groups (wire type 3)',
    },
    {
      why: 'an invalid wire type inside the graph',
      bytes: model(concat([validGraph, tag(30, 7)])),
      message: 'malformed ONNX model: invalid wire type 7',
    },
    {
      why: 'a known field with the wrong wire type',
      bytes: concat([varintField(1, 8), varintField(7, 1)]),
      message: 'not an ONNX model (ModelProto field 7 (field 7) at byte 2 has wire type varint',
    },
    {
      why: 'a name over 64 KiB',
      bytes: model(
        concat([
          bytesField(11, concat([stringField(1, 'x'.repeat(70_000))])),
          bytesField(12, encodeValueInfo({ name: 'Y', elemType: 1, dims: [1] })),
        ]),
      ),
      message: 'is 70000 bytes, over the 65536-byte limit',
    },
    {
      why: 'a fixed64 cut at the end of the file',
      bytes: concat([varintField(1, 8), tag(99, 1), new Uint8Array(3)]),
      message: 'truncated at byte',
    },
    {
      why: 'a negative dim_value',
      bytes: model(
        concat([
          bytesField(11, encodeValueInfo({ name: 'X', elemType: 1, dims: [-2] })),
          bytesField(12, encodeValueInfo({ name: 'Y', elemType: 1, dims: [1] })),
        ]),
      ),
      message: 'dim_value -2',
    },
  ])('rejects $why', async ({ bytes, message }) => {
    // Act
    const err = await failure(bytes);

    // Assess
    expect(err).toBeInstanceOf(OnnxFormatError);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toContain(message);
  });

  it('rejects nesting deeper than the limit (sequence of sequence of ...)', async () => {
    // Prepare
    const input = concat([stringField(1, 'S'), bytesField(2, nestedSequences(40))]);
    const bytes = model(
      concat([bytesField(11, input), bytesField(12, encodeValueInfo({ name: 'Y', elemType: 1 }))]),
    );

    // Act
    const err = await failure(bytes);

    // Assess
    expect(err).toBeInstanceOf(OnnxFormatError);
    expect(err.message).toMatch(/^nesting deeper than 32 at byte \d+$/);
  });

  it('accepts nesting within the limit', async () => {
    // Prepare: 10 sequences -> depth 3 + 2 * 10 + 2 = 25 <= 32.
    const input = concat([stringField(1, 'S'), bytesField(2, nestedSequences(10))]);
    const bytes = model(
      concat([bytesField(11, input), bytesField(12, encodeValueInfo({ name: 'Y', elemType: 1 }))]),
    );

    // Act
    const sig = await read(bytes);

    // Assess
    expect(sig.inputs[0]?.kind).toBe('sequence');
  });

  it('stops after maxFields fields', async () => {
    // Prepare: 1000 unknown varint fields at the top level.
    const noise = concat(Array.from({ length: 1000 }, () => varintField(99, 1)));
    const bytes = concat([
      varintField(1, 8),
      noise,
      bytesField(7, validGraph),
      bytesField(8, varintField(2, 13)),
    ]);

    // Act
    const err = await failure(bytes, { maxFields: 500 });

    // Assess
    expect(err).toBeInstanceOf(OnnxFormatError);
    expect(err.message).toContain('more than 500 protobuf fields');
    await expect(read(bytes)).resolves.toMatchObject({ irVersion: 8 });
  });

  it('stops when kept names exceed maxRetainedBytes', async () => {
    // Prepare: 100 initializers of 100-byte names.
    const inits = Array.from({ length: 100 }, (_, i) =>
      bytesField(5, stringField(8, `${i}`.padStart(100, 'w'))),
    );
    const bytes = model(concat([...inits, validGraph]));

    // Act
    const err = await failure(bytes, { maxRetainedBytes: 5000 });

    // Assess
    expect(err.message).toContain('names and dims total more than 5000 bytes');
  });

  it('stops when dims exceed maxRetainedBytes (8 bytes counted per dim)', async () => {
    // Prepare: one input of rank 1000.
    const dims = Array.from({ length: 1000 }, () => 1);
    const bytes = model(
      concat([
        bytesField(11, encodeValueInfo({ name: 'X', elemType: 1, dims })),
        bytesField(12, encodeValueInfo({ name: 'Y', elemType: 1, dims: [1] })),
      ]),
    );

    // Act
    // (rank 1000 is over the default maxRank, which this test is not about)
    const err = await failure(bytes, { maxRetainedBytes: 4000, maxRank: 2000 });

    // Assess
    expect(err.message).toContain('names and dims total more than 4000 bytes');
    await expect(read(bytes, { maxRank: 2000 })).resolves.toMatchObject({ inputs: [{ dims }] });
  });

  it('rejects invalid limits with a ValidationError', async () => {
    // Act
    const err = await failure(encodeModel(addDynamicBatchModel()), { maxDepth: 0, windowBytes: 8 });

    // Assess
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.path).sort()).toEqual(['maxDepth', 'windowBytes']);
  });

  it.each([
    ['Add model', encodeModel(addDynamicBatchModel())],
    ['external-data model', encodeModel(externalDataModel())],
    ['opset-first model', encodeModel({ ...identityFixedModel(), opsetFirst: true })],
  ])('every strict prefix of the %s gives an OnnxFormatError', async (_name, bytes) => {
    // Act
    const outcomes: string[] = [];
    for (let n = 0; n < bytes.byteLength; n++) {
      try {
        await read(bytes.subarray(0, n), { windowBytes: 16 });
        outcomes.push(`${n}: accepted`);
      } catch (err) {
        if (!(err instanceof OnnxFormatError)) outcomes.push(`${n}: ${String(err)}`);
      }
    }

    // Assess
    expect(outcomes).toEqual([]);
    await expect(read(bytes)).resolves.toBeDefined();
  });

  it('random bytes are rejected with an OnnxFormatError, never a crash or a hang', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 2048 }), async (bytes) => {
        try {
          const sig = await read(bytes, { windowBytes: 64 });
          // Astronomically unlikely, but a valid model is a valid outcome; it must then be well formed.
          expect(sig.inputs.length).toBeGreaterThan(0);
        } catch (err) {
          expect(err).toBeInstanceOf(OnnxFormatError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a valid model with random bytes flipped is rejected or read, never a crash', async () => {
    const bytes = encodeModel(addDynamicBatchModel());
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: bytes.byteLength - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        async (flips) => {
          const copy = bytes.slice();
          for (const [at, value] of flips) copy[at] = value;
          try {
            const sig = await read(copy, { windowBytes: 32 });
            expect(sig.outputs.length).toBeGreaterThan(0);
          } catch (err) {
            expect(err).toBeInstanceOf(OnnxFormatError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
