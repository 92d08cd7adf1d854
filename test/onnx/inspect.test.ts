import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectCommand, modelNameFromPath } from '../../cli/inspect';
import { parseModelConfig } from '../../shared/triton/config-codec';
import { ElemType, encodeModel, identityFixedModel } from './build-onnx';

const fixtures = fileURLToPath(new URL('../fixtures/onnx', import.meta.url));

function memoryIo() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

interface InspectJson {
  name: string;
  inputs: { name: string; dataType: string | null; dims: number[] }[];
  outputs: { name: string; dataType: string | null; dims: number[] }[];
  maxBatchSize: number | null;
  config: string | null;
  externalData: { tensor: string; location: string }[];
  bytesRead: number;
  fileBytes: number;
  error?: string;
}

async function inspectJson(args: string[]): Promise<{ code: number; json: InspectJson; stderr: string }> {
  const m = memoryIo();
  const code = await inspectCommand([...args, '--json'], m.io);
  return { code, json: JSON.parse(m.stdout()) as InspectJson, stderr: m.stderr() };
}

describe('inferctl inspect --json', () => {
  it('Add model: full dims with -1, max_batch_size 4, a config Triton can parse', async () => {
    // Act
    const { code, json } = await inspectJson([join(fixtures, 'add-dynamic-batch.onnx')]);

    // Assess
    expect(code).toBe(0);
    expect(json.inputs).toEqual([
      expect.objectContaining({ name: 'X', dataType: 'TYPE_FP32', dims: [-1, 3] }),
    ]);
    expect(json.outputs).toEqual([
      expect.objectContaining({ name: 'Y', dataType: 'TYPE_FP32', dims: [-1, 3] }),
    ]);
    expect(json.maxBatchSize).toBe(4);
    expect(parseModelConfig(json.config ?? '')).toMatchObject({
      name: 'add-dynamic-batch',
      platform: 'onnxruntime_onnx',
      max_batch_size: 4,
      input: [{ name: 'X', data_type: 'TYPE_FP32', dims: [3] }],
      output: [{ name: 'Y', data_type: 'TYPE_FP32', dims: [3] }],
      dynamic_batching: {},
    });
  });

  it.each([
    { args: ['--max-batch-size', '16'], expected: 16 },
    { args: ['--max-batch-size=2'], expected: 2 },
    { args: ['--max-batch-size', '1'], expected: 1 },
  ])('Add model with $args -> max_batch_size $expected', async ({ args, expected }) => {
    // Act
    const { code, json } = await inspectJson([join(fixtures, 'add-dynamic-batch.onnx'), ...args]);

    // Assess
    expect(code).toBe(0);
    expect(json.maxBatchSize).toBe(expected);
    expect(json.config).toContain(`max_batch_size: ${expected}\n`);
    expect(json.config?.includes('dynamic_batching')).toBe(expected > 1);
  });

  it('fixed-shape model: max_batch_size 0 and full dims in the config', async () => {
    // Act
    const { code, json } = await inspectJson([join(fixtures, 'identity-fixed.onnx')]);

    // Assess
    expect(code).toBe(0);
    expect(json.maxBatchSize).toBe(0);
    expect(parseModelConfig(json.config ?? '').input).toEqual([
      { name: 'INPUT0', data_type: 'TYPE_INT64', dims: [2, 2] },
      { name: 'INPUT1', data_type: 'TYPE_FP16', dims: [4] },
    ]);
  });

  it('fixed-shape model with --max-batch-size 8: exit 1, the reason in the JSON and on stderr', async () => {
    // Act
    const { code, json, stderr } = await inspectJson([
      join(fixtures, 'identity-fixed.onnx'),
      '--max-batch-size',
      '8',
    ]);

    // Assess
    expect(code).toBe(1);
    expect(json.config).toBeNull();
    expect(json.error).toContain('max_batch_size 8 needs a variable first dimension');
    expect(stderr).toContain('max_batch_size 8 needs a variable first dimension');
  });

  it('a model.onnx directory (external data layout) is read through its model.onnx', async () => {
    // Act
    const { code, json } = await inspectJson([join(fixtures, 'external-data')]);

    // Assess
    expect(code).toBe(0);
    expect(json.externalData).toEqual([{ tensor: 'W', location: 'weights.bin' }]);
    expect(json.inputs.map((i) => i.name)).toEqual(['X']);
  });
});

