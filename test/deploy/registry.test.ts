/**
 * ModelRegistry against the local Cloud Storage server through the production adapter: records
 * are read-modify-written under generation preconditions, so concurrent writers never lose an update.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';
import { GcsObjectStore } from '../../shared/adapters/storage';
import { ModelRegistry } from '../../shared/deploy/registry';
import { compareGenerations, type ModelRecord, type VersionRecord } from '../../shared/domain/registry';
import type { ObjectStore } from '../../shared/ports/storage';
import { RetryableError } from '../../shared/runtime/errors';

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

const addVersion = (v: number) => (r: ModelRecord) => {
  r.versions[String(v)] = version(v);
  return r;
};

describe('ModelRegistry', () => {
  it('has no record for an unknown model', async () => {
    expect(await registry.get('nobody')).toBeUndefined();
  });

  it('creates the record on first update, at registry/models/<model>.json in the state bucket', async () => {
    // Act
    const written = await registry.update('first', T0, addVersion(1));

    // Assess
    const stored = await store.readText({ bucket: BUCKET, name: '_inferplane/registry/models/first.json' });
    expect(JSON.parse(stored?.text ?? '{}')).toEqual(written);
    const entry = await registry.get('first');
    expect(entry?.record).toMatchObject({
      apiVersion: 'inferplane.dev/registry/v1',
      model: 'first',
      updatedAt: T0,
    });
    expect(entry?.record.versions['1']?.source.generation).toBe('1795873401452000');
    expect(entry?.generation).toBe(stored?.info.generation);
  });

  it('applies updates on the current record and stamps updatedAt', async () => {
    // Prepare
    await registry.update('stamp', T0, addVersion(1));

    // Act
    await registry.update('stamp', T1, (r) => {
      const v = r.versions['1'];
      if (v) v.state = 'READY';
      r.serving = 1;
      return r;
    });

    // Assess
    const record = (await registry.get('stamp'))?.record;
    expect(record?.updatedAt).toBe(T1);
    expect(record?.serving).toBe(1);
    expect(record?.versions['1']?.state).toBe('READY');
  });

  it('writes nothing when the change returns undefined', async () => {
    // Prepare
    await registry.update('same', T0, addVersion(1));
    const before = await registry.get('same');

    // Act
    const result = await registry.update('same', T1, () => undefined);

    // Assess
    expect(result).toEqual(before?.record);
    expect((await registry.get('same'))?.generation).toBe(before?.generation);
  });

  it('lands both of two concurrent updates (neither is lost)', async () => {
    // Prepare
    await registry.update('race', T0, addVersion(1));

    // Act
    await Promise.all([
      registry.update('race', T1, addVersion(2)),
      registry.update('race', T1, addVersion(3)),
    ]);

    // Assess
    const record = (await registry.get('race'))?.record;
    expect(Object.keys(record?.versions ?? {}).sort()).toEqual(['1', '2', '3']);
  });

  it('lands every one of several concurrent first writes of a new model', async () => {
    // Act
    await Promise.all([1, 2, 3, 4].map((v) => registry.update('fresh', T0, addVersion(v))));

    // Assess
    const record = (await registry.get('fresh'))?.record;
    expect(Object.keys(record?.versions ?? {}).sort()).toEqual(['1', '2', '3', '4']);
  });

  it('refuses a record that breaks the schema, writing nothing', async () => {
    // Act
    const act = registry.update('broken', T0, (r) => {
      r.versions['1'] = { ...version(1), version: -1 };
      return r;
    });

    // Assess
    await expect(act).rejects.toThrow();
    expect(await registry.get('broken')).toBeUndefined();
  });

  it('gives up with a retryable error when every attempt loses the race', async () => {
    // Prepare: a rival writes the record before each of our writes.
    await registry.update('busy', T0, addVersion(1));
    let rivalWrites = 0;
    const contended: ObjectStore = {
      stat: (ref) => store.stat(ref),
      list: (b, p) => store.list(b, p),
      readText: (ref) => store.readText(ref),
      writeText: async (ref, text, options) => {
        const current = await store.readText(ref);
        rivalWrites += 1;
        await store.writeText(ref, current?.text ?? text);
        return store.writeText(ref, text, options);
      },
      copy: (from, to, o) => store.copy(from, to, o),
      delete: (ref, o) => store.delete(ref, o),
      byteSource: (ref) => store.byteSource(ref),
    };

    // Act
    const act = new ModelRegistry(contended, BUCKET).update('busy', T1, addVersion(2), 3);

    // Assess
    await expect(act).rejects.toBeInstanceOf(RetryableError);
    await expect(act).rejects.toMatchObject({ reason: 'REGISTRY_CONTENTION' });
    expect(rivalWrites).toBe(3);
    expect(Object.keys((await registry.get('busy'))?.record.versions ?? {})).toEqual(['1']);
  });

  it('lists every model record and nothing else under its prefix', async () => {
    // Prepare
    const own = new ModelRegistry(store, BUCKET, 'listing/models/');
    await own.update('a', T0, addVersion(1));
    await own.update('b', T0, addVersion(2));
    await store.writeText({ bucket: BUCKET, name: 'listing/models/README.txt' }, 'not a record');

    // Act
    const records = await own.list();

    // Assess
    expect(records.map((r) => r.model).sort()).toEqual(['a', 'b']);
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
