/**
 * `inferctl plan` against the local cloud, through the same official clients and adapters as
 * production: it reports what a deployment would create, writes nothing, and once that state is
 * applied it reports nothing left to do.
 */

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planCommand } from '../../cli/plan';
import { type LocalCloud, startLocalCloud } from '../../infra/local/cloud';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { localStorageClient } from '../../infra/local/storage/client';
import { createContainerClient, GkeNodePools } from '../../shared/adapters/gke';
import { createKubeConfig, createKubeObjects } from '../../shared/adapters/kubernetes';
import { nodePoolActions, planNodePoolChanges } from '../../shared/cluster/nodepool';
import { planObjectChanges, secretValuesOf } from '../../shared/cluster/objects';
import { desiredServingPools, type PoolReport, servingPools } from '../../shared/cluster/reconcile';
import { createPlan, type Plan } from '../../shared/domain/plan';
import type { ModelRecord } from '../../shared/domain/registry';
import { PlanExecutor } from '../../shared/execute/executor';
import { KubeApplier, KubeRunner } from '../../shared/execute/kube-applier';
import { NodePoolExecutor, NodePoolRunner } from '../../shared/execute/nodepool-executor';
import { loadPolicy } from '../../shared/policy';
import { createMemoryLogger } from '../../shared/runtime/log';
import { gkeViewNodeCount } from '../support/node-count';

const REPOSITORY_BUCKET = 'local-triton-repo';

function policyYaml(
  guardrails = { maxGpusTotal: 8, maxGpusPerPool: 8, maxNodes: 8, maxDollarsPerHour: 50 },
  maxReplicas = 3,
) {
  return `apiVersion: inferplane.dev/v1
kind: ControlPlanePolicy
cluster:
  project: local-project
  name: inference
  repositoryBucket: ${REPOSITORY_BUCKET}
  incomingBucket: local-incoming
modelDefaults:
  gpuClass: l4
  replicas: { min: 1, max: ${maxReplicas} }
guardrails:
  maxGpusTotal: ${guardrails.maxGpusTotal}
  maxGpusPerPool: ${guardrails.maxGpusPerPool}
  maxNodes: ${guardrails.maxNodes}
  maxDollarsPerHour: ${guardrails.maxDollarsPerHour}
`;
}

const resnet: ModelRecord = {
  apiVersion: 'inferplane.dev/registry/v1',
  model: 'resnet',
  serving: 1,
  aliases: {},
  versions: {
    '1': {
      version: 1,
      state: 'READY',
      backend: 'onnxruntime',
      gpuClass: 'l4',
      source: { bucket: 'local-incoming', name: 'resnet/1/model.onnx', generation: '1700000000000001' },
      fingerprint: 'sha256:abc',
      files: { 'model.onnx': { size: '1024' } },
      publishedAt: '2026-11-28T10:00:00.000Z',
      readyAt: '2026-11-28T10:05:00.000Z',
    },
  },
  updatedAt: '2026-11-28T10:05:00.000Z',
};

function captureIo() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: { write: (t: string) => (out.stdout += t) },
      stderr: { write: (t: string) => (out.stderr += t) },
    },
  };
}

interface PlanJson {
  plan: Plan;
  guardrails: { ok: boolean; violations?: { guardrail: string }[] };
  pools: PoolReport[];
}