describe('inferctl inspect errors and text output', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'onnx-inspect-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the signature and the config.pbtxt as text', async () => {
    // Prepare
    const m = memoryIo();

    // Act
    const code = await inspectCommand([join(fixtures, 'add-dynamic-batch.onnx'), '--name', 'adder'], m.io);

    // Assess
    expect(code).toBe(0);
    expect(m.stdout()).toContain('  X  TYPE_FP32  [-1, 3]\n');
    expect(m.stdout()).toContain('name: "adder"\n');
    expect(m.stderr()).toBe('');
  });

  it('a PNG renamed model.onnx: exit 1 with a clear reason', async () => {
    // Prepare
    const path = join(dir, 'model.onnx');
    await writeFile(path, Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a));
    const m = memoryIo();

    // Act
    const code = await inspectCommand([path], m.io);

    // Assess
    expect(code).toBe(1);
    expect(m.stderr()).toContain('not an ONNX model (looks like a PNG image)');
  });

  it('an unsupported element type: the signature is shown, the config is refused', async () => {
    // Prepare
    const path = join(dir, 'complex.onnx');
    const spec = identityFixedModel();
    await writeFile(
      path,
      encodeModel({
        ...spec,
        inputs: [{ name: 'INPUT0', elemType: ElemType.COMPLEX64, dims: ['n'] }],
        outputs: spec.inputs,
      }),
    );

    // Act
    const { code, json } = await inspectJson([path]);

    // Assess
    expect(code).toBe(1);
    expect(json.inputs[0]).toMatchObject({ name: 'INPUT0', dataType: null, dims: [-1] });
    expect(json.error).toContain('COMPLEX64');
  });

  it.each([
    { args: [], message: 'missing <model.onnx>' },
    { args: ['a.onnx', 'b.onnx'], message: 'exactly one model file' },
    { args: ['a.onnx', '--max-batch-size', 'x'], message: '--max-batch-size needs a non-negative integer' },
    { args: ['a.onnx', '--max-batch-size', '-1'], message: '--max-batch-size needs a non-negative integer' },
    { args: ['a.onnx', '--max-batch-size'], message: 'got nothing' },
    { args: ['a.onnx', '--frobnicate'], message: 'unknown option --frobnicate' },
  ])('usage error $args -> exit 2', async ({ args, message }) => {
    // Prepare
    const m = memoryIo();

    // Act
    const code = await inspectCommand(args, m.io);

    // Assess
    expect(code).toBe(2);
    expect(m.stderr()).toContain(message);
    expect(m.stderr()).toContain('Usage: inferctl inspect');
  });

  it('--help prints usage and exits 0', async () => {
    const m = memoryIo();
    expect(await inspectCommand(['--help'], m.io)).toBe(0);
    expect(m.stdout()).toContain('Usage: inferctl inspect');
  });

  it('a missing file: exit 1, cannot open', async () => {
    const m = memoryIo();
    expect(await inspectCommand([join(dir, 'nope.onnx')], m.io)).toBe(1);
    expect(m.stderr()).toContain('cannot open');
  });

  it('an empty model.onnx directory: exit 1', async () => {
    await mkdir(join(dir, 'empty.onnx'));
    const m = memoryIo();
    expect(await inspectCommand([join(dir, 'empty.onnx')], m.io)).toBe(1);
  });
});

describe('modelNameFromPath', () => {
  it.each([
    ['repo/resnet/1/model.onnx', 'resnet'],
    ['gs/bucket/models/bert/12/model.onnx/model.onnx', 'bert'],
    ['/tmp/x/0/model.onnx', 'model'],
    ['add.onnx', 'add'],
    ['dir/Thing.ONNX', 'Thing'],
  ])('%s -> %s', (path, name) => {
    expect(modelNameFromPath(path)).toBe(name);
  });
});
