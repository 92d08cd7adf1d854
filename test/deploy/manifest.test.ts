import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyManifestToPolicy,
  InvalidManifestError,
  type Manifest,
  missingManifestFiles,
  parseManifest,
} from '../../shared/deploy/manifest';
import { modelPolicySchema } from '../../shared/policy/schema';
import { PermanentError, ValidationError } from '../../shared/runtime/errors';

const FIXTURES = join(import.meta.dirname, '../../events/fixtures/manifests');

function issuesOf(text: string): InvalidManifestError['issues'] {
  try {
    parseManifest(text);
  } catch (err) {
    if (err instanceof InvalidManifestError) return err.issues;
    throw err;
  }
  throw new Error('expected parseManifest to throw');
}

describe('parseManifest: fixtures', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml'));

  it('has a valid example for every backend', () => {
    // Act
    const backends = files.map((f) => parseManifest(readFileSync(join(FIXTURES, f), 'utf8')).backend).sort();

    // Assess
    expect(backends).toEqual(['ensemble', 'onnxruntime', 'openvino', 'python', 'pytorch', 'tensorrt']);
  });

  it.each(files)('%s parses', (file) => {
    // Act
    const manifest = parseManifest(readFileSync(join(FIXTURES, file), 'utf8'));

    // Assess
    expect(manifest.backend).toBeDefined();
  });

  it('reads the multi-file ONNX example field by field', () => {
    // Act
    const m = parseManifest(readFileSync(join(FIXTURES, 'valid-onnxruntime-external-data.yaml'), 'utf8'));

    // Assess
    expect(m).toEqual({
      backend: 'onnxruntime',
      files: ['model.onnx/model.onnx', 'model.onnx/weights.bin'],
      gpuClass: 'l4',
      maxBatchSize: 16,
      dynamicBatching: { maxQueueDelayMicroseconds: 500 },
      instances: { count: 2, kind: 'gpu' },
      replicas: { min: 1, max: 3 },
      aliases: ['prod'],
    } satisfies Manifest);
  });

  it('defaults an ensemble step version to -1 and stringifies parameters', () => {
    // Act
    const ensemble = parseManifest(readFileSync(join(FIXTURES, 'valid-ensemble.yaml'), 'utf8'));
    const python = parseManifest(readFileSync(join(FIXTURES, 'valid-python.yaml'), 'utf8'));

    // Assess
    expect(ensemble.ensemble?.steps.map((s) => s.version)).toEqual([-1, 3]);
    expect(python.parameters).toEqual({ max_length: '512', lowercase: 'true' });
  });
});

describe('parseManifest: accepted forms', () => {
  it.each([
    ['empty file', '', {}],
    ['comment only', '# nothing\n', {}],
    ["versionPolicy 'all'", 'versionPolicy: all', { versionPolicy: 'all' }],
    ['versionPolicy latest', 'versionPolicy: { latest: 2 }', { versionPolicy: { latest: 2 } }],
    [
      'versionPolicy specific',
      'versionPolicy: { specific: [1, 3] }',
      { versionPolicy: { specific: [1, 3] } },
    ],
    [
      'a few aliases',
      'inputs: [{ name: a, dataType: TYPE_FP32, dims: &d [3, 4] }]\noutputs: [{ name: b, dataType: TYPE_FP32, dims: *d }]\n',
      {
        inputs: [{ name: 'a', dataType: 'TYPE_FP32', dims: [3, 4] }],
        outputs: [{ name: 'b', dataType: 'TYPE_FP32', dims: [3, 4] }],
      },
    ],
  ])('%s', (_why, text, expected) => {
    // Act
    const manifest = parseManifest(text);

    // Assess
    expect(manifest).toEqual(expected);
  });
});

