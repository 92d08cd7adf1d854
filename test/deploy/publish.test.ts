/**
 * Publishing and unpublishing a version, planned by planPublish / planUnpublish and run by the
 * executor's storage runner, against the local Cloud Storage server through the production
 * adapter (GcsObjectStore over the official client).
 */
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localStorageClient, type StorageServer, startStorageServer } from '../../infra/local/storage';
import { GcsObjectStore } from '../../shared/adapters/storage';
import {
  configObject,
  type PublishFile,
  type PublishRequest,
  planPublish,
  planUnpublish,
  type RepositoryObservation,
  versionPrefix,
} from '../../shared/deploy/publish';
import { createPlan } from '../../shared/domain/plan';
import { modelDir, type RepositoryLocation, repositoryUri } from '../../shared/domain/repository';
import { PlanExecutor } from '../../shared/execute/executor';
import { StorageRunner } from '../../shared/execute/storage-runner';
import type { ObjectInfo, ObjectRef, ObjectStore } from '../../shared/ports/storage';
import { ManualClock } from '../../shared/runtime/clock';
import { RetryableError } from '../../shared/runtime/errors';
import { createMemoryLogger } from '../../shared/runtime/log';

const INCOMING = 'pub-incoming';
const REPO = 'pub-repo';

let server: StorageServer;
let gcs: Storage;
let store: GcsObjectStore;

beforeAll(async () => {
  server = await startStorageServer({});
  gcs = localStorageClient(server.url);
  store = new GcsObjectStore(gcs);
  await gcs.createBucket(INCOMING);
  await gcs.createBucket(REPO);
});

afterAll(async () => {
  await server?.close();
});

let counter = 0;
/** A fresh repository folder per test, so tests do not see each other's objects. */
function freshRepo(): RepositoryLocation {
  counter += 1;
  return { bucket: REPO, prefix: `models/t${counter}` };
}

async function uploadSource(name: string, content: string): Promise<PublishFile> {
  const info = await store.writeText({ bucket: INCOMING, name }, content);
  return {
    source: { bucket: INCOMING, name, generation: info.generation },
    size: info.size.toString(),
    ...(info.md5Hash ? { md5Hash: info.md5Hash } : {}),
    ...(info.crc32c ? { crc32c: info.crc32c } : {}),
    relative: name.split('/').slice(2).join('/'),
  };
}

async function observeRepository(s: ObjectStore, req: PublishRequest): Promise<RepositoryObservation> {
  const config = await s.readText(configObject(req.repository, req.model));
  return {
    config: config ? { text: config.text, generation: config.info.generation } : undefined,
    versionFiles: await s.list(req.repository.bucket, versionPrefix(req.repository, req.model, req.version)),
  };
}

const clock = new ManualClock();
function run(s: ObjectStore, actions: Parameters<typeof createPlan>[2]) {
  return new PlanExecutor([new StorageRunner(s)], createMemoryLogger().logger).execute(
    createPlan(clock, 'test', actions),
    { guardrails: () => undefined },
  );
}

interface Published {
  req: PublishRequest;
  copied: number;
  skipped: number;
  previousConfig: { text: string; generation: string } | undefined;
  configWritten: boolean;
  files: ObjectInfo[];
  config: ObjectInfo | undefined;
}

/** Observe, plan, execute: what the deploy handler does for the repository part of its plan. */
async function publishVersion(s: ObjectStore, req: PublishRequest): Promise<Published> {
  const observed = await observeRepository(s, req);
  const result = await run(s, planPublish(req, observed));
  const copied = result.steps.filter(
    (x) => x.action.kind === 'copyStorageObject' && x.outcome === 'applied',
  ).length;
  const configWritten = observed.config?.text !== req.configText;
  const prefix = versionPrefix(req.repository, req.model, req.version);
  return {
    req,
    copied,
    skipped: req.files.length - copied,
    previousConfig: configWritten ? observed.config : undefined,
    configWritten,
    files: (await s.list(req.repository.bucket, prefix)).filter((f) => f.name !== prefix),
    config: await s.stat(configObject(req.repository, req.model)),
  };
}

async function rollbackVersion(
  s: ObjectStore,
  published: Published,
  options: { keepVersionFiles?: boolean } = {},
): Promise<void> {
  const { req } = published;
  const now = await observeRepository(s, req);
  await run(
    s,
    planUnpublish(
      {
        repository: req.repository,
        model: req.model,
        version: req.version,
        publishedConfigText: req.configText,
        previousConfigText: published.configWritten ? published.previousConfig?.text : req.configText,
        keepVersionFiles: options.keepVersionFiles ?? false,
      },
      now,
    ),
  );
}

async function names(prefix: string): Promise<string[]> {
  return (await store.list(REPO, prefix)).map((o) => o.name).sort();
}

async function text(name: string): Promise<string | undefined> {
  return (await store.readText({ bucket: REPO, name }))?.text;
}

