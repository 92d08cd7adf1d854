/**
 * deployModel aimed at a local cloud, in-process, for end-to-end tests that call `invoke`: two
 * buckets, a small policy file, the same dependencies the production entry builds (found through
 * the GKE API, with the local access token), a memory log, memory events and memory idempotency.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LocalCloud } from '../../infra/local/cloud';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { localStorageClient } from '../../infra/local/storage/client';
import { MemoryEventPublisher } from '../../shared/adapters/events-publisher';
import { buildDeployModelDeps } from '../../shared/deploy/deps';
import type { DeployModelDeps } from '../../shared/deploy/handler';
import { loadConfig } from '../../shared/runtime/config';
import { MemoryIdempotencyStore } from '../../shared/runtime/idempotency';
import { createMemoryLogger } from '../../shared/runtime/log';

export interface DeployHarness {
  deps: DeployModelDeps;
  entries: Record<string, unknown>[];
  publisher: MemoryEventPublisher;
}

export async function localDeployHarness(
  cloud: LocalCloud,
  buckets: { incoming: string; repository: string },
  env: Record<string, string> = {},
  /** More top-level lines of the policy file, e.g. `gpuClasses: { l4: { spot: true } }`. */
  policyLines: readonly string[] = [],
): Promise<DeployHarness> {
  const storage = localStorageClient(cloud.endpoints.storage);
  await storage.createBucket(buckets.incoming);
  await storage.createBucket(buckets.repository);
  const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-e2e-'));
  const policy = path.join(dir, 'policy.yaml');
  await writeFile(
    policy,
    [
      'apiVersion: inferplane.dev/v1',
      'kind: ControlPlanePolicy',
      'cluster: { project: local-project, name: inference, namespace: triton,',
      `  repositoryBucket: ${buckets.repository}, incomingBucket: ${buckets.incoming} }`,
      'guardrails: { maxGpusTotal: 8, maxGpusPerPool: 8, maxNodes: 8, maxDollarsPerHour: 100 }',
      ...policyLines,
      '',
    ].join('\n'),
  );
  const config = loadConfig({
    INFERPLANE_PROJECT: 'local-project',
    INFERPLANE_CLUSTER: 'inference',
    INFERPLANE_REPOSITORY_BUCKET: buckets.repository,
    INFERPLANE_POLICY: policy,
    INFERPLANE_STORAGE_ENDPOINT: cloud.endpoints.storage,
    INFERPLANE_GKE_ENDPOINT: cloud.endpoints.gke,
    INFERPLANE_MONITORING_ENDPOINT: cloud.endpoints.monitoring,
    INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
    INFERPLANE_TRITON_URL: cloud.endpoints.triton,
    ...env,
  });
  const memory = createMemoryLogger();
  const publisher = new MemoryEventPublisher();
  const deps = {
    ...(await buildDeployModelDeps(config)),
    log: memory.logger,
    publisher,
    // The idempotency record would be a storage write of its own; keep it out of what is compared.
    idempotency: new MemoryIdempotencyStore(),
  };
  return { deps, entries: memory.entries, publisher };
}
