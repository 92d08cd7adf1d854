import { describe, expect, it } from 'vitest';
import { classifyUpload, detectBackend, type UploadClass } from '../../shared/deploy/upload';
import { PermanentError } from '../../shared/runtime/errors';

const KiB = 1024n;
const GiB = 1024n * 1024n * 1024n;

describe('classifyUpload: accepted objects', () => {
  const cases: Array<[string, bigint, UploadClass]> = [
    [
      'resnet/1/model.onnx',
      10n,
      { kind: 'model-file', model: 'resnet', version: 1, file: 'model.onnx', backend: 'onnxruntime' },
    ],
    [
      'trt/7/model.plan',
      10n,
      { kind: 'model-file', model: 'trt', version: 7, file: 'model.plan', backend: 'tensorrt' },
    ],
    [
      'pt/2/model.pt',
      10n,
      { kind: 'model-file', model: 'pt', version: 2, file: 'model.pt', backend: 'pytorch' },
    ],
    [
      'py/3/model.py',
      10n,
      { kind: 'model-file', model: 'py', version: 3, file: 'model.py', backend: 'python' },
    ],
    [
      'm/1/config.pbtxt',
      10n,
      { kind: 'model-file', model: 'm', version: 1, file: 'config.pbtxt', backend: 'user-config' },
    ],
    ['m/1/model.yaml', 64n * KiB, { kind: 'manifest', model: 'm', version: 1 }],
    [
      'm/1/model.onnx/model.onnx',
      5n * GiB,
      { kind: 'asset', model: 'm', version: 1, file: 'model.onnx/model.onnx' },
    ],
    [
      'm/1/model.onnx/weights.bin',
      64n * GiB,
      { kind: 'asset', model: 'm', version: 1, file: 'model.onnx/weights.bin' },
    ],
    ['m/1/tokenizer.json', 1n, { kind: 'asset', model: 'm', version: 1, file: 'tokenizer.json' }],
    ['m/1/sub/model.yaml', 1n, { kind: 'asset', model: 'm', version: 1, file: 'sub/model.yaml' }],
    ['m/1/model.xml', 1n, { kind: 'asset', model: 'm', version: 1, file: 'model.xml' }],
    ['m/1/données.txt', 1n, { kind: 'asset', model: 'm', version: 1, file: 'données.txt' }],
    [
      'm/2147483647/model.pt',
      1n,
      { kind: 'model-file', model: 'm', version: 2147483647, file: 'model.pt', backend: 'pytorch' },
    ],
    [
      'A.b-C_9/10/model.onnx',
      0n,
      { kind: 'model-file', model: 'A.b-C_9', version: 10, file: 'model.onnx', backend: 'onnxruntime' },
    ],
    // Ignored
    ['m/1/', 0n, { kind: 'ignore', reason: 'directory placeholder (name ends with /)' }],
    ['m/', 0n, { kind: 'ignore', reason: 'directory placeholder (name ends with /)' }],
    ['README.md', 5n, { kind: 'ignore', reason: 'object at the bucket root, outside any model' }],
    ['.DS_Store', 5n, { kind: 'ignore', reason: 'object at the bucket root, outside any model' }],
    ['m/1/.DS_Store', 5n, { kind: 'ignore', reason: "hidden file or directory '.DS_Store'" }],
    ['m/.git/config', 5n, { kind: 'ignore', reason: "hidden file or directory '.git'" }],
    ['.Trash/1/model.onnx', 5n, { kind: 'ignore', reason: "hidden file or directory '.Trash'" }],
    [
      '_inferplane/markers/m/1',
      5n,
      { kind: 'ignore', reason: "'_inferplane/' objects belong to the control plane" },
    ],
    [
      '_inferplane/../x',
      5n,
      { kind: 'ignore', reason: "'_inferplane/' objects belong to the control plane" },
    ],
  ];
  it.each(cases)('%s (%s bytes)', (name, size, expected) => {
    // Act
    const result = classifyUpload(name, size);

    // Assess
    expect(result).toEqual(expected);
  });
});

