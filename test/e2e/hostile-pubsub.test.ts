/**
 * The Pub/Sub-triggered functions (scaleOnAlert, applySchedules, rotateSecurity) through the real
 * Functions Framework over HTTP, registered as their production entries are: every delivery they
 * cannot use, whatever stage fails (the framework's body parser, the CloudEvents binding, the
 * envelope), is acknowledged with a 2xx and one rejection log line and writes nothing to any local
 * server, so a poison message is never redelivered. A raw Pub/Sub push body (a push subscription
 * aimed straight at the function) is read as the `messagePublished` event Eventarc would deliver.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as functions from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { localStorageClient } from '../../infra/local/storage/client';
import { MemoryEventPublisher } from '../../shared/adapters/events-publisher';
import { buildScaleOnAlertDeps } from '../../shared/alerts/deps';
import { scaleOnAlertFunction } from '../../shared/alerts/function';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventHttpEntry } from '../../shared/runtime/function';
import { MemoryIdempotencyStore } from '../../shared/runtime/idempotency';
import { createMemoryLogger } from '../../shared/runtime/log';
import { buildApplySchedulesDeps } from '../../shared/schedules/deps';
import { applySchedulesFunction } from '../../shared/schedules/function';
import { buildRotateSecurityDeps } from '../../shared/security/deps';
import { rotateSecurityFunction } from '../../shared/security/function';
import { logSizes, writesSince } from '../support/request-log';

const REPO = 'hostile-ps-repo';
const env: Record<string, string> = {};
const published = new MemoryEventPublisher();
const memory = createMemoryLogger();
const overrides = () => ({
  publisher: published,
  log: memory.logger,
  idempotency: new MemoryIdempotencyStore(),
});

functions.http(
  'scaleOnAlertHostile',
  cloudEventHttpEntry(scaleOnAlertFunction, async () => ({
    ...(await buildScaleOnAlertDeps(loadConfig(env))),
    ...overrides(),
  })),
);
functions.http(
  'applySchedulesHostile',
  cloudEventHttpEntry(applySchedulesFunction, async () => ({
    ...(await buildApplySchedulesDeps(loadConfig(env))),
    ...overrides(),
  })),
);
functions.http(
  'rotateSecurityHostile',
  cloudEventHttpEntry(rotateSecurityFunction, async () => ({
    ...(await buildRotateSecurityDeps(loadConfig(env))),
    ...overrides(),
  })),
);
const TARGETS = ['scaleOnAlertHostile', 'applySchedulesHostile', 'rotateSecurityHostile'] as const;

let cloud: LocalCloud;
const servers: Server[] = [];
const urls: Record<string, string> = {};

beforeAll(async () => {
  cloud = await startLocalCloud({ operationPhaseMs: 0, repositoryBucket: REPO });
  await localStorageClient(cloud.endpoints.storage).createBucket(REPO);
  const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-hostile-ps-'));
  const policy = path.join(dir, 'policy.yaml');
  await writeFile(
    policy,
    [
      'apiVersion: inferplane.dev/v1',
      'kind: ControlPlanePolicy',
      'cluster: { project: local-project, name: inference, namespace: triton,',
      `  repositoryBucket: ${REPO}, incomingBucket: hostile-ps-in }`,
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
    INFERPLANE_MONITORING_ENDPOINT: cloud.endpoints.monitoring,
    INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
    INFERPLANE_TRITON_URL: cloud.endpoints.triton,
  });
  for (const name of TARGETS) {
    const server = getTestServer(name);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    urls[name] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
}, 30_000);

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections?.();
    await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  }
  await cloud?.close();
});

beforeEach(() => {
  published.events.length = 0;
  memory.entries.length = 0;
});

const CE = {
  'ce-id': 'hostile-ps-1',
  'ce-source': '//pubsub.googleapis.com/projects/local-project/topics/inferplane-alerts',
  'ce-specversion': '1.0',
  'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
};
const JSON_CT = { 'content-type': 'application/json' };
const deep = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
const push = (message: Record<string, unknown>) =>
  JSON.stringify({ message, subscription: 'projects/local-project/subscriptions/direct-push' });

const cases: Array<{ name: string; headers: Record<string, string>; body?: string; says: RegExp }> = [
  {
    name: 'a body nested 100,000 deep',
    headers: { ...CE, ...JSON_CT },
    body: deep(100_000),
    says: /maxEventDepth = 32/,
  },
  {
    name: 'a raw push body nested 100,000 deep',
    headers: JSON_CT,
    body: `{"message":{"messageId":"1","data":"e30=","attributes":${deep(100_000)}},"subscription":"s"}`,
    says: /maxEventDepth/,
  },
  {
    name: 'a 2 MiB body',
    headers: { ...CE, ...JSON_CT },
    body: JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }),
    says: /maxEventBytes = 1048576/,
  },
  {
    name: 'a body that is not JSON',
    headers: { ...CE, ...JSON_CT },
    body: '{not json',
    says: /entity\.parse\.failed/,
  },
  {
    name: 'a text body',
    headers: { ...CE, 'content-type': 'text/plain' },
    body: 'hello',
    says: /must be JSON/,
  },
  { name: 'no CloudEvent headers and no push envelope', headers: JSON_CT, body: '{}', says: /no CloudEvent/ },
  {
    name: 'a push envelope without a message id',
    headers: JSON_CT,
    body: push({ data: 'e30=' }),
    says: /no CloudEvent/,
  },
  {
    name: 'a messagePublished event whose message is not base64 JSON',
    headers: { ...CE, ...JSON_CT },
    body: JSON.stringify({
      message: { data: '@@@', messageId: '7', publishTime: '2026-12-02T00:00:00Z' },
      subscription: 's',
    }),
    says: /MALFORMED_PAYLOAD|is invalid/,
  },
  {
    name: 'a raw push whose message is not base64 JSON',
    headers: JSON_CT,
    body: push({
      data: Buffer.from('not json').toString('base64'),
      messageId: '8',
      publishTime: '2026-12-02T00:00:00Z',
    }),
    says: /MALFORMED_PAYLOAD|is invalid/,
  },
];

describe.each(TARGETS)('%s: deliveries it cannot use are acknowledged and write nothing', (target) => {
  it.each(cases)('$name', async ({ headers, body, says }) => {
    // Prepare
    const before = logSizes(cloud);

    // Act
    const res = await fetch(`${urls[target]}/`, {
      method: 'POST',
      headers,
      ...(body === undefined ? {} : { body }),
    });
    await res.arrayBuffer();

    // Assess: acknowledged (never redelivered), one rejection line saying why, nothing written.
    expect(res.status).toBe(204);
    // scaleOnAlert acknowledges a notification it cannot read as a reported skip (MALFORMED_PAYLOAD).
    const rejections = memory.entries.filter((e) => e.outcome === 'rejected' || e.outcome === 'skipped');
    expect(rejections).toHaveLength(1);
    expect(String(rejections[0]?.message)).toMatch(says);
    expect(published.events.every((e) => !String(e.type).endsWith('.applied'))).toBe(true);
    expect(writesSince(cloud, before).filter((w) => !w.includes('_inferplane%2Fidempotency'))).toEqual([]);
  });
});

describe('a raw Pub/Sub push is read as the event Eventarc would deliver', () => {
  it('a test notification pushed straight at scaleOnAlert is handled, not refused', async () => {
    const notification = {
      version: 'test',
      incident: { summary: 'This is a test notification', state: 'OPEN', started_at: 0 },
    };
    const res = await fetch(`${urls.scaleOnAlertHostile}/projects/local-project/topics/inferplane-alerts`, {
      method: 'POST',
      headers: JSON_CT,
      body: push({
        data: Buffer.from(JSON.stringify(notification)).toString('base64'),
        messageId: 'raw-push-1',
        publishTime: new Date().toISOString(),
      }),
    });
    await res.arrayBuffer();
    expect(res.status).toBe(204);
    expect(memory.entries.filter((e) => e.outcome === 'rejected')).toHaveLength(0);
    const handled = memory.entries.find(
      (e) => e.eventId === 'raw-push-1' || JSON.stringify(e).includes('raw-push-1'),
    );
    expect(handled).toBeDefined();
    expect(JSON.stringify(memory.entries)).toContain(
      '//pubsub.googleapis.com/projects/local-project/topics/inferplane-alerts',
    );
  });
});