describe('inferctl plan against the local cloud', () => {
  let cloud: LocalCloud;
  let storage: Storage;
  let dir: string;
  let policyFile: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    cloud = await startLocalCloud({ operationPhaseMs: 0 });
    storage = localStorageClient(cloud.endpoints.storage);
    const bucket = storage.bucket(REPOSITORY_BUCKET);
    const [exists] = await bucket.exists();
    if (!exists) await storage.createBucket(REPOSITORY_BUCKET);
    await bucket
      .file('_inferplane/registry/models/resnet.json')
      .save(`${JSON.stringify(resnet, null, 2)}\n`, { contentType: 'application/json', resumable: false });
    dir = await mkdtemp(path.join(tmpdir(), 'inferctl-plan-'));
    policyFile = path.join(dir, 'policy.yaml');
    await writeFile(policyFile, policyYaml());
    env = {
      INFERPLANE_PROJECT: 'local-project',
      INFERPLANE_CLUSTER: 'inference',
      INFERPLANE_REPOSITORY_BUCKET: REPOSITORY_BUCKET,
      INFERPLANE_STORAGE_ENDPOINT: cloud.endpoints.storage,
      INFERPLANE_GKE_ENDPOINT: cloud.endpoints.gke,
      INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
      INFERPLANE_POLICY: policyFile,
    };
  });
  afterAll(async () => {
    await cloud?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('plans a new pool and its serving stack, touches nothing, and plans nothing once applied', async () => {
    // Prepare
    const storageRequestsBefore = cloud.storage.requests().length;
    const objectsBefore = cloud.kubernetes.objects();
    const { io, out } = captureIo();

    // Act
    const code = await planCommand(['--json'], io, env);

    // Assess: the plan
    expect(out.stderr).toBe('');
    expect(code).toBe(0);
    const first = JSON.parse(out.stdout) as PlanJson;
    expect(Object.keys(first).sort()).toEqual(['guardrails', 'plan', 'pools']);
    expect(
      first.plan.actions.map((a) => `${a.kind} ${a.target}`.replace(/-[0-9a-f]{10}$/, '-<version>')),
    ).toEqual([
      'createNodePool nodePool/triton-l4',
      'applyObject Namespace/triton',
      'applyObject ServiceAccount/triton/triton',
      'applyObject Secret/triton/triton-l4-admin',
      'applyObject Service/triton/triton-l4',
      'applyObject Deployment/triton/triton-l4',
      'applyObject HorizontalPodAutoscaler/triton/triton-l4',
      'applyObject PodDisruptionBudget/triton/triton-l4',
      'applyObject NetworkPolicy/triton/inferplane-default-deny-<version>',
      'applyObject NetworkPolicy/triton/inferplane-triton-ingress-<version>',
      'applyObject NetworkPolicy/triton/inferplane-egress-<version>',
      'applyObject PodMonitoring/triton/triton-l4',
    ]);
    expect(first.guardrails.ok).toBe(true);
    expect(first.pools).toEqual([
      expect.objectContaining({ pool: 'triton-l4', gpuClass: 'l4', status: 'serving', models: ['resnet'] }),
    ]);

    // Assess: nothing was written anywhere
    const storageRequests = cloud.storage.requests().slice(storageRequestsBefore);
    expect(storageRequests.length).toBeGreaterThan(0);
    expect(storageRequests.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(cloud.gke.snapshot().nodePools).toEqual([]);
    expect(cloud.kubernetes.objects()).toEqual(objectsBefore);
    expect(cloud.kubernetes.objects('Deployment')).toEqual([]);

    // Act: apply that state with the real appliers, from the desired objects (plans hold no secrets)
    const policy = loadPolicy(policyYaml());
    const client = createContainerClient({ endpoint: cloud.endpoints.gke, accessToken: 'local-token' });
    try {
      const nodePools = new GkeNodePools(client, cloud.endpoints.cluster, {
        nodeCount: gkeViewNodeCount(cloud.gke),
      });
      const zones = Math.max(1, (await nodePools.getCluster()).locations.length);
      const [pool] = desiredServingPools(
        policy,
        servingPools(policy, [resnet]),
        { 'triton-l4': randomBytes(24).toString('base64url') },
        zones,
      );
      if (!pool) throw new Error('no desired pool');
      const logger = createMemoryLogger().logger;
      const objects = createKubeObjects(
        createKubeConfig({
          cluster: {
            endpoint: cloud.kubernetesAuth.endpoint,
            caCertificate: cloud.kubernetesAuth.caCertificate,
          },
          token: async () => LOCAL_ACCESS_TOKEN,
        }),
      );
      const applier = new KubeApplier({ objects, logger });
      const actions = [
        ...nodePoolActions(
          planNodePoolChanges(undefined, pool.nodePool, { gpuClass: pool.gpuClass, zones }),
          {
            allowRecreate: false,
          },
        ),
        ...planObjectChanges(pool.objects, []),
      ];
      await new PlanExecutor(
        [new NodePoolRunner(new NodePoolExecutor({ nodePools, log: logger })), new KubeRunner(applier)],
        logger,
      ).execute(createPlan({ nowMs: () => Date.now() }, 'apply the planned state', actions), {
        guardrails: () => undefined,
        secrets: secretValuesOf(pool.objects),
      });
    } finally {
      await client.close();
    }
    const applied = captureIo();
    const secondCode = await planCommand(['--json'], applied.io, env);
    const text = captureIo();
    const textCode = await planCommand([], text.io, env);

    // Assess: nothing left to do, and the admin key created at apply is kept, not replaced
    expect(applied.out.stderr).toBe('');
    expect(secondCode).toBe(0);
    const second = JSON.parse(applied.out.stdout) as PlanJson;
    expect(second.plan.actions).toEqual([]);
    expect(second.pools).toEqual([
      expect.objectContaining({ pool: 'triton-l4', status: 'serving', actions: [] }),
    ]);
    expect(cloud.gke.snapshot().nodePools.map((p) => p.name)).toEqual(['triton-l4']);
    expect(textCode).toBe(0);
    expect(text.out.stdout).toContain('No changes: observed state already matches the desired state.');
    expect(text.out.stdout).toContain('Guardrails: OK');
  });

  it('exits 3 when the guardrails refuse the plan (policy given with --policy)', async () => {
    // Prepare: the pool may grow to 5 one-GPU nodes; the cluster may hold 4 GPUs.
    const tight = path.join(dir, 'tight.yaml');
    await writeFile(
      tight,
      policyYaml({ maxGpusTotal: 4, maxGpusPerPool: 4, maxNodes: 8, maxDollarsPerHour: 50 }, 5),
    );
    const nodePoolsBefore = cloud.gke.snapshot().nodePools;
    const { io, out } = captureIo();

    // Act
    const code = await planCommand(['--policy', tight], io, { ...env, INFERPLANE_POLICY: policyFile });

    // Assess
    expect(out.stderr).toBe('');
    expect(code).toBe(3);
    expect(out.stdout).toContain('Guardrails: REFUSED');
    expect(out.stdout).toContain('maxGpusTotal: plan would allow 5 GPUs, limit 4');
    expect(cloud.gke.snapshot().nodePools).toEqual(nodePoolsBefore);
  });

  it.each([
    {
      name: 'unknown option',
      args: ['--force'],
      envPatch: {},
      code: 2,
      stderr: /unknown option --force; the options are --policy FILE, --json/,
    },
    {
      name: 'missing --policy value',
      args: ['--policy'],
      envPatch: {},
      code: 2,
      stderr: /--policy needs a policy file path or gs:\/\/ URI \(--policy FILE\), got nothing/,
    },
    {
      name: 'incomplete configuration',
      args: ['--json'],
      envPatch: { INFERPLANE_CLUSTER: '' },
      code: 1,
      stderr: /INFERPLANE_CLUSTER is required/,
    },
    {
      name: 'policy for another deployment',
      args: [],
      envPatch: { INFERPLANE_CLUSTER: 'other' },
      code: 1,
      stderr: /describes another deployment/,
    },
    {
      name: 'policy file missing',
      args: ['--policy', '/nonexistent/policy.yaml'],
      envPatch: {},
      code: 1,
      stderr: /cannot be read/,
    },
  ])('$name: exit $code', async ({ args, envPatch, code, stderr }) => {
    // Prepare
    const { io, out } = captureIo();

    // Act
    const result = await planCommand(args, io, { ...env, ...envPatch });

    // Assess
    expect(result).toBe(code);
    expect(out.stderr).toMatch(stderr);
  });
});
