import { describe, expect, it } from 'vitest';
import { DEFAULT_DEPLOY_LIMITS, type DeployLimits, deployLimits } from '../../shared/deploy/limits';
import {
  buildModelConfig,
  configLimitIssues,
  gpusPerNode,
  parseUserConfig,
} from '../../shared/deploy/model-config';
import { BUILTIN_GPU_CLASSES } from '../../shared/gpu/catalog';
import { readOnnxSignature } from '../../shared/onnx/reader';
import { memoryByteSource } from '../../shared/onnx/source';
import { ConfigurationError, LimitExceededError } from '../../shared/runtime/errors';
import type { ModelConfig } from '../../shared/triton/model-config';
import { ElemType, encodeModel, type ValueSpec } from '../onnx/build-onnx';

describe('deployLimits', () => {
  it('defaults: 64 GiB per file, 64 KiB per manifest, 128-character names', () => {
    // Act
    const limits = deployLimits();

    // Assess
    expect(limits).toEqual(DEFAULT_DEPLOY_LIMITS);
    expect(limits.maxFileBytes).toBe(64n * 1024n ** 3n);
    expect(limits.maxManifestBytes).toBe(65536);
    expect(limits.maxModelNameLength).toBe(128);
  });

  it('applies overrides and ignores undefined ones', () => {
    // Act
    const limits = deployLimits({ maxFileBytes: 10n, maxFilesPerModel: undefined });

    // Assess
    expect(limits.maxFileBytes).toBe(10n);
    expect(limits.maxFilesPerModel).toBe(DEFAULT_DEPLOY_LIMITS.maxFilesPerModel);
  });

  it.each<[string, Partial<DeployLimits>, RegExp]>([
    ['zero file size', { maxFileBytes: 0n }, /maxFileBytes must be a positive bigint/],
    ['fractional manifest size', { maxManifestBytes: 1.5 }, /maxManifestBytes must be a positive integer/],
    ['negative alias count', { maxManifestAliasCount: -1 }, /maxManifestAliasCount/],
    ['name longer than the repository allows', { maxModelNameLength: 200 }, /cannot exceed 128/],
  ])('refuses %s', (_why, overrides, message) => {
    // Act / Assess
    expect(() => deployLimits(overrides)).toThrow(ConfigurationError);
    expect(() => deployLimits(overrides)).toThrow(message);
  });
});

