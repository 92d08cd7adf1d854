/**
 * The local Triton's load decision (pure) and its server over an in-memory repository reader.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  memoryRepositoryReader,
  parseRepositoryUrl,
  planLoad,
  startTritonServer,
  tensorMetadata,
} from '../../infra/local/triton';

const none = () => false;

describe('planLoad', () => {
  it('auto-completes an ONNX model without config.pbtxt', () => {
    // Act
    const plan = planLoad({ name: 'm', files: ['1/model.onnx', '2/model.onnx'], isReady: none });
    // Assess
    expect(plan).toEqual({
      ok: true,
      config: { name: 'm', platform: 'onnxruntime_onnx', max_batch_size: 0, input: [], output: [] },
      versions: [2],
    });
  });

  it('names a config without name after its directory', () => {
    const plan = planLoad({
      name: 'm',
      files: ['config.pbtxt', '1/model.py'],
      configText: 'backend: "python"',
      isReady: none,
    });
    expect(plan.ok && plan.config.name).toBe('m');
  });

  it('prefers the config override over config.pbtxt', () => {
    // Act
    const plan = planLoad({
      name: 'm',
      files: ['config.pbtxt', '1/model.pt'],
      configText: 'this is not pbtxt at all {',
      configOverride: JSON.stringify({ name: 'm', platform: 'pytorch_libtorch' }),
      isReady: none,
    });
    // Assess
    expect(plan).toMatchObject({ ok: true, config: { platform: 'pytorch_libtorch' }, versions: [1] });
  });

  const failures: Array<[string, Parameters<typeof planLoad>[0], RegExp]> = [
    ['empty directory', { name: 'm', files: [], isReady: none }, /model not found in any model repository/],
    ['pytorch without config', { name: 'm', files: ['1/model.pt'], isReady: none }, /missing config\.pbtxt/],
    [
      'syntax error',
      { name: 'm', files: ['config.pbtxt', '1/model.onnx'], configText: 'name: "m"\n}', isReady: none },
      /m\/config\.pbtxt: Error parsing text-format inference\.ModelConfig: 2:1: Expected identifier, got: \}/,
    ],
    [
      'override not an object',
      { name: 'm', files: ['1/model.onnx'], configOverride: '[1]', isReady: none },
      /invalid JSON in inference\.ModelConfig: expected an object/,
    ],
    [
      'ensemble step not ready',
      {
        name: 'e',
        files: ['config.pbtxt', '1/'],
        configText:
          'name: "e" platform: "ensemble" ensemble_scheduling { step { model_name: "a" model_version: -1 } step { model_name: "b" model_version: -1 } }',
        isReady: (m) => m === 'a',
      },
      /^ensemble 'e' depends on 'b' which has no loaded version$/,
    ],
  ];
  it.each(failures)('fails: %s', (_name, input, reason) => {
    // Act
    const plan = planLoad(input);
    // Assess
    expect(plan.ok).toBe(false);
    if (!plan.ok) expect(plan.reason).toMatch(reason);
  });
});

describe('tensorMetadata', () => {
  it.each([
    [{ name: 'a', data_type: 'TYPE_FP16', dims: [3] }, 4, { name: 'a', datatype: 'FP16', shape: [-1, 3] }],
    [{ name: 'b', data_type: 'TYPE_STRING', dims: [1] }, 0, { name: 'b', datatype: 'BYTES', shape: [1] }],
  ] as const)('%j (max_batch_size %d)', (tensor, batch, expected) => {
    expect(tensorMetadata({ ...tensor, dims: [...tensor.dims] }, batch)).toEqual(expected);
  });
});

describe('parseRepositoryUrl', () => {
  it.each([
    ['gs://bucket', { bucket: 'bucket', prefix: '' }],
    ['gs://my-bucket/a/b/', { bucket: 'my-bucket', prefix: 'a/b' }],
  ])('%s', (url, expected) => {
    expect(parseRepositoryUrl(url)).toEqual(expected);
  });

  it.each(['s3://bucket', 'gs://', 'bucket/prefix'])('rejects %s', (url) => {
    expect(() => parseRepositoryUrl(url)).toThrow(/gs:\/\/bucket/);
  });
});

describe('server over an in-memory repository', () => {
  const files = new Map<string, string>([
    ['m/1/model.onnx', 'o'],
    ['py/config.pbtxt', 'name: "py"\nbackend: "python"'],
  ]);
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    await Promise.all(closers.map((c) => c()));
  });

  it('loads from the reader and answers readiness', async () => {
    // Prepare
    const server = await startTritonServer({
      repository: 'gs://unused',
      reader: memoryRepositoryReader(files),
    });
    closers.push(() => server.close());
    // Act
    const ok = await fetch(`${server.url}/v2/repository/models/m/load`, { method: 'POST' });
    const bad = await fetch(`${server.url}/v2/repository/models/py/load`, { method: 'POST' });
    // Assess
    expect(ok.status).toBe(200);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/at least one version must be available/);
    expect(await server.index()).toEqual([
      { name: 'm', version: '1', state: 'READY', reason: '' },
      { name: 'py', state: 'UNAVAILABLE', reason: expect.stringMatching(/at least one version/) },
    ]);
  });
});
