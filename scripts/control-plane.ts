/**
 * The control plane aimed at the local cloud, shared by `npm start` (the sandbox) and the
 * benchmarks: the example policy with its cluster section pointed at the local cluster and
 * buckets, the environment `loadConfig` reads, and the buckets themselves.
 */

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Storage } from '@google-cloud/storage';
import { parseDocument } from 'yaml';
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

/** examples/policy.yaml with its cluster section pointed at the local cloud and these buckets. */
export async function writeLocalPolicy(file: string, buckets: DeployBuckets): Promise<void> {
  const doc = parseDocument(await readFile(join(ROOT, 'examples/policy.yaml'), 'utf8'));
  doc.setIn(['cluster', 'project'], LOCAL_PROJECT);
  doc.setIn(['cluster', 'location'], LOCAL_LOCATION);
  doc.setIn(['cluster', 'name'], LOCAL_CLUSTER);
  doc.setIn(['cluster', 'repositoryBucket'], buckets.repositoryBucket);
  doc.setIn(['cluster', 'incomingBucket'], buckets.incomingBucket);
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