describe('every limit refuses with its name and the value seen', () => {
  // A small valid config to start from, then one field pushed over each limit.
  const base = (): ModelConfig => ({
    name: 'm',
    backend: 'python',
    max_batch_size: 0,
    input: [{ name: 'IN', data_type: 'TYPE_FP32', dims: [4] }],
    output: [{ name: 'OUT', data_type: 'TYPE_FP32', dims: [4] }],
  });
  const tensors = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ name: `T${i}`, data_type: 'TYPE_FP32' as const, dims: [1] }));

  it.each<[keyof DeployLimits, string, (c: ModelConfig) => void, number | string]>([
    ['maxTensorsPerModel', 'input', (c) => (c.input = tensors(4096)), 4097],
    ['maxRank', 'input.0.dims', (c) => (c.input![0]!.dims = new Array(65).fill(1)), 65],
    ['maxDimValue', 'input.0.dims.0', (c) => (c.input![0]!.dims = [2 ** 31]), 2 ** 31],
    ['maxTensorNameLength', 'output.0.name', (c) => (c.output![0]!.name = 'x'.repeat(1025)), 1025],
    ['maxInstanceGroups', 'instance_group', (c) => (c.instance_group = Array(17).fill({ count: 1 })), 17],
    [
      'maxInstancesPerGpu',
      'instance_group.0.count',
      (c) => (c.instance_group = [{ count: 100_000, kind: 'KIND_GPU' }]),
      100_000,
    ],
    [
      'maxCpuInstances',
      'instance_group.0.count',
      (c) => (c.instance_group = [{ count: 65, kind: 'KIND_CPU' }]),
      65,
    ],
    [
      'maxParameters',
      'parameters',
      (c) =>
        (c.parameters = Object.fromEntries(
          Array.from({ length: 129 }, (_, i) => [`k${i}`, { string_value: 'v' }]),
        )),
      129,
    ],
    [
      'maxParameterValueLength',
      'parameters.k.string_value',
      (c) => (c.parameters = { k: { string_value: 'v'.repeat(4097) } }),
      4097,
    ],
    [
      'maxWarmups',
      'model_warmup',
      (c) => (c.model_warmup = Array(33).fill({ name: 'w', batch_size: 1, inputs: {} })),
      33,
    ],
  ])('%s at %s', (limit, path, mutate, value) => {
    // Prepare
    const config = base();
    mutate(config);

    // Act
    const issues = configLimitIssues(config, DEFAULT_DEPLOY_LIMITS, 1);

    // Assess
    expect(issues).toContainEqual(
      expect.objectContaining({ limit, path, value, max: DEFAULT_DEPLOY_LIMITS[limit] as number }),
    );
    expect(issues.find((i) => i.limit === limit)?.message).toContain(
      `${limit} = ${DEFAULT_DEPLOY_LIMITS[limit]}`,
    );
    expect(configLimitIssues(base(), DEFAULT_DEPLOY_LIMITS, 1)).toEqual([]);
  });

  it('bounds GPU instances by the GPUs a node of the class has: count is per GPU', () => {
    // Prepare: 10 per GPU on a 4-GPU node is 40 instances, allowed; a GPU id the node lacks is not.
    const config = { ...base(), instance_group: [{ count: 10, kind: 'KIND_GPU' as const }] };
    const pinned = { ...base(), instance_group: [{ count: 1, kind: 'KIND_GPU' as const, gpus: [0, 4] }] };
    const stacked = {
      ...base(),
      instance_group: [
        { count: 10, kind: 'KIND_GPU' as const, gpus: [1] },
        { count: 10, kind: 'KIND_GPU' as const },
      ],
    };

    // Act / Assess
    expect(configLimitIssues(config, DEFAULT_DEPLOY_LIMITS, 4)).toEqual([]);
    expect(configLimitIssues(pinned, DEFAULT_DEPLOY_LIMITS, 4)).toEqual([
      expect.objectContaining({ path: 'instance_group.0.gpus.1', limit: 'gpusPerNode', value: 4, max: 3 }),
    ]);
    expect(configLimitIssues(stacked, DEFAULT_DEPLOY_LIMITS, 4)).toEqual([
      expect.objectContaining({ limit: 'maxInstancesPerGpu', value: 20, max: 16 }),
    ]);
  });

  it('gpusPerNode reads the class machine type from the catalog', () => {
    // Act / Assess
    expect(gpusPerNode(BUILTIN_GPU_CLASSES.l4)).toBe(1);
    expect(gpusPerNode({ ...BUILTIN_GPU_CLASSES['a100-40gb'], machineType: 'a2-highgpu-8g' })).toBe(8);
  });

  it('an uploaded config.pbtxt over maxConfigBytes is refused before it is parsed', () => {
    // Prepare: not even valid pbtxt, so a parse would fail differently.
    const text = '{'.repeat(1024 * 1024 + 1);

    // Act
    const err = (() => {
      try {
        parseUserConfig(text, 'm');
      } catch (e) {
        return e;
      }
      return undefined;
    })();

    // Assess
    expect(err).toBeInstanceOf(LimitExceededError);
    expect((err as LimitExceededError).reason).toBe('LIMIT_EXCEEDED');
    expect((err as LimitExceededError).issues[0]).toMatchObject({
      limit: 'maxConfigBytes',
      value: 1024 * 1024 + 1,
    });
  });

  it('buildModelConfig refuses 100,000 instances on an L4 node and names the limit', () => {
    // Act / Assess
    expect(() =>
      buildModelConfig({
        model: 'm',
        version: 1,
        backend: 'python',
        userConfig: { ...base(), instance_group: [{ count: 100_000 }] },
        policy: { maxBatchSize: 0, dynamicBatching: { maxQueueDelayMicroseconds: 100 }, instanceCount: 1 },
        gpusPerNode: 1,
      }),
    ).toThrow(
      /instance_group\.0\.count: the instances of the model on one GPU .* is 100000, over the limit maxInstancesPerGpu = 16/,
    );
  });
});

