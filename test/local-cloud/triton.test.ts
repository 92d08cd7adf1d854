/**
 * Contract tests of the local Triton server over plain HTTP, with its model repository in the
 * local storage server, uploaded through the official Storage client.
 */
import type { Bucket } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';
import { startTritonServer, type TritonServer } from '../../infra/local/triton';
import { toLoadApiConfigParameter } from '../../shared/triton/config-codec';

let storage: StorageServer;
let bucket: Bucket;
let triton: TritonServer;
const started: TritonServer[] = [];

const REPO_PREFIX = 'models';

beforeAll(async () => {
  storage = await startStorageServer({});
  [bucket] = await localStorageClient(storage.url).createBucket('triton-repo');
  triton = await startTritonServer({
    storageUrl: storage.url,
    repository: `gs://triton-repo/${REPO_PREFIX}`,
  });
  started.push(triton);
});

afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
  await storage.close();
});

/** Uploads a model directory: `{ 'config.pbtxt': '...', '1/model.onnx': 'bytes', '1/': '' }`. */
async function upload(model: string, files: Record<string, string>, prefix = REPO_PREFIX): Promise<void> {
  await Promise.all(
    Object.entries(files).map(([path, content]) =>
      bucket.file(`${prefix}/${model}/${path}`).save(content, { resumable: false }),
    ),
  );
}

async function post(
  server: TritonServer,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? '' : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

async function get(server: TritonServer, path: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${server.url}${path}`);
  const text = await res.text();
  const json = res.headers.get('content-type')?.includes('json') && text !== '' ? JSON.parse(text) : text;
  return { status: res.status, json };
}

function onnxConfig(name: string, extra = ''): string {
  return `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 3 ] } ]
output [ { name: "y" data_type: TYPE_STRING dims: [ 1 ] } ]
${extra}`;
}

async function rows(server: TritonServer, name: string): Promise<unknown[]> {
  const { json } = await post(server, '/v2/repository/index', {});
  return (json as Array<{ name: string }>).filter((r) => r.name === name);
}

describe('health', () => {
  it('is live and ready', async () => {
    expect((await get(triton, '/v2/health/live')).status).toBe(200);
    expect((await get(triton, '/v2/health/ready')).status).toBe(200);
  });

  it('answers a malformed path with 400', async () => {
    const res = await get(triton, '/v2/models/%E0%A4%A/ready');
    expect(res).toEqual({
      status: 400,
      json: { error: expect.stringContaining('malformed URL path segment') },
    });
  });

  it('answers unknown routes with a Triton error body', async () => {
    const res = await get(triton, '/v2/nothing');
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ error: expect.stringContaining('Not Found') });
  });
});

describe('load succeeds for each backend layout', () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ['onnx-full', { 'config.pbtxt': onnxConfig('onnx-full'), '1/model.onnx': 'onnx' }, 'onnxruntime_onnx'],
    ['onnx-auto', { '1/model.onnx': 'onnx' }, 'onnxruntime_onnx'],
    [
      'onnx-external',
      { '3/model.onnx/model.onnx': 'onnx', '3/model.onnx/weights.bin': 'w' },
      'onnxruntime_onnx',
    ],
    ['trt-auto', { '1/model.plan': 'plan' }, 'tensorrt_plan'],
    [
      'trt-cc',
      {
        'config.pbtxt':
          'name: "trt-cc"\nplatform: "tensorrt_plan"\ncc_model_filenames { key: "8.0" value: "a100.plan" }',
        '1/a100.plan': 'plan',
      },
      'tensorrt_plan',
    ],
    [
      'pytorch',
      {
        'config.pbtxt': `name: "pytorch"
