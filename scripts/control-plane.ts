/**
 * The control plane aimed at the local cloud, shared by `npm start` (the sandbox) and the
 * benchmarks: the example policy with its cluster section pointed at the local cluster and
 * buckets, the environment `loadConfig` reads, and the buckets themselves.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Storage } from '@google-cloud/storage';
import { parseDocument, type YAMLSeq } from 'yaml';
import { LOCAL_ACCESS_TOKEN } from '../infra/local/credentials';
import type { Env } from '../shared/runtime/config';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const LOCAL_PROJECT = 'local-project';
export const LOCAL_LOCATION = 'us-central1';
export const LOCAL_CLUSTER = 'inference';

export interface DeployBuckets {
  incomingBucket: string;
  repositoryBucket: string;
}

export interface LocalEndpoints {
  storage: string;
  gke: string;
  kubernetes: string;
  /** Cloud Monitoring; absent where the caller has no local Monitoring server. */
  monitoring?: string;
  /** Triton pod URL template (`{pool}`, `{pod}`, `{podIP}`). */
  triton: string;
}

/** The sandbox's demo model (test/fixtures/onnx/add-dynamic-batch.onnx), served on the l4 pool. */
export const SANDBOX_DEMO_MODEL = 'add';
/** The sandbox's alert rule cooldown: short, so a close is seen to restore within a minute. */
export const SANDBOX_COOLDOWN_SECONDS = 15;
/** The sandbox's downtime window: UTC nights (`inferctl tick --at` or `--time-offset` reaches one). */
export const SANDBOX_DOWNTIME = 'Mon-Sun 22:00-06:00 UTC';

export interface LocalPolicyOptions {
  /**
   * Make the three jobs reachable for the demo model: the example's queue-high rule targets its
   * pool with a short cooldown, and the schedules are one `sandbox-nights` schedule that takes it
   * down at night (UTC). The example's other alert rule stays as it is.
   */
  sandbox?: boolean;
}

/** examples/policy.yaml with its cluster section pointed at the local cloud and these buckets. */
export async function writeLocalPolicy(
  file: string,
  buckets: DeployBuckets,
  options: LocalPolicyOptions = {},
): Promise<void> {
  const doc = parseDocument(await readFile(join(ROOT, 'examples/policy.yaml'), 'utf8'));
  doc.setIn(['cluster', 'project'], LOCAL_PROJECT);
  doc.setIn(['cluster', 'location'], LOCAL_LOCATION);
  doc.setIn(['cluster', 'name'], LOCAL_CLUSTER);
  doc.setIn(['cluster', 'repositoryBucket'], buckets.repositoryBucket);
  doc.setIn(['cluster', 'incomingBucket'], buckets.incomingBucket);
  if (options.sandbox) {
    const rules = doc.get('alertRules') as YAMLSeq | undefined;
    const index = (rules?.toJSON() as Array<{ name?: string }> | undefined)?.findIndex(
      (r) => r.name === 'queue-high',
    );
    if (index === undefined || index < 0)
      throw new Error('examples/policy.yaml has no queue-high alert rule');
    doc.setIn(['alertRules', index, 'cooldownSeconds'], SANDBOX_COOLDOWN_SECONDS);
    doc.setIn(
      ['alertRules', index, 'target'],
      doc.createNode({ models: [SANDBOX_DEMO_MODEL] }, { flow: true }),
    );
    // One window, in UTC: the example's nights-and-weekends also reaches the demo's pool (bert-base
    // shares the l4 pool), and its Berlin weekends would take the demo down all Saturday.
    doc.setIn(
      ['schedules'],
      doc.createNode([
        {
          name: 'sandbox-nights',
          target: { models: [SANDBOX_DEMO_MODEL] },
          downtime: [SANDBOX_DOWNTIME],
          downtimeReplicas: 0,
        },
      ]),
    );
  }
  await writeFile(file, doc.toString());
}

/**
 * The environment of a control-plane function on the local cloud.
 */
export function localControlPlaneEnv(
  endpoints: LocalEndpoints,
  buckets: DeployBuckets,
  policyFile: string,
  logLevel = 'INFO',
): Env {
  return {
    INFERPLANE_PROJECT: LOCAL_PROJECT,
    INFERPLANE_LOCATION: LOCAL_LOCATION,
    INFERPLANE_CLUSTER: LOCAL_CLUSTER,
    INFERPLANE_REPOSITORY_BUCKET: buckets.repositoryBucket,
    INFERPLANE_POLICY: policyFile,
    INFERPLANE_LOG_LEVEL: logLevel,
    INFERPLANE_STORAGE_ENDPOINT: endpoints.storage,
    INFERPLANE_GKE_ENDPOINT: endpoints.gke,
    ...(endpoints.monitoring ? { INFERPLANE_MONITORING_ENDPOINT: endpoints.monitoring } : {}),
    // The credential the local cloud accepts; production uses Application Default Credentials.
    INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
    INFERPLANE_TRITON_URL: endpoints.triton,
    // No metadata server on this machine: google-auth-library must not wait for one.
    METADATA_SERVER_DETECTION: 'none',
  };
}

export async function ensureBuckets(storage: Storage, buckets: DeployBuckets): Promise<void> {
  for (const name of [buckets.incomingBucket, buckets.repositoryBucket]) {
    const [exists] = await storage.bucket(name).exists();
    if (!exists) await storage.createBucket(name);
  }
}
