/**
 * Builds the dependencies every function shares, once per instance, from the validated
 * configuration: production clients by default, the local cloud where endpoints are given.
 */
import { readFile, stat } from 'node:fs/promises';
import type { Storage } from '@google-cloud/storage';
import { type EventPublisher, LogEventPublisher, PubSubEventPublisher } from '../adapters/events-publisher';
import { createStorageClient, GcsObjectStore, type ObjectStore } from '../adapters/storage';
import { loadPolicy, type Policy } from '../policy';
import { type Clock, systemClock } from './clock';
import type { Config } from './config';
import { ConfigurationError, errorMessage } from './errors';
import type { RuntimeDeps } from './function';
import { GcsIdempotencyStore } from './idempotency';
import { createLogger, type Logger } from './log';

export interface SharedDeps extends RuntimeDeps {
  config: Config;
  /** The policy in force for this event (see `withCurrentPolicy`). */
  policy: Policy;
  policySource: PolicySource;
  storage: Storage;
  objects: ObjectStore;
}

/** Where the policy file is, and a cheap version of it (generation or mtime) to notice edits. */
async function policyVersion(config: Config, objects: ObjectStore): Promise<string | undefined> {
  const gs = /^gs:\/\/([^/]+)\/(.+)$/.exec(config.policy);
  if (gs) return (await objects.stat({ bucket: gs[1]!, name: gs[2]! }))?.generation;
  try {
    const info = await stat(config.policy);
    return `${info.mtimeMs}:${info.size}`;
  } catch {
    return undefined;
  }
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

/**
 * The policy as it is now. Warm instances live for hours, so an edited policy file must take
 * effect without a redeploy: at most every `checkEveryMs` the file's version is checked (one
 * metadata read) and a changed file is read again. A file that no longer loads is reported and
 * the last good policy stays in force: a typo must not stop the control plane.
 */
export class PolicySource {
  #policy: Policy;
  #version: string | undefined;
  #checkedAtMs: number;

  constructor(
    private readonly config: Config,
    private readonly objects: ObjectStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    initial: { policy: Policy; version: string | undefined },
    private readonly checkEveryMs = 30_000,
  ) {
    this.#policy = initial.policy;
    this.#version = initial.version;
    this.#checkedAtMs = clock.nowMs();
  }

  static async load(
    config: Config,
    objects: ObjectStore,
    clock: Clock,
    log: Logger,
    checkEveryMs?: number,
  ): Promise<PolicySource> {
    const version = await policyVersion(config, objects);
    const policy = await readPolicy(config, objects);
    return new PolicySource(config, objects, clock, log, { policy, version }, checkEveryMs);
  }

  async current(): Promise<Policy> {
    const now = this.clock.nowMs();
    if (now - this.#checkedAtMs < this.checkEveryMs) return this.#policy;
    this.#checkedAtMs = now;
    const version = await policyVersion(this.config, this.objects);
    if (version === this.#version) return this.#policy;
    try {
      this.#policy = await readPolicy(this.config, this.objects);
      this.#version = version;
      this.log.notice('policy file changed: new policy in force', { policy: this.config.policy, version });
    } catch (err) {
      this.log.error(
        `policy file changed but cannot be used; the previous policy stays in force: ${errorMessage(err)}`,
        {
          policy: this.config.policy,
          version,
          error: err,
        },
      );
    }
    return this.#policy;
  }
}

/** The deps with the policy in force now (a shallow copy: concurrent events never share a swap). */
export async function withCurrentPolicy<D extends SharedDeps>(deps: D): Promise<D> {
  const policy = await deps.policySource.current();
  return policy === deps.policy ? deps : { ...deps, policy };
}

export async function buildSharedDeps(config: Config): Promise<SharedDeps> {
  const log = createLogger({ minSeverity: config.logLevel });
  const storage = createStorageClient({ projectId: config.project, endpoint: config.endpoints.storage });
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
