/**
 * Issue #10, points 2 and 8, through the real Functions Framework over HTTP: every delivery
 * deployModel cannot use, whatever stage fails (the framework's body parser, the CloudEvents
 * binding, the event's data), is acknowledged with a 2xx, reported by one rejection event and one
 * structured log line, and writes nothing to any local server. Object names in any script reach
 * the function intact: the local notifier percent-encodes `ce-*` headers, the runtime decodes them.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as functions from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { localStorageClient } from '../../infra/local/storage/client';
import { MemoryEventPublisher } from '../../shared/adapters/events-publisher';
import { buildDeployModelDeps } from '../../shared/deploy/deps';
import { deployModelFunction } from '../../shared/deploy/function';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventHttpEntry } from '../../shared/runtime/function';
import { MemoryIdempotencyStore } from '../../shared/runtime/idempotency';
import { createMemoryLogger } from '../../shared/runtime/log';
import { logSizes, writesSince } from '../support/request-log';

const INCOMING = 'hostile-incoming';
const REPO = 'hostile-repo';
const UNDER_TEST = 'deployModelHostile';

const env: Record<string, string> = {};
const published = new MemoryEventPublisher();
const memory = createMemoryLogger();
functions.http(
  UNDER_TEST,
  cloudEventHttpEntry(deployModelFunction, async () => ({
    ...(await buildDeployModelDeps(loadConfig(env))),
    publisher: published,
    log: memory.logger,
    idempotency: new MemoryIdempotencyStore(),
  })),
);

let cloud: LocalCloud;
let gcs: Storage;
let server: Server;
let url = '';

beforeAll(async () => {
  cloud = await startLocalCloud({ operationPhaseMs: 0, repositoryBucket: REPO });
  gcs = localStorageClient(cloud.endpoints.storage);
  await gcs.createBucket(INCOMING);
  await gcs.createBucket(REPO);
  const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-hostile-'));
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
  Object.assign(env, {
    INFERPLANE_PROJECT: 'local-project',
    INFERPLANE_CLUSTER: 'inference',
    INFERPLANE_REPOSITORY_BUCKET: REPO,
    INFERPLANE_POLICY: policy,
    INFERPLANE_STORAGE_ENDPOINT: cloud.endpoints.storage,
    INFERPLANE_GKE_ENDPOINT: cloud.endpoints.gke,
    INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
    INFERPLANE_TRITON_URL: cloud.endpoints.triton,
  });
  server = getTestServer(UNDER_TEST);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}, 30_000);

afterAll(async () => {
  server?.closeAllConnections?.();
  await new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
  await cloud?.close();
});

beforeEach(() => {
  published.events.length = 0;
  memory.entries.length = 0;
});

const CE = {
  'ce-id': 'hostile-1',
  'ce-source': `//storage.googleapis.com/projects/_/buckets/${INCOMING}`,
  'ce-specversion': '1.0',
  'ce-type': 'google.cloud.storage.object.v1.finalized',
  'ce-subject': 'objects/m/1/model.onnx',
};
const JSON_CT = { 'content-type': 'application/json' };
const deep = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

interface Case {
  name: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** The rejection's reason. */
  reason: string;
  /** A fragment of its message. */
  says: RegExp;
}

