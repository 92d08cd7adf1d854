import { mkdtemp, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StorageServer, startStorageServer } from '../../infra/local/storage';
import { localStorageClient } from '../../infra/local/storage/client';
import { GcsObjectStore } from '../../shared/adapters/storage';
import { PolicySource } from '../../shared/policy/source';
import { ManualClock } from '../../shared/runtime/clock';
import { loadConfig } from '../../shared/runtime/config';
import { createMemoryLogger } from '../../shared/runtime/log';

function policyText(maxGpusTotal: number): string {
  return [
    'apiVersion: inferplane.dev/v1',
    'kind: ControlPlanePolicy',
    'cluster: { project: p1, name: c1, repositoryBucket: repo-bucket, incomingBucket: in-bucket }',
    `guardrails: { maxGpusTotal: ${maxGpusTotal}, maxGpusPerPool: 1, maxNodes: 4, maxDollarsPerHour: 10 }`,
    '',
  ].join('\n');
}

const env = {
  INFERPLANE_PROJECT: 'p1',
  INFERPLANE_CLUSTER: 'c1',
  INFERPLANE_REPOSITORY_BUCKET: 'repo-bucket',
};

describe('PolicySource: an edited policy file takes effect on a warm instance', () => {
  let server: StorageServer;
  beforeAll(async () => {
    server = await startStorageServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('re-reads a changed file at most every checkEveryMs, and keeps the last good policy when the edit is invalid', async () => {
    // Prepare
    const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-policy-'));
    const file = path.join(dir, 'policy.yaml');
    await writeFile(file, policyText(4));
    const clock = new ManualClock();
    const { logger, entries } = createMemoryLogger();
    const objects = new GcsObjectStore(localStorageClient(server.url));
    const config = loadConfig({ ...env, INFERPLANE_POLICY: file });
    const source = await PolicySource.load(config, objects, clock, logger, 30_000);
    const touch = async (text: string, second: number) => {
      await writeFile(file, text);
      await utimes(file, second, second); // a distinct mtime even within one filesystem tick
    };

    // Act + Assess: an edit is not seen before the check interval, then it is.
    await touch(policyText(8), 1_000);
    expect((await source.current()).guardrails.maxGpusTotal).toBe(4);
    clock.advance(30_000);
    expect((await source.current()).guardrails.maxGpusTotal).toBe(8);

    // An invalid edit: reported, and the last good policy stays in force.
    await touch('guardrails: { maxGpusTotal: -1 }\n', 2_000);
    clock.advance(30_000);
    expect((await source.current()).guardrails.maxGpusTotal).toBe(8);
    expect(entries.find((e) => e.severity === 'ERROR')?.message).toMatch(
      /cannot be used; the previous policy stays/,
    );
  });

  it('follows a policy kept in Cloud Storage by its generation', async () => {
    // Prepare
    const storage = localStorageClient(server.url);
    await storage.createBucket('state-bucket');
    const object = storage.bucket('state-bucket').file('policy/policy.yaml');
    await object.save(policyText(2), { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    const clock = new ManualClock();
    const { logger } = createMemoryLogger();
    const config = loadConfig({ ...env, INFERPLANE_POLICY: 'gs://state-bucket/policy/policy.yaml' });
    const source = await PolicySource.load(config, new GcsObjectStore(storage), clock, logger, 1_000);

    // Act
    const [meta] = await object.getMetadata();
    await object.save(policyText(6), {
      resumable: false,
      preconditionOpts: { ifGenerationMatch: Number(meta.generation) },
    });
    clock.advance(1_000);

    // Assess
    expect((await source.current()).guardrails.maxGpusTotal).toBe(6);
  });

  it('a cold start reads a gs:// policy without a metadata request first, and versions it by the generation read', async () => {
    // Prepare
    const storage = localStorageClient(server.url);
    await storage.createBucket('state-bucket-2');
    const object = storage.bucket('state-bucket-2').file('policy.yaml');
    await object.save(policyText(3), { resumable: false });
    const gcs = new GcsObjectStore(storage);
    const calls: string[] = [];
    const objects = new Proxy(gcs, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(String(prop));
          return value.apply(target, args);
        };
      },
    });
    const clock = new ManualClock();
    const { logger, entries } = createMemoryLogger();
    const config = loadConfig({ ...env, INFERPLANE_POLICY: 'gs://state-bucket-2/policy.yaml' });

    // Act
    const source = await PolicySource.load(config, objects, clock, logger, 1_000);
    const atLoad = [...calls];
    clock.advance(1_000);
    const unchanged = await source.current();

    // Assess: one read at load; the check that follows finds the same generation and reads nothing.
    expect(atLoad).toEqual(['readText']);
    expect(unchanged.guardrails.maxGpusTotal).toBe(3);
    expect(calls).toEqual(['readText', 'stat']);
    expect(entries.filter((e) => String(e.message).includes('policy file changed'))).toEqual([]);
  });
});