describe('classifyUpload: rejections', () => {
  const longName = 'x'.repeat(129);
  const cases: Array<[string, bigint, string, RegExp]> = [
    ['a/../b/1/model.onnx', 1n, 'PATH_TRAVERSAL', /'\.' or '\.\.' segment/],
    ['m/1//model.onnx', 1n, 'PATH_TRAVERSAL', /empty path segment/],
    ['m//1/model.onnx', 1n, 'PATH_TRAVERSAL', /empty path segment/],
    ['m/1/..', 1n, 'PATH_TRAVERSAL', /'\.\.' segment/],
    ['m/1/./model.onnx', 1n, 'PATH_TRAVERSAL', /'\.' or '\.\.' segment/],
    ['m/../', 0n, 'PATH_TRAVERSAL', /'\.\.' segment/],
    ['/m/1/model.onnx', 1n, 'PATH_TRAVERSAL', /starts with '\/'/],
    ['m\\1\\model.onnx', 1n, 'PATH_TRAVERSAL', /backslash/],
    ['m/1/model\u0000.onnx', 1n, 'PATH_TRAVERSAL', /control character/],
    ['m/1/a\nb', 1n, 'PATH_TRAVERSAL', /control character/],
    ['m/1/a\u0085b', 1n, 'PATH_TRAVERSAL', /control character/],
    [
      'm/01/model.onnx',
      1n,
      'INVALID_VERSION',
      /version directory '01' must be a positive integer without leading zeros, as Triton requires/,
    ],
    ['m/0/model.onnx', 1n, 'INVALID_VERSION', /versions start at 1/],
    ['m/v1/model.onnx', 1n, 'INVALID_VERSION', /must be a positive integer/],
    ['m/-1/model.onnx', 1n, 'INVALID_VERSION', /must be a positive integer/],
    ['m/1.0/model.onnx', 1n, 'INVALID_VERSION', /must be a positive integer/],
    ['m/2147483648/model.onnx', 1n, 'INVALID_VERSION', /above the largest version, 2147483647/],
    ['m/99999999999999999999/model.onnx', 1n, 'INVALID_VERSION', /above the largest version/],
    [
      'm/model.onnx',
      1n,
      'INVALID_VERSION',
      /not inside a version directory; upload to m\/<version>\/model.onnx/,
    ],
    ['mödel/1/model.onnx', 1n, 'INVALID_MODEL_NAME', /outside \[A-Za-z0-9_.-\]/],
    ['模型/1/model.onnx', 1n, 'INVALID_MODEL_NAME', /outside/],
    ['my model/1/model.onnx', 1n, 'INVALID_MODEL_NAME', /outside/],
    ['a..b/1/model.onnx', 1n, 'INVALID_MODEL_NAME', /contains '\.\.'/],
    [`${longName}/1/model.onnx`, 1n, 'INVALID_MODEL_NAME', /129 characters, over 128/],
    ['m/1/model.onnx', 64n * GiB + 1n, 'FILE_TOO_LARGE', /over the 64 GiB limit for one file/],
    ['m/1/model.yaml', 64n * KiB + 1n, 'FILE_TOO_LARGE', /over the 64 KiB limit for a manifest/],
    ['m/1/model.graphdef', 1n, 'UNKNOWN_BACKEND', /TensorFlow GraphDef/],
    ['m/1/model.savedmodel/saved_model.pb', 1n, 'UNKNOWN_BACKEND', /SavedModel/],
  ];
  it.each(cases)('%s -> %s', (name, size, reason, message) => {
    // Act
    const act = () => classifyUpload(name, size);

    // Assess
    expect(act).toThrow(PermanentError);
    try {
      act();
    } catch (err) {
      expect((err as PermanentError).reason).toBe(reason);
      expect((err as PermanentError).message).toMatch(message);
    }
  });

  it('truncates a very long model name in the message', () => {
    // Prepare
    const name = `${'y'.repeat(5000)}/1/model.onnx`;

    // Act / Assess
    expect(() => classifyUpload(name, 1n)).toThrow(/"y{80}\.\.\."/);
  });

  it('applies overridden limits', () => {
    // Act / Assess
    expect(() => classifyUpload('m/1/model.onnx', 11n, { maxFileBytes: 10n })).toThrow(
      /11 bytes, over the 10 bytes/,
    );
    expect(() => classifyUpload('abcdef/1/model.onnx', 1n, { maxModelNameLength: 5 })).toThrow(
      /6 characters, over 5/,
    );
    expect(classifyUpload('m/1/model.onnx', 10n, { maxFileBytes: 10n }).kind).toBe('model-file');
  });

  it('says which object was refused in details', () => {
    // Act
    let caught: unknown;
    try {
      classifyUpload('m/01/model.onnx', 1n);
    } catch (err) {
      caught = err;
    }

    // Assess
    expect((caught as PermanentError).details).toMatchObject({
      objectName: 'm/01/model.onnx',
      version: '01',
    });
  });
});

describe('detectBackend', () => {
  it.each([
    [['model.onnx'], undefined, 'onnxruntime'],
    [['model.onnx/model.onnx', 'model.onnx/w.bin'], undefined, 'onnxruntime'],
    [['model.plan'], undefined, 'tensorrt'],
    [['model.pt'], undefined, 'pytorch'],
    [['model.py', 'tok.json'], undefined, 'python'],
    [['model.xml', 'model.bin'], undefined, 'openvino'],
    [[], 'ensemble', 'ensemble'],
    [['model.py', 'model.onnx'], 'python', 'python'],
  ] as const)('%j with manifest backend %s -> %s', (files, manifestBackend, expected) => {
    // Act / Assess
    expect(detectBackend(files, manifestBackend)).toBe(expected);
  });

  it.each([
    [['tok.json'], /no model file found/],
    [['model.py', 'model.onnx'], /several model files found \(model.onnx, model.py\)/],
  ])('%j is refused', (files, message) => {
    // Act / Assess
    expect(() => detectBackend(files)).toThrow(message);
  });
});
