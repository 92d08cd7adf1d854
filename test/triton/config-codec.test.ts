import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/runtime/errors';
import {
  formatModelConfig,
  modelConfigFromJson,
  parseModelConfig,
  toLoadApiConfigParameter,
} from '../../shared/triton/config-codec';
import { type ModelConfig, TRITON_DATA_TYPES, type TritonDataType } from '../../shared/triton/model-config';
import { PbtxtSyntaxError } from '../../shared/triton/pbtxt';

// Configs as the Triton docs write them (model_configuration.md, architecture.md, the backends'
// READMEs); fields inferplane does not model (format, label_filename) are left out.
const DOC_CONFIGS: Array<[string, string, ModelConfig]> = [
  [
    'ONNX with reshape and no batching',
    `name: "densenet_onnx"
platform: "onnxruntime_onnx"
max_batch_size : 0
input [
  {
    name: "data_0"
    data_type: TYPE_FP32
    dims: [ 3, 224, 224 ]
    reshape { shape: [ 1, 3, 224, 224 ] }
  }
]
output [
  {
    name: "fc6_1"
    data_type: TYPE_FP32
    dims: [ 1000 ]
    reshape { shape: [ 1, 1000, 1, 1 ] }
  }
]`,
    {
      name: 'densenet_onnx',
      platform: 'onnxruntime_onnx',
      max_batch_size: 0,
      input: [
        { name: 'data_0', data_type: 'TYPE_FP32', dims: [3, 224, 224], reshape: { shape: [1, 3, 224, 224] } },
      ],
      output: [{ name: 'fc6_1', data_type: 'TYPE_FP32', dims: [1000], reshape: { shape: [1, 1000, 1, 1] } }],
    },
  ],
  [
    'TensorRT on two GPUs with dynamic batching and cc_model_filenames',
    `name: "mytrt"
platform: "tensorrt_plan"
max_batch_size: 8
input [
  { name: "input0", data_type: TYPE_FP32, dims: [ 16 ] },
  { name: "input1", data_type: TYPE_FP32, dims: [ 16 ] }
]
output [ { name: "output0" data_type: TYPE_FP32 dims: [ 16 ] } ]
instance_group [
  {
    count: 1
    kind: KIND_GPU
    gpus: [ 0, 1 ]
  }
]
dynamic_batching {
  preferred_batch_size: [ 4, 8 ]
  max_queue_delay_microseconds: 100
}
cc_model_filenames [
  { key: "7.5" value: "model_t4.plan" },
  { key: "8.0" value: "model_a100.plan" }
]`,
    {
      name: 'mytrt',
      platform: 'tensorrt_plan',
      max_batch_size: 8,
      input: [
        { name: 'input0', data_type: 'TYPE_FP32', dims: [16] },
        { name: 'input1', data_type: 'TYPE_FP32', dims: [16] },
      ],
      output: [{ name: 'output0', data_type: 'TYPE_FP32', dims: [16] }],
      instance_group: [{ count: 1, kind: 'KIND_GPU', gpus: [0, 1] }],
      dynamic_batching: { preferred_batch_size: [4, 8], max_queue_delay_microseconds: 100 },
      cc_model_filenames: { '7.5': 'model_t4.plan', '8.0': 'model_a100.plan' },
    },
  ],
  [
    'PyTorch with INPUT__0 naming',
    `name: "resnet_pt"
platform: "pytorch_libtorch"
max_batch_size: 4
input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 3, -1, -1 ] } ]
output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 1000 ] } ]
instance_group [ { kind: KIND_CPU, count: 2 } ]`,
    {
      name: 'resnet_pt',
      platform: 'pytorch_libtorch',
      max_batch_size: 4,
      input: [{ name: 'INPUT__0', data_type: 'TYPE_FP32', dims: [3, -1, -1] }],
      output: [{ name: 'OUTPUT__0', data_type: 'TYPE_FP32', dims: [1000] }],
      instance_group: [{ kind: 'KIND_CPU', count: 2 }],
    },
  ],
  [
    'Python backend with parameters',
    `name: "add_sub"
backend: "python"
input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "OUTPUT0" data_type: TYPE_STRING dims: [ 4 ] optional: false } ]
parameters: {
  key: "EXECUTION_ENV_PATH",
  value: {string_value: "$$TRITON_MODEL_DIRECTORY/python3.8.tar.gz"}
}
parameters { key: "shm-default-byte-size" value { string_value: "1048576" } }
instance_group [{ kind: KIND_CPU }]`,
    {
      name: 'add_sub',
      backend: 'python',
      input: [{ name: 'INPUT0', data_type: 'TYPE_FP32', dims: [4] }],
      output: [{ name: 'OUTPUT0', data_type: 'TYPE_STRING', dims: [4], optional: false }],
      parameters: {
        EXECUTION_ENV_PATH: { string_value: '$$TRITON_MODEL_DIRECTORY/python3.8.tar.gz' },
        'shm-default-byte-size': { string_value: '1048576' },
      },
      instance_group: [{ kind: 'KIND_CPU' }],
    },
  ],
  [
    'ensemble with two steps',
    `name: "ensemble_model"
platform: "ensemble"
max_batch_size: 1
input [ { name: "IMAGE" data_type: TYPE_STRING dims: [ 1 ] } ]
output [ { name: "CLASSIFICATION" data_type: TYPE_FP32 dims: [ 1000 ] } ]
ensemble_scheduling {
  step [
    {
      model_name: "image_preprocess_model"
      model_version: -1
      input_map { key: "RAW_IMAGE" value: "IMAGE" }
      output_map { key: "PREPROCESSED_OUTPUT" value: "preprocessed_image" }
    },
    {
      model_name: "classification_model"
      model_version: -1
      input_map { key: "FORMATTED_IMAGE" value: "preprocessed_image" }
      output_map { key: "CLASSIFICATION_OUTPUT" value: "CLASSIFICATION" }
    }
  ]
}`,
    {
      name: 'ensemble_model',
      platform: 'ensemble',
      max_batch_size: 1,
      input: [{ name: 'IMAGE', data_type: 'TYPE_STRING', dims: [1] }],
      output: [{ name: 'CLASSIFICATION', data_type: 'TYPE_FP32', dims: [1000] }],
      ensemble_scheduling: {
        step: [
          {
            model_name: 'image_preprocess_model',
            model_version: -1,
            input_map: { RAW_IMAGE: 'IMAGE' },
            output_map: { PREPROCESSED_OUTPUT: 'preprocessed_image' },
          },
          {
            model_name: 'classification_model',
            model_version: -1,
            input_map: { FORMATTED_IMAGE: 'preprocessed_image' },
            output_map: { CLASSIFICATION_OUTPUT: 'CLASSIFICATION' },
          },
        ],
      },
    },
  ],
  [
    'warmup with zero and random data',
    `name: "warm"
platform: "onnxruntime_onnx"
max_batch_size: 8
model_warmup [
  {
    name: "zero_value_warmup"
    batch_size: 1
    inputs {
      key: "INPUT0"
      value: { data_type: TYPE_FP32 dims: [ 16 ] zero_data: true }
    }
  },
  {
    name: "random"
    batch_size: 8
    count: 3
    inputs { key: "INPUT0" value: { data_type: TYPE_FP32 dims: [ 16 ] random_data: true } }
    inputs { key: "INPUT1" value: { data_type: TYPE_INT64 dims: [ 1 ] input_data_file: "raw_in1" } }
  }
]`,
    {
      name: 'warm',
      platform: 'onnxruntime_onnx',
      max_batch_size: 8,
      model_warmup: [
        {
          name: 'zero_value_warmup',
          batch_size: 1,
          inputs: { INPUT0: { data_type: 'TYPE_FP32', dims: [16], zero_data: true } },
        },
        {
          name: 'random',
          batch_size: 8,
          count: 3,
          inputs: {
            INPUT0: { data_type: 'TYPE_FP32', dims: [16], random_data: true },
            INPUT1: { data_type: 'TYPE_INT64', dims: [1], input_data_file: 'raw_in1' },
          },
        },
      ],
    },
  ],
  [
    'dynamic batching, empty',
    'name: "db"\nbackend: "onnxruntime"\nmax_batch_size: 16\ndynamic_batching { }',
    { name: 'db', backend: 'onnxruntime', max_batch_size: 16, dynamic_batching: {} },
  ],
  [
    'version policy specific',
    'name: "v"\nplatform: "onnxruntime_onnx"\nversion_policy: { specific: { versions: [1, 3] } }',
    { name: 'v', platform: 'onnxruntime_onnx', version_policy: { specific: { versions: [1, 3] } } },
  ],
  [
    'version policy all',
    'name: "v"\nplatform: "onnxruntime_onnx"\nversion_policy: { all { } }',
    { name: 'v', platform: 'onnxruntime_onnx', version_policy: { all: {} } },
  ],
  [
    'version policy latest',
    'name: "v"\nplatform: "onnxruntime_onnx"\nversion_policy: { latest { num_versions: 2 } }',
    { name: 'v', platform: 'onnxruntime_onnx', version_policy: { latest: { num_versions: 2 } } },
  ],
  [
    'scalar input reshaped',
    'name: "s"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 4\ninput { name: "x" data_type: TYPE_BOOL dims: [1] reshape: { shape: [ ] } }\ndefault_model_filename: "m.onnx"',
    {
      name: 's',
      platform: 'onnxruntime_onnx',
      max_batch_size: 4,
      input: [{ name: 'x', data_type: 'TYPE_BOOL', dims: [1], reshape: { shape: [] } }],
      default_model_filename: 'm.onnx',
    },
  ],
];