platform: "pytorch_libtorch"
max_batch_size: 4
input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] } ]
output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 1000 ] } ]`,
        '1/model.pt': 'pt',
      },
      'pytorch_libtorch',
    ],
    [
      'python',
      {
        'config.pbtxt': 'name: "python"\nbackend: "python"',
        '1/model.py': 'import triton_python_backend_utils',
      },
      'python',
    ],
  ];
  it.each(cases)('%s', async (name, files, platform) => {
    // Prepare
    await upload(name, files);
    // Act
    const load = await post(triton, `/v2/repository/models/${name}/load`);
    // Assess
    expect(load).toEqual({ status: 200, json: {} });
    expect((await get(triton, `/v2/models/${name}/ready`)).status).toBe(200);
    const meta = await get(triton, `/v2/models/${name}`);
    expect(meta.status).toBe(200);
    expect(meta.json).toMatchObject({ name, platform });
    expect((await rows(triton, name))[0]).toMatchObject({ name, state: 'READY' });
  });

  it('reports inference-protocol metadata for inputs and outputs', async () => {
    // Prepare
    await upload('meta', { 'config.pbtxt': onnxConfig('meta'), '1/model.onnx': 'o', '2/model.onnx': 'o' });
    // Act
    await post(triton, '/v2/repository/models/meta/load');
    const meta = await get(triton, '/v2/models/meta');
    // Assess: batch dimension prefixed, TYPE_ dropped, STRING is BYTES, latest version only
    expect(meta.json).toEqual({
      name: 'meta',
      versions: ['2'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }],
      outputs: [{ name: 'y', datatype: 'BYTES', shape: [-1, 1] }],
    });
    expect((await get(triton, '/v2/models/meta/versions/2/ready')).status).toBe(200);
    expect((await get(triton, '/v2/models/meta/versions/1/ready')).status).toBe(400);
    const config = await get(triton, '/v2/models/meta/config');
    expect(config.json).toMatchObject({
      name: 'meta',
      max_batch_size: 8,
      input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [3] }],
    });
  });

  it('loads the versions the version policy selects', async () => {
    // Prepare
    await upload('policy', {
      'config.pbtxt': onnxConfig('policy', 'version_policy: { specific: { versions: [1, 3] } }'),
      '1/model.onnx': 'o',
      '2/model.onnx': 'o',
      '3/model.onnx': 'o',
    });
    // Act
    await post(triton, '/v2/repository/models/policy/load');
    // Assess
    expect(await rows(triton, 'policy')).toEqual([
      { name: 'policy', version: '1', state: 'READY', reason: '' },
      { name: 'policy', version: '3', state: 'READY', reason: '' },
    ]);
  });

  it('loads an ensemble whose steps are ready', async () => {
    // Prepare
    await upload('ens-step', { 'config.pbtxt': onnxConfig('ens-step'), '1/model.onnx': 'o' });
    await post(triton, '/v2/repository/models/ens-step/load');
    await upload('ens', {
      'config.pbtxt': `name: "ens"
