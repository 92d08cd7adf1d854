/**
 * What deployModel needs to run against a local cloud, shared by the memory and cold-start
 * benchmarks: the example policy aimed at the local cluster and buckets (as `npm start` does), the
 * environment `loadConfig` reads, and storage CloudEvents shaped like the ones Eventarc (and the
 * local storage server's notifications) deliver.
 */
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Storage } from '@google-cloud/storage';
import { parseDocument } from 'yaml';
import type { Env } from '../shared/runtime/config';
import type { IncomingCloudEvent } from '../shared/runtime/function';

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
  /** Triton URL template with `{pool}`. */
  triton: string;
}

/** examples/policy.yaml with its cluster section pointed at the local cloud and these buckets. */
export async function writeBenchPolicy(file: string, buckets: DeployBuckets): Promise<void> {
  const doc = parseDocument(await readFile(join(ROOT, 'examples/policy.yaml'), 'utf8'));
  doc.setIn(['cluster', 'project'], LOCAL_PROJECT);
  doc.setIn(['cluster', 'location'], LOCAL_LOCATION);
  doc.setIn(['cluster', 'name'], LOCAL_CLUSTER);
  doc.setIn(['cluster', 'repositoryBucket'], buckets.repositoryBucket);
  doc.setIn(['cluster', 'incomingBucket'], buckets.incomingBucket);
  await writeFile(file, doc.toString());
}

/**
 * The environment of a deployModel instance on the local cloud. The function's own logger is kept
 * at WARNING: benchmarks read their figures from stdout and time the work, not the log lines.
 */
export function deployEnv(
  endpoints: LocalEndpoints,
  buckets: DeployBuckets,
  policyFile: string,
  logLevel = 'WARNING',
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
    INFERPLANE_KUBERNETES_ENDPOINT: endpoints.kubernetes,
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

/**
 * An object-finalized CloudEvent as the storage server's notifications build it: `data` is the
 * object resource (int64 fields as strings), so the handler parses what production receives.
 */
export function finalizedEvent(metadata: Record<string, unknown>): IncomingCloudEvent {
  const bucket = String(metadata.bucket);
  const name = String(metadata.name);
  return {
    id: randomUUID(),
    source: `//storage.googleapis.com/projects/_/buckets/${bucket}`,
    specversion: '1.0',
    type: 'google.cloud.storage.object.v1.finalized',
    subject: `objects/${name}`,
    time: typeof metadata.updated === 'string' ? metadata.updated : new Date().toISOString(),
    data: {
      ...metadata,
      // The JSON API already gives int64 as strings; String() guards a client that parsed them.
      generation: String(metadata.generation),
      metageneration: String(metadata.metageneration),
      size: String(metadata.size),
    },
  };
}
