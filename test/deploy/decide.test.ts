import { describe, expect, it } from 'vitest';
import { type DeployDecision, decideDeployment, sourceFingerprint } from '../../shared/deploy/decide';
import { parseManifest } from '../../shared/deploy/manifest';
import { classifyUpload } from '../../shared/deploy/upload';
import { emptyRecord, type ModelRecord, type VersionState } from '../../shared/domain/registry';
import type { ObjectInfo } from '../../shared/ports/storage';
import { PermanentError } from '../../shared/runtime/errors';

const BUCKET = 'incoming';

/** `name#generation`, as a listing of the incoming bucket returns it. */
function obj(spec: string, size = 100n): ObjectInfo {
  const [name, generation = '1'] = spec.split('#') as [string, string?];
  return { bucket: BUCKET, name, generation, metageneration: '1', size };
}

function decide(input: {
  trigger: string;
  listing: string[];
  manifest?: string;
  registry?: ModelRecord;
}): DeployDecision {
  const trigger = obj(input.trigger);
  const upload = classifyUpload(trigger.name, trigger.size);
  if (upload.kind === 'ignore') throw new Error(`test bug: ${trigger.name} is ignored`);
  return decideDeployment({
    trigger: { bucket: BUCKET, name: trigger.name, generation: trigger.generation },
    upload,
    listing: input.listing.map((s) => obj(s)),
    manifest: input.manifest === undefined ? undefined : parseManifest(input.manifest),
    registry: input.registry,
  });
}

function registryWith(version: number, state: VersionState, fingerprint: string): ModelRecord {
  const record = emptyRecord('m', '2026-01-01T00:00:00.000Z');
  record.versions[String(version)] = {
    version,
    state,
    backend: 'onnxruntime',
    gpuClass: 'l4',
    source: { bucket: BUCKET, name: `m/${version}/model.onnx`, generation: '5' },
    fingerprint,
    files: {},
    publishedAt: '2026-01-01T00:00:00.000Z',
  };
  if (state === 'READY') record.serving = version;
  return record;
}

const ONNX_FINGERPRINT = sourceFingerprint([obj('m/1/model.onnx#5')]);

describe('decideDeployment: skips, each with its reason', () => {
  const cases: Array<{ title: string; input: Parameters<typeof decide>[0]; reason: RegExp }> = [
    {
      title: 'the object no longer exists',
      input: { trigger: 'm/1/model.onnx#5', listing: [] },
      reason: /m\/1\/model\.onnx no longer exists/,
    },
    {
      title: 'an older generation than the listed one (reordered delivery)',
      input: { trigger: 'm/1/model.onnx#5', listing: ['m/1/model.onnx#6'] },
      reason: /stale event: generation 5 of m\/1\/model\.onnx was replaced by 6/,
    },
    {
      title: 'a newer generation than the listed one (listing lags)',
      input: { trigger: 'm/1/model.onnx#7', listing: ['m/1/model.onnx#6'] },
      reason: /stale event/,
    },
    {
      title: 'an asset of a multi-file model without a manifest',
      input: {
        trigger: 'm/1/model.onnx/weights.bin#2',
        listing: ['m/1/model.onnx/model.onnx#1', 'm/1/model.onnx/weights.bin#2'],
      },
      reason: /multi-file model: it deploys when m\/1\/model\.yaml arrives/,
    },
    {
      title: 'a manifest in the listing that was not read',
      input: { trigger: 'm/1/model.onnx#1', listing: ['m/1/model.onnx#1', 'm/1/model.yaml#1'] },
      reason: /model\.yaml exists but was not read/,
    },
    {
      title: 'a manifest whose files are not all there yet',
      input: {
        trigger: 'm/1/model.yaml#3',
        listing: ['m/1/model.onnx/model.onnx#1', 'm/1/model.yaml#3'],
        manifest: 'files: [model.onnx/model.onnx, model.onnx/weights.bin]\n',
      },
      reason: /waiting for files listed in model\.yaml: model\.onnx\/weights\.bin/,
    },
    {
      title: 'a PyTorch file without a manifest or config.pbtxt',
      input: { trigger: 'm/1/model.pt#1', listing: ['m/1/model.pt#1'] },
      reason: /model\.pt needs a full config: waiting for m\/1\/model\.yaml or m\/1\/config\.pbtxt/,
    },
    {
      title: 'a Python file without a manifest or config.pbtxt',
      input: { trigger: 'm/1/model.py#1', listing: ['m/1/model.py#1'] },
      reason: /model\.py needs a full config/,
    },
    {
      title: 'a config.pbtxt alone',
      input: { trigger: 'm/1/config.pbtxt#1', listing: ['m/1/config.pbtxt#1'] },
      reason: /no model file yet in m\/1\/ \(config\.pbtxt alone does not deploy\)/,
    },
    {
      title: 'the same uploads already deployed and READY',
      input: {
        trigger: 'm/1/model.onnx#5',
        listing: ['m/1/model.onnx#5'],
        registry: registryWith(1, 'READY', ONNX_FINGERPRINT),
      },
      reason: /version 1 of m is already deployed with this content/,
    },
  ];

  it.each(cases)('$title', ({ input, reason }) => {
    // Act
    const decision = decide(input);

    // Assess
    expect(decision.action).toBe('skip');
    expect(decision.action === 'skip' ? decision.reason : '').toMatch(reason);
  });
});