describe('parseManifest: refusals', () => {
  const cases: Array<[string, string, Array<{ path: string; message: RegExp; line?: number }>]> = [
    [
      'unknown field (typo)',
      'backend: pytorch\nmaxBatchSzie: 8\n',
      [{ path: 'maxBatchSzie', message: /unknown field/, line: 2 }],
    ],
    [
      'unknown nested field',
      'dynamicBatching:\n  maxQueueDelay: 5\n',
      [{ path: 'dynamicBatching.maxQueueDelay', message: /unknown field/, line: 2 }],
    ],
    ['bad backend', 'backend: tensorflow\n', [{ path: 'backend', message: /onnxruntime/, line: 1 }]],
    ['maxBatchSize a string', 'maxBatchSize: "8"\n', [{ path: 'maxBatchSize', message: /number/, line: 1 }]],
    ['maxBatchSize negative', 'maxBatchSize: -1\n', [{ path: 'maxBatchSize', message: />=0|too small/i }]],
    ['maxBatchSize fractional', 'maxBatchSize: 1.5\n', [{ path: 'maxBatchSize', message: /int/i }]],
    ['instances kind', 'instances: { kind: tpu }\n', [{ path: 'instances.kind', message: /gpu|cpu/ }]],
    ['alias not a DNS label', 'aliases: [Prod_1]\n', [{ path: 'aliases.0', message: /DNS label/ }]],
    ['duplicate alias', 'aliases: [prod, prod]\n', [{ path: 'aliases.1', message: /twice/ }]],
    [
      'data type',
      'inputs: [{name: a, dataType: FLOAT, dims: [1]}]\noutputs: [{name: b, dataType: TYPE_FP32, dims: [1]}]\n',
      [{ path: 'inputs.0.dataType', message: /TYPE_FP32/, line: 1 }],
    ],
    [
      'inputs without outputs',
      'inputs: [{name: a, dataType: TYPE_FP32, dims: [1]}]\n',
      [{ path: 'outputs', message: /declared together/ }],
    ],
    [
      'duplicate tensor names',
      'inputs: [{name: a, dataType: TYPE_FP32, dims: [1]}]\noutputs: [{name: a, dataType: TYPE_FP32, dims: [1]}]\n',
      [{ path: 'outputs.0.name', message: /already used by inputs.0/ }],
    ],
    [
      'empty dims',
      'inputs: [{name: a, dataType: TYPE_FP32, dims: []}]\noutputs: [{name: b, dataType: TYPE_FP32, dims: [1]}]\n',
      [{ path: 'inputs.0.dims', message: /at least one dimension/ }],
    ],
    ['file traversal', 'files: [../other/model.onnx]\n', [{ path: 'files.0', message: /'\.' or '\.\.'/ }]],
    ['absolute file', 'files: [/etc/passwd]\n', [{ path: 'files.0', message: /relative/ }]],
    ['duplicate file', 'files: [a, a]\n', [{ path: 'files.1', message: /twice/ }]],
    [
      'ensemble without backend',
      'ensemble: { steps: [{model: a, inputMap: {x: y}, outputMap: {x: y}}] }\n',
      [{ path: 'ensemble', message: /backend: ensemble/ }],
    ],
    [
      'replicas min above max',
      'replicas: { min: 3, max: 2 }\n',
      [{ path: 'replicas.min', message: /above max/ }],
    ],
    [
      'warmup with two data sources',
      'warmup: [{name: w, batchSize: 1, inputs: {a: {dataType: TYPE_FP32, dims: [1], zeroData: true, randomData: true}}}]\n',
      [{ path: 'warmup.0.inputs.a', message: /exactly one/ }],
    ],
    ['versionPolicy unknown form', 'versionPolicy: newest\n', [{ path: 'versionPolicy', message: /latest/ }]],
    [
      'defaultModelFilename with a path',
      'defaultModelFilename: ../x.onnx\n',
      [{ path: 'defaultModelFilename', message: /plain file name/ }],
    ],
    [
      '__proto__ key in a map',
      'parameters: { a: b, __proto__: x }\n',
      [{ path: 'parameters.__proto__', message: /not allowed/, line: 1 }],
    ],
    [
      '__proto__ at the top',
      '__proto__: { backend: python }\n',
      [{ path: '__proto__', message: /not allowed/, line: 1 }],
    ],
    ['not a mapping', '- a\n- b\n', [{ path: '', message: /YAML mapping/ }]],
    [
      'duplicate key',
      'backend: python\nbackend: pytorch\n',
      [{ path: '', message: /YAML syntax error at line 2/, line: 2 }],
    ],
  ];
  it.each(cases)('%s', (_why, text, expected) => {
    // Act
    const issues = issuesOf(text);

    // Assess
    expect(issues).toHaveLength(expected.length);
    expected.forEach((e, i) => {
      expect(issues[i]?.path).toBe(e.path);
      expect(issues[i]?.message).toMatch(e.message);
      if (e.line !== undefined) expect(issues[i]?.line).toBe(e.line);
    });
  });

  it('lists every problem at once, in file order', () => {
    // Prepare
    const text = 'backend: pytorch\nmaxBatchSize: -3\ntypo: 1\naliases: [UPPER]\n';

    // Act
    const issues = issuesOf(text);

    // Assess
    expect(issues.map((i) => [i.path, i.line])).toEqual([
      ['maxBatchSize', 2],
      ['typo', 3],
      ['aliases.0', 4],
    ]);
  });

  it('reports a YAML syntax error with its line and column', () => {
    // Prepare
    const text = 'backend: python\ninputs: [\n  {name: a\nmaxBatchSize: 1\n';

    // Act
    const issues = issuesOf(text);

    // Assess
    expect(issues[0]?.message).toMatch(/^YAML syntax error at line \d+, column \d+/);
    expect(issues[0]?.line).toBeGreaterThanOrEqual(2);
  });

  it('is a ValidationError whose message names the field and line', () => {
    // Act / Assess
    expect(() => parseManifest('\nbackend: cobol\n')).toThrow(ValidationError);
    expect(() => parseManifest('\nbackend: cobol\n')).toThrow(
      /model.yaml is invalid: backend: .*\(line 2, column 1\)/,
    );
  });

  it('refuses an alias bomb without expanding it', () => {
    // Prepare: each level doubles the previous nine times; fully expanded it would be 9^9 items.
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const text = `${levels.join('\n')}\n`;

    // Act
    const issues = issuesOf(text);

    // Assess
    expect(issues).toHaveLength(1);
    expect(issues[0]?.message).toMatch(/aliases expand too much/);
  });

  it('refuses a manifest over the size limit before parsing it', () => {
    // Prepare
    const text = `# ${'x'.repeat(64 * 1024)}\n`;

    // Act / Assess
    expect(() => parseManifest(text)).toThrow(PermanentError);
    expect(() => parseManifest(text)).toThrow(/over the 65536-byte limit/);
    expect(() => parseManifest('backend: python\n', { maxManifestBytes: 10 })).toThrow(
      /16 bytes, over the 10-byte/,
    );
  });

  it('refuses more files than the per-model limit', () => {
    // Act
    const act = () => parseManifest('files: [a, b, c]\n', { maxFilesPerModel: 2 });

    // Assess
    expect(act).toThrow(/files: lists 3 files, over the limit of 2/);
  });
});

