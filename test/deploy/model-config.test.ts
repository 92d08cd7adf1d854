import { describe, expect, it } from 'vitest';
import { type Manifest, parseManifest } from '../../shared/deploy/manifest';
import {
  type BuildModelConfigInput,
  buildModelConfig,
  modelConfigIssues,
} from '../../shared/deploy/model-config';
import { modelPolicySchema } from '../../shared/policy/schema';
import { PermanentError, ValidationError } from '../../shared/runtime/errors';
import { formatModelConfig, parseModelConfig } from '../../shared/triton/config-codec';
import type { ModelConfig } from '../../shared/triton/model-config';
import { sig, tensor } from '../onnx/signatures';

// The policy's real defaults: maxBatchSize 8, max queue delay 100 us, 1 instance.
const POLICY = modelPolicySchema.parse({});

const BATCHABLE = sig([tensor('images', [-1, 3, 224, 224])], [tensor('logits', [-1, 1000])]);
const FIXED = sig([tensor('images', [1, 3, 224, 224])], [tensor('logits', [1, 1000])]);
const SCALAR = sig([tensor('x', [])], [tensor('y', [])]);

function build(over: Partial<BuildModelConfigInput>): ReturnType<typeof buildModelConfig> {
  return buildModelConfig({ model: 'm', version: 3, backend: 'onnxruntime', policy: POLICY, ...over });
}

function manifest(yaml: string): Manifest {
  return parseManifest(yaml);
}

function userConfig(pbtxt: string): ModelConfig {
  return parseModelConfig(pbtxt, { defaultName: 'm' });
}

function caught(fn: () => unknown): PermanentError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PermanentError) return err;
    throw err;
  }
  throw new Error('expected a PermanentError');
}

const PT_IO = `
inputs: [{ name: INPUT__0, dataType: TYPE_FP32, dims: [3, 224, 224] }]
outputs: [{ name: OUTPUT__0, dataType: TYPE_FP32, dims: [1000] }]
`;