function request(
  repo: RepositoryLocation,
  version: number,
  files: PublishFile[],
  configText: string,
): PublishRequest {
  return { repository: repo, model: 'm', version, files, configText, emptyVersionDir: false };
}

describe('repository paths', () => {
  it.each([
    [{ bucket: 'b', prefix: '' }, 'm', 'gs://b'],
    [{ bucket: 'b', prefix: 'models/p' }, 'models/p/m', 'gs://b/models/p'],
  ])('%o', (repo, dir, uri) => {
    expect(modelDir(repo, 'm')).toBe(dir);
    expect(repositoryUri(repo)).toBe(uri);
  });
});

describe('publishVersion', () => {
  it('copies the version files, then writes config.pbtxt last', async () => {
    // Prepare
    const repo = freshRepo();
    const files = [
      await uploadSource('m/1/model.onnx', 'onnx-bytes'),
      await uploadSource('m/1/model.onnx/w.bin', 'w'),
    ];
    const from = server.requests().length;

    // Act
    const result = await publishVersion(store, request(repo, 1, files, 'name: "m"\n'));

    // Assess
    expect(await names(`${repo.prefix}/m/`)).toEqual([
      `${repo.prefix}/m/1/model.onnx`,
      `${repo.prefix}/m/1/model.onnx/w.bin`,
      `${repo.prefix}/m/config.pbtxt`,
    ]);
    expect(await text(`${repo.prefix}/m/1/model.onnx`)).toBe('onnx-bytes');
    expect(await text(`${repo.prefix}/m/config.pbtxt`)).toBe('name: "m"\n');
    expect(result).toMatchObject({ copied: 2, skipped: 0, previousConfig: undefined, configWritten: true });
    // What the registry records: the copies' own sizes and generations.
    expect(result.files.map((f) => f.size)).toEqual([10n, 1n]);
    expect(result.files.every((f) => f.generation !== '0' && f.md5Hash !== undefined)).toBe(true);
    // Triton must never see a config naming files that are not there yet.
    const writes = server
      .requests()
      .slice(from)
      .filter((r) => r.method === 'POST')
      .map((r) =>
        r.url.includes('config.pbtxt')
          ? 'config'
          : r.url.includes('copyTo') || r.url.includes('rewriteTo')
            ? 'copy'
            : 'other',
      );
    expect(writes.filter((w) => w !== 'other')).toEqual(['copy', 'copy', 'config']);
  });

  it('is idempotent: a re-run skips identical files and leaves the config as it is', async () => {
    // Prepare
    const repo = freshRepo();
    const files = [await uploadSource('m/2/model.plan', 'plan')];
    const first = await publishVersion(store, request(repo, 2, files, 'config v2'));

    // Act
    const second = await publishVersion(store, request(repo, 2, files, 'config v2'));

    // Assess
    expect(second).toMatchObject({ copied: 0, skipped: 1, previousConfig: undefined });
    expect(second.config?.generation).toBe(first.config?.generation);
    expect(second.files[0]?.generation).toBe(first.files[0]?.generation);
  });

  it('keeps the previous config for rollback when it publishes a new version', async () => {
    // Prepare
    const repo = freshRepo();
    await publishVersion(store, request(repo, 1, [await uploadSource('m/1/model.plan', 'v1')], 'config v1'));
    const before = await store.stat({ bucket: REPO, name: `${repo.prefix}/m/config.pbtxt` });

    // Act
    const result = await publishVersion(
      store,
      request(repo, 2, [await uploadSource('m/2/model.plan', 'v2')], 'config v2'),
    );

    // Assess
    expect(result.previousConfig).toEqual({ text: 'config v1', generation: before?.generation });
    expect(await text(`${repo.prefix}/m/config.pbtxt`)).toBe('config v2');
  });

  it('writes the empty version directory of an ensemble', async () => {
    // Prepare
    const repo = freshRepo();

    // Act
    await publishVersion(store, { ...request(repo, 1, [], 'ensemble config'), emptyVersionDir: true });
    await publishVersion(store, { ...request(repo, 1, [], 'ensemble config'), emptyVersionDir: true });

    // Assess
    expect(await names(`${repo.prefix}/m/`)).toEqual([
      `${repo.prefix}/m/1/`,
      `${repo.prefix}/m/config.pbtxt`,
    ]);
    expect((await store.stat({ bucket: REPO, name: `${repo.prefix}/m/1/` }))?.size).toBe(0n);
  });

  it('refuses a source replaced since it was inspected (retryable), writing no config', async () => {
    // Prepare
    const repo = freshRepo();
    const inspected = await uploadSource('m/3/model.onnx', 'inspected');
    await uploadSource('m/3/model.onnx', 'replaced');

    // Act
    const act = publishVersion(store, request(repo, 3, [inspected], 'config v3'));

    // Assess
    await expect(act).rejects.toBeInstanceOf(RetryableError);
    await expect(act).rejects.toMatchObject({ reason: 'SOURCE_CHANGED' });
    expect(await names(`${repo.prefix}/m/`)).toEqual([]);
  });

  it('loses to a concurrent publisher instead of overwriting its config', async () => {
    // Prepare: a rival writes the config while our files are being copied.
    const repo = freshRepo();
    const configRef = { bucket: REPO, name: `${repo.prefix}/m/config.pbtxt` };
    const racing: ObjectStore = {
      ...bind(store),
      copy: async (from, to, options) => {
        const copied = await store.copy(from, to, options);
        await store.writeText(configRef, 'rival config');
        return copied;
      },
    };

    // Act
    const act = publishVersion(
      racing,
      request(repo, 1, [await uploadSource('m/1/model.plan', 'x')], 'our config'),
    );

    // Assess: the write's precondition fails, the plan is stale, and the rival's config stands
    await expect(act).rejects.toBeInstanceOf(RetryableError);
    await expect(act).rejects.toMatchObject({ reason: 'PLAN_STALE' });
    expect(await text(configRef.name)).toBe('rival config');
  });
});

