/**
 * deployModel end to end: the Functions Framework serves the function over HTTP, the local storage
 * server delivers Eventarc-style CloudEvents on every finalize, and the function drives the local
 * GKE, Kubernetes and Triton servers through the official clients. Nothing is mocked but the event
 * publisher of `deployModelUnderTest`, which keeps the outbound events in memory to assert on.
 */

import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as functions from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import '../../functions/deployModel/index';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { localContainerClient } from '../../infra/local/gke/client';
import { localKubeConfig } from '../../infra/local/kubernetes/client';
import { localStorageClient } from '../../infra/local/storage/client';
import { MemoryEventPublisher } from '../../shared/adapters/events-publisher';
import { labelSelectorOf } from '../../shared/adapters/triton-pods';
import { tritonSelectorLabels } from '../../shared/cluster/triton';
import { buildDeployModelDeps } from '../../shared/deploy/deps';
import { deployModelFunction } from '../../shared/deploy/function';
import { type ModelRecord, modelRecordSchema } from '../../shared/domain/registry';
import { type Env, loadConfig } from '../../shared/runtime/config';
import type { OutboundCloudEvent } from '../../shared/runtime/events';
import { cloudEventHttpEntry } from '../../shared/runtime/function';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'onnx');
const INCOMING = 'e2e-incoming';
const REPO = 'e2e-triton-repo';
const UNDER_TEST = 'deployModelUnderTest';
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');

// Filled in beforeAll; the dependencies are built lazily on the first event, after that.
const env: Env = {};
const published = new MemoryEventPublisher();
functions.http(
  UNDER_TEST,
  cloudEventHttpEntry(deployModelFunction, async () => ({
    ...(await buildDeployModelDeps(loadConfig(env))),
    publisher: published,
  })),
);

/** One delivery as the function (or the recorder) received it, and what was answered. */
interface CapturedEvent {
  /** `record`: only recorded; `under-test` / `production`: forwarded to that function. */
  route: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

let cloud: LocalCloud;
let gcs: Storage;
let underTest: Server;
let production: Server;
let recorder: Server;
let underTestUrl = '';
let productionUrl = '';
let recorderUrl = '';
const captured: CapturedEvent[] = [];

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  server.closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

beforeAll(async () => {
  // These tests set replica counts themselves. The pool's HPA has its metric (the PodMonitoring is
  // applied with the pool) and would take them back to its minimum, as on a cluster: it syncs
  // only when asked here.
  cloud = await startLocalCloud({ operationPhaseMs: 0, repositoryBucket: REPO, hpaSyncPeriodMs: 0 });
  gcs = localStorageClient(cloud.endpoints.storage);
  await gcs.createBucket(INCOMING);
  await gcs.createBucket(REPO);

  const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-e2e-'));
  const policyPath = path.join(dir, 'policy.yaml');
  await writeFile(
    policyPath,
    [
      'apiVersion: inferplane.dev/v1',
      'kind: ControlPlanePolicy',
      'cluster:',
      '  project: local-project',
      '  location: us-central1',
      '  name: inference',
      '  namespace: triton',
      `  repositoryBucket: ${REPO}`,
      `  incomingBucket: ${INCOMING}`,
      'gpuClasses:',
      // Eight GPUs per node: one node already busts maxGpusPerPool below.
      '  h100-80gb: { machineType: a3-highgpu-8g }',
      'modelDefaults:',
      '  gpuClass: l4',
      '  replicas: { min: 1, max: 1 }',
      '  readinessTimeoutSeconds: 30',
      'guardrails:',
      '  maxGpusTotal: 64',
      '  maxGpusPerPool: 4',
      '  maxNodes: 32',
      '  maxDollarsPerHour: 1000',
      '',
    ].join('\n'),
  );
  Object.assign(env, {
    INFERPLANE_PROJECT: 'local-project',
    INFERPLANE_CLUSTER: 'inference',
    INFERPLANE_LOCATION: 'us-central1',
    INFERPLANE_REPOSITORY_BUCKET: REPO,
    INFERPLANE_POLICY: policyPath,
    INFERPLANE_STORAGE_ENDPOINT: cloud.endpoints.storage,
    INFERPLANE_GKE_ENDPOINT: cloud.endpoints.gke,
    INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
    INFERPLANE_TRITON_URL: cloud.endpoints.triton,
    INFERPLANE_LOG_LEVEL: 'ERROR',
    METADATA_SERVER_DETECTION: 'none',
  });
  // The production entry reads process.env when its first event arrives.
  Object.assign(process.env, env);

  underTest = getTestServer(UNDER_TEST);
  production = getTestServer('deployModel');
  underTestUrl = await listen(underTest);
  productionUrl = await listen(production);
  // Every delivery goes through the recorder: the tests see the exact events (ids included) the
  // function got and what it answered, and can redeliver them or deliver them out of order.
  recorder = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const route = (req.url ?? '/').slice(1);
        const body = Buffer.concat(chunks).toString('utf8');
        const target = route === 'under-test' ? underTestUrl : route === 'production' ? productionUrl : '';
        const status = target ? await forward(target, req.headers, body) : 204;
        captured.push({ route, headers: req.headers, body, status });
        res.writeHead(status).end();
      })();
    });
  });
  recorderUrl = await listen(recorder);
  // Every finalize is recorded, also for models the function does not get automatically.
  cloud.storage.addNotification({ bucket: INCOMING, url: `${recorderUrl}record` });
}, 30_000);