describe('parseModelConfig on configs from the Triton docs', () => {
  it.each(DOC_CONFIGS)('%s', (_name, text, expected) => {
    // Act
    const config = parseModelConfig(text);
    // Assess
    expect(config).toEqual(expected);
  });

  it.each(DOC_CONFIGS)('%s: format then parse gives the same config', (_name, _text, config) => {
    // Act
    const text = formatModelConfig(config);
    // Assess
    expect(parseModelConfig(text)).toEqual(config);
    expect(formatModelConfig(parseModelConfig(text))).toBe(text);
  });
});

describe('formatModelConfig', () => {
  it('writes readable canonical text in proto field order', () => {
    // Prepare
    const config: ModelConfig = {
      dynamic_batching: { max_queue_delay_microseconds: 100 },
      instance_group: [{ count: 2, kind: 'KIND_GPU', gpus: [0, 1] }],
      input: [{ name: 'INPUT__0', data_type: 'TYPE_FP32', dims: [-1, 3] }],
      max_batch_size: 8,
      platform: 'pytorch_libtorch',
      name: 'm',
      parameters: { b: { string_value: '2' }, a: { string_value: 'x"y' } },
    };
    // Act
    const text = formatModelConfig(config);
    // Assess
    expect(text).toBe(`name: "m"
platform: "pytorch_libtorch"
max_batch_size: 8
input {
  name: "INPUT__0"
  data_type: TYPE_FP32
  dims: [ -1, 3 ]
}
instance_group {
  count: 2
  kind: KIND_GPU
  gpus: [ 0, 1 ]
}
dynamic_batching {
  max_queue_delay_microseconds: 100
}
parameters {
  key: "a"
  value {
    string_value: "x\\"y"
  }
}
parameters {
  key: "b"
  value {
    string_value: "2"
  }
}
`);
  });

  it('refuses an invalid config instead of writing a file Triton rejects', () => {
    // Prepare
    const bad = { name: 'm', max_batch_size: -1, input: [{ name: 'x', data_type: 'FP32', dims: [1.5] }] };
    // Act / Assess
    expect(() => formatModelConfig(bad as unknown as ModelConfig)).toThrow(ValidationError);
    try {
      formatModelConfig(bad as unknown as ModelConfig);
    } catch (err) {
      const paths = (err as ValidationError).issues.map((i) => i.path);
      expect(paths).toEqual(
        expect.arrayContaining(['max_batch_size', 'input.0.data_type', 'input.0.dims.0']),
      );
    }
  });
});