describe('rollbackVersion', () => {
  it('restores the previous config and removes the failed version files', async () => {
    // Prepare
    const repo = freshRepo();
    await publishVersion(store, request(repo, 1, [await uploadSource('m/1/model.plan', 'v1')], 'config v1'));
    const published = await publishVersion(
      store,
      request(
        repo,
        2,
        [await uploadSource('m/2/model.plan', 'v2'), await uploadSource('m/2/extra.bin', 'e')],
        'config v2',
      ),
    );

    // Act
    await rollbackVersion(store, published);

    // Assess
    expect(await text(`${repo.prefix}/m/config.pbtxt`)).toBe('config v1');
    expect(await names(`${repo.prefix}/m/`)).toEqual([
      `${repo.prefix}/m/1/model.plan`,
      `${repo.prefix}/m/config.pbtxt`,
    ]);
  });

  it('deletes the config of a first version that never loaded', async () => {
    // Prepare
    const repo = freshRepo();
    const published = await publishVersion(
      store,
      request(repo, 1, [await uploadSource('m/1/model.plan', 'v1')], 'c1'),
    );

    // Act
    await rollbackVersion(store, published);

    // Assess
    expect(await names(`${repo.prefix}/m/`)).toEqual([]);
  });

  it('keeps the version files when asked (a re-deploy of the serving version failed)', async () => {
    // Prepare
    const repo = freshRepo();
    await publishVersion(store, request(repo, 1, [await uploadSource('m/1/model.plan', 'v1')], 'config a'));
    const published = await publishVersion(
      store,
      request(repo, 1, [await uploadSource('m/1/model.plan', 'v1')], 'config b'),
    );

    // Act
    await rollbackVersion(store, published, {
      keepVersionFiles: true,
    });

    // Assess
    expect(await text(`${repo.prefix}/m/config.pbtxt`)).toBe('config a');
    expect(await names(`${repo.prefix}/m/1/`)).toEqual([`${repo.prefix}/m/1/model.plan`]);
  });

  it('leaves a config it did not write (same text as before) where it is', async () => {
    // Prepare: version 1 serves; the same version is published again with the same config.
    const repo = freshRepo();
    await publishVersion(store, request(repo, 1, [await uploadSource('m/1/model.plan', 'v1')], 'config v1'));
    const again = await publishVersion(
      store,
      request(repo, 1, [await uploadSource('m/1/model.plan', 'v1')], 'config v1'),
    );

    // Act
    await rollbackVersion(store, again, {
      keepVersionFiles: true,
    });

    // Assess
    expect(again.configWritten).toBe(false);
    expect(await text(`${repo.prefix}/m/config.pbtxt`)).toBe('config v1');
    expect(await names(`${repo.prefix}/m/1/`)).toEqual([`${repo.prefix}/m/1/model.plan`]);
  });

  it('never undoes a newer publish by someone else', async () => {
    // Prepare
    const repo = freshRepo();
    const published = await publishVersion(
      store,
      request(repo, 4, [await uploadSource('m/4/model.plan', 'v4')], 'ours'),
    );
    await store.writeText({ bucket: REPO, name: `${repo.prefix}/m/config.pbtxt` }, 'theirs');

    // Act
    await rollbackVersion(store, published);

    // Assess
    expect(await text(`${repo.prefix}/m/config.pbtxt`)).toBe('theirs');
    expect(await names(`${repo.prefix}/m/4/`)).toEqual([`${repo.prefix}/m/4/model.plan`]);
  });
});

/** The store's methods bound to it, so a test can replace one of them. */
function bind(s: GcsObjectStore): ObjectStore {
  return {
    stat: (ref: ObjectRef) => s.stat(ref),
    list: (bucket: string, prefix: string) => s.list(bucket, prefix),
    readText: (ref: ObjectRef) => s.readText(ref),
    writeText: (ref, t, o) => s.writeText(ref, t, o),
    copy: (from, to, o): Promise<ObjectInfo> => s.copy(from, to, o),
    delete: (ref, o) => s.delete(ref, o),
    byteSource: (ref) => s.byteSource(ref),
  };
}
