/**
 * The Triton fleet: one fresh local Triton per pod instance (uid), started from the container's
 * args through `sync`, with the admin key those args carry.
 */
import type { Bucket } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';
import {
  generateLoad,
  parseTritonArgs,
  startTritonServer,
  type TritonServer,
} from '../../infra/local/triton';
import { startTritonFleet, type TritonFleet, type TritonPodProcess } from '../../infra/local/triton/fleet';

const HEADER = 'inferplane-admin-key';
const KEY = 'k-123';
let storage: StorageServer;
let bucket: Bucket;
let fleet: TritonFleet;
const extra: TritonServer[] = [];

function onnxConfig(name: string, version: number): string {
  return `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 3 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 3 ] } ]
version_policy: { specific: { versions: [ ${version} ] } }
`;
}

async function upload(path: string, content: string): Promise<void> {
  await bucket.file(path).save(content, { resumable: false });
}

/** Args as the product's Deployment passes them, the key already expanded. */
function tritonArgs(pool: string, key = KEY, extraArgs: string[] = []): string[] {
  return [
    'tritonserver',
    `--model-repository=gs://fleet-repo/models/${pool}`,
    '--model-control-mode=explicit',
    '--load-model=*',
    '--exit-on-error=false',
    '--strict-readiness=false',
    '--http-port=8000',
    '--grpc-port=8001',
    '--metrics-port=8002',
    `--http-restricted-api=model-repository:${HEADER}=${key}`,
    `--grpc-restricted-protocol=model-repository:${HEADER}=${key}`,
    ...extraArgs,
  ];
}

function pod(name: string, uid: string, pool = 'p1', args = tritonArgs(pool)): TritonPodProcess {
  return { uid, name, namespace: 'triton', pool, args };
}

const podUrl = (pool: string, name: string) =>
  fleet.urlTemplate.replace('{pool}', pool).replace('{pod}', name);

async function status(url: string, init?: RequestInit): Promise<number> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

/** A request that gets no HTTP answer rejects (connection reset), as an unreachable pod would. */
async function answered(url: string): Promise<boolean> {
  try {
    const res = await fetch(url);
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

const load = (url: string, key?: string) =>
  status(`${url}/v2/repository/models/good/load`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { [HEADER]: key }) },
    body: '{}',
  });

beforeAll(async () => {
  storage = await startStorageServer({});
  [bucket] = await localStorageClient(storage.url).createBucket('fleet-repo');
  // Pool p1: a good model and one whose config Triton cannot parse.
  await upload('models/p1/good/config.pbtxt', onnxConfig('good', 1));
  await upload('models/p1/good/1/model.onnx', 'onnx-bytes');
  await upload('models/p1/broken/config.pbtxt', 'name: "broken" platform: ');
  await upload('models/p1/broken/1/model.onnx', 'onnx-bytes');
  fleet = await startTritonFleet({ storageUrl: storage.url });
});

afterAll(async () => {
  await Promise.all([fleet.close(), ...extra.map((s) => s.close())]);
  await storage.close();
});

/** A pool repository with `good` pinned to `version` (and its files up to it). */
async function seedPool(pool: string, version: number): Promise<void> {
  for (let v = 1; v <= version; v++) await upload(`models/${pool}/good/${v}/model.onnx`, 'onnx-bytes');
  await upload(`models/${pool}/good/config.pbtxt`, onnxConfig('good', version));
}

async function successes(pool: string, name: string): Promise<number> {
  const text = await (
    await fetch(fleet.metricsUrlTemplate.replace('{pool}', pool).replace('{pod}', name))
  ).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('nv_inference_request_success{model="good",version="'));
  return Number(line?.split(' ').at(-1));
}

const inferGood = (pool: string, name: string) =>
  fetch(`${podUrl(pool, name)}/v2/models/good/infer`, {
    method: 'POST',
    body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [0, 0, 0] }] }),
  });