describe('parseModelConfig rejects what Triton rejects', () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      'unknown top-level fields, all listed',
      'name: "m"\nfoo: 1\nbar { }',
      /unknown field\(s\): foo \(at 2:1\), bar \(at 3:1\)/,
    ],
    [
      'Triton fields inferplane does not model',
      'name: "m"\nsequence_batching { }',
      /valid in Triton but not supported by inferplane: sequence_batching/,
    ],
    [
      'unknown nested field',
      'name: "m"\ninput { name: "x" data_type: TYPE_FP32 dims: [1] format: FORMAT_NCHW }',
      /input\.0: unknown field\(s\): format \(at 2:50\)/,
    ],
    ['inference-protocol name', 'name: "m"\ninputs { name: "x" }', /unknown field\(s\): inputs/],
    [
      'enum value not a data type',
      'name: "m"\ninput { name: "x" data_type: FP32 dims: [1] }',
      /input\.0\.data_type: expected one of TYPE_BOOL, .* \(at 2:30\)/,
    ],
    [
      'enum given as a string',
      'name: "m"\ninput { name: "x" data_type: "TYPE_FP32" dims: [1] }',
      /expected one of TYPE_BOOL/,
    ],
    [
      'float where an integer belongs',
      'name: "m"\nmax_batch_size: 1.5',
      /max_batch_size: expected an integer \(at 2:17\)/,
    ],
    [
      'negative unsigned',
      'name: "m"\ndynamic_batching { max_queue_delay_microseconds: -1 }',
      /non-negative integer/,
    ],
    ['string where an integer belongs', 'name: "m"\nmax_batch_size: "8"', /expected an integer/],
    [
      'bad bool',
      'name: "m"\ninput { name: "x" data_type: TYPE_FP32 dims: [1] optional: yes }',
      /expected true or false/,
    ],
    [
      'non-repeated field twice',
      'name: "m"\nname: "n"',
      /name: non-repeated field is specified more than once \(at 2:1\)/,
    ],
    ['scalar where a message belongs', 'name: "m"\ndynamic_batching: 3', /expected a message/],
    ['message where a scalar belongs', 'name { }', /expected a scalar value, found a message/],
    [
      'two members of the version_policy oneof',
      'name: "m"\nversion_policy { all {} latest { num_versions: 1 } }',
      /version_policy/,
    ],
    [
      '__proto__ as a map key',
      'name: "m"\nparameters { key: "__proto__" value { string_value: "v" } }',
      /parameters: '__proto__' is not allowed as a key \(at 2:12\)/,
    ],
    [
      'map entry without key',
      'name: "m"\nparameters { value { string_value: "v" } }',
      /map entry without a string key/,
    ],
    ['missing name', 'platform: "ensemble"', /name/],
    [
      'dims below -1',
      'name: "m"\ninput { name: "x" data_type: TYPE_FP32 dims: [ -2 ] }',
      /input\.0\.dims\.0/,
    ],
  ];
  it.each(cases)('%s', (_name, text, message) => {
    // Act
    let caught: unknown;
    try {
      parseModelConfig(text);
    } catch (err) {
      caught = err;
    }
    // Assess
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as Error).message).toMatch(message);
  });

  it('reports syntax errors with their line and column', () => {
    expect(() => parseModelConfig('name: "m"\nmax_batch_size 8')).toThrow(PbtxtSyntaxError);
    expect(() => parseModelConfig('name: "m"\nmax_batch_size 8')).toThrow(/^2:16: expected ':' or '\{'/);
  });

  it('names a config without `name` after its directory when told', () => {
    // Act
    const config = parseModelConfig('platform: "onnxruntime_onnx"', { defaultName: 'dir_name' });
    // Assess
    expect(config).toEqual({ name: 'dir_name', platform: 'onnxruntime_onnx' });
  });

  it('accepts protobuf bool spellings', () => {
    const text = 'name: "m"\ndynamic_batching { preserve_ordering: 1 }';
    expect(parseModelConfig(text).dynamic_batching).toEqual({ preserve_ordering: true });
    expect(parseModelConfig(text.replace('1', 'False')).dynamic_batching).toEqual({
      preserve_ordering: false,
    });
  });
});