describe('decideDeployment: deployments', () => {
  it('deploys a single ONNX file from the generation the event names', () => {
    // Act
    const decision = decide({ trigger: 'm/1/model.onnx#5', listing: ['m/1/model.onnx#5'] });

    // Assess
    expect(decision).toEqual({
      action: 'deploy',
      model: 'm',
      version: 1,
      backend: 'onnxruntime',
      // Size and checksums of that generation travel along: the copy is checked against them.
      files: [
        {
          source: { bucket: BUCKET, name: 'm/1/model.onnx', generation: '5' },
          size: '100',
          relative: 'model.onnx',
        },
      ],
      userConfig: undefined,
      onnxModelFile: {
        source: { bucket: BUCKET, name: 'm/1/model.onnx', generation: '5' },
        size: '100',
        relative: 'model.onnx',
      },
      fingerprint: ONNX_FINGERPRINT,
    });
  });

  const cases: Array<{
    title: string;
    input: Parameters<typeof decide>[0];
    backend: string;
    files: string[];
    onnx?: string;
    userConfig?: string;
  }> = [
    {
      title: 'a TensorRT plan on its own',
      input: { trigger: 'm/2/model.plan#1', listing: ['m/2/model.plan#1'] },
      backend: 'tensorrt',
      files: ['model.plan'],
    },
    {
      title: 'ONNX with external data once the manifest lists every file (manifest last)',
      input: {
        trigger: 'm/1/model.yaml#9',
        listing: ['m/1/model.onnx/model.onnx#1', 'm/1/model.onnx/weights.bin#2', 'm/1/model.yaml#9'],
        manifest: 'files: [model.onnx/model.onnx, model.onnx/weights.bin]\n',
      },
      backend: 'onnxruntime',
      files: ['model.onnx/model.onnx', 'model.onnx/weights.bin'],
      onnx: 'model.onnx/model.onnx',
    },
    {
      title: 'ONNX with external data when the last file arrives after the manifest',
      input: {
        trigger: 'm/1/model.onnx/weights.bin#12',
        listing: ['m/1/model.onnx/model.onnx#1', 'm/1/model.onnx/weights.bin#12', 'm/1/model.yaml#9'],
        manifest: 'files: [model.onnx/model.onnx, model.onnx/weights.bin]\n',
      },
      backend: 'onnxruntime',
      files: ['model.onnx/model.onnx', 'model.onnx/weights.bin'],
      onnx: 'model.onnx/model.onnx',
    },
    {
      title: 'PyTorch with its manifest',
      input: {
        trigger: 'm/1/model.yaml#2',
        listing: ['m/1/model.pt#1', 'm/1/model.yaml#2'],
        manifest:
          'backend: pytorch\ninputs: [{ name: INPUT__0, dataType: TYPE_FP32, dims: [3] }]\noutputs: [{ name: OUTPUT__0, dataType: TYPE_FP32, dims: [3] }]\n',
      },
      backend: 'pytorch',
      files: ['model.pt'],
    },
    {
      title: 'PyTorch with an uploaded config.pbtxt (merged, not copied)',
      input: { trigger: 'm/1/model.pt#1', listing: ['m/1/config.pbtxt#1', 'm/1/model.pt#1'] },
      backend: 'pytorch',
      files: ['model.pt'],
      userConfig: 'm/1/config.pbtxt',
    },
    {
      title: 'a Python model and its asset, with a manifest',
      input: {
        trigger: 'm/3/model.yaml#4',
        listing: ['m/3/model.py#1', 'm/3/tokenizer.json#2', 'm/3/model.yaml#4'],
        manifest:
          'backend: python\nfiles: [model.py, tokenizer.json]\ninputs: [{ name: T, dataType: TYPE_STRING, dims: [1] }]\noutputs: [{ name: O, dataType: TYPE_INT64, dims: [-1] }]\n',
      },
      backend: 'python',
      files: ['model.py', 'tokenizer.json'],
    },
    {
      title: 'an ensemble: a manifest and nothing else',
      input: {
        trigger: 'e/1/model.yaml#1',
        listing: ['e/1/model.yaml#1'],
        manifest:
          'backend: ensemble\ninputs: [{ name: I, dataType: TYPE_FP32, dims: [3] }]\noutputs: [{ name: O, dataType: TYPE_FP32, dims: [3] }]\nensemble: { steps: [{ model: add, inputMap: { X: I }, outputMap: { Y: O } }] }\n',
      },
      backend: 'ensemble',
      files: [],
    },
    {
      title: 'a directory placeholder in the listing is not a file',
      input: { trigger: 'm/1/model.onnx#5', listing: ['m/1/#1', 'm/1/model.onnx#5'] },
      backend: 'onnxruntime',
      files: ['model.onnx'],
      onnx: 'model.onnx',
    },
    {
      title: 'a version that FAILED from the same uploads may be tried again',
      input: {
        trigger: 'm/1/model.onnx#5',
        listing: ['m/1/model.onnx#5'],
        registry: registryWith(1, 'FAILED', ONNX_FINGERPRINT),
      },
      backend: 'onnxruntime',
      files: ['model.onnx'],
      onnx: 'model.onnx',
    },
    {
      title: 'a superseded version re-uploaded with new content deploys again',
      input: {
        trigger: 'm/1/model.onnx#6',
        listing: ['m/1/model.onnx#6'],
        registry: registryWith(1, 'SUPERSEDED', ONNX_FINGERPRINT),
      },
      backend: 'onnxruntime',
      files: ['model.onnx'],
      onnx: 'model.onnx',
    },
  ];

  it.each(cases)('$title', ({ input, backend, files, onnx, userConfig }) => {
    // Act
    const decision = decide(input);

    // Assess
    if (decision.action !== 'deploy') throw new Error(`expected a deployment, got: ${decision.reason}`);
    expect(decision.backend).toBe(backend);
    expect(decision.files.map((f) => f.relative).sort()).toEqual(files);
    for (const f of decision.files) {
      expect(input.listing).toContain(`${f.source.name}#${f.source.generation}`);
    }
    expect(decision.onnxModelFile?.relative).toBe(onnx);
    expect(decision.userConfig?.name).toBe(userConfig);
  });

  it('refuses a version directory holding two default model files and no manifest', () => {
    // Act
    const act = () =>
      decide({ trigger: 'm/1/model.onnx#1', listing: ['m/1/model.onnx#1', 'm/1/model.plan#1'] });

    // Assess
    expect(act).toThrow(PermanentError);
    expect(act).toThrow(/several model files found/);
  });
});

