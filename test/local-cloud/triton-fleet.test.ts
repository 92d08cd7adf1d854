/**
 * The Triton fleet: one local Triton per pod of each GPU pool, each loading its pool's repository
 * at start as `--model-control-mode=explicit --load-model=*` does.
 */
import type { Bucket } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';
import { startTritonServer, type TritonServer } from '../../infra/local/triton';
import { startTritonFleet, type TritonFleet } from '../../infra/local/triton/fleet';

const HEADER = 'inferplane-admin-key';
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

const podUrl = (pool: string, pod: string) => fleet.urlTemplate.replace('{pool}', pool).replace('{pod}', pod);

async function status(url: string, init?: RequestInit): Promise<number> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

beforeAll(async () => {
  storage = await startStorageServer({});
  [bucket] = await localStorageClient(storage.url).createBucket('fleet-repo');
  // Pool p1: a good model and one whose config Triton cannot parse.
  await upload('models/p1/good/config.pbtxt', onnxConfig('good', 1));
  await upload('models/p1/good/1/model.onnx', 'onnx-bytes');
  await upload('models/p1/broken/config.pbtxt', 'name: "broken" platform: ');
  await upload('models/p1/broken/1/model.onnx', 'onnx-bytes');
  fleet = await startTritonFleet({
    storageUrl: storage.url,
    repositoryBucket: 'fleet-repo',
    restrictedApiHeader: HEADER,
  });
});

afterAll(async () => {
  await Promise.all([fleet.close(), ...extra.map((s) => s.close())]);
  await storage.close();
});

describe('per-pod Triton servers', () => {
  it('loads every model of the pool repository when a pod starts; a bad one ends UNAVAILABLE', async () => {
    // Act
    const ready = await status(`${podUrl('p1', 'p1-x-0')}/v2/models/good/versions/1/ready`);
    const index = await fetch(`${podUrl('p1', 'p1-x-0')}/v2/repository/index`, {
      method: 'POST',
      headers: { [HEADER]: 'k' },
      body: '{}',
    });
    const rows = (await index.json()) as Array<{ name: string; state?: string; reason?: string }>;

    // Assess
    expect(ready).toBe(200);
    const broken = rows.find((r) => r.name === 'broken');
    expect(broken?.state).toBe('UNAVAILABLE');
    expect(broken?.reason).toBeTruthy();
    expect(fleet.pod('p1', 'p1-x-0')?.repository).toBe('gs://fleet-repo/models/p1');
  });

  it('keeps pods apart: a load on one pod does not change another', async () => {
    // Prepare: both pods serve good v1, then the repository moves to v2.
    await status(`${podUrl('p1', 'p1-x-1')}/v2/health/ready`);
    await upload('models/p1/good/2/model.onnx', 'onnx-bytes');
    await upload('models/p1/good/config.pbtxt', onnxConfig('good', 2));

    // Act
    const load = await status(`${podUrl('p1', 'p1-x-0')}/v2/repository/models/good/load`, {
      method: 'POST',
      headers: { [HEADER]: 'k', 'content-type': 'application/json' },
      body: '{}',
    });

    // Assess
    expect(load).toBe(200);
    expect(await status(`${podUrl('p1', 'p1-x-0')}/v2/models/good/versions/2/ready`)).toBe(200);
    expect(await status(`${podUrl('p1', 'p1-x-1')}/v2/models/good/versions/2/ready`)).toBe(400);
    expect(await status(`${podUrl('p1', 'p1-x-1')}/v2/models/good/versions/1/ready`)).toBe(200);
    expect(fleet.pods('p1')).toEqual(['p1-x-0', 'p1-x-1']);
  });

  it('refuses repository calls on a pod route without the admin header', async () => {
    // Act
    const refused = await status(`${podUrl('p1', 'p1-x-0')}/v2/repository/models/good/load`, {
      method: 'POST',
      body: '{}',
    });

    // Assess
    expect(refused).toBe(403);
  });

  it('stops pods that are gone; a pod started again under the name reloads the repository', async () => {
    // Act
    await fleet.retainPods(['p1-x-0']);
    const afterRetain = fleet.pods('p1');
    const restarted = await status(`${podUrl('p1', 'p1-x-1')}/v2/models/good/versions/2/ready`);

    // Assess
    expect(afterRetain).toEqual(['p1-x-0']);
    expect(restarted).toBe(200); // a new server: it loaded config v2 at start
  });

  it('answers the pool route from its first started pod, and 503 for a pool with none', async () => {
    // Act
    const pool = fleet.poolUrlTemplate.replace('{pool}', 'p1');
    const served = await status(`${pool}/v2/models/good/versions/2/ready`);
    const empty = await status(`${fleet.poolUrlTemplate.replace('{pool}', 'p9')}/v2/health/ready`);

    // Assess
    expect(served).toBe(200);
    expect(empty).toBe(503);
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