describe('sync starts one Triton per pod instance', () => {
  it('loads every model of the repository at start; a bad one ends UNAVAILABLE', async () => {
    // Act
    await fleet.sync([pod('p1-x-0', 'uid-a')]);
    const ready = await status(`${podUrl('p1', 'p1-x-0')}/v2/models/good/versions/1/ready`);
    const index = await fetch(`${podUrl('p1', 'p1-x-0')}/v2/repository/index`, {
      method: 'POST',
      headers: { [HEADER]: KEY },
      body: '{}',
    });
    const rows = (await index.json()) as Array<{ name: string; state?: string; reason?: string }>;

    // Assess
    expect(ready).toBe(200);
    expect(rows.find((r) => r.name === 'broken')).toMatchObject({
      state: 'UNAVAILABLE',
      reason: expect.stringMatching(
        /failed to read text proto from gs:\/\/fleet-repo\/models\/p1\/broken\/config\.pbtxt/,
      ),
    });
    expect(fleet.pod('p1', 'p1-x-0')?.repository).toBe('gs://fleet-repo/models/p1');
    expect(fleet.isReady('uid-a')).toBe(true);
    expect(fleet.isLive('uid-a')).toBe(true);
  });

  it('keeps pods apart: a load on one pod does not change another', async () => {
    // Prepare: both pods serve good v1, then the repository moves to v2.
    await seedPool('p2', 1);
    await fleet.sync([pod('p2-x-0', 'uid-2a', 'p2'), pod('p2-x-1', 'uid-2b', 'p2')]);
    await seedPool('p2', 2);

    // Act
    const loaded = await load(podUrl('p2', 'p2-x-0'), KEY);

    // Assess
    expect(loaded).toBe(200);
    expect(await status(`${podUrl('p2', 'p2-x-0')}/v2/models/good/versions/2/ready`)).toBe(200);
    expect(await status(`${podUrl('p2', 'p2-x-1')}/v2/models/good/versions/2/ready`)).toBe(400);
    expect(await status(`${podUrl('p2', 'p2-x-1')}/v2/models/good/versions/1/ready`)).toBe(200);
    expect(fleet.pods('p2')).toEqual(['p2-x-0', 'p2-x-1']);
  });

  it('a pod replaced under the same name (new uid) starts empty, loads the repository and counts from zero', async () => {
    // Prepare: the pod loaded v1 at start and served one request; the repository now pins v2.
    await seedPool('p3', 1);
    await fleet.sync([pod('p3-x-0', 'uid-3a', 'p3')]);
    expect((await inferGood('p3', 'p3-x-0')).status).toBe(200);
    expect(await successes('p3', 'p3-x-0')).toBe(1);
    await seedPool('p3', 2);

    // Act
    await fleet.sync([pod('p3-x-0', 'uid-3b', 'p3')]);

    // Assess
    expect(fleet.state('uid-3a')).toBeUndefined();
    expect(fleet.isLive('uid-3a')).toBe(false);
    expect(fleet.isReady('uid-3b')).toBe(true);
    expect(await status(`${podUrl('p3', 'p3-x-0')}/v2/models/good/versions/2/ready`)).toBe(200);
    expect(await status(`${podUrl('p3', 'p3-x-0')}/v2/models/good/versions/1/ready`)).toBe(400);
    expect(await successes('p3', 'p3-x-0')).toBe(0);
  });

  it('gives no Triton answer for a removed pod or a pod never synced', async () => {
    // Prepare
    await fleet.sync([pod('p1-x-0', 'uid-a'), pod('p1-x-1', 'uid-b')]);
    expect(await answered(`${podUrl('p1', 'p1-x-1')}/v2/health/live`)).toBe(true);

    // Act
    await fleet.sync([pod('p1-x-0', 'uid-a')]);

    // Assess
    expect(await answered(`${podUrl('p1', 'p1-x-1')}/v2/health/live`)).toBe(false);
    expect(await answered(`${podUrl('p1', 'never-0')}/v2/health/live`)).toBe(false);
    expect(await answered(`${podUrl('p2', 'p1-x-0')}/v2/health/live`)).toBe(false);
    expect(await answered(`${podUrl('p1', 'p1-x-0')}/v2/health/live`)).toBe(true);
    expect(fleet.pods('p1')).toEqual(['p1-x-0']);
  });

  it('answers the pool route from its first ready pod, and 503 for a pool with none', async () => {
    // Prepare
    await fleet.sync([pod('p1-x-0', 'uid-a')]);
    // Act
    const pool = fleet.poolUrlTemplate.replace('{pool}', 'p1');
    const served = await status(`${pool}/v2/models/good/versions/1/ready`);
    const empty = await status(`${fleet.poolUrlTemplate.replace('{pool}', 'p9')}/v2/health/ready`);

    // Assess
    expect(served).toBe(200);
    expect(empty).toBe(503);
  });
});