afterAll(async () => {
  await closeServer(underTest);
  await closeServer(production);
  await closeServer(recorder);
  await cloud?.close();
});

// ------------------------------------------------------------------------------------------------
// Helpers: act through the real wire, observe real state.

/** The storage server delivers events for objects under `prefix` to a function (via the recorder). */
function deliverToFunction(prefix: string, route: 'under-test' | 'production' = 'under-test'): void {
  cloud.storage.addNotification({
    bucket: INCOMING,
    url: `${recorderUrl}${route}`,
    objectNamePrefix: prefix,
  });
}

const CE_HEADERS = ['ce-id', 'ce-source', 'ce-type', 'ce-specversion', 'ce-subject', 'ce-time'];

/** POSTs a binary-mode CloudEvent to a Functions Framework server, as Eventarc does. */
async function forward(url: string, h: IncomingHttpHeaders, body: string): Promise<number> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const key of CE_HEADERS) {
    const v = h[key];
    if (typeof v === 'string') headers[key] = v;
  }
  const res = await fetch(url, { method: 'POST', headers, body });
  await res.arrayBuffer();
  return res.status;
}

async function upload(name: string, content: Buffer | string): Promise<string> {
  const file = gcs.bucket(INCOMING).file(name);
  await file.save(content, { resumable: false });
  return String(file.metadata.generation);
}

async function uploadFixture(name: string, fixture: string): Promise<string> {
  return upload(name, await readFile(path.join(FIXTURES, fixture)));
}

/** Deliveries of one object (optionally one generation) on one route, oldest first. */
function deliveries(name: string, route: string, generation?: string): CapturedEvent[] {
  return captured.filter((c) => {
    const data = JSON.parse(c.body) as { name: string; generation: string };
    return (
      c.route === route &&
      data.name === name &&
      (generation === undefined || String(data.generation) === generation)
    );
  });
}

function capturedFor(name: string, route = 'record', generation?: string): CapturedEvent {
  const last = deliveries(name, route, generation).at(-1);
  if (!last) throw new Error(`no ${route} delivery of ${name}#${generation ?? '*'}`);
  return last;
}

/** Redelivers a recorded event to the function under test, optionally under another event id. */
async function post(event: CapturedEvent, overrides: { id?: string } = {}): Promise<number> {
  return forward(
    underTestUrl,
    { ...event.headers, ...(overrides.id ? { 'ce-id': overrides.id } : {}) },
    event.body,
  );
}

function eventsOf(type: 'deployed' | 'rejected', subjectOrModel: string): OutboundCloudEvent[] {
  return published.events.filter((e) => {
    if (e.type !== `dev.inferplane.model.v1.${type}`) return false;
    if (type === 'deployed') return e.subject === subjectOrModel;
    return (e.data as { model?: string }).model === subjectOrModel;
  });
}

function deployedData(model: string, version: number) {
  const events = eventsOf('deployed', `models/${model}/versions/${version}`);
  expect(events).toHaveLength(1);
  return events[0]!.data as { deploymentName: string; repositoryUri: string; version: string };
}

async function repoObjects(prefix = ''): Promise<Map<string, string>> {
  const [files] = await gcs.bucket(REPO).getFiles({ prefix });
  return new Map(
    files
      .filter((f) => !f.name.startsWith('_inferplane/idempotency/'))
      .map((f) => [f.name, String(f.metadata.generation)]),
  );
}

async function repoText(name: string): Promise<string | undefined> {
  const file = gcs.bucket(REPO).file(name);
  const [exists] = await file.exists();
  if (!exists) return undefined;
  const [bytes] = await file.download();
  return bytes.toString('utf8');
}

async function registryRecord(model: string): Promise<ModelRecord | undefined> {
  const text = await repoText(`_inferplane/registry/models/${model}.json`);
  return text === undefined ? undefined : modelRecordSchema.parse(JSON.parse(text));
}

/** The pool's Triton pods as the apiserver lists them (official client, label selector). */
async function podsOf(pool: string): Promise<string[]> {
  const core = localKubeConfig(cloud.kubernetes).makeApiClient(CoreV1Api);
  const list = await core.listNamespacedPod({
    namespace: 'triton',
    labelSelector: labelSelectorOf(tritonSelectorLabels({ pool })),
  });
  return list.items.map((p) => p.metadata?.name ?? '').sort();
}

