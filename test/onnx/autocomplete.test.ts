import { describe, expect, it } from 'vitest';
import { autoCompleteOnnxConfig, isBatchable } from '../../shared/onnx/autocomplete';
import { PermanentError, ValidationError } from '../../shared/runtime/errors';
import { sig, tensor } from './signatures';

describe('isBatchable (rule 2)', () => {
  it.each([
    { why: 'variable first dim everywhere', dims: [[-1, 3], [-1]], expected: true },
    { why: 'a fixed first dim on one tensor', dims: [[-1, 3], [2]], expected: false },
    { why: 'a scalar', dims: [[-1, 3], []], expected: false },
    { why: 'an unknown rank', dims: [[-1, 3], null], expected: false },
    { why: 'variable dims but not first', dims: [[3, -1], [-1]], expected: false },
  ])('$why -> $expected', ({ dims, expected }) => {
    // Prepare
    const s = sig([tensor('a', dims[0] ?? null)], [tensor('b', dims[1] ?? null)]);

    // Act / Assess
    expect(isBatchable(s)).toBe(expected);
  });
});

describe('autoCompleteOnnxConfig', () => {
  const batchable = sig([tensor('X', [-1, 3, -1])], [tensor('Y', [-1])]);
  const fixed = sig([tensor('X', [2, 3])], [tensor('Y', [])]);

  it('batchable with no max_batch_size: default 4, first dim dropped, dynamic batching (rules 3, 4, 6)', () => {
    // Act
    const config = autoCompleteOnnxConfig(batchable, { name: 'm' });

    // Assess
    expect(config).toEqual({
      name: 'm',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 4,
      input: [{ name: 'X', data_type: 'TYPE_FP32', dims: [3, -1] }],
      output: [{ name: 'Y', data_type: 'TYPE_FP32', dims: [1], reshape: { shape: [] } }],
      dynamic_batching: {},
    });
  });

  it.each([
    { opts: { maxBatchSize: 0 }, expected: 4, dynamic: true, why: '0 means unset, as in config.pbtxt' },
    { opts: { maxBatchSize: 16 }, expected: 16, dynamic: true, why: 'explicit value kept' },
    { opts: { maxBatchSize: 1 }, expected: 1, dynamic: false, why: 'no dynamic batching at 1' },
    { opts: { defaultMaxBatchSize: 8 }, expected: 8, dynamic: true, why: 'configured default' },
    { opts: { defaultMaxBatchSize: 0 }, expected: 0, dynamic: false, why: 'default 0 turns batching off' },
  ])('batchable, $opts -> max_batch_size $expected ($why)', ({ opts, expected, dynamic }) => {
    // Act
    const config = autoCompleteOnnxConfig(batchable, { name: 'm', ...opts });

    // Assess
    expect(config.max_batch_size).toBe(expected);
    expect(config.dynamic_batching !== undefined).toBe(dynamic);
    expect(config.input?.[0]?.dims).toEqual(expected > 0 ? [3, -1] : [-1, 3, -1]);
  });

  it('not batchable: max_batch_size 0, full dims, a scalar becomes [1] reshaped to []', () => {
    // Act
    const config = autoCompleteOnnxConfig(fixed, { name: 'f' });

    // Assess
    expect(config.max_batch_size).toBe(0);
    expect(config.dynamic_batching).toBeUndefined();
    expect(config.input).toEqual([{ name: 'X', data_type: 'TYPE_FP32', dims: [2, 3] }]);
    expect(config.output).toEqual([{ name: 'Y', data_type: 'TYPE_FP32', dims: [1], reshape: { shape: [] } }]);
  });

  it('not batchable but max_batch_size 8: a PermanentError naming the tensor (rule 5)', () => {
    // Act / Assess
    expect(() => autoCompleteOnnxConfig(fixed, { name: 'f', maxBatchSize: 8 })).toThrow(
      expect.objectContaining({
        name: 'PermanentError',
        reason: 'MODEL_NOT_BATCHABLE',
        message: expect.stringContaining("'X' has dims [2, 3]"),
      }),
    );
  });

  it.each([
    {
      t: tensor('X', [-1], { elemType: 14, dataType: null }),
      message: 'COMPLEX64',
      reason: 'UNSUPPORTED_ONNX_TYPE',
    },
    {
      t: tensor('X', [-1], { elemType: 0, dataType: null, kind: 'sequence' }),
      message: 'is a sequence',
      reason: 'UNSUPPORTED_ONNX_TYPE',
    },
    { t: tensor('X', null), message: 'unknown rank', reason: 'UNKNOWN_ONNX_RANK' },
  ])('rejects an input Triton cannot describe: $message', ({ t, message, reason }) => {
    // Act
    let err: unknown;
    try {
      autoCompleteOnnxConfig(sig([t], [tensor('Y', [-1])]), { name: 'm', maxBatchSize: 0 });
    } catch (e) {
      err = e;
    }

    // Assess
    expect(err).toBeInstanceOf(PermanentError);
    expect(err).toMatchObject({ reason, message: expect.stringContaining(message) });
  });

  it('rejects a negative max_batch_size as a ValidationError', () => {
    expect(() => autoCompleteOnnxConfig(batchable, { name: 'm', maxBatchSize: -1 })).toThrow(ValidationError);
  });
});