describe('the admin key comes from the pod args', () => {
  const cases: Array<[string, string | undefined, number]> = [
    ['the right key', KEY, 200],
    ['a wrong key', 'wrong', 403],
    ['no key', undefined, 403],
    ['the key of another pod', 'other-key', 403],
  ];
  it.each(cases)('a repository call with %s answers %d', async (_name, key, expected) => {
    // Prepare
    await fleet.sync([pod('p1-x-0', 'uid-a'), pod('p1-y-0', 'uid-y', 'p1', tritonArgs('p1', 'other-key'))]);
    // Act
    const res = await fetch(`${podUrl('p1', 'p1-x-0')}/v2/repository/index`, {
      method: 'POST',
      headers: key === undefined ? {} : { [HEADER]: key },
      body: '{}',
    });
    const body = (await res.json()) as unknown;
    // Assess
    expect(res.status).toBe(expected);
    if (expected === 403)
      expect(body).toEqual({ error: `This API is restricted, expecting header '${HEADER}'` });
  });

  it('serves health and metadata without the key', async () => {
    await fleet.sync([pod('p1-x-0', 'uid-a')]);
    expect(await status(`${podUrl('p1', 'p1-x-0')}/v2/health/ready`)).toBe(200);
    expect(await status(`${podUrl('p1', 'p1-x-0')}/v2/models/good`)).toBe(200);
  });
});

describe('flags', () => {
  it('with --exit-on-error (Triton default) a model failing at start stops the pod Triton', async () => {
    // Act
    const args = tritonArgs('p1').filter((a) => a !== '--exit-on-error=false');
    await fleet.sync([pod('p1-e-0', 'uid-e', 'p1', args)]);
    // Assess
    expect(fleet.state('uid-e')).toBe('exited');
    expect(fleet.exitReason('uid-e')).toMatch(/failed to load all models: broken/);
    expect(fleet.isLive('uid-e')).toBe(false);
    expect(await answered(`${podUrl('p1', 'p1-e-0')}/v2/health/live`)).toBe(false);
  });

  it.each([
    ['exits', [] as string[], 'exited'],
    ['starts with nothing loaded', ['--exit-on-error=false'], 'running'],
  ])('with a repository it cannot poll, Triton %s', async (_name, extraArgs, state) => {
    // Act
    const args = ['tritonserver', '--model-repository=gs://no-such-bucket/models/p1', ...extraArgs];
    const uid = `uid-nobucket-${state}`;
    await fleet.sync([pod('p1-nb-0', uid, 'p1', args)]);
    // Assess
    expect(fleet.state(uid)).toBe(state);
    if (state === 'exited')
      expect(fleet.exitReason(uid)).toMatch(
        /failed to poll model repository 'gs:\/\/no-such-bucket\/models\/p1'/,
      );
    else expect(fleet.isReady(uid)).toBe(true);
  });

  it('with strict readiness a pod with an UNAVAILABLE model is live but not ready', async () => {
    // Act
    const args = tritonArgs('p1').filter((a) => a !== '--strict-readiness=false');
    await fleet.sync([pod('p1-s-0', 'uid-s', 'p1', args)]);
    // Assess
    expect(fleet.isLive('uid-s')).toBe(true);
    expect(fleet.isReady('uid-s')).toBe(false);
    expect(await status(`${podUrl('p1', 'p1-s-0')}/v2/health/ready`)).toBe(400);
  });

  it('in explicit mode without --load-model=* it loads only the named models', async () => {
    // Act
    const args = tritonArgs('p1').map((a) => (a === '--load-model=*' ? '--load-model=good' : a));
    await fleet.sync([pod('p1-n-0', 'uid-n', 'p1', args)]);
    const rows = (await (
      await fetch(`${podUrl('p1', 'p1-n-0')}/v2/repository/index`, {
        method: 'POST',
        headers: { [HEADER]: KEY },
      })
    ).json()) as Array<{ name: string; state?: string }>;
    // Assess
    expect(rows).toEqual([{ name: 'broken' }, expect.objectContaining({ name: 'good', state: 'READY' })]);
  });

  it('a pod whose args Triton refuses exits with the reason', async () => {
    // Act
    await fleet.sync([pod('p1-b-0', 'uid-bad', 'p1', ['tritonserver', '--model-control-mode=explicit'])]);
    // Assess
    expect(fleet.state('uid-bad')).toBe('exited');
    expect(fleet.exitReason('uid-bad')).toBe('--model-repository must be specified');
  });

  it('ignores flags it does not model', async () => {
    await fleet.sync([
      pod(
        'p1-i-0',
        'uid-i',
        'p1',
        tritonArgs('p1', KEY, ['--log-verbose=1', '--cuda-memory-pool-byte-size=0:1024']),
      ),
    ]);
    expect(fleet.isReady('uid-i')).toBe(true);
  });
});

