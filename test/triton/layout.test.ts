import { describe, expect, it } from 'vitest';
import {
  defaultModelFilename,
  isValidModelName,
  isValidVersionDir,
  selectVersions,
  validateRepositoryLayout,
} from '../../shared/triton/layout';
import type { ModelConfig } from '../../shared/triton/model-config';

describe('isValidModelName', () => {
  const ok = ['resnet50', 'a', 'bert-base_v1.2', 'A.b-C_9', 'x'.repeat(128)];
  it.each(ok)('accepts %s', (name) => {
    expect(isValidModelName(name)).toEqual({ ok: true });
  });

  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['.hidden', /starts with '\.'/],
    ['a..b', /contains '\.\.'/],
    ['has space', /outside \[A-Za-z0-9_\.-\]: " "/],
    ['slash/name', /outside.*"\/"/],
    ['émoji😀', /outside.*"é"/],
    ['x'.repeat(129), /129 characters, over 128/],
  ];
  it.each(bad)('rejects %j with a reason', (name, reason) => {
    // Act
    const verdict = isValidModelName(name);
    // Assess
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reasons.join('; ')).toMatch(reason);
  });

  it('returns every reason at once', () => {
    const verdict = isValidModelName('..a b');
    expect(verdict.ok === false && verdict.reasons).toHaveLength(3);
  });
});

describe('isValidVersionDir', () => {
  it.each([
    ['1', true],
    ['42', true],
    ['0', false],
    ['01', false],
    ['-1', false],
    ['1.0', false],
    ['v1', false],
    ['', false],
    ['99999999999999999999', false],
  ])('%j -> %s', (dir, expected) => {
    expect(isValidVersionDir(dir)).toBe(expected);
  });
});

describe('defaultModelFilename', () => {
  it.each([
    ['onnxruntime_onnx', 'model.onnx'],
    ['onnxruntime', 'model.onnx'],
    ['tensorrt_plan', 'model.plan'],
    ['pytorch_libtorch', 'model.pt'],
    ['python', 'model.py'],
    ['openvino', 'model.xml'],
    ['ensemble', null],
    ['my_custom_backend', undefined],
    ['constructor', undefined],
  ])('%s -> %s', (kind, expected) => {
    expect(defaultModelFilename(kind)).toBe(expected);
  });
});

describe('selectVersions', () => {
  it.each([
    ['default is the latest one', [1, 3, 2], undefined, [3], []],
    ['latest 2', [1, 3, 2], { latest: { num_versions: 2 } }, [2, 3], []],
    ['latest more than present', [4], { latest: { num_versions: 3 } }, [4], []],
    ['all', [2, 1], { all: {} }, [1, 2], []],
    ['specific, one missing', [1, 2], { specific: { versions: [2, 5] } }, [2], [5]],
  ] as Array<[string, number[], ModelConfig['version_policy'], number[], number[]]>)(
    '%s',
    (_name, present, policy, versions, missing) => {
      expect(selectVersions(present, policy)).toEqual({ versions, missing });
    },
  );
});

const onnx: ModelConfig = { name: 'm', platform: 'onnxruntime_onnx' };

describe('validateRepositoryLayout', () => {
  const ok: Array<[string, string[], ModelConfig, number[]]> = [
    ['onnx, latest of two', ['config.pbtxt', '1/model.onnx', '2/model.onnx'], onnx, [2]],
    [
      'onnx as a directory with external data',
      ['2/model.onnx/model.onnx', '2/model.onnx/weights.bin'],
      onnx,
      [2],
    ],
    [
      'non-numeric and zero-padded dirs ignored',
      ['1/model.onnx', 'v2/model.onnx', '03/x', 'labels.txt'],
      onnx,
      [1],
    ],
    ['default_model_filename', ['1/custom.bin'], { ...onnx, default_model_filename: 'custom.bin' }, [1]],
    [
      'tensorrt via cc_model_filenames',
      ['1/model_t4.plan'],
      { name: 'm', platform: 'tensorrt_plan', cc_model_filenames: { '7.5': 'model_t4.plan' } },
      [1],
    ],
    ['python', ['config.pbtxt', '1/model.py'], { name: 'm', backend: 'python' }, [1]],
    ['openvino needs xml and bin', ['1/model.xml', '1/model.bin'], { name: 'm', backend: 'openvino' }, [1]],
    [
      'ensemble with an empty version dir marker',
      ['config.pbtxt', '1/'],
      {
        name: 'm',
        platform: 'ensemble',
        ensemble_scheduling: {
          step: [{ model_name: 'a', model_version: -1, input_map: {}, output_map: {} }],
        },
      },
      [1],
    ],
    ['all versions', ['1/model.onnx', '3/model.onnx'], { ...onnx, version_policy: { all: {} } }, [1, 3]],
    ['unknown backend needs only a version dir', ['1/anything'], { name: 'm', backend: 'custom' }, [1]],
  ];
  it.each(ok)('accepts %s', (_name, files, config, versions) => {
    expect(validateRepositoryLayout(files, config, { modelName: 'm' })).toEqual({ ok: true, versions });
  });

  const bad: Array<[string, string[], ModelConfig, RegExp]> = [
    ['no version directory', ['config.pbtxt'], onnx, /at least one version must be available/],
    [
      'missing model file in the loaded version',
      ['1/model.onnx', '2/other.onnx'],
      onnx,
      /model file '2\/model\.onnx' not found/,
    ],
    [
      'specific version missing',
      ['1/model.onnx'],
      { ...onnx, version_policy: { specific: { versions: [1, 2] } } },
      /version 2 is specified .* not present/,
    ],
    [
      'name mismatch',
      ['1/model.onnx'],
      { ...onnx, name: 'other' },
      /'other' .* does not match the directory name 'm'/,
    ],
    ['neither platform nor backend', ['1/x'], { name: 'm' }, /neither platform nor backend/],
    [
      'ensemble with instance_group',
      ['1/'],
      {
        name: 'm',
        platform: 'ensemble',
        instance_group: [{ count: 1 }],
        ensemble_scheduling: {
          step: [{ model_name: 'a', model_version: -1, input_map: {}, output_map: {} }],
        },
      },
      /must not have an instance_group/,
    ],
    ['ensemble without steps', ['1/'], { name: 'm', platform: 'ensemble' }, /at least one step/],
    [
      'openvino without weights',
      ['1/model.xml'],
      { name: 'm', backend: 'openvino' },
      /model\.bin' not found/,
    ],
  ];
  it.each(bad)('rejects %s', (_name, files, config, reason) => {
    // Act
    const verdict = validateRepositoryLayout(files, config, { modelName: 'm' });
    // Assess
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reasons.join('\n')).toMatch(reason);
  });
});