describe('sourceFingerprint', () => {
  it('depends on names and generations, not on listing order', () => {
    // Prepare
    const a = obj('m/1/a#1');
    const b = obj('m/1/b#2');

    // Act
    const forward = sourceFingerprint([a, b]);
    const backward = sourceFingerprint([b, a]);
    const regenerated = sourceFingerprint([a, obj('m/1/b#3')]);

    // Assess
    expect(forward).toBe(backward);
    expect(regenerated).not.toBe(forward);
    expect(forward).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('sourceFingerprint: content, not generations', () => {
  it('is the same for identical bytes uploaded again, and differs for new bytes', () => {
    const withHash = (name: string, generation: string, md5Hash: string): ObjectInfo => ({
      ...obj(`${name}#${generation}`),
      md5Hash,
    });
    const first = sourceFingerprint([withHash('m/1/model.onnx', '1', 'aaa=')]);
    const reuploaded = sourceFingerprint([withHash('m/1/model.onnx', '2', 'aaa=')]);
    const changed = sourceFingerprint([withHash('m/1/model.onnx', '3', 'bbb=')]);
    expect(reuploaded).toBe(first);
    expect(changed).not.toBe(first);
  });
});

describe('decideDeployment: a serving version is immutable', () => {
  it('refuses new content under the serving version number, before anything is written', () => {
    const registry = registryWith(1, 'READY', 'fingerprint-of-the-serving-bytes');
    const act = () => decide({ trigger: 'm/1/model.onnx#9', listing: ['m/1/model.onnx#9'], registry });
    expect(act).toThrow(PermanentError);
    expect(act).toThrow(/version 1 of m is serving and versions are immutable: upload .* as version 2/);
  });

  it('lets a FAILED version be uploaded again', () => {
    const registry = registryWith(1, 'FAILED', 'fingerprint-of-the-failed-bytes');
    const decision = decide({ trigger: 'm/1/model.onnx#9', listing: ['m/1/model.onnx#9'], registry });
    expect(decision.action).toBe('deploy');
  });
});

describe('decideDeployment: the newer version wins', () => {
  it.each([
    { serving: 2, version: 1, deploys: false },
    { serving: 3, version: 2, deploys: false },
    { serving: 1, version: 2, deploys: true },
    { serving: 1, version: 5, deploys: true },
  ])('version $version while $serving serves: deploys=$deploys', ({ serving, version, deploys }) => {
    // Act
    const decision = decide({
      trigger: `m/${version}/model.onnx#7`,
      listing: [`m/${version}/model.onnx#7`],
      registry: registryWith(serving, 'READY', 'fingerprint-of-the-serving-version'),
    });

    // Assess
    expect(decision.action).toBe(deploys ? 'deploy' : 'skip');
    if (decision.action === 'skip')
      expect(decision.reason).toBe(`version ${version} of m is superseded: version ${serving} is serving`);
  });
});
