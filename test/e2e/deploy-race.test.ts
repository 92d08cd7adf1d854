/**
 * #10 point 1 end to end: two deployModel instances served by the Functions Framework over HTTP,
 * each getting the local storage server's Eventarc-style deliveries (retried on 5xx with the same
 * ce-id). Two versions of one model uploaded together go to different instances; two models on
 * one pool likewise. The loser of a lease answers 500 and is redelivered; at the end the higher
 * version serves, everything agrees, no delivery was rejected and the last answer to each was 2xx.
 */

import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as functions from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { localStorageClient } from '../../infra/local/storage/client';
import { MemoryEventPublisher } from '../../shared/adapters/events-publisher';
import { buildDeployModelDeps } from '../../shared/deploy/deps';
import { deployModelFunction } from '../../shared/deploy/function';
import { loadConfig } from '../../shared/runtime/config';
import { cloudEventHttpEntry } from '../../shared/runtime/function';
import { expectConverged, ONNX_FIXTURE } from '../support/deploy-convergence';
import { localDeployHarness } from '../support/deploy-harness';

const INCOMING = 'erace-incoming';
const REPO = 'erace-repo';
const POOL = 'triton-l4';
const TARGETS = ['deployModelRaceOne', 'deployModelRaceTwo'] as const;

let cloud: LocalCloud;
let gcs: Storage;
const published = new MemoryEventPublisher();
const env: Record<string, string> = {};
const servers: Server[] = [];
const urls: string[] = [];
/** Every answer the functions gave, by ce-id, in order. */
const answers = new Map<string, number[]>();

for (const target of TARGETS) {
  // Each target is its own instance: its own clients and lease holder id, built on first event.
  functions.http(
    target,
    cloudEventHttpEntry(deployModelFunction, async () => ({
      ...(await buildDeployModelDeps(loadConfig(env))),
      publisher: published,
    })),
  );
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

const CE = ['ce-id', 'ce-source', 'ce-type', 'ce-specversion', 'ce-subject', 'ce-time'];

/** A pass-through in front of a function that records each answer. */
function recorder(target: string): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        for (const k of CE) {
          const v = (req.headers as IncomingHttpHeaders)[k];
          if (typeof v === 'string') headers[k] = v;
        }
        const r = await fetch(target, { method: 'POST', headers, body: Buffer.concat(chunks) });
        await r.arrayBuffer();
        const id = headers['ce-id'] ?? '';
        answers.set(id, [...(answers.get(id) ?? []), r.status]);
        res.writeHead(r.status).end();
      })();
    });
  });
}

beforeAll(async () => {
  cloud = await startLocalCloud({ operationPhaseMs: 0, repositoryBucket: REPO });
  gcs = localStorageClient(cloud.endpoints.storage);
  const harness = await localDeployHarness(cloud, { incoming: INCOMING, repository: REPO });
  const c = harness.deps.config;
  Object.assign(env, {
    INFERPLANE_PROJECT: c.project,
    INFERPLANE_CLUSTER: c.cluster,
    INFERPLANE_LOCATION: c.location,
    INFERPLANE_REPOSITORY_BUCKET: REPO,
    INFERPLANE_POLICY: c.policy,
    INFERPLANE_STORAGE_ENDPOINT: cloud.endpoints.storage,
    INFERPLANE_GKE_ENDPOINT: cloud.endpoints.gke,
    INFERPLANE_ACCESS_TOKEN: c.accessToken ?? '',
    INFERPLANE_TRITON_URL: cloud.endpoints.triton,
    INFERPLANE_LOG_LEVEL: 'ERROR',
    METADATA_SERVER_DETECTION: 'none',
  });
  for (const target of TARGETS) urls.push(await listen(recorder(await listen(getTestServer(target)))));
  // The pool with a ready pod, from a first model (its first delivery is retried until a pod is up).
  cloud.storage.addNotification({ bucket: INCOMING, url: urls[0] as string, objectNamePrefix: 'base/' });
  await upload('base/1/model.onnx');
  await cloud.storage.notificationsDelivered();
}, 60_000);

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections?.();
    await new Promise<void>((r) => s.close(() => r()));
  }
  await cloud?.close();
});

async function upload(name: string): Promise<void> {
  await gcs
    .bucket(INCOMING)
    .file(name)
    .save(await readFile(ONNX_FIXTURE), { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
}

const converged = (model: string, version: number, versions: number[]) =>
  expectConverged(cloud, gcs, { state: REPO, repository: REPO, pool: POOL, model, version, versions });

/** Each event's last answer: acknowledged (2xx), after however many 5xx. */
function expectAllAcknowledged(): void {
  for (const [id, statuses] of answers)
    expect(statuses.at(-1), `${id}: ${statuses.join(',')}`).toBeLessThan(300);
}

describe('deployModel over HTTP, two instances, deliveries at once', () => {
  it('two versions of one model uploaded together: the higher one serves', async () => {
    // Prepare
    cloud.storage.addNotification({ bucket: INCOMING, url: urls[0] as string, objectNamePrefix: 'duo/1/' });
    cloud.storage.addNotification({ bucket: INCOMING, url: urls[1] as string, objectNamePrefix: 'duo/2/' });

    // Act
    await Promise.all([upload('duo/1/model.onnx'), upload('duo/2/model.onnx')]);
    await cloud.storage.notificationsDelivered();

    // Assess
    expectAllAcknowledged();
    await converged('duo', 2, [1, 2]);
    expect(published.events.filter((e) => e.type.endsWith('.rejected'))).toEqual([]);
  });

  it('two models on one pool uploaded together: both serve', async () => {
    // Prepare
    cloud.storage.addNotification({ bucket: INCOMING, url: urls[0] as string, objectNamePrefix: 'left/' });
    cloud.storage.addNotification({ bucket: INCOMING, url: urls[1] as string, objectNamePrefix: 'right/' });

    // Act
    await Promise.all([upload('left/1/model.onnx'), upload('right/1/model.onnx')]);
    await cloud.storage.notificationsDelivered();

    // Assess
    expectAllAcknowledged();
    await converged('left', 1, [1]);
    await converged('right', 1, [1]);
    expect(published.events.filter((e) => e.type.endsWith('.rejected'))).toEqual([]);
  });
});