/** Each pod's answer to the readiness of one model version, by pod name. */
async function tritonReadyOnPods(
  pool: string,
  model: string,
  version: number,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const pod of await podsOf(pool)) {
    const base = cloud.endpoints.triton.replace('{pool}', pool).replace('{pod}', pod);
    const res = await fetch(`${base}/v2/models/${model}/versions/${version}/ready`);
    await res.arrayBuffer();
    out[pod] = res.status;
  }
  return out;
}

/** The readiness status every pod of the pool agrees on; throws when they disagree or there is none. */
async function tritonReady(pool: string, model: string, version: number): Promise<number> {
  const byPod = await tritonReadyOnPods(pool, model, version);
  const statuses = [...new Set(Object.values(byPod))];
  if (statuses.length !== 1) throw new Error(`pods of ${pool} disagree: ${JSON.stringify(byPod)}`);
  return statuses[0]!;
}

/** Scales the pool's Deployment through the scale subresource, as the HPA does. */
async function scalePool(pool: string, replicas: number): Promise<void> {
  const apps = localKubeConfig(cloud.kubernetes).makeApiClient(AppsV1Api);
  await apps.replaceNamespacedDeploymentScale({
    name: pool,
    namespace: 'triton',
    body: { metadata: { name: pool, namespace: 'triton' }, spec: { replicas } },
  });
  // New pods start a Triton that loads the repository first; they are Ready once it is.
  await cloud.settled();
}

async function nodePools(): Promise<Array<{ name: string; machineType: string; nodes: number }>> {
  const client = localContainerClient(cloud.endpoints.gke);
  try {
    const [res] = await client.listNodePools({ parent: cloud.endpoints.cluster });
    return (res.nodePools ?? []).map((p) => ({
      name: p.name ?? '',
      machineType: p.config?.machineType ?? '',
      nodes: p.initialNodeCount ?? 0,
    }));
  } finally {
    await client.close();
  }
}

function kubeObjects(kind?: string): string[] {
  return cloud.kubernetes.objects(kind).map((o) => {
    const meta = (o as { metadata: { namespace?: string; name: string; resourceVersion?: string } }).metadata;
    return `${(o as { kind: string }).kind}/${meta.namespace ?? ''}/${meta.name}@${meta.resourceVersion ?? ''}`;
  });
}

async function clusterSnapshot() {
  return {
    repository: [...(await repoObjects()).entries()].sort(),
    nodePools: await nodePools(),
    kube: kubeObjects(),
  };
}

/**
 * Deploys `<model>/<version>/model.onnx` through the function under test (its own notification,
 * for that version only) and returns the pool that serves it.
 */
async function deployFixture(model: string, version: number): Promise<string> {
  deliverToFunction(`${model}/${version}/`);
  await uploadFixture(`${model}/${version}/model.onnx`, 'add-dynamic-batch.onnx');
  await cloud.storage.notificationsDelivered();
  return deployedData(model, version).deploymentName;
}

let baseline: Promise<string> | undefined;

/**
 * The default (l4) pool, serving the `baseline` model: deployed by the first test that needs a
 * pool that already exists, whichever test runs first or alone.
 */
function servingPool(): Promise<string> {
  baseline ??= deployFixture('baseline', 1);
  return baseline;
}

const configPins = (text: string | undefined, version: number) =>
  new RegExp(
    `version_policy\\s*\\{\\s*specific\\s*\\{\\s*versions:\\s*\\[?\\s*${version}\\s*\\]?\\s*\\}`,
  ).test(text ?? '');

// ------------------------------------------------------------------------------------------------