describe('the generated config.pbtxt is bounded too', () => {
  it('a config that would be written over maxConfigBytes is refused, naming its size', () => {
    // Prepare: 300 tensors with long names make a config of about 100 KB; the bound is 64 KiB.
    const names = Array.from({ length: 300 }, (_, i) => `${'n'.repeat(300)}${i}`);
    const tensor = (name: string) => ({ name, data_type: 'TYPE_FP32' as const, dims: [1] });

    // Act
    const build = () =>
      buildModelConfig({
        model: 'm',
        version: 1,
        backend: 'python',
        userConfig: {
          name: 'm',
          max_batch_size: 0,
          input: names.slice(0, 150).map(tensor),
          output: names.slice(150).map(tensor),
        },
        policy: { maxBatchSize: 0, dynamicBatching: { maxQueueDelayMicroseconds: 100 }, instanceCount: 1 },
        limits: deployLimits({ maxConfigBytes: 64 * 1024 }),
      });

    // Assess
    expect(build).toThrow(LimitExceededError);
    expect(build).toThrow(
      /the generated config\.pbtxt \(bytes\) is \d{5,}, over the limit maxConfigBytes = 65536/,
    );
  });
});

describe('the ONNX reader stops early at the tensor and rank limits', () => {
  const model = (inputs: ValueSpec[]) =>
    encodeModel({ nodes: [], inputs, outputs: [{ name: 'Y', elemType: ElemType.FLOAT, dims: [1] }] });

  it.each([
    [
      '200,000 inputs',
      () =>
        model(
          Array.from({ length: 200_000 }, (_, i) => ({ name: `x${i}`, elemType: ElemType.FLOAT, dims: [1] })),
        ),
      'maxTensorsPerModel',
    ],
    [
      'one input of rank 200,000',
      () => model([{ name: 'X', elemType: ElemType.FLOAT, dims: new Array(200_000).fill(1) }]),
      'maxRank',
    ],
  ])('%s: LIMIT_EXCEEDED, having read a small part of the file', async (_what, build, limit) => {
    // Prepare
    const bytes = build();
    const source = memoryByteSource(bytes);

    // Act
    const err = await readOnnxSignature(source).then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess: refused by name, and the walk stopped long before the end of the list. A file of at
    // most 1 MiB is read in one request (shared/onnx/reader.ts), so the bound is that or a quarter.
    expect(err).toBeInstanceOf(LimitExceededError);
    expect((err as LimitExceededError).reason).toBe('LIMIT_EXCEEDED');
    expect((err as LimitExceededError).issues[0]?.limit).toBe(limit);
    expect(source.bytesRead).toBeLessThanOrEqual(Math.max(1024 * 1024, bytes.byteLength / 4));
  });

  it('a model at the limits is read', async () => {
    // Prepare: 4095 inputs + 1 output = 4096 tensors; one input of rank 64.
    const inputs = Array.from({ length: 4095 }, (_, i) => ({
      name: `x${i}`,
      elemType: ElemType.FLOAT,
      dims: [1],
    }));
    inputs[0] = { name: 'x0', elemType: ElemType.FLOAT, dims: new Array(64).fill(1) };

    // Act
    const signature = await readOnnxSignature(memoryByteSource(model(inputs)));

    // Assess
    expect(signature.inputs).toHaveLength(4095);
    expect(signature.inputs[0]?.dims).toHaveLength(64);
  });
});