describe('loadAllAtStart on a single server', () => {
  it('starts ready even when the repository cannot be listed (no bucket), with nothing loaded', async () => {
    // Act
    const server = await startTritonServer({
      storageUrl: storage.url,
      repository: 'gs://no-such-bucket/models',
      loadAllAtStart: true,
    });
    extra.push(server);

    // Assess
    expect(await status(`${server.url}/v2/health/ready`)).toBe(200);
    expect(server.modelControl).toBe('explicit');
  });

  it('without it, an explicit-mode server loads nothing at start', async () => {
    // Act
    const server = await startTritonServer({
      storageUrl: storage.url,
      repository: 'gs://fleet-repo/models/p1',
    });
    extra.push(server);

    // Assess
    expect(await status(`${server.url}/v2/models/good/ready`)).toBe(400);
  });
});

describe('parseTritonArgs', () => {
  it('reads the flags the product passes, in both --flag=value and --flag value forms', () => {
    // Act
    const args = parseTritonArgs([
      'tritonserver',
      '--model-store',
      'gs://b/models/p',
      '--model-control-mode=explicit',
      '--load-model=a',
      '--load-model',
      'b',
      '--strict-readiness=false',
      '--disable-auto-complete-config',
      '--http-restricted-api=model-repository,statistics:h=k=v',
      '--metrics-port=8002',
      '--backend-config=onnxruntime,default-max-batch-size=4',
    ]);
    // Assess
    expect(args).toMatchObject({
      repository: 'gs://b/models/p',
      modelControl: 'explicit',
      loadModels: ['a', 'b'],
      strictReadiness: false,
      exitOnError: true,
      autoCompleteConfig: false,
      metricsPort: 8002,
      httpRestricted: [
        { category: 'model-repository', header: 'h', value: 'k=v' },
        { category: 'statistics', header: 'h', value: 'k=v' },
      ],
    });
  });

  it.each([
    [
      ['--model-repository=gs://b/m', '--load-model=a'],
      "Use of '--load-model' requires setting '--model-control-mode=explicit' as well.",
    ],
    [
      ['--model-repository=gs://b/m', '--model-control-mode=sometimes'],
      "invalid value for --model-control-mode: 'sometimes'",
    ],
    [
      ['--model-repository=gs://b/m', '--http-restricted-api=health:a=1', '--http-restricted-api=health:b=2'],
      "api 'health' can not be specified in multiple config groups",
    ],
    [['--model-repository=gs://b/m', '--http-restricted-api=nokey'], /expects <API>/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseTritonArgs(argv)).toThrow(message);
  });
});

describe('load generator through a pod route', () => {
  it('drives a pod Triton and its metrics count the requests', async () => {
    // Prepare
    await seedPool('p4', 1);
    await fleet.sync([pod('p4-x-0', 'uid-4', 'p4')]);
    // Act
    const result = await generateLoad({
      url: podUrl('p4', 'p4-x-0'),
      model: 'good',
      rps: 100,
      durationMs: 100,
      maxRequests: 4,
    });
    // Assess
    expect(result.sent).toBeGreaterThan(0);
    expect(result.succeeded).toBe(result.sent);
    expect(await successes('p4', 'p4-x-0')).toBe(result.sent);
  });
});