const cases: Case[] = [
  {
    name: 'a body nested 100,000 deep (binary mode)',
    headers: { ...CE, ...JSON_CT },
    body: deep(100_000),
    reason: 'LIMIT_EXCEEDED',
    says: /maxEventDepth = 32/,
  },
  {
    name: 'a body nested 100,000 deep (structured mode)',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: `{"id":"x","source":"s","specversion":"1.0","type":"t","data":${deep(100_000)}}`,
    reason: 'LIMIT_EXCEEDED',
    says: /maxEventDepth/,
  },
  {
    name: 'a 2 MiB body',
    headers: { ...CE, ...JSON_CT },
    body: JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }),
    reason: 'LIMIT_EXCEEDED',
    says: /maxEventBytes = 1048576/,
  },
  {
    name: 'a body that is not JSON',
    headers: { ...CE, ...JSON_CT },
    body: '{not json',
    reason: 'INVALID_INPUT',
    says: /could not be read \(entity\.parse\.failed\)/,
  },
  {
    name: 'a JSON number as the body',
    headers: { ...CE, ...JSON_CT },
    body: '5',
    reason: 'INVALID_INPUT',
    says: /entity\.parse\.failed/,
  },
  {
    name: 'a text body',
    headers: { ...CE, 'content-type': 'text/plain' },
    body: 'hello',
    reason: 'INVALID_INPUT',
    says: /must be JSON/,
  },
  {
    name: 'binary bytes',
    headers: { ...CE, 'content-type': 'application/octet-stream' },
    body: new Uint8Array([0, 0xff, 0x7f, 1]),
    reason: 'INVALID_INPUT',
    says: /must be JSON/,
  },
  {
    name: 'an unknown charset',
    headers: { ...CE, 'content-type': 'application/json; charset=klingon' },
    body: '{}',
    reason: 'INVALID_INPUT',
    says: /charset\.unsupported/,
  },
  {
    name: 'a gzip content-encoding that is not gzip',
    headers: { ...CE, ...JSON_CT, 'content-encoding': 'gzip' },
    body: '{}',
    reason: 'INVALID_INPUT',
    says: /could not be read/,
  },
  {
    name: 'an unknown content-encoding',
    headers: { ...CE, ...JSON_CT, 'content-encoding': 'zip9' },
    body: '{}',
    reason: 'INVALID_INPUT',
    says: /encoding\.unsupported/,
  },
  {
    name: 'a ce-subject that is not UTF-8',
    headers: { ...CE, ...JSON_CT, 'ce-subject': 'objects/%E2%80' },
    body: '{}',
    reason: 'INVALID_INPUT',
    says: /header ce-subject: cannot be decoded: the percent-encoded bytes are not UTF-8/,
  },
  {
    name: 'a ce-subject with a broken escape',
    headers: { ...CE, ...JSON_CT, 'ce-subject': 'objects/%zz' },
    body: '{}',
    reason: 'INVALID_INPUT',
    says: /not followed by two hex digits/,
  },
  {
    name: 'no ce-id',
    headers: { ...JSON_CT, ...CE, 'ce-id': '' },
    body: '{}',
    reason: 'INVALID_INPUT',
    says: /header ce-id: is missing or empty/,
  },
  {
    name: 'no CloudEvent headers at all',
    headers: JSON_CT,
    body: '{}',
    reason: 'INVALID_INPUT',
    says: /no CloudEvent/,
  },
  { name: 'no headers and no body', headers: {}, reason: 'INVALID_INPUT', says: /no CloudEvent/ },
  {
    name: 'structured mode with a JSON array',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: '[1]',
    reason: 'INVALID_INPUT',
    says: /must be a JSON object/,
  },
  {
    name: 'a CloudEvent whose data is not a storage object',
    headers: { ...CE, ...JSON_CT },
    body: '{"hello":"world"}',
    reason: 'INVALID_INPUT',
    says: /data/,
  },
];

describe('deliveries deployModel cannot use are acknowledged as rejections and write nothing', () => {
  it.each(cases)('$name', async ({ headers, body, reason, says }) => {
    // Prepare
    const before = logSizes(cloud);

    // Act
    const res = await fetch(url, {
      method: 'POST',
      headers,
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : new Uint8Array(body) }),
    });
    await res.arrayBuffer();

    // Assess: acknowledged, one rejection event, one rejection log line, nothing written.
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
    expect(published.events.map((e) => e.type)).toEqual(['dev.inferplane.model.v1.rejected']);
    const data = published.events[0]?.data as { reason: string; message: string };
    expect(data.reason).toBe(reason);
    expect(data.message).toMatch(says);
    const rejections = memory.entries.filter((e) => e.outcome === 'rejected');
    expect(rejections).toHaveLength(1);
    expect(rejections[0]).toMatchObject({ severity: 'ERROR', reason });
    expect(writesSince(cloud, before)).toEqual([]);
  });

  it('a gzip body that is valid gzip of a storage event is read like any other', async () => {
    // Prepare: content-encoding is the transport's business; the event inside is still checked.
    const body = gzipSync(
      JSON.stringify({ bucket: 'elsewhere', name: 'm/1/model.onnx', generation: '1', size: '1' }),
    );

    // Act
    const res = await fetch(url, {
      method: 'POST',
      headers: { ...CE, ...JSON_CT, 'content-encoding': 'gzip', 'ce-id': 'gz-1' },
      body,
    });
    await res.arrayBuffer();

    // Assess: it reached the handler and was judged on its data, not on its encoding.
    expect(res.status).toBe(204);
    expect(
      memory.entries.some((e) => e.outcome === 'rejected' && String(e.message).includes('could not be read')),
    ).toBe(false);
  });
});