describe('load API JSON', () => {
  it('writes the config parameter as a JSON string in ModelConfig field names', () => {
    // Prepare
    const config = DOC_CONFIGS[1]![2];
    // Act
    const param = toLoadApiConfigParameter(config);
    // Assess
    expect(typeof param).toBe('string');
    const parsed = JSON.parse(param) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual([
      'name',
      'platform',
      'max_batch_size',
      'input',
      'output',
      'instance_group',
      'dynamic_batching',
      'cc_model_filenames',
    ]);
    expect(param).toContain('"data_type":"TYPE_FP32"');
    expect(param).not.toContain('datatype');
    expect(modelConfigFromJson(parsed)).toEqual(config);
  });

  it('reads int64 values written as strings, as protobuf JSON does', () => {
    // Act
    const config = modelConfigFromJson({
      name: 'm',
      input: [{ name: 'x', data_type: 'TYPE_FP32', dims: ['-1', '3'] }],
      dynamic_batching: { max_queue_delay_microseconds: '100' },
    });
    // Assess
    expect(config.input![0]!.dims).toEqual([-1, 3]);
    expect(config.dynamic_batching).toEqual({ max_queue_delay_microseconds: 100 });
  });

  const bad: Array<[string, unknown, RegExp]> = [
    [
      'inference-protocol names',
      { name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [1] }] },
      /'inputs' \(inference-protocol name; ModelConfig uses 'input'\)/,
    ],
    [
      'datatype inside input',
      { name: 'm', input: [{ name: 'x', datatype: 'FP32', dims: [1] }] },
      /input\.0\.datatype: unknown field 'datatype' \(inference-protocol name; ModelConfig uses 'data_type'\)/,
    ],
    ['not an object', ['m'], /expected a JSON object/],
    [
      '__proto__ as a map key',
      JSON.parse('{"name":"m","parameters":{"__proto__":{"string_value":"x"}}}'),
      /parameters\.__proto__: '__proto__' is not allowed/,
    ],
    ['wrong scalar type', { name: 'm', max_batch_size: 'eight' }, /max_batch_size/],
    [
      'unmodelled Triton field',
      { name: 'm', optimization: {} },
      /'optimization' is valid in Triton but not supported/,
    ],
  ];
  it.each(bad)('rejects %s', (_name, json, message) => {
    expect(() => modelConfigFromJson(json)).toThrow(message);
  });
});