describe('missingManifestFiles', () => {
  it.each([
    [
      ['model.onnx/model.onnx', 'model.onnx/weights.bin'],
      ['model.onnx/model.onnx'],
      ['model.onnx/weights.bin'],
    ],
    [['model.onnx/model.onnx'], ['model.onnx/model.onnx', 'model.yaml'], []],
    [undefined, [], []],
  ])('files %j with %j present -> missing %j', (files, present, expected) => {
    // Act / Assess
    expect(missingManifestFiles(files === undefined ? {} : { files }, present)).toEqual(expected);
  });
});

describe('applyManifestToPolicy', () => {
  const policy = modelPolicySchema.parse({ replicas: { min: 1, max: 4 } });

  it('overrides what the manifest sets and keeps the rest', () => {
    // Prepare
    const m = parseManifest(
      'gpuClass: a100\nmaxBatchSize: 2\ndynamicBatching: { maxQueueDelayMicroseconds: 9 }\ninstances: { count: 3 }\nreplicas: { max: 6 }\n',
    );

    // Act
    const merged = applyManifestToPolicy(policy, m);

    // Assess
    expect(merged).toEqual({
      ...policy,
      gpuClass: 'a100',
      maxBatchSize: 2,
      dynamicBatching: { maxQueueDelayMicroseconds: 9 },
      instanceCount: 3,
      replicas: { min: 1, max: 6 },
    });
  });

  it('returns the policy unchanged without a manifest', () => {
    // Act / Assess
    expect(applyManifestToPolicy(policy)).toBe(policy);
    expect(applyManifestToPolicy(policy, parseManifest(''))).toEqual(policy);
  });

  it('refuses a min that ends up above the max', () => {
    // Act / Assess
    expect(() => applyManifestToPolicy(policy, parseManifest('replicas: { min: 5 }'))).toThrow(
      /replicas min 5 and max 4/,
    );
  });
});