platform: "ensemble"
max_batch_size: 8
input [ { name: "IN" data_type: TYPE_FP32 dims: [ 3 ] } ]
output [ { name: "OUT" data_type: TYPE_STRING dims: [ 1 ] } ]
ensemble_scheduling { step [ { model_name: "ens-step" model_version: -1 input_map { key: "x" value: "IN" } output_map { key: "y" value: "OUT" } } ] }`,
      '1/': '',
    });
    // Act
    const load = await post(triton, '/v2/repository/models/ens/load');
    // Assess
    expect(load.status).toBe(200);
    expect((await get(triton, '/v2/models/ens/ready')).status).toBe(200);
  });
});

describe('load failures make the model UNAVAILABLE with a reason', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['pytorch-noconfig', { '1/model.pt': 'pt' }, /missing config\.pbtxt/],
    [
      'bad-pbtxt',
      {
        'config.pbtxt': 'name: "bad-pbtxt"\nplatform: "onnxruntime_onnx"\nmax_batch_size 8\n',
        '1/model.onnx': 'o',
      },
      /failed to read text proto from gs:\/\/triton-repo\/models\/bad-pbtxt\/config\.pbtxt: Error parsing text-format inference\.ModelConfig: 3:16: Expected ":", found "8"\./,
    ],
    [
      'unknown-field',
      {
        'config.pbtxt': 'name: "unknown-field"\nplatform: "onnxruntime_onnx"\ninputs { }\n',
        '1/model.onnx': 'o',
      },
      /3:1: Message type "inference\.ModelConfig" has no field named "inputs"\./,
    ],
    [
      'mismatch',
      { 'config.pbtxt': onnxConfig('other-name'), '1/model.onnx': 'o' },
      /unexpected directory name 'mismatch' for model 'other-name', directory name must equal model name/,
    ],
    [
      'no-file',
      { 'config.pbtxt': onnxConfig('no-file'), '1/weights.bin': 'o' },
      /model file '1\/model\.onnx' not found/,
    ],
    ['no-version', { 'config.pbtxt': onnxConfig('no-version') }, /at least one version must be available/],
    [
      'ens-missing',
      {
        'config.pbtxt':
          'name: "ens-missing"\nplatform: "ensemble"\nensemble_scheduling { step { model_name: "never-loaded" model_version: -1 } }',
        '1/': '',
      },
      /ensemble 'ens-missing' depends on 'never-loaded' which has no loaded version/,
    ],
  ];
  it.each(cases)('%s', async (name, files, reason) => {
    // Prepare
    await upload(name, files);
    // Act
    const load = await post(triton, `/v2/repository/models/${name}/load`);
    // Assess
    expect(load.status).toBe(400);
    const error = (load.json as { error: string }).error;
    expect(error).toMatch(new RegExp(`^failed to load '${name}', failed to poll from model repository: `));
    expect(error).toMatch(reason);
    expect((await get(triton, `/v2/models/${name}/ready`)).status).toBe(400);
    const [row] = (await rows(triton, name)) as Array<{ state: string; reason: string }>;
    expect(row!.state).toBe('UNAVAILABLE');
    expect(row!.reason).toMatch(reason);
    expect((await get(triton, `/v2/models/${name}`)).json).toEqual({
      error: `Request for unknown model: '${name}' is not found`,
    });
  });

  it('refuses a hostile config.pbtxt over the size limit without hanging', async () => {
    // Prepare
    await upload('huge', { 'config.pbtxt': `# ${'x'.repeat(1024 * 1024)}\n`, '1/model.onnx': 'o' });
    // Act
    const load = await post(triton, '/v2/repository/models/huge/load');
    // Assess
    expect(load.status).toBe(400);
    expect((load.json as { error: string }).error).toMatch(/over the 1048576-byte limit/);
  });

  it('fails a model that is not in the repository', async () => {
    const load = await post(triton, '/v2/repository/models/absent/load');
    expect(load.status).toBe(400);
    expect(load.json).toEqual({
      error: expect.stringMatching(/'absent'.*not found in any model repository/),
    });
  });

  it('keeps serving the loaded model when a reload fails', async () => {
    // Prepare
    await upload('reload', { 'config.pbtxt': onnxConfig('reload'), '1/model.onnx': 'o' });
    expect((await post(triton, '/v2/repository/models/reload/load')).status).toBe(200);
    await upload('reload', { 'config.pbtxt': 'name: "reload" garbage' });
    // Act
    const again = await post(triton, '/v2/repository/models/reload/load');
    // Assess
    expect(again.status).toBe(400);
    expect((await get(triton, '/v2/models/reload/ready')).status).toBe(200);
  });
});