describe('buildModelConfig: ONNX', () => {
  it('batchable model: policy max_batch_size, dynamic batching, instance group, pinned version', () => {
    // Act
    const { config, notes } = build({ onnxSignature: BATCHABLE });

    // Assess
    expect(config).toEqual({
      name: 'm',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 8,
      input: [{ name: 'images', data_type: 'TYPE_FP32', dims: [3, 224, 224] }],
      output: [{ name: 'logits', data_type: 'TYPE_FP32', dims: [1000] }],
      dynamic_batching: { max_queue_delay_microseconds: 100 },
      instance_group: [{ count: 1, kind: 'KIND_GPU' }],
      version_policy: { specific: { versions: [3] } },
    } satisfies ModelConfig);
    expect(notes).toContain('max_batch_size 8 from policy');
    expect(notes.some((n) => n.startsWith('dynamic_batching added: batching on (max_batch_size 8)'))).toBe(
      true,
    );
    expect(notes.some((n) => n.includes('version_policy specific [3]'))).toBe(true);
    expect(() => formatModelConfig(config)).not.toThrow();
  });

  it('not batchable, max_batch_size from policy only: batching off, with the reason', () => {
    // Act
    const { config, notes } = build({ onnxSignature: FIXED });

    // Assess
    expect(config.max_batch_size).toBe(0);
    expect(config.input?.[0]?.dims).toEqual([1, 3, 224, 224]);
    expect(config.dynamic_batching).toBeUndefined();
    expect(notes[0]).toMatch(/no batch dimension.*policy's 8 does not apply/);
  });

  it.each([
    ['model.yaml', { manifest: manifest('maxBatchSize: 4') }],
    ['config.pbtxt', { userConfig: userConfig('max_batch_size: 4') }],
  ])('not batchable, max_batch_size 4 from %s: refused with the auto-complete rule', (_source, over) => {
    // Act
    const err = caught(() => build({ onnxSignature: FIXED, ...over }));

    // Assess
    expect(err.reason).toBe('MODEL_NOT_BATCHABLE');
    expect(err.message).toMatch(
      /needs a variable first dimension on every input and output.*use max_batch_size 0/,
    );
  });

  it('scalar tensors become dims [1] with reshape []', () => {
    // Act
    const { config } = build({ onnxSignature: SCALAR });

    // Assess
    expect(config.max_batch_size).toBe(0);
    expect(config.input).toEqual([{ name: 'x', data_type: 'TYPE_FP32', dims: [1], reshape: { shape: [] } }]);
    expect(config.output).toEqual([{ name: 'y', data_type: 'TYPE_FP32', dims: [1], reshape: { shape: [] } }]);
  });

  it('maxBatchSize 0 in model.yaml turns batching off on a batchable model', () => {
    // Act
    const { config } = build({ onnxSignature: BATCHABLE, manifest: manifest('maxBatchSize: 0') });

    // Assess
    expect(config.max_batch_size).toBe(0);
    expect(config.input?.[0]?.dims).toEqual([-1, 3, 224, 224]);
    expect(config.dynamic_batching).toBeUndefined();
  });

  it('max_batch_size 1: no dynamic batcher', () => {
    // Act
    const { config, notes } = build({ onnxSignature: BATCHABLE, manifest: manifest('maxBatchSize: 1') });

    // Assess
    expect(config.max_batch_size).toBe(1);
    expect(config.dynamic_batching).toBeUndefined();
    expect(notes).toContain('no dynamic_batching: max_batch_size 1 leaves nothing to batch');
  });

  it('without a signature, leaves inputs, outputs and max_batch_size to Triton', () => {
    // Act
    const { config, notes } = build({});

    // Assess
    expect(config.input).toBeUndefined();
    expect(config.max_batch_size).toBeUndefined();
    expect(config.dynamic_batching).toBeUndefined();
    expect(notes.some((n) => n.includes("left to Triton's auto-complete"))).toBe(true);
  });

  it('declared tensors are checked against the signature', () => {
    // Prepare: names right, but dims written as full shapes while batching.
    const m = manifest(`
maxBatchSize: 8
inputs: [{ name: images, dataType: TYPE_FP32, dims: [-1, 3, 224, 224] }]
outputs: [{ name: probs, dataType: TYPE_FP32, dims: [1000] }]
`);

    // Act
    const err = caught(() => build({ onnxSignature: BATCHABLE, manifest: m }));

    // Assess
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toEqual([
      { path: 'input.0.dims', message: expect.stringMatching(/has 4 dimensions.*rank 4.*expected 3/) },
      {
        path: 'output.0.name',
        message: expect.stringMatching(/'probs' is not an output of the ONNX model \(outputs: logits\)/),
      },
    ]);
  });
});

describe('buildModelConfig: TensorRT and OpenVINO', () => {
  it('TensorRT without I/O: platform tensorrt_plan, the rest left to auto-complete', () => {
    // Act
    const { config, notes } = build({ backend: 'tensorrt' });

    // Assess
    expect(config).toEqual({
      name: 'm',
      platform: 'tensorrt_plan',
      instance_group: [{ count: 1, kind: 'KIND_GPU' }],
      version_policy: { specific: { versions: [3] } },
    });
    expect(notes).toContain("inputs and outputs left to Triton's auto-complete (tensorrt supports it)");
  });

  it('TensorRT with I/O and preferred batch sizes from model.yaml', () => {
    // Prepare
    const m = manifest(`
maxBatchSize: 8
dynamicBatching: { preferredBatchSize: [4, 8], maxQueueDelayMicroseconds: 250 }
inputs: [{ name: in, dataType: TYPE_FP16, dims: [16] }]
outputs: [{ name: out, dataType: TYPE_FP16, dims: [16] }]
`);

    // Act
    const { config } = build({ backend: 'tensorrt', manifest: m });

    // Assess
    expect(config.max_batch_size).toBe(8);
    expect(config.dynamic_batching).toEqual({
      max_queue_delay_microseconds: 250,
      preferred_batch_size: [4, 8],
    });
    expect(config.input).toEqual([{ name: 'in', data_type: 'TYPE_FP16', dims: [16] }]);
  });

  it('preferred batch size above max_batch_size is refused', () => {
    // Prepare
    const m = manifest('maxBatchSize: 4\ndynamicBatching: { preferredBatchSize: [8] }');

    // Act
    const err = caught(() => build({ backend: 'tensorrt', manifest: m }));

    // Assess
    expect((err as ValidationError).issues).toEqual([
      { path: 'dynamic_batching.preferred_batch_size.0', message: '8 is above max_batch_size 4' },
    ]);
  });

  it('OpenVINO on CPU with a version policy from model.yaml', () => {
    // Act
    const { config } = build({
      backend: 'openvino',
      manifest: manifest('backend: openvino\ninstances: { kind: cpu }\nversionPolicy: { latest: 2 }'),
    });

    // Assess
    expect(config.backend).toBe('openvino');
    expect(config.platform).toBeUndefined();
    expect(config.instance_group).toEqual([{ count: 1, kind: 'KIND_CPU' }]);
    expect(config.version_policy).toEqual({ latest: { num_versions: 2 } });
  });
});

describe('buildModelConfig: backends that need a full config', () => {
  it.each([
    [
      'pytorch',
      /PyTorch models need a full config: list inputs and outputs \(named INPUT__0, OUTPUT__0, \.\.\.\) in model.yaml or upload config.pbtxt/,
    ],
    ['python', /Python models need a full config/],
    ['ensemble', /Ensembles need a full config/],
  ] as const)('%s without inputs/outputs is refused', (backend, message) => {
    // Act
    const err = caught(() => build({ backend, manifest: manifest('maxBatchSize: 2') }));

    // Assess
    expect(err.reason).toBe('CONFIG_REQUIRED');
    expect(err.message).toMatch(message);
  });

  it('PyTorch with I/O from model.yaml: pytorch_libtorch, policy batching', () => {
    // Act
    const { config, notes } = build({ backend: 'pytorch', manifest: manifest(PT_IO) });

    // Assess
    expect(config.platform).toBe('pytorch_libtorch');
    expect(config.max_batch_size).toBe(8);
    expect(config.input).toEqual([{ name: 'INPUT__0', data_type: 'TYPE_FP32', dims: [3, 224, 224] }]);
    expect(config.dynamic_batching).toEqual({ max_queue_delay_microseconds: 100 });
    expect(notes[0]).toMatch(
      /max_batch_size 8 from policy; the dims in model.yaml are read without the batch dimension/,
    );
  });

  it('Python with I/O, parameters and CPU instances', () => {
    // Prepare
    const m = manifest(`
backend: python
maxBatchSize: 0
instances: { count: 4, kind: cpu }
inputs: [{ name: TEXT, dataType: TYPE_STRING, dims: [1] }]
outputs: [{ name: TOKENS, dataType: TYPE_INT64, dims: [-1] }]
parameters: { max_length: 512 }
`);

    // Act
    const { config } = build({ backend: 'python', manifest: m });

    // Assess
    expect(config).toEqual({
      name: 'm',
      backend: 'python',
      max_batch_size: 0,
      input: [{ name: 'TEXT', data_type: 'TYPE_STRING', dims: [1] }],
      output: [{ name: 'TOKENS', data_type: 'TYPE_INT64', dims: [-1] }],
      instance_group: [{ count: 4, kind: 'KIND_CPU' }],
      parameters: { max_length: { string_value: '512' } },
      version_policy: { specific: { versions: [3] } },
    } satisfies ModelConfig);
  });

  it('dynamicBatching with maxBatchSize 0 in the manifest is refused', () => {
    // Prepare
    const m = manifest(`maxBatchSize: 0\ndynamicBatching: { maxQueueDelayMicroseconds: 5 }\n${PT_IO}`);

    // Act
    const err = caught(() => build({ backend: 'pytorch', manifest: m }));

    // Assess
    expect((err as ValidationError).issues).toEqual([
      { path: 'dynamic_batching', message: expect.stringMatching(/needs max_batch_size > 0/) },
    ]);
  });

  it('warmup must name declared inputs with their data type', () => {
    // Prepare
    const m = manifest(`${PT_IO}
warmup:
  - name: w
    batchSize: 16
    inputs:
      INPUT__0: { dataType: TYPE_FP16, dims: [3, 224, 224], zeroData: true }
      nope: { dataType: TYPE_FP32, dims: [1], randomData: true }
`);

    // Act
    const err = caught(() => build({ backend: 'pytorch', manifest: m }));

    // Assess
    expect((err as ValidationError).issues.map((i) => i.path)).toEqual([
      'model_warmup.0.batch_size',
      'model_warmup.0.inputs.INPUT__0.data_type',
      'model_warmup.0.inputs.nope',
    ]);
  });

  it('duplicate tensor names across inputs and outputs in config.pbtxt are refused', () => {
    // Prepare
    const u = userConfig(`platform: "pytorch_libtorch"
input [{ name: "X" data_type: TYPE_FP32 dims: [1] }]
output [{ name: "X" data_type: TYPE_FP32 dims: [1] }]`);

    // Act
    const err = caught(() => build({ backend: 'pytorch', userConfig: u }));

    // Assess
    expect((err as ValidationError).issues).toEqual([
      { path: 'output.0.name', message: "'X' is also the name of input.0; tensor names must be unique" },
    ]);
  });
});

describe('buildModelConfig: ensemble', () => {
  const ENSEMBLE = `
backend: ensemble
maxBatchSize: 8
inputs: [{ name: TEXT, dataType: TYPE_STRING, dims: [1] }]
outputs: [{ name: SCORES, dataType: TYPE_FP32, dims: [2] }]
`;

  it('with steps: platform ensemble, ensemble_scheduling, no instance_group, no batcher', () => {
    // Prepare
    const m = manifest(`${ENSEMBLE}
ensemble:
  steps:
    - { model: tokenizer, inputMap: { TEXT: TEXT }, outputMap: { TOKENS: tokens } }
    - { model: classifier, version: 3, inputMap: { INPUT__0: tokens }, outputMap: { OUTPUT__0: SCORES } }
`);

    // Act
    const { config } = build({ backend: 'ensemble', manifest: m });

    // Assess
    expect(config.platform).toBe('ensemble');
    expect(config.instance_group).toBeUndefined();
    expect(config.dynamic_batching).toBeUndefined();
    expect(config.ensemble_scheduling).toEqual({
      step: [
        {
          model_name: 'tokenizer',
          model_version: -1,
          input_map: { TEXT: 'TEXT' },
          output_map: { TOKENS: 'tokens' },
        },
        {
          model_name: 'classifier',
          model_version: 3,
          input_map: { INPUT__0: 'tokens' },
          output_map: { OUTPUT__0: 'SCORES' },
        },
      ],
    });
    expect(() => formatModelConfig(config)).not.toThrow();
  });

  it('without steps: refused', () => {
    // Act
    const err = caught(() => build({ backend: 'ensemble', manifest: manifest(ENSEMBLE) }));

    // Assess
    expect(err.reason).toBe('CONFIG_REQUIRED');
    expect(err.message).toMatch(/ensemble.steps/);
  });

  it('tensors that are not mapped are refused, each with its path', () => {
    // Prepare
    const m = manifest(`${ENSEMBLE}
ensemble:
  steps:
    - { model: m, inputMap: { TEXT: TEXTS }, outputMap: { OUT: other } }
`);

    // Act
    const err = caught(() => build({ backend: 'ensemble', manifest: m }));

    // Assess
    expect((err as ValidationError).issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'ensemble_scheduling.step.0.model_name: an ensemble cannot call itself',
      "ensemble_scheduling.step.0.input_map.TEXT: 'TEXTS' is neither an ensemble input nor produced by a step's output_map",
      "output.0.name: ensemble output 'SCORES' is not produced by any step",
      "input.0.name: ensemble input 'TEXT' is not used by any step",
    ]);
  });

  it('a config.pbtxt with an instance_group is refused', () => {
    // Prepare
    const u = userConfig(`platform: "ensemble"
input [{ name: "A" data_type: TYPE_FP32 dims: [1] }]
output [{ name: "B" data_type: TYPE_FP32 dims: [1] }]
instance_group [{ count: 2 }]
ensemble_scheduling { step [{ model_name: "x" model_version: -1 input_map { key: "i" value: "A" } output_map { key: "o" value: "B" } }] }`);

    // Act
    const err = caught(() => build({ backend: 'ensemble', userConfig: u }));

    // Assess
    expect(err.reason).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/instance_group: an ensemble must not have an instance_group/);
  });
});