// ---- property: parse(format(c)) deep-equals c for any valid config -------------------------------

const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const nonEmpty = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });
const dataType = fc.constantFrom<TritonDataType>(...TRITON_DATA_TYPES);
const dimsArb = fc.array(fc.integer({ min: -1, max: 1 << 20 }), { maxLength: 5 });
const int = fc.integer({ min: 0, max: 2 ** 40 });
const tensor = fc.record(
  {
    name: nonEmpty,
    data_type: dataType,
    dims: dimsArb,
    reshape: fc.record({ shape: dimsArb }),
    optional: fc.boolean(),
  },
  { requiredKeys: ['name', 'data_type', 'dims'] },
);
// `__proto__` keys are refused by design (tested above), so generated maps avoid them.
const key = text.filter((k) => k !== '__proto__');
const dict = <T>(value: fc.Arbitrary<T>) => fc.dictionary(key, value, { maxKeys: 3 });
const versionPolicy = fc.oneof(
  fc.record({ latest: fc.record({ num_versions: fc.integer({ min: 1, max: 5 }) }) }),
  fc.constant({ all: {} }),
  fc.record({
    specific: fc.record({
      versions: fc.array(fc.integer({ min: 1, max: 1e9 }), { minLength: 1, maxLength: 3 }),
    }),
  }),
);
const configArb: fc.Arbitrary<ModelConfig> = fc.record(
  {
    name: nonEmpty,
    platform: text,
    backend: text,
    version_policy: versionPolicy,
    max_batch_size: fc.integer({ min: 0, max: 1024 }),
    input: fc.array(tensor, { maxLength: 3 }),
    output: fc.array(tensor, { maxLength: 3 }),
    instance_group: fc.array(
      fc.record(
        {
          name: text,
          count: fc.integer({ min: 0, max: 8 }),
          kind: fc.constantFrom('KIND_AUTO', 'KIND_GPU', 'KIND_CPU', 'KIND_MODEL'),
          gpus: fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 3 }),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 2 },
    ),
    dynamic_batching: fc.record(
      {
        preferred_batch_size: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 3 }),
        max_queue_delay_microseconds: int,
        preserve_ordering: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
    default_model_filename: text,
    cc_model_filenames: dict(text),
    parameters: dict(fc.record({ string_value: text })),
    model_warmup: fc.array(
      fc.record(
        {
          name: text,
          batch_size: fc.integer({ min: 0, max: 64 }),
          inputs: dict(
            fc.record(
              {
                data_type: dataType,
                dims: dimsArb,
                zero_data: fc.boolean(),
                random_data: fc.boolean(),
                input_data_file: text,
              },
              { requiredKeys: ['data_type', 'dims'] },
            ),
          ),
          count: fc.integer({ min: 0, max: 10 }),
        },
        { requiredKeys: ['name', 'batch_size', 'inputs'] },
      ),
      { maxLength: 2 },
    ),
    ensemble_scheduling: fc.record({
      step: fc.array(
        fc.record({
          model_name: nonEmpty,
          model_version: fc.integer({ min: -1, max: 100 }),
          input_map: dict(text),
          output_map: dict(text),
        }),
        { maxLength: 3 },
      ),
    }),
  },
  { requiredKeys: ['name'] },
);

describe('round-trip property', () => {
  it('parse(format(c)) deep-equals c', () => {
    fc.assert(
      fc.property(configArb, (config) => {
        expect(parseModelConfig(formatModelConfig(config))).toEqual(config);
      }),
      { numRuns: 300 },
    );
  });

  it('the load API JSON reads back to the same config', () => {
    fc.assert(
      fc.property(configArb, (config) => {
        expect(modelConfigFromJson(JSON.parse(toLoadApiConfigParameter(config)))).toEqual(config);
      }),
      { numRuns: 200 },
    );
  });
});