describe('object names in any script reach the function intact', () => {
  it.each([
    ['an emoji, a space and a % in a file name', 'intact/1/🙂 100%25 sure %.bin'],
    ['a RIGHT-TO-LEFT OVERRIDE in a file name', 'intact/1/report\u202egpj.bin'],
  ])('%s: the notifier percent-encodes ce-subject, the function decodes it', async (_what, name) => {
    // Prepare
    cloud.storage.addNotification({ bucket: INCOMING, url, objectNamePrefix: 'intact/' });

    // Act
    await gcs.bucket(INCOMING).file(name).save('asset bytes', { resumable: false });
    await cloud.storage.notificationsDelivered();

    // Assess: the subject the runtime logged is the exact object name, in both the header and the data.
    const seen = memory.entries.filter((e) => e.subject === `objects/${name}`);
    expect(seen.length).toBeGreaterThan(0);
    expect(memory.entries.some((e) => e.outcome === 'rejected')).toBe(false);
  });

  it('a model name with U+202E is refused with the character escaped in the message', async () => {
    // Prepare
    const name = 'evil\u202eldom/1/model.onnx';
    cloud.storage.addNotification({ bucket: INCOMING, url, objectNamePrefix: 'evil' });

    // Act
    await gcs.bucket(INCOMING).file(name).save('x', { resumable: false });
    await cloud.storage.notificationsDelivered();

    // Assess
    const rejected = published.events.find((e) => e.type === 'dev.inferplane.model.v1.rejected');
    const data = (rejected?.data ?? {}) as { message?: string; reason?: string };
    const message = data.message ?? '';
    expect(data.reason).toBe('INVALID_MODEL_NAME');
    expect(message).toContain('evil\\u202eldom');
    expect(message).not.toContain('\u202e');
    const line = memory.entries.find((e) => e.outcome === 'rejected');
    expect(String(line?.message)).not.toContain('\u202e');
    expect(line?.subject).toBe(`objects/${name}`);
  });
});

describe('escape hatches in user config are refused before anything is written', () => {
  const ONNX = path.join(import.meta.dirname, '..', 'fixtures', 'onnx', 'add-dynamic-batch.onnx');

  it.each([
    [
      'default_model_filename outside the model',
      'default_model_filename: "../../etc/passwd"',
      'PATH_TRAVERSAL',
      /default_model_filename: "\.\.\/\.\.\/etc\/passwd" has a '\.\.' segment/,
    ],
    [
      'EXECUTION_ENV_PATH outside the model',
      'parameters { key: "EXECUTION_ENV_PATH" value { string_value: "/opt/evil.tar.gz" } }',
      'PATH_TRAVERSAL',
      /parameters\.EXECUTION_ENV_PATH\.string_value: "\/opt\/evil\.tar\.gz" is absolute/,
    ],
    [
      '100,000 instances on an L4 node',
      'instance_group { count: 100000 kind: KIND_GPU }',
      'LIMIT_EXCEEDED',
      /maxInstancesPerGpu = 16/,
    ],
  ])('%s', async (_what, line, reason, says) => {
    // Prepare: a config.pbtxt with the escape hatch, then the model it configures.
    const model = `esc${reason.length}${line.length}`;
    cloud.storage.addNotification({ bucket: INCOMING, url, objectNamePrefix: `${model}/` });
    await gcs
      .bucket(INCOMING)
      .file(`${model}/1/config.pbtxt`)
      .save(`name: "${model}"\n${line}\n`, { resumable: false });
    await cloud.storage.notificationsDelivered();
    const before = logSizes(cloud);

    // Act
    await gcs
      .bucket(INCOMING)
      .file(`${model}/1/model.onnx`)
      .save(await readFile(ONNX), { resumable: false });
    await cloud.storage.notificationsDelivered();

    // Assess: refused with the field and the value, and nothing but the test's own upload was written.
    const rejected = published.events.filter((e) => e.type === 'dev.inferplane.model.v1.rejected');
    expect(rejected).toHaveLength(1);
    const data = (rejected[0]?.data ?? {}) as { reason?: string; message?: string };
    expect(data.reason).toBe(reason);
    expect(data.message).toMatch(says);
    expect(
      writesSince(cloud, before).filter(
        (w) => !w.startsWith(`storage POST /upload/storage/v1/b/${INCOMING}/o`),
      ),
    ).toEqual([]);
  });
});