describe('buildModelConfig: uploaded config.pbtxt merged with policy and model.yaml', () => {
  const USER = `name: "m"
platform: "pytorch_libtorch"
max_batch_size: 16
input [{ name: "INPUT__0" data_type: TYPE_FP32 dims: [4] }]
output [{ name: "OUTPUT__0" data_type: TYPE_FP32 dims: [2] }]
dynamic_batching { max_queue_delay_microseconds: 700 }
instance_group [{ count: 3 kind: KIND_GPU gpus: [0] }]
version_policy { all {} }
parameters { key: "a" value { string_value: "user" } }
parameters { key: "b" value { string_value: "user" } }`;

  it('config.pbtxt beats the policy', () => {
    // Act
    const { config, notes } = build({ backend: 'pytorch', userConfig: userConfig(USER) });

    // Assess
    expect(config.max_batch_size).toBe(16);
    expect(config.dynamic_batching).toEqual({ max_queue_delay_microseconds: 700 });
    expect(config.instance_group).toEqual([{ count: 3, kind: 'KIND_GPU', gpus: [0] }]);
    expect(config.parameters).toEqual({ a: { string_value: 'user' }, b: { string_value: 'user' } });
    // Publishing stays atomic even when the uploaded config says otherwise.
    expect(config.version_policy).toEqual({ specific: { versions: [3] } });
    expect(notes).toContain('max_batch_size 16 from config.pbtxt');
    expect(notes.some((n) => n.startsWith('version_policy of config.pbtxt replaced'))).toBe(true);
  });

  it('model.yaml beats config.pbtxt, field by field', () => {
    // Prepare
    const m = manifest(`
maxBatchSize: 4
dynamicBatching: { maxQueueDelayMicroseconds: 50 }
instances: { count: 2, kind: cpu }
parameters: { b: yaml }
versionPolicy: all
`);

    // Act
    const { config } = build({ backend: 'pytorch', userConfig: userConfig(USER), manifest: m });

    // Assess
    expect(config.max_batch_size).toBe(4);
    expect(config.dynamic_batching).toEqual({ max_queue_delay_microseconds: 50 });
    expect(config.instance_group).toEqual([{ count: 2, kind: 'KIND_CPU' }]);
    expect(config.parameters).toEqual({ a: { string_value: 'user' }, b: { string_value: 'yaml' } });
    expect(config.version_policy).toEqual({ all: {} });
  });

  it('the policy fills what config.pbtxt leaves out; absent max_batch_size stays 0 for its tensors', () => {
    // Prepare
    const u = userConfig(`platform: "pytorch_libtorch"
input [{ name: "INPUT__0" data_type: TYPE_FP32 dims: [1, 4] }]
output [{ name: "OUTPUT__0" data_type: TYPE_FP32 dims: [1, 2] }]`);

    // Act
    const { config, notes } = build({ backend: 'pytorch', userConfig: u });

    // Assess
    expect(config.name).toBe('m');
    expect(config.max_batch_size).toBe(0);
    expect(config.instance_group).toEqual([{ count: POLICY.instanceCount, kind: 'KIND_GPU' }]);
    expect(notes[0]).toMatch(/its dims are full shapes/);
  });

  it("a config.pbtxt's batcher is dropped when model.yaml turns batching off", () => {
    // Act
    const { config, notes } = build({
      backend: 'pytorch',
      userConfig: userConfig(USER),
      manifest: manifest('maxBatchSize: 0'),
    });

    // Assess
    expect(config.dynamic_batching).toBeUndefined();
    expect(notes).toContain(
      'dynamic_batching from config.pbtxt dropped: max_batch_size 0 turns batching off',
    );
  });

  it('ONNX: config.pbtxt tensors replace the signature, as auto-complete rule 1 says', () => {
    // Prepare
    const u = userConfig(`max_batch_size: 2
input [{ name: "images" data_type: TYPE_FP32 dims: [3, -1, -1] }]
output [{ name: "logits" data_type: TYPE_FP32 dims: [1000] }]`);

    // Act
    const { config } = build({ userConfig: u, onnxSignature: BATCHABLE });

    // Assess
    expect(config.input?.[0]?.dims).toEqual([3, -1, -1]);
    expect(config.max_batch_size).toBe(2);
    expect(config.dynamic_batching).toEqual({ max_queue_delay_microseconds: 100 });
  });

  it.each([
    [
      'name mismatch',
      'name: "other"\nplatform: "pytorch_libtorch"',
      'pytorch',
      'MODEL_NAME_MISMATCH',
      /names the model 'other'.*model directory 'm'/,
    ],
    [
      'platform mismatch',
      'platform: "onnxruntime_onnx"',
      'pytorch',
      'BACKEND_MISMATCH',
      /platform 'onnxruntime_onnx'.*'pytorch' model \(expected platform 'pytorch_libtorch' or backend 'pytorch'\)/,
    ],
    ['backend mismatch', 'backend: "python"', 'onnxruntime', 'BACKEND_MISMATCH', /backend 'python'/],
    [
      'inputs without outputs',
      'input [{ name: "a" data_type: TYPE_FP32 dims: [1] }]',
      'python',
      'CONFIG_INCOMPLETE',
      /inputs but no outputs/,
    ],
  ] as const)('%s is refused', (_why, pbtxt, backend, reason, message) => {
    // Act
    const err = caught(() => build({ backend, userConfig: userConfig(pbtxt) }));

    // Assess
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
  });

  it('a model.yaml backend that contradicts the files is refused', () => {
    // Act
    const err = caught(() => build({ backend: 'onnxruntime', manifest: manifest('backend: python') }));

    // Assess
    expect(err.reason).toBe('BACKEND_MISMATCH');
  });

  it('a specific versionPolicy without the deployed version is noted', () => {
    // Act
    const { notes } = build({
      onnxSignature: BATCHABLE,
      manifest: manifest('versionPolicy: { specific: [1, 2] }'),
    });

    // Assess
    expect(notes).toContain("version 3 is not in model.yaml's versionPolicy, so Triton will not load it");
  });
});

describe('modelConfigIssues', () => {
  it('finds every problem of a hand-made config', () => {
    // Prepare
    const config = {
      name: 'other',
      platform: 'pytorch_libtorch',
      max_batch_size: -1,
      input: [{ name: 'a', data_type: 'TYPE_FLOAT', dims: [] }],
      output: [{ name: 'b', data_type: 'TYPE_FP32', dims: [-2] }],
      instance_group: [{ count: 0 }],
    } as unknown as ModelConfig;

    // Act
    const issues = modelConfigIssues(config, { model: 'm', backend: 'pytorch' });

    // Assess
    expect(issues.map((i) => i.path)).toEqual([
      'name',
      'max_batch_size',
      'input.0.data_type',
      'input.0.dims',
      'output.0.dims',
      'instance_group.0.count',
    ]);
  });
});
