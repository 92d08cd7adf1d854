/**
 * Builds the dependencies every function shares, once per instance, from the validated
 * configuration: production clients by default, the local cloud where endpoints are given.
 *
 * Every event needs Cloud Storage (the policy, the idempotency records), so it is built here, but
 * reached through `import()` so that the function's module evaluates without it and the framework
 * starts listening while it loads (see lazy.ts). Pub/Sub loads only when events are published.
 */
import { LogEventPublisher, PubSubEventPublisher } from '../adapters/events-publisher';
import { GcsIdempotencyStore } from '../adapters/idempotency-gcs';
import type { Policy } from '../policy';
import { PolicySource } from '../policy/source';
import type { ObjectStore } from '../ports/storage';
import { systemClock } from '../runtime/clock';
import type { Config } from '../runtime/config';
import type { EventPublisher } from '../runtime/events';
import type { RuntimeDeps } from '../runtime/function';
import { createLogger, registerSecret } from '../runtime/log';

export interface SharedDeps extends RuntimeDeps {
  config: Config;
  /** The policy in force for this event (see `withCurrentPolicy`). */
  policy: Policy;
  policySource: PolicySource;
  objects: ObjectStore;
}

/** The deps with the policy in force now (a shallow copy: concurrent events never share a swap). */
export async function withCurrentPolicy<D extends SharedDeps>(deps: D): Promise<D> {
  const policy = await deps.policySource.current();
  return policy === deps.policy ? deps : { ...deps, policy };
}

export async function buildSharedDeps(config: Config): Promise<SharedDeps> {
  const log = createLogger({ minSeverity: config.logLevel });
  // A fixed access token is a credential: it never appears in a log line.
  if (config.accessToken) registerSecret(config.accessToken);
  const { createStorageClient, GcsObjectStore } = await import('../adapters/storage');
  const storage = createStorageClient({ projectId: config.project, endpoint: config.endpoints.storage });
  // Production (Application Default Credentials): finding the credentials and the metadata
  // server's first token are round trips the first Storage request would wait for; they start
  // now, while the framework starts. The client keeps the token; a failure here is the first
  // request's to report.
  if (!config.endpoints.storage) storage.authClient.getAccessToken().catch(() => undefined);
  const objects = new GcsObjectStore(storage);
  const policySource = await PolicySource.load(config, objects, systemClock, log);
  const policy = await policySource.current();
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
    policySource,
    objects,
    log,
    clock: systemClock,
    idempotency: new GcsIdempotencyStore({
      bucket: storage.bucket(config.stateBucket),
      prefix: '_inferplane/idempotency/',
    }),
    publisher,
    projectId: config.project,
    // A live attempt renews its lock every 20 s (runIdempotent's heartbeat), so it is never taken
    // over; a crashed attempt, or one whose release failed, blocks its event for a minute at most.
    lockMs: 60_000,
    idempotencyTtlSeconds: 7 * 24 * 3600,
  };
}
