/**
 * Issue #10, point 7: every line the deployed function writes is a structured Cloud Logging entry.
 * The function is built as it is deployed (`scripts/build.ts`) and served by the Functions
 * Framework's own `main.js` in a child process; its stdout and stderr are captured whole while it
 * gets hostile deliveries, a rejected upload quoting U+202E, and Cloud Storage failing with 503
 * (a retryable failure with a stack trace). Each line must parse as JSON with a severity and a
 * message; stacks are in `stack_trace`; no message carries a raw control or bidi character.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { localStorageClient } from '../../infra/local/storage/client';
import { buildFunction } from '../../scripts/build';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const INCOMING = 'logs-incoming';
const REPO = 'logs-repo';

let cloud: LocalCloud;
let gcs: Storage;
let child: ChildProcess;
let url = '';
const stdout: string[] = [];
const stderr: string[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function collect(stream: NodeJS.ReadableStream | null, into: string[]): void {
  let pending = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    into.push(...lines.filter((l) => l.length > 0));
  });
  stream?.on('end', () => {
    if (pending.length > 0) into.push(pending);
  });
}

beforeAll(async () => {
  cloud = await startLocalCloud({ operationPhaseMs: 0, repositoryBucket: REPO });
  gcs = localStorageClient(cloud.endpoints.storage);
  await gcs.createBucket(INCOMING);
  await gcs.createBucket(REPO);
  const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-logs-'));
  const policy = path.join(dir, 'policy.yaml');
  await writeFile(
    policy,
    [
      'apiVersion: inferplane.dev/v1',
      'kind: ControlPlanePolicy',
      'cluster: { project: local-project, name: inference, namespace: triton,',
      `  repositoryBucket: ${REPO}, incomingBucket: ${INCOMING} }`,
      'guardrails: { maxGpusTotal: 8, maxGpusPerPool: 8, maxNodes: 8, maxDollarsPerHour: 100 }',
      '',
    ].join('\n'),
  );
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8'));
  // Its own output directory: the sandbox test builds dist/deployModel, maybe at the same time.
  const bundle = path.join(ROOT, 'dist', '.hostile-logs', 'deployModel');
  await buildFunction('deployModel', pkg, { outdir: bundle });
  const port = await freePort();
  const main = path.join(ROOT, 'node_modules/@google-cloud/functions-framework/build/src/main.js');
  child = spawn(process.execPath, [main, '--target=deployModel', `--source=${bundle}`, `--port=${port}`], {
    env: {
      PATH: process.env.PATH ?? '',
      INFERPLANE_PROJECT: 'local-project',
      INFERPLANE_CLUSTER: 'inference',
      INFERPLANE_REPOSITORY_BUCKET: REPO,
      INFERPLANE_POLICY: policy,
      INFERPLANE_STORAGE_ENDPOINT: cloud.endpoints.storage,
      INFERPLANE_GKE_ENDPOINT: cloud.endpoints.gke,
      INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
      INFERPLANE_TRITON_URL: cloud.endpoints.triton,
      METADATA_SERVER_DETECTION: 'none',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  collect(child.stdout, stdout);
  collect(child.stderr, stderr);
  url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 300; i++) {
    const up = await fetch(url, { method: 'GET' }).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (child.exitCode !== null) throw new Error(`function exited: ${stderr.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await cloud?.close();
});

const CE = {
  'ce-id': 'logs-1',
  'ce-source': `//storage.googleapis.com/projects/_/buckets/${INCOMING}`,
  'ce-specversion': '1.0',
  'ce-type': 'google.cloud.storage.object.v1.finalized',
  'content-type': 'application/json',
};

async function post(headers: Record<string, string>, body?: string): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers, ...(body === undefined ? {} : { body }) });
  await res.arrayBuffer();
  return res.status;
}

describe('the deployed function writes only structured log lines', () => {
  it('hostile deliveries, a rejection quoting U+202E and a storage outage: every line is JSON', async () => {
    // Act: deliveries that used to crash, answer 4xx/5xx pages or print raw stacks.
    const statuses = [
      await post({ ...CE, 'ce-id': 'deep' }, `${'['.repeat(100_000)}${']'.repeat(100_000)}`),
      await post({ ...CE, 'ce-id': 'broken' }, '{not json'),
      await post({}, undefined),
      await post({ ...CE, 'ce-id': 'text', 'content-type': 'text/plain' }, 'hi'),
    ];
    cloud.storage.addNotification({ bucket: INCOMING, url });
    await gcs.bucket(INCOMING).file('bad\u202ename/1/model.onnx').save('x', { resumable: false });
    await cloud.storage.notificationsDelivered();
    // Cloud Storage unavailable while observing (the client's own retries exhausted): a retryable
    // failure, whose stack the Functions Framework used to print raw on stderr.
    cloud.storage.faults.set({ failNext: 20, failStatus: 503, match: `GET /storage/v1/b/${INCOMING}/o` });
    const conflict = await post(
      { ...CE, 'ce-id': 'conflict', 'ce-subject': 'objects/c/1/model.onnx' },
      JSON.stringify({
        bucket: INCOMING,
        name: 'c/1/model.onnx',
        generation: '1',
        metageneration: '1',
        size: '10',
      }),
    );
    cloud.storage.faults.clear();

    // Assess
    expect(statuses.every((s) => s >= 200 && s < 300)).toBe(true);
    expect(conflict).toBe(500);
    const lines = [...stdout, ...stderr];
    const notJson = lines.filter((l) => {
      try {
        const entry = JSON.parse(l) as Record<string, unknown>;
        return typeof entry.severity !== 'string' || typeof entry.message !== 'string';
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.filter((e) => e.outcome === 'rejected').map((e) => e.reason)).toEqual([
      'LIMIT_EXCEEDED',
      'INVALID_INPUT',
      'INVALID_INPUT',
      'INVALID_INPUT',
      'INVALID_MODEL_NAME',
    ]);
    const retry = entries.find((e) => e.outcome === 'retry');
    expect(retry?.severity).toBe('WARNING');
    expect(String(retry?.stack_trace)).toMatch(/\n\s+at /);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for raw control characters
    expect(entries.filter((e) => /[\u0000-\u001f\u202e]/.test(String(e.message)))).toEqual([]);
    expect(entries.some((e) => String(e.message).includes('bad\\u202ename'))).toBe(true);
  });
});
