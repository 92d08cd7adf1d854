/**
 * Config fields that name files are confined to the model's own directory, one case per field and
 * per way out (`..`, absolute, scheme, a variable other than $$TRITON_MODEL_DIRECTORY), and a
 * config that loads code from anywhere is refused by the parser. All of it before anything is
 * written: buildModelConfig is pure and runs before the plan.
 */
import { describe, expect, it } from 'vitest';
import { buildModelConfig, confinedPathProblem, fileReferenceIssues } from '../../shared/deploy/model-config';
import { ValidationError } from '../../shared/runtime/errors';
import { parseModelConfig } from '../../shared/triton/config-codec';
import type { ModelConfig } from '../../shared/triton/model-config';

const base = (): ModelConfig => ({
  name: 'm',
  backend: 'python',
  max_batch_size: 0,
  input: [{ name: 'IN', data_type: 'TYPE_FP32', dims: [4] }],
  output: [{ name: 'OUT', data_type: 'TYPE_FP32', dims: [4] }],
});
const warmup = (file: string): ModelConfig['model_warmup'] => [
  { name: 'w', batch_size: 1, inputs: { IN: { data_type: 'TYPE_FP32', dims: [4], input_data_file: file } } },
];
const param = (key: string, value: string) => ({ [key]: { string_value: value } });

describe('config fields that name files stay inside the model directory', () => {
  it.each<[string, string, Partial<ModelConfig>, RegExp]>([
    [
      'default_model_filename',
      'default_model_filename',
      { default_model_filename: '../../etc/passwd' },
      /'\.\.'/,
    ],
    [
      'default_model_filename',
      'default_model_filename',
      { default_model_filename: '/etc/passwd' },
      /absolute/,
    ],
    [
      'default_model_filename',
      'default_model_filename',
      { default_model_filename: 'gs://other/model.onnx' },
      /scheme/,
    ],
    [
      'cc_model_filenames',
      'cc_model_filenames.8.9',
      { cc_model_filenames: { '8.9': '../m2/1/model.plan' } },
      /'\.\.'/,
    ],
    [
      'cc_model_filenames',
      'cc_model_filenames.7.5',
      { cc_model_filenames: { '7.5': '/models/x.plan' } },
      /absolute/,
    ],
    [
      'input_data_file',
      'model_warmup.0.inputs.IN.input_data_file',
      { model_warmup: warmup('../../secret') },
      /'\.\.'/,
    ],
    [
      'input_data_file',
      'model_warmup.0.inputs.IN.input_data_file',
      { model_warmup: warmup('/dev/zero') },
      /absolute/,
    ],
    [
      'EXECUTION_ENV_PATH',
      'parameters.EXECUTION_ENV_PATH.string_value',
      { parameters: param('EXECUTION_ENV_PATH', '/opt/envs/evil.tar.gz') },
      /absolute/,
    ],
    [
      'EXECUTION_ENV_PATH',
      'parameters.EXECUTION_ENV_PATH.string_value',
      { parameters: param('EXECUTION_ENV_PATH', '$$TRITON_MODEL_DIRECTORY/../other/env.tar.gz') },
      /'\.\.'/,
    ],
    [
      'EXECUTION_ENV_PATH',
      'parameters.EXECUTION_ENV_PATH.string_value',
      { parameters: param('EXECUTION_ENV_PATH', '$$HOME/env.tar.gz') },
      /variable/,
    ],
    [
      'a *_DIR parameter',
      'parameters.CACHE_DIR.string_value',
      { parameters: param('CACHE_DIR', '~/.cache') },
      /absolute/,
    ],
    [
      'any parameter with ..',
      'parameters.anything.string_value',
      { parameters: param('anything', 'a/../../b') },
      /'\.\.'/,
    ],
    [
      'any parameter with a URL',
      'parameters.anything.string_value',
      { parameters: param('anything', 'https://example.com/x.so') },
      /scheme/,
    ],
  ])('%s: %s is refused', (_field, path, fields, message) => {
    // Prepare
    const config = { ...base(), ...fields };

    // Act
    const issues = fileReferenceIssues(config);

    // Assess
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe(path);
    expect(issues[0]?.message).toMatch(message);
  });

  it.each<[string, Partial<ModelConfig>]>([
    ['default_model_filename in the version directory', { default_model_filename: 'model.savedmodel' }],
    ['default_model_filename in a sub-directory', { default_model_filename: 'model.onnx/model.onnx' }],
    ['cc_model_filenames', { cc_model_filenames: { '8.9': 'model_sm89.plan' } }],
    ['input_data_file under warmup/', { model_warmup: warmup('in.bin') }],
    [
      'EXECUTION_ENV_PATH under the model directory',
      { parameters: param('EXECUTION_ENV_PATH', '$$TRITON_MODEL_DIRECTORY/env.tar.gz') },
    ],
    ['a parameter that is not a path', { parameters: param('max_tokens', '128') }],
    ['a parameter with a colon', { parameters: param('mode', 'fast:2') }],
  ])('%s is accepted', (_what, fields) => {
    // Act / Assess
    expect(fileReferenceIssues({ ...base(), ...fields })).toEqual([]);
  });

  it('quotes the value with its control and bidi characters escaped', () => {
    // Act
    const [issue] = fileReferenceIssues({ ...base(), default_model_filename: '/x\u202egpj.so\n' });

    // Assess
    expect(issue?.message).toContain('"/x\\u202egpj.so\\u000a"');
    expect(issue?.message).not.toMatch(/[\u202e\n]/);
  });

  it('buildModelConfig refuses with PATH_TRAVERSAL, whether from config.pbtxt or model.yaml parameters', () => {
    // Prepare
    const policy = { maxBatchSize: 0, dynamicBatching: { maxQueueDelayMicroseconds: 100 }, instanceCount: 1 };
    const fromConfig = () =>
      buildModelConfig({
        model: 'm',
        version: 1,
        backend: 'python',
        userConfig: { ...base(), default_model_filename: '../../etc/passwd' },
        policy,
      });

    // Act / Assess
    expect(fromConfig).toThrow(ValidationError);
    expect(fromConfig).toThrow(/default_model_filename: "\.\.\/\.\.\/etc\/passwd" has a '\.\.' segment/);
    try {
      fromConfig();
    } catch (err) {
      expect((err as ValidationError).reason).toBe('PATH_TRAVERSAL');
    }
  });

  it('confinedPathProblem allows $$TRITON_MODEL_DIRECTORY only where asked', () => {
    // Act / Assess
    expect(
      confinedPathProblem('$$TRITON_MODEL_DIRECTORY/env.tar.gz', { allowModelDirectory: true }),
    ).toBeUndefined();
    expect(confinedPathProblem('$$TRITON_MODEL_DIRECTORY/env.tar.gz')).toMatch(/variable/);
    expect(confinedPathProblem('a/./b')).toMatch(/'\.' segment/);
  });

  it.each([
    ['model_operations { op_library_filename: "/tmp/evil.so" }'],
    ['runtime: "/tmp/libtriton_evil.so"'],
    ['model_repository_agents { agents { name: "checksum" } }'],
    ['output { name: "O" data_type: TYPE_FP32 dims: [1] label_filename: "/etc/shadow" }'],
  ])('a config.pbtxt that loads files from anywhere is refused by the parser: %s', (text) => {
    // Act / Assess
    expect(() => parseModelConfig(`name: "m"\n${text}\n`)).toThrow(ValidationError);
  });
});
