/**
 * config.pbtxt and the load API's JSON config, read with Triton's vendored schema: bad configs
 * are refused at load with the model UNAVAILABLE and protobuf's/Triton's wording.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  memoryRepositoryReader,
  readTextConfig,
  startTritonServer,
  type TritonServer,
} from '../../infra/local/triton';

const files = new Map<string, string>();
let triton: TritonServer;
beforeAll(async () => {
  triton = await startTritonServer({ repository: 'gs://repo/models', reader: memoryRepositoryReader(files) });
});
afterAll(async () => {
  await triton.close();
});

async function load(name: string, body: unknown = {}): Promise<{ status: number; error?: string }> {
  const res = await fetch(`${triton.url}/v2/repository/models/${name}/load`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { error?: string };
  return { status: res.status, ...(json.error === undefined ? {} : { error: json.error }) };
}

async function row(name: string): Promise<{ state?: string; reason?: string } | undefined> {
  const res = await fetch(`${triton.url}/v2/repository/index`, { method: 'POST', body: '{}' });
  return ((await res.json()) as Array<{ name: string; state?: string; reason?: string }>).find(
    (r) => r.name === name,
  );
}

const BASE = 'platform: "onnxruntime_onnx"\nmax_batch_size: 8\n';

describe('config.pbtxt refused at load', () => {
  const cases: Array<[string, string, string]> = [
    [
      'an unknown field',
      `${BASE}input { name: "x" data_type: TYPE_FP32 dims: 3 shape: 4 }`,
      '3:48: Message type "inference.ModelInput" has no field named "shape".',
    ],
    ['a string for an integer', `${BASE.replace('8', '"8"')}`, '2:17: Expected integer, got: "8"'],
    ['an integer for a string', 'platform: 7\n', '1:11: Expected string, got: 7'],
    [
      'a bad enum name',
      `${BASE}input { name: "x" data_type: FP32 dims: [3] }`,
      '3:30: Unknown enumeration value of "FP32" for field "data_type".',
    ],
    ['a scalar where a message goes', `${BASE}version_policy: 3`, '3:17: Expected "{", found "3".'],
    [
      'a non-repeated field twice',
      `${BASE}max_batch_size: 2`,
      '3:1: Non-repeated field "max_batch_size" is specified multiple times.',
    ],
    [
      'two members of a oneof',
      `${BASE}dynamic_batching {} sequence_batching {}`,
      '3:21: Field "sequence_batching" is specified along with field "dynamic_batching", another member of oneof "scheduling_choice".',
    ],
    ['an int32 out of range', 'max_batch_size: 3000000000', '1:17: Integer out of range (3000000000)'],
    [
      'an unknown map entry field',
      `${BASE}parameters { key: "k" val { string_value: "v" } }`,
      '3:23: Message type "inference.ModelConfig.ParametersEntry" has no field named "val".',
    ],
    ['an unterminated message', `${BASE}input { name: "x"`, 'Expected "}".'],
  ];
  it.each(cases)('%s', async (_name, text, message) => {
    // Prepare
    const model = `m${cases.findIndex((c) => c[1] === text)}`;
    files.set(`${model}/config.pbtxt`, text);
    files.set(`${model}/1/model.onnx`, 'o');
    // Act
    const res = await load(model);
    // Assess
    const reason = `failed to read text proto from gs://repo/models/${model}/config.pbtxt: Error parsing text-format inference.ModelConfig: `;
    expect(res.status).toBe(400);
    expect(res.error).toContain(reason);
    expect(res.error).toContain(message);
    expect(await row(model)).toMatchObject({
      state: 'UNAVAILABLE',
      reason: expect.stringContaining(message),
    });
  });
});

describe('text format accepted', () => {
  it('reads every syntax form Triton configs use', () => {
    // Act
    const config = readTextConfig(`# comment
name: 'r\\x41w' "\\101"   # adjacent strings concatenate
platform: "onnxruntime_onnx";
max_batch_size: 0x10
input: [ { name: "a", data_type: TYPE_FP32, dims: [ -1, 3 ] } ]
input < name: "b" data_type: 8 dims: 1 dims: 2 reshape: { shape: [ ] } >
dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 100 preserve_ordering: true }
instance_group [ { count: 2 kind: KIND_GPU gpus: [ 0 ] } ]
parameters { key: "k" value { string_value: "v" } }
parameters: { key: "j" value: { string_value: "w" } }
cc_model_filenames [ { key: "8.9" value: "l4.plan" } ]
version_policy { specific { versions: 1 versions: [2, 3] } }
optimization { execution_accelerators { gpu_execution_accelerator : [ { name : "tensorrt" parameters { key: "precision_mode" value: "FP16" } } ] } }
`);
    // Assess
    expect(config).toEqual({
      name: 'rAwA',
      platform: 'onnxruntime_onnx',
      max_batch_size: 16,
      input: [
        { name: 'a', data_type: 'TYPE_FP32', dims: [-1, 3] },
        { name: 'b', data_type: 'TYPE_INT32', dims: [1, 2], reshape: {} },
      ],
      dynamic_batching: {
        preferred_batch_size: [4, 8],
        max_queue_delay_microseconds: 100,
        preserve_ordering: true,
      },
      instance_group: [{ count: 2, kind: 'KIND_GPU', gpus: [0] }],
      parameters: { k: { string_value: 'v' }, j: { string_value: 'w' } },
      cc_model_filenames: { '8.9': 'l4.plan' },
      version_policy: { specific: { versions: [1, 2, 3] } },
      optimization: {
        execution_accelerators: {
          gpu_execution_accelerator: [{ name: 'tensorrt', parameters: { precision_mode: 'FP16' } }],
        },
      },
    });
  });
});

describe('the config parameter (proto3 JSON)', () => {
  const cases: Array<[string, unknown, RegExp | undefined]> = [
    [
      'proto names and int64 as strings',
      {
        name: 'j',
        platform: 'onnxruntime_onnx',
        max_batch_size: 4,
        input: [{ name: 'x', data_type: 'TYPE_FP32', dims: ['3'] }],
      },
      undefined,
    ],
    [
      'JSON names and lower-case enums',
      {
        name: 'j',
        platform: 'onnxruntime_onnx',
        maxBatchSize: 4,
        instanceGroup: [{ count: 1, kind: 'kind_gpu' }],
      },
      undefined,
    ],
    [
      'an unknown field',
      { name: 'j', platform: 'onnxruntime_onnx', inputs: [] },
      /invalid JSON in inference\.ModelConfig @ inputs: no such field: 'inputs'/,
    ],
    [
      'a wrong type',
      { name: 'j', platform: 'onnxruntime_onnx', max_batch_size: 'four' },
      /@ max_batch_size: expected integer, got "four"/,
    ],
    [
      'a bad enum',
      { name: 'j', platform: 'onnxruntime_onnx', input: [{ name: 'x', data_type: 'FP32', dims: [3] }] },
      /@ input\[0\]\.data_type: unknown enum value: 'FP32'/,
    ],
    [
      'a Triton check',
      {
        name: 'j',
        platform: 'onnxruntime_onnx',
        max_batch_size: 2,
        dynamic_batching: { preferred_batch_size: [4] },
      },
      /dynamic batching preferred size must be <= max batch size for j/,
    ],
  ];
  it.each(cases)('%s', async (_name, config, error) => {
    // Prepare
    files.set('j/1/model.onnx', 'o');
    // Act
    const res = await load('j', { parameters: { config: JSON.stringify(config) } });
    // Assess
    if (error === undefined) expect(res).toEqual({ status: 200 });
    else {
      expect(res.status).toBe(400);
      expect(res.error).toMatch(error);
    }
  });
});

describe("Triton's own checks at load", () => {
  const onnx = (extra: string) => `name: "NAME"\nplatform: "onnxruntime_onnx"\n${extra}`;
  const cases: Array<[string, string, string[], string]> = [
    [
      'an unknown platform',
      'name: "NAME"\nplatform: "tensorflow_savedmodel_x"',
      ['1/model.onnx'],
      "unexpected platform type 'tensorflow_savedmodel_x' for NAME",
    ],
    [
      'neither platform nor backend',
      'name: "NAME"',
      ['1/model.onnx'],
      "must specify 'platform' or 'backend' for 'NAME'",
    ],
    [
      'a platform/backend mismatch',
      onnx('backend: "pytorch"'),
      ['1/model.onnx'],
      "unexpected 'platform' and 'backend' pair, got:onnxruntime_onnx, pytorch",
    ],
    [
      'an unknown backend',
      'name: "NAME"\nbackend: "vllm_x"',
      ['1/model.py'],
      "unable to find 'libtriton_vllm_x.so' or 'vllm_x/model.py' for model 'NAME'",
    ],
    [
      'a negative max_batch_size',
      onnx('max_batch_size: -1'),
      ['1/model.onnx'],
      "'max_batch_size' must be non-negative value for NAME",
    ],
    [
      'an input without data_type',
      onnx('input { name: "x" dims: [1] }'),
      ['1/model.onnx'],
      "model input 'x' must specify 'data_type'",
    ],
    [
      'an output without dims',
      onnx('output { name: "y" data_type: TYPE_FP32 }'),
      ['1/model.onnx'],
      "model output 'y' must specify 'dims'",
    ],
    [
      'a zero dimension',
      onnx('input { name: "x" data_type: TYPE_FP32 dims: [0] }'),
      ['1/model.onnx'],
      "model input 'x' dimension must be integer >= 1, or -1 to indicate a variable-size dimension",
    ],
    [
      'a preferred batch over max_batch_size',
      onnx('max_batch_size: 4\ndynamic_batching { preferred_batch_size: [8] }'),
      ['1/model.onnx'],
      'dynamic batching preferred size must be <= max batch size for NAME',
    ],
    [
      'an ensemble with an instance group',
      'name: "NAME"\nplatform: "ensemble"\ninstance_group {}\nensemble_scheduling { step { model_name: "a" } }',
      ['1/'],
      "instance group should not be specified for ensemble 'NAME'",
    ],
    [
      'an ensemble without steps',
      'name: "NAME"\nplatform: "ensemble"\nensemble_scheduling {}',
      ['1/'],
      "must specify 'step' for ensemble 'NAME'",
    ],
    [
      'ensemble scheduling on a model',
      onnx('ensemble_scheduling { step { model_name: "a" } }'),
      ['1/model.onnx'],
      "ensemble scheduling cannot be set for model 'NAME' whose platform is not ensemble",
    ],
    [
      'a pinned version that is absent',
      onnx('version_policy { specific { versions: [2] } }'),
      ['1/model.onnx'],
      "version 2 is specified for model 'NAME', but the version directory is not present",
    ],
    [
      'a default_model_filename that is absent',
      onnx('default_model_filename: "net.onnx"'),
      ['1/model.onnx'],
      "model file '1/net.onnx' not found for model 'NAME'",
    ],
  ];
  it.each(cases)('refuses %s', async (_name, text, versionFiles, message) => {
    // Prepare
    const model = `c${cases.findIndex((c) => c[1] === text)}`;
    files.set(`${model}/config.pbtxt`, text.replaceAll('NAME', model));
    for (const f of versionFiles) files.set(`${model}/${f}`, f.endsWith('/') ? '' : 'bytes');
    // Act
    const res = await load(model);
    // Assess
    expect(res.status).toBe(400);
    expect(res.error).toContain(message.replaceAll('NAME', model));
    expect(await row(model)).toMatchObject({ state: 'UNAVAILABLE' });
  });

  it('accepts default_model_filename in place of the backend default', async () => {
    files.set('dmf/config.pbtxt', 'name: "dmf"\nbackend: "onnxruntime"\ndefault_model_filename: "net.onnx"');
    files.set('dmf/1/net.onnx', 'o');
    expect(await load('dmf')).toEqual({ status: 200 });
    const served = (await (await fetch(`${triton.url}/v2/models/dmf/config`)).json()) as Record<
      string,
      unknown
    >;
    expect(served).toMatchObject({
      name: 'dmf',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 0,
      version_policy: { latest: { num_versions: 1 } },
      instance_group: [{ name: 'dmf_0', kind: 'KIND_GPU', count: 1, gpus: [0] }],
    });
  });
});