describe('config parameter of the load API', () => {
  it('overrides config.pbtxt', async () => {
    // Prepare
    await upload('override', { 'config.pbtxt': onnxConfig('override'), '1/model.onnx': 'o' });
    const config = toLoadApiConfigParameter({
      name: 'override',
      platform: 'onnxruntime_onnx',
      max_batch_size: 16,
      input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [3] }],
      output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [2] }],
      instance_group: [{ count: 2, kind: 'KIND_GPU', gpus: [0, 1] }],
    });
    // Act
    const load = await post(triton, '/v2/repository/models/override/load', { parameters: { config } });
    // Assess
    expect(load.status).toBe(200);
    const got = await get(triton, '/v2/models/override/config');
    expect(got.json).toMatchObject({
      max_batch_size: 16,
      instance_group: [{ count: 2, kind: 'KIND_GPU', gpus: [0, 1] }],
    });
    expect((await get(triton, '/v2/models/override')).json).toMatchObject({
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    });
  });

  const bad: Array<[string, unknown, RegExp]> = [
    [
      'a non-string config',
      { parameters: { config: { name: 'override-bad' } } },
      /'config' parameter must be a JSON string/,
    ],
    ['invalid JSON', { parameters: { config: '{name:' } }, /not valid JSON/],
    [
      'inference-protocol names',
      {
        parameters: {
          config: JSON.stringify({
            name: 'override-bad',
            inputs: [{ name: 'x', datatype: 'FP32', shape: [3] }],
          }),
        },
      },
      /invalid JSON in inference\.ModelConfig @ inputs: no such field: 'inputs'/,
    ],
    [
      'file overrides without config',
      { parameters: { 'file:1/model.onnx': 'AAAA' } },
      /file overrides require the 'config' parameter/,
    ],
    ['a body that is not JSON', 'not json', /failed to parse the request JSON/],
  ];
  it.each(bad)('rejects %s with 400', async (_name, body, message) => {
    // Prepare
    await upload('override-bad', { 'config.pbtxt': onnxConfig('override-bad'), '1/model.onnx': 'o' });
    // Act
    const res =
      typeof body === 'string'
        ? await fetch(`${triton.url}/v2/repository/models/override-bad/load`, { method: 'POST', body })
        : undefined;
    const load = res
      ? { status: res.status, json: await res.json() }
      : await post(triton, '/v2/repository/models/override-bad/load', body);
    // Assess
    expect(load.status).toBe(400);
    expect((load.json as { error: string }).error).toMatch(message);
    expect((await get(triton, '/v2/models/override-bad/ready')).status).toBe(400);
  });
});

