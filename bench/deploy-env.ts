/**
 * What the memory and cold-start benchmarks add to the local control-plane setup
 * (infra/local/control-plane.ts): a quieter environment, and storage CloudEvents shaped like the
 * ones Eventarc (and the local storage server's notifications) deliver.
 */
import { randomUUID } from 'node:crypto';
import { type DeployBuckets, type LocalEndpoints, localControlPlaneEnv } from '../scripts/control-plane';
import type { Env } from '../shared/runtime/config';
import type { IncomingCloudEvent } from '../shared/runtime/function';

/** The function's logger is kept at WARNING: benchmarks time the work, not the log lines. */
export function deployEnv(
  endpoints: LocalEndpoints,
  buckets: DeployBuckets,
  policyFile: string,
  logLevel = 'WARNING',
): Env {
  return localControlPlaneEnv(endpoints, buckets, policyFile, logLevel);
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
