/**
 * Builds the dependencies every function shares, once per instance, from the validated
 * configuration: production clients by default, the local cloud where endpoints are given.
 */
import { readFile } from 'node:fs/promises';
import type { Storage } from '@google-cloud/storage';
import { type EventPublisher, LogEventPublisher, PubSubEventPublisher } from '../adapters/events-publisher';
import { createStorageClient, GcsObjectStore, type ObjectStore } from '../adapters/storage';
import { loadPolicy, type Policy } from '../policy';
import { systemClock } from './clock';
import type { Config } from './config';
import { ConfigurationError } from './errors';
import type { RuntimeDeps } from './function';
import { GcsIdempotencyStore } from './idempotency';
import { createLogger } from './log';

export interface SharedDeps extends RuntimeDeps {
  config: Config;
  policy: Policy;
  storage: Storage;
  objects: ObjectStore;
}

/** Reads the policy file from a path or a gs:// URI and checks it agrees with the environment. */
export async function readPolicy(config: Config, objects: ObjectStore): Promise<Policy> {
  let text: string;
  const gs = /^gs:\/\/([^/]+)\/(.+)$/.exec(config.policy);
  if (gs) {
    const found = await objects.readText({ bucket: gs[1]!, name: gs[2]! });
    if (!found)
      throw new ConfigurationError('POLICY_NOT_FOUND', `policy file ${config.policy} does not exist`);
    text = found.text;
  } else {
    try {
      text = await readFile(config.policy, 'utf8');
    } catch (err) {
      throw new ConfigurationError('POLICY_NOT_FOUND', `policy file ${config.policy} cannot be read`, {
        cause: err,
      });
    }
  }
  const policy = loadPolicy(text, config.policy);
  const mismatches: string[] = [];
  if (policy.cluster.project !== config.project)
    mismatches.push(`project ${policy.cluster.project} vs ${config.project}`);
  if (policy.cluster.name !== config.cluster)
    mismatches.push(`cluster ${policy.cluster.name} vs ${config.cluster}`);
  if (policy.cluster.repositoryBucket !== config.repositoryBucket) {
    mismatches.push(`repositoryBucket ${policy.cluster.repositoryBucket} vs ${config.repositoryBucket}`);
  }
  if (mismatches.length > 0) {
    throw new ConfigurationError(
      'POLICY_ENVIRONMENT_MISMATCH',
      `policy file ${config.policy} describes another deployment than the environment: ${mismatches.join('; ')}`,
    );
  }
  return policy;
}

export async function buildSharedDeps(config: Config): Promise<SharedDeps> {
  const log = createLogger({ minSeverity: config.logLevel });
  const storage = createStorageClient({ projectId: config.project, endpoint: config.endpoints.storage });
  const objects = new GcsObjectStore(storage);
  const policy = await readPolicy(config, objects);
  let publisher: EventPublisher;
  if (config.eventsTopic) {
    // Loaded only when events are published: the client costs ~0.7 s of a cold start.
    const { PubSub } = await import('@google-cloud/pubsub');
    const pubsub = new PubSub({
      projectId: config.project,
      ...(config.endpoints.pubsubEmulatorHost
        ? { apiEndpoint: config.endpoints.pubsubEmulatorHost, emulatorMode: true }
        : {}),
    });
    publisher = new PubSubEventPublisher(pubsub, config.eventsTopic);
  } else {
    publisher = new LogEventPublisher(log);
  }
  return {
    config,
    policy,
    storage,
    objects,
    log,
    clock: systemClock,
    idempotency: new GcsIdempotencyStore({
      bucket: storage.bucket(config.stateBucket),
      prefix: '_inferplane/idempotency/',
    }),
    publisher,
    projectId: config.project,
    // Longer than the function's timeout (540 s): a live attempt is never taken over.
    lockMs: 600_000,
    idempotencyTtlSeconds: 7 * 24 * 3600,
  };
}