describe('repository index', () => {
  it('lists repository models never loaded by name only, and filters ready ones', async () => {
    // Prepare
    await upload('idle', { '1/model.onnx': 'o' });
    // Act
    const all = (await post(triton, '/v2/repository/index', {})).json as Array<{
      name: string;
      state?: string;
    }>;
    const ready = (await post(triton, '/v2/repository/index', { ready: true })).json as Array<{
      state?: string;
    }>;
    // Assess
    expect(all).toContainEqual({ name: 'idle' });
    expect(ready.length).toBeGreaterThan(0);
    expect(ready.every((r) => r.state === 'READY')).toBe(true);
    expect(all.length).toBeGreaterThan(ready.length);
  });

  it('accepts an empty body', async () => {
    const res = await fetch(`${triton.url}/v2/repository/index`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(Array.isArray(await res.json())).toBe(true);
  });
});

describe('unload', () => {
  it('makes a loaded model UNAVAILABLE with reason "unloaded"', async () => {
    // Prepare
    await upload('to-unload', { '1/model.onnx': 'o' });
    await post(triton, '/v2/repository/models/to-unload/load');
    // Act
    const res = await post(triton, '/v2/repository/models/to-unload/unload');
    // Assess
    expect(res.status).toBe(200);
    expect((await get(triton, '/v2/models/to-unload/ready')).status).toBe(400);
    expect(await rows(triton, 'to-unload')).toEqual([
      { name: 'to-unload', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' },
    ]);
  });

  it("unloads an ensemble's steps with unload_dependents", async () => {
    // Prepare
    await upload('dep-a', { '1/model.onnx': 'o' });
    await upload('dep-ens', {
      'config.pbtxt':
        'name: "dep-ens"\nplatform: "ensemble"\nensemble_scheduling { step { model_name: "dep-a" model_version: -1 } }',
      '1/': '',
    });
    await post(triton, '/v2/repository/models/dep-a/load');
    expect((await post(triton, '/v2/repository/models/dep-ens/load')).status).toBe(200);
    // Act
    await post(triton, '/v2/repository/models/dep-ens/unload', { parameters: { unload_dependents: true } });
    // Assess
    expect((await get(triton, '/v2/models/dep-ens/ready')).status).toBe(400);
    expect((await get(triton, '/v2/models/dep-a/ready')).status).toBe(400);
  });
});

describe('with loadDelayMs', () => {
  it('models sit in LOADING until ready, so callers poll readiness', async () => {
    // Prepare
    const slow = await startTritonServer({
      storageUrl: storage.url,
      repository: `gs://triton-repo/${REPO_PREFIX}`,
      loadDelayMs: 1500,
    });
    started.push(slow);
    await upload('slow', { '1/model.onnx': 'o' });
    // Act
    const load = await post(slow, '/v2/repository/models/slow/load');
    const readyAtOnce = await get(slow, '/v2/models/slow/ready');
    const indexAtOnce = await rows(slow, 'slow');
    let ready = readyAtOnce.status;
    for (let i = 0; i < 300 && ready !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ready = (await get(slow, '/v2/models/slow/ready')).status;
    }
    // Assess
    expect(load.status).toBe(200);
    expect(readyAtOnce.status).toBe(400);
    expect(indexAtOnce).toEqual([{ name: 'slow', version: '1', state: 'LOADING', reason: '' }]);
    expect(ready).toBe(200);
    expect(await rows(slow, 'slow')).toEqual([{ name: 'slow', version: '1', state: 'READY', reason: '' }]);
  });
});

describe('model control none', () => {
  it('loads the repository at start and refuses load and unload', async () => {
    // Prepare
    const prefix = 'none-repo';
    await upload('good', { 'config.pbtxt': onnxConfig('good'), '1/model.onnx': 'o' }, prefix);
    await upload('broken', { 'config.pbtxt': 'name: "broken"\nplatform: "onnxruntime_onnx"' }, prefix);
    await upload(
      'aa-ens',
      {
        'config.pbtxt':
          'name: "aa-ens"\nplatform: "ensemble"\nensemble_scheduling { step { model_name: "good" model_version: -1 } }',
        '1/': '',
      },
      prefix,
    );
    // Act
    const none = await startTritonServer({
      storageUrl: storage.url,
      repository: `gs://triton-repo/${prefix}`,
      modelControl: 'none',
    });
    started.push(none);
    const load = await post(none, '/v2/repository/models/good/load');
    const unload = await post(none, '/v2/repository/models/good/unload');
    // Assess
    const refusal = { error: 'explicit model load / unload is not allowed if polling is enabled' };
    expect(load).toEqual({ status: 503, json: refusal });
    expect(unload).toEqual({ status: 503, json: refusal });
    expect((await get(none, '/v2/models/good/ready')).status).toBe(200);
    expect((await get(none, '/v2/models/aa-ens/ready')).status).toBe(200);
    expect((await get(none, '/v2/models/broken/ready')).status).toBe(400);
    expect((await get(none, '/v2/health/ready')).status).toBe(200);
  });
});

describe('fault injection', () => {
  it('fails the next matching request with a Triton error body, then recovers', async () => {
    // Prepare
    triton.faults.set({ failNext: 1, failStatus: 503, match: '/v2/health/ready' });
    // Act
    const first = await get(triton, '/v2/health/ready');
    const second = await get(triton, '/v2/health/ready');
    const live = await get(triton, '/v2/health/live');
    // Assess
    expect(first).toEqual({ status: 503, json: { error: 'injected fault' } });
    expect(second.status).toBe(200);
    expect(live.status).toBe(200);
    expect(triton.faults.injected).toBe(1);
    triton.faults.clear();
  });
});

describe('metrics', () => {
  it('exposes nv_inference_* counters for ready models', async () => {
    // Prepare
    await upload('metered', { '1/model.onnx': 'o' });
    await post(triton, '/v2/repository/models/metered/load');
    // Act
    const res = await get(triton, '/metrics');
    // Assess
    expect(res.status).toBe(200);
    expect(res.json).toContain('nv_inference_request_success{model="metered",version="1"} 0');
    expect(res.json).toContain('nv_inference_count{model="metered",version="1"} 0');
  });
});