describe('deployModel end to end (Functions Framework, local cloud)', () => {
  it('deploys a single ONNX file: repository, node pool, serving stack, Triton readiness, event', async () => {
    // Prepare
    deliverToFunction('add/1/');

    // Act
    await uploadFixture('add/1/model.onnx', 'add-dynamic-batch.onnx');
    await cloud.storage.notificationsDelivered();

    // Assess
    const data = deployedData('add', 1);
    const pool = data.deploymentName;
    expect(data.repositoryUri).toBe(`gs://${REPO}/models/${pool}`);
    const repo = await repoObjects(`models/${pool}/add/`);
    expect([...repo.keys()].sort()).toEqual([
      `models/${pool}/add/1/model.onnx`,
      `models/${pool}/add/config.pbtxt`,
    ]);
    const config = await repoText(`models/${pool}/add/config.pbtxt`);
    expect(configPins(config, 1)).toBe(true);
    expect((await nodePools()).map((p) => p.name)).toContain(pool);
    for (const kind of ['Deployment', 'Service', 'HorizontalPodAutoscaler']) {
      expect(
        cloud.kubernetes.objects(kind).map((o) => (o as { metadata: { name: string } }).metadata.name),
      ).toContain(pool);
    }
    expect(await tritonReady(pool, 'add', 1)).toBe(200);
    const record = await registryRecord('add');
    expect(record?.serving).toBe(1);
    expect(record?.versions['1']?.state).toBe('READY');
    const fixtureSize = (await readFile(path.join(FIXTURES, 'add-dynamic-batch.onnx'))).length;
    expect(record?.versions['1']?.files['model.onnx']?.size).toBe(String(fixtureSize));
  });

  it('does the work once when the same CloudEvent is delivered twice', async () => {
    // Prepare
    await deployFixture('once', 1);
    const before = await registryRecord('once');
    const event = capturedFor('once/1/model.onnx', 'under-test');
    const requestsBefore = cloud.storage.requests().length;

    // Act
    const status = await post(event);

    // Assess
    expect(status).toBe(204);
    expect((await registryRecord('once'))?.updatedAt).toBe(before?.updatedAt);
    expect(eventsOf('deployed', 'models/once/versions/1')).toHaveLength(1);
    // Answered from the idempotency record: the incoming bucket was not even listed again.
    const during = cloud.storage.requests().slice(requestsBefore);
    expect(during.some((r) => r.url.includes(`/b/${INCOMING}/o`))).toBe(false);
  });

  it('waits for model.yaml before deploying ONNX with external data, then deploys all files', async () => {
    // Prepare
    const pool = await servingPool();
    deliverToFunction('ext/1/');
    await uploadFixture('ext/1/model.onnx/model.onnx', 'external-data/model.onnx');
    await uploadFixture('ext/1/model.onnx/weights.bin', 'external-data/weights.bin');
    await cloud.storage.notificationsDelivered();
    const beforeManifest = await repoObjects(`models/${pool}/ext/`);
    const deployedBefore = eventsOf('deployed', 'models/ext/versions/1').length;

    // Act
    await upload(
      'ext/1/model.yaml',
      'backend: onnxruntime\nfiles: [model.onnx/model.onnx, model.onnx/weights.bin]\n',
    );
    await cloud.storage.notificationsDelivered();

    // Assess
    expect(beforeManifest.size).toBe(0);
    expect(deployedBefore).toBe(0);
    deployedData('ext', 1);
    expect([...(await repoObjects(`models/${pool}/ext/`)).keys()].sort()).toEqual([
      `models/${pool}/ext/1/model.onnx/model.onnx`,
      `models/${pool}/ext/1/model.onnx/weights.bin`,
      `models/${pool}/ext/config.pbtxt`,
    ]);
    expect(await tritonReady(pool, 'ext', 1)).toBe(200);
  });

  it('deploys a TensorRT plan on its own', async () => {
    // Prepare
    deliverToFunction('plan/1/');

    // Act
    await upload('plan/1/model.plan', Buffer.from('not really a TensorRT engine, but Triton is local'));
    await cloud.storage.notificationsDelivered();

    // Assess
    const pool = deployedData('plan', 1).deploymentName;
    expect(await repoText(`models/${pool}/plan/config.pbtxt`)).toMatch(/tensorrt_plan|tensorrt/);
    expect(await tritonReady(pool, 'plan', 1)).toBe(200);
  });

  it('deploys a PyTorch model once its manifest declares inputs and outputs', async () => {
    // Prepare
    deliverToFunction('pt/1/');
    await upload('pt/1/model.pt', Buffer.from('torchscript archive stand-in'));
    await cloud.storage.notificationsDelivered();
    const beforeManifest = eventsOf('deployed', 'models/pt/versions/1').length;

    // Act
    await upload(
      'pt/1/model.yaml',
      [
        'backend: pytorch',
        'maxBatchSize: 8',
        'inputs:',
        '  - { name: INPUT__0, dataType: TYPE_FP32, dims: [3, 224, 224] }',
        'outputs:',
        '  - { name: OUTPUT__0, dataType: TYPE_FP32, dims: [1000] }',
        '',
      ].join('\n'),
    );
    await cloud.storage.notificationsDelivered();

    // Assess
    expect(beforeManifest).toBe(0);
    const pool = deployedData('pt', 1).deploymentName;
    const config = await repoText(`models/${pool}/pt/config.pbtxt`);
    expect(config).toContain('INPUT__0');
    expect(config).toContain('OUTPUT__0');
    expect(await tritonReady(pool, 'pt', 1)).toBe(200);
  });

  it('deploys a Python model with its manifest', async () => {
    // Prepare
    deliverToFunction('py/1/');
    await upload(
      'py/1/model.py',
      'class TritonPythonModel:\n    def execute(self, requests):\n        return []\n',
    );
    await cloud.storage.notificationsDelivered();
    const beforeManifest = eventsOf('deployed', 'models/py/versions/1').length;

    // Act
    await upload(
      'py/1/model.yaml',
      [
        'backend: python',
        'files: [model.py]',
        'maxBatchSize: 0',
        'instances: { count: 1, kind: cpu }',
        'inputs:',
        '  - { name: TEXT, dataType: TYPE_STRING, dims: [1] }',
        'outputs:',
        '  - { name: TOKENS, dataType: TYPE_INT64, dims: [-1] }',
        '',
      ].join('\n'),
    );
    await cloud.storage.notificationsDelivered();

    // Assess
    expect(beforeManifest).toBe(0);
    const pool = deployedData('py', 1).deploymentName;
    expect(await repoText(`models/${pool}/py/1/model.py`)).toContain('TritonPythonModel');
    expect(await tritonReady(pool, 'py', 1)).toBe(200);
  });

  it('deploys an ensemble over a deployed model, with an empty version directory', async () => {
    // Prepare: the ensemble's step model serves.
    await servingPool();
    deliverToFunction('ens/1/');

    // Act
    await upload(
      'ens/1/model.yaml',
      [
        'backend: ensemble',
        'maxBatchSize: 8',
        'inputs:',
        '  - { name: IN, dataType: TYPE_FP32, dims: [3] }',
        'outputs:',
        '  - { name: OUT, dataType: TYPE_FP32, dims: [3] }',
        'ensemble:',
        '  steps:',
        '    - { model: baseline, inputMap: { X: IN }, outputMap: { Y: OUT } }',
        '',
      ].join('\n'),
    );
    await cloud.storage.notificationsDelivered();

    // Assess
    const pool = deployedData('ens', 1).deploymentName;
    expect([...(await repoObjects(`models/${pool}/ens/`)).keys()].sort()).toEqual([
      `models/${pool}/ens/1/`,
      `models/${pool}/ens/config.pbtxt`,
    ]);
    expect(await repoText(`models/${pool}/ens/config.pbtxt`)).toContain('ensemble_scheduling');
    expect(await tritonReady(pool, 'ens', 1)).toBe(200);
  });

  describe('rejections leave the repository and the cluster as they were', () => {
    const cases: Array<{
      title: string;
      model: string;
      reason: string;
      uploads: Array<[name: string, content: () => Promise<Buffer | string>]>;
    }> = [
      {
        title: 'a version directory with a leading zero',
        model: 'zero',
        reason: 'INVALID_VERSION',
        uploads: [['zero/01/model.onnx', () => readFile(path.join(FIXTURES, 'add-dynamic-batch.onnx'))]],
      },
      {
        title: 'a model.onnx that is a PNG',
        model: 'png',
        reason: 'INVALID_ONNX_MODEL',
        uploads: [['png/1/model.onnx', async () => PNG]],
      },
      {
        title: 'a PyTorch manifest without inputs and outputs',
        model: 'ptbare',
        reason: 'CONFIG_REQUIRED',
        uploads: [
          ['ptbare/1/model.pt', async () => 'torchscript stand-in'],
          ['ptbare/1/model.yaml', async () => 'backend: pytorch\nfiles: [model.pt]\n'],
        ],
      },
      {
        title: 'a GPU class whose pool busts the guardrails',
        model: 'huge',
        reason: 'GUARDRAIL_VIOLATION',
        uploads: [
          ['huge/1/model.yaml', async () => 'gpuClass: h100-80gb\nfiles: [model.onnx]\n'],
          ['huge/1/model.onnx', () => readFile(path.join(FIXTURES, 'add-dynamic-batch.onnx'))],
        ],
      },
      {
        title: 'an invalid model.yaml',
        model: 'badyaml',
        reason: 'INVALID_INPUT',
        uploads: [
          ['badyaml/1/model.yaml', async () => 'backend: onnxruntime\nmaxBatchSize: lots\nbogus: 1\n'],
        ],
      },
    ];

    it.each(cases)('$title -> rejected $reason', async ({ model, reason, uploads }) => {
      // Prepare
      deliverToFunction(`${model}/`);
      const before = await clusterSnapshot();

      // Act: one upload at a time, so only the last one completes the version.
      for (const [name, content] of uploads) {
        await upload(name, await content());
        await cloud.storage.notificationsDelivered();
      }

      // Assess
      const answered = uploads.flatMap(([name]) => deliveries(name, 'under-test').map((d) => d.status));
      expect(answered).toEqual(uploads.map(() => 204));
      const rejected = eventsOf('rejected', model);
      expect(rejected.map((e) => (e.data as { reason: string }).reason)).toEqual([reason]);
      expect(eventsOf('deployed', `models/${model}/versions/1`)).toHaveLength(0);
      expect(await clusterSnapshot()).toEqual(before);
      expect(await registryRecord(model)).toBeUndefined();
    });

    it('acknowledges a poison message (2xx) and does not publish its rejection again', async () => {
      // Prepare: a version directory with a leading zero, rejected on its first delivery.
      deliverToFunction('poison/');
      await uploadFixture('poison/01/model.onnx', 'add-dynamic-batch.onnx');
      await cloud.storage.notificationsDelivered();
      const poison = capturedFor('poison/01/model.onnx', 'under-test');
      const rejectedBefore = eventsOf('rejected', 'poison').length;
      expect(rejectedBefore).toBe(1);

      // Act: a redelivery of the same event, then the same object under a new event id.
      const redelivered = await post(poison);
      const fresh = await post(poison, { id: 'poison-fresh-id' });

      // Assess
      expect(redelivered).toBe(204);
      expect(fresh).toBe(204);
      expect(eventsOf('rejected', 'poison')).toHaveLength(rejectedBefore + 1);
    });
  });

  it('answers 5xx on a retryable failure so the platform redelivers, and the redelivery completes', async () => {
    // Prepare: no automatic delivery for this model; the test plays Eventarc.
    await uploadFixture('retry/1/model.onnx', 'add-dynamic-batch.onnx');
    await cloud.storage.notificationsDelivered();
    const event = capturedFor('retry/1/model.onnx');
    cloud.kubernetes.faults.set({
      failNext: 1,
      failStatus: 503,
      match: 'GET /api/v1/namespaces/triton/secrets',
    });

    // Act
    const first = await post(event);
    const injected = cloud.kubernetes.faults.injected;
    cloud.kubernetes.faults.clear();
    const redelivery = await post(event);

    // Assess
    expect(injected).toBe(1);
    expect(first).toBeGreaterThanOrEqual(500);
    expect(redelivery).toBe(204);
    const pool = deployedData('retry', 1).deploymentName;
    expect(await tritonReady(pool, 'retry', 1)).toBe(200);
  });

  it('redelivers through the storage notifier after a retryable failure until it completes', async () => {
    // Prepare
    deliverToFunction('retry2/');
    cloud.kubernetes.faults.set({
      failNext: 1,
      failStatus: 503,
      match: 'GET /api/v1/namespaces/triton/secrets',
    });

    // Act
    await uploadFixture('retry2/1/model.onnx', 'add-dynamic-batch.onnx');
    await cloud.storage.notificationsDelivered();
    const injected = cloud.kubernetes.faults.injected;
    cloud.kubernetes.faults.clear();

    // Assess: the same event (same ce-id) was answered 5xx, then 204 on redelivery.
    expect(injected).toBe(1);
    const attempts = deliveries('retry2/1/model.onnx', 'under-test');
    expect(attempts.map((a) => (a.status >= 500 ? '5xx' : a.status))).toEqual(['5xx', 204]);
    expect(new Set(attempts.map((a) => a.headers['ce-id'])).size).toBe(1);
    deployedData('retry2', 1);
    expect((await registryRecord('retry2'))?.versions['1']?.state).toBe('READY');
  });

  it('rolls back a version Triton cannot load: the previous one keeps serving', async () => {
    // Prepare: `rollback` v1 serves.
    const pool = await deployFixture('rollback', 1);
    deliverToFunction('rollback/2/');
    cloud.triton.faults.set({ failNext: 1, failStatus: 400, match: '/load' });

    // Act
    await uploadFixture('rollback/2/model.onnx', 'add-dynamic-batch.onnx');
    await cloud.storage.notificationsDelivered();
    cloud.triton.faults.clear();

    // Assess
    const rejected = eventsOf('rejected', 'rollback');
    expect(rejected.map((e) => (e.data as { reason: string }).reason)).toEqual(['MODEL_LOAD_FAILED']);
    expect(await tritonReady(pool, 'rollback', 1)).toBe(200);
    expect(await tritonReady(pool, 'rollback', 2)).toBe(400);
    expect(configPins(await repoText(`models/${pool}/rollback/config.pbtxt`), 1)).toBe(true);
    expect([...(await repoObjects(`models/${pool}/rollback/2/`)).keys()]).toEqual([]);
    const record = await registryRecord('rollback');
    expect(record?.serving).toBe(1);
    expect(record?.versions['2']?.state).toBe('FAILED');
    expect(record?.versions['2']?.reason).toBeTruthy();
  });

  it('treats a serving version as immutable: identical bytes are a no-op, new bytes are refused', async () => {
    // Prepare: `again` v1 serves.
    deliverToFunction('again/1/');
    await uploadFixture('again/1/model.onnx', 'add-dynamic-batch.onnx');
    await cloud.storage.notificationsDelivered();
    const home = deployedData('again', 1).deploymentName;
    const configBefore = await repoText(`models/${home}/again/config.pbtxt`);
    const filesBefore = await repoObjects(`models/${home}/again/`);
    const recordBefore = await registryRecord('again');

    // Act: the same bytes again (a new generation), then different bytes under the same version.
    await uploadFixture('again/1/model.onnx', 'add-dynamic-batch.onnx');
    await cloud.storage.notificationsDelivered();
    await uploadFixture('again/1/model.onnx', 'identity-fixed.onnx');
    await cloud.storage.notificationsDelivered();

    // Assess: one deploy, one refusal naming the rule; repository, registry and Triton untouched.
    expect(eventsOf('deployed', 'models/again/versions/1')).toHaveLength(1);
    expect(eventsOf('rejected', 'again').map((e) => (e.data as { reason: string }).reason)).toEqual([
      'VERSION_IMMUTABLE',
    ]);
    expect(await repoText(`models/${home}/again/config.pbtxt`)).toBe(configBefore);
    expect(await repoObjects(`models/${home}/again/`)).toEqual(filesBefore);
    expect(await registryRecord('again')).toEqual(recordBefore);
    expect(await tritonReady(home, 'again', 1)).toBe(200);
  });

  it('skips a reordered delivery of an older generation: it never overwrites the newer one', async () => {
    // Prepare: `reorder` v1 serves; two uploads of v3 under the same name, whose events the test
    // delivers newest first.
    const pool = await deployFixture('reorder', 1);
    const oldGeneration = await uploadFixture('reorder/3/model.onnx', 'identity-fixed.onnx');
    const newGeneration = await uploadFixture('reorder/3/model.onnx', 'add-dynamic-batch.onnx');
    await cloud.storage.notificationsDelivered();
    const newer = capturedFor('reorder/3/model.onnx', 'record', newGeneration);
    const older = capturedFor('reorder/3/model.onnx', 'record', oldGeneration);

    // Act
    const first = await post(newer);
    const afterNewer = await repoObjects(`models/${pool}/reorder/`);
    const second = await post(older);

    // Assess
    expect([first, second]).toEqual([204, 204]);
    deployedData('reorder', 3);
    expect(await repoObjects(`models/${pool}/reorder/`)).toEqual(afterNewer);
    const record = await registryRecord('reorder');
    expect(record?.serving).toBe(3);
    expect(record?.versions['3']?.source.generation).toBe(newGeneration);
    const [served] = await gcs.bucket(REPO).file(`models/${pool}/reorder/3/model.onnx`).getMetadata();
    const [uploaded] = await gcs.bucket(INCOMING).file('reorder/3/model.onnx').getMetadata();
    expect(served.md5Hash).toBe(uploaded.md5Hash);
    expect(await tritonReady(pool, 'reorder', 3)).toBe(200);
  });

  it('the production entry (functions/deployModel) deploys from a storage notification', async () => {
    // Prepare
    const pool = await servingPool();
    // Straight from the storage server to the Functions Framework server, no recorder between.
    cloud.storage.addNotification({ bucket: INCOMING, url: productionUrl, objectNamePrefix: 'prod/1/' });

    // Act
    await uploadFixture('prod/1/model.onnx', 'add-dynamic-batch.onnx');
    await cloud.storage.notificationsDelivered();

    // Assess
    const record = await registryRecord('prod');
    expect(record?.serving).toBe(1);
    expect(record?.versions['1']?.state).toBe('READY');
    expect(configPins(await repoText(`models/${pool}/prod/config.pbtxt`), 1)).toBe(true);
    expect(await tritonReady(pool, 'prod', 1)).toBe(200);
    // Its events went to its own publisher (the log), not to the test's.
    expect(eventsOf('deployed', 'models/prod/versions/1')).toHaveLength(0);
  });

  describe('every replica of the pool serves the same version', () => {
    let pool = '';

    // Each test starts from the serving pool at one replica, whatever ran before it.
    beforeEach(async () => {
      pool = await servingPool();
      await scalePool(pool, 1);
    });

    it('loads a new version on every ready pod of a pool scaled to 3 replicas', async () => {
      // Prepare: `rep` v1 serves on the single pod, then the pool scales to 3.
      deliverToFunction('rep/');
      await uploadFixture('rep/1/model.onnx', 'add-dynamic-batch.onnx');
      await cloud.storage.notificationsDelivered();
      expect(await podsOf(pool)).toHaveLength(1);
      await scalePool(pool, 3);

      // Act
      await uploadFixture('rep/2/model.onnx', 'add-dynamic-batch.onnx');
      await cloud.storage.notificationsDelivered();

      // Assess
      const pods = await podsOf(pool);
      expect(pods).toHaveLength(3);
      deployedData('rep', 2);
      expect(Object.values(await tritonReadyOnPods(pool, 'rep', 2))).toEqual([200, 200, 200]);
      expect(cloud.triton.pods(pool)).toEqual(pods);
      expect((await registryRecord('rep'))?.serving).toBe(2);
    });

    it('rolls back on every pod when one pod cannot load the new version', async () => {
      // Prepare: `podroll` v2 serves on 3 pods; the middle pod refuses the load of v3.
      await scalePool(pool, 3);
      await deployFixture('podroll', 2);
      deliverToFunction('podroll/3/');
      const pods = await podsOf(pool);
      expect(pods).toHaveLength(3);
      const failing = pods[1]!;
      cloud.triton.faults.set({
        failNext: 1,
        failStatus: 400,
        match: `/pods/${failing}/v2/repository/models/podroll/load`,
      });

      // Act
      await uploadFixture('podroll/3/model.onnx', 'add-dynamic-batch.onnx');
      await cloud.storage.notificationsDelivered();
      const injected = cloud.triton.faults.injected;
      cloud.triton.faults.clear();

      // Assess
      expect(injected).toBe(1);
      const rejected = eventsOf('rejected', 'podroll').map(
        (e) => e.data as { reason: string; message: string },
      );
      expect(rejected.map((r) => r.reason)).toEqual(['MODEL_LOAD_FAILED']);
      expect(rejected[0]?.message).toContain(`failed on 1 of 3 pods: ${failing}:`);
      expect(Object.values(await tritonReadyOnPods(pool, 'podroll', 2))).toEqual([200, 200, 200]);
      expect(Object.values(await tritonReadyOnPods(pool, 'podroll', 3))).toEqual([400, 400, 400]);
      expect(configPins(await repoText(`models/${pool}/podroll/config.pbtxt`), 2)).toBe(true);
      expect([...(await repoObjects(`models/${pool}/podroll/3/`)).keys()]).toEqual([]);
      const record = await registryRecord('podroll');
      expect(record?.serving).toBe(2);
      expect(record?.versions['3']?.state).toBe('FAILED');
      expect(record?.versions['3']?.reason).toContain(failing);
    });

    it('answers 5xx while the pool has no ready pod, and a pod started later serves the version', async () => {
      // Prepare: no automatic delivery for `cold`; the pool is scaled to zero.
      await uploadFixture('cold/1/model.onnx', 'add-dynamic-batch.onnx');
      await cloud.storage.notificationsDelivered();
      const event = capturedFor('cold/1/model.onnx');
      await scalePool(pool, 0);

      // Act
      const first = await post(event);
      const published = await repoText(`models/${pool}/cold/config.pbtxt`);
      await scalePool(pool, 1);
      const [pod] = await podsOf(pool);
      const base = cloud.endpoints.triton.replace('{pool}', pool).replace('{pod}', pod!);
      // The new pod loads the published config at start, before any load call.
      const beforeRedelivery = await fetch(`${base}/v2/models/cold/versions/1/ready`);
      const redelivery = await post(event);

      // Assess
      expect(first).toBeGreaterThanOrEqual(500);
      expect(configPins(published, 1)).toBe(true);
      expect((await registryRecord('cold'))?.versions['1']?.state).toBe('READY');
      expect(beforeRedelivery.status).toBe(200);
      expect(redelivery).toBe(204);
      deployedData('cold', 1);
      expect(await tritonReadyOnPods(pool, 'cold', 1)).toEqual({ [pod!]: 200 });
      // Every model of the pool came back on the new pod, not only the redelivered one.
      expect(await tritonReady(pool, 'baseline', 1)).toBe(200);
    });

    it('unloads a first version from the pods that took it when another pod refuses it', async () => {
      // Prepare: two pods; the second refuses `fresh`, which has never served.
      await scalePool(pool, 2);
      const pods = await podsOf(pool);
      deliverToFunction('fresh/');
      cloud.triton.faults.set({
        failNext: 1,
        failStatus: 400,
        match: `/pods/${pods[1]}/v2/repository/models/fresh/load`,
      });

      // Act
      await uploadFixture('fresh/1/model.onnx', 'add-dynamic-batch.onnx');
      await cloud.storage.notificationsDelivered();
      const injected = cloud.triton.faults.injected;
      cloud.triton.faults.clear();

      // Assess: the first pod had loaded it; no pod serves a version the registry calls FAILED.
      expect(injected).toBe(1);
      expect(eventsOf('rejected', 'fresh').map((e) => (e.data as { reason: string }).reason)).toEqual([
        'MODEL_LOAD_FAILED',
      ]);
      expect(Object.values(await tritonReadyOnPods(pool, 'fresh', 1))).toEqual([400, 400]);
      const record = await registryRecord('fresh');
      expect(record?.serving).toBeUndefined();
      expect(record?.versions['1']?.state).toBe('FAILED');
      expect(record?.versions['1']?.reason).toContain(pods[1]);
    });
  });
});
