/**
 * ModelRegistry against the local Cloud Storage server through the production adapter: it reads
 * model records and pool indexes (deploys write them as plan actions, under preconditions).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';
import { GcsObjectStore } from '../../shared/adapters/storage';
import { poolIndexText, recordText } from '../../shared/deploy/records';
import { LIST_CONCURRENCY, ModelRegistry } from '../../shared/deploy/registry';
import { compareGenerations, type ModelRecord, type VersionRecord } from '../../shared/domain/registry';

const BUCKET = 'registry-state';
const T0 = '2026-11-01T00:00:00.000Z';
const T1 = '2026-11-01T00:01:00.000Z';

let server: StorageServer;
let store: GcsObjectStore;
let registry: ModelRegistry;

beforeAll(async () => {
  server = await startStorageServer({});
  const gcs = localStorageClient(server.url);
  await gcs.createBucket(BUCKET);
  store = new GcsObjectStore(gcs);
  registry = new ModelRegistry(store, BUCKET);
});

afterAll(async () => {
  await server?.close();
});

function version(v: number, state: VersionRecord['state'] = 'PUBLISHED'): VersionRecord {
  return {
    version: v,
    state,
    backend: 'onnxruntime',
    gpuClass: 'l4',
    source: { bucket: 'incoming', name: `m/${v}/model.onnx`, generation: '1795873401452000' },
    fingerprint: `fp${v}`,
    files: { 'model.onnx': { size: '42', md5Hash: 'abc==' } },
    publishedAt: T0,
  };
}

/** A record as a deploy's plan writes it (the registry itself only reads). */
async function put(model: string, versions: number[], prefix = '_inferplane/registry/models/') {
  const record: ModelRecord = {
    apiVersion: 'inferplane.dev/registry/v1',
    model,
    aliases: {},
    versions: Object.fromEntries(versions.map((v) => [String(v), version(v)])),
    updatedAt: T0,
  };
  return store.writeText({ bucket: BUCKET, name: `${prefix}${model}.json` }, recordText(record));
}

describe('ModelRegistry', () => {
  it('has no record for an unknown model', async () => {
    expect(await registry.get('nobody')).toBeUndefined();
  });

  it('reads a record at _inferplane/registry/models/<model>.json with its generation', async () => {
    // Prepare
    const written = await put('first', [1]);

    // Act
    const entry = await registry.get('first');

    // Assess
    expect(registry.objectOf('first')).toEqual({
      bucket: BUCKET,
      name: '_inferplane/registry/models/first.json',
    });
    expect(entry?.record).toMatchObject({
      apiVersion: 'inferplane.dev/registry/v1',
      model: 'first',
      updatedAt: T0,
    });
    expect(entry?.record.versions['1']?.source.generation).toBe('1795873401452000');
    expect(entry?.generation).toBe(written.generation);
  });

  it('refuses to write a record that breaks the schema', () => {
    const broken = { ...version(1), version: -1 };
    expect(() =>
      recordText({
        apiVersion: 'inferplane.dev/registry/v1',
        model: 'b',
        aliases: {},
        versions: { '1': broken },
        updatedAt: T0,
      }),
    ).toThrow();
  });

  it('lists every model record and nothing else under its prefix', async () => {
    // Prepare
    const own = new ModelRegistry(store, BUCKET, 'listing/models/');
    await put('a', [1], 'listing/models/');
    await put('b', [2], 'listing/models/');
    await store.writeText({ bucket: BUCKET, name: 'listing/models/README.txt' }, 'not a record');

    // Act
    const records = await own.list();

    // Assess
    expect(records.map((r) => r.model).sort()).toEqual(['a', 'b']);
  });

  it('lists more records than it reads at once, every one of them', async () => {
    // Prepare
    const own = new ModelRegistry(store, BUCKET, 'many/models/');
    const names = Array.from({ length: LIST_CONCURRENCY * 2 + 3 }, (_, i) => `m${i}`);
    await Promise.all(names.map((n) => put(n, [1], 'many/models/')));

    // Act
    const records = await own.list();

    // Assess
    expect(records.map((r) => r.model).sort()).toEqual([...names].sort());
  });

  it('reads a pool index, and has none for a pool no deploy wrote', async () => {
    // Prepare
    const index = {
      apiVersion: 'inferplane.dev/registry-pool/v1' as const,
      pool: 'triton-l4',
      models: { a: { version: 3, gpuClass: 'l4' } },
      updatedAt: T1,
    };
    const written = await store.writeText(registry.poolIndexOf('triton-l4'), poolIndexText(index));

    // Act
    const found = await registry.getPoolIndex('triton-l4');
    const none = await registry.getPoolIndex('triton-h100');

    // Assess
    expect(registry.poolIndexOf('triton-l4').name).toBe('_inferplane/registry/pools/triton-l4.json');
    expect(found).toEqual({ index, generation: written.generation });
    expect(none).toBeUndefined();
  });
});

describe('compareGenerations', () => {
  it.each([
    ['1', '2', -1],
    ['2', '1', 1],
    ['7', '7', 0],
    // Beyond 2^53 a Number comparison would call these equal.
    ['1795873401452000001', '1795873401452000002', -1],
  ])('%s vs %s -> %i', (a, b, expected) => {
    expect(compareGenerations(a, b)).toBe(expected);
  });
});
